/// Why a device is not handed to vfio-pci.
public enum LeaveReason: Sendable {
    case absent
    case hardwareChanged(expected: PCIID)
    case unreadable(String)
    case bridge
    /// A host bridge without a driver: it stays, and does not hold its group back.
    case idleHostBridge
    case noIOMMUGroup
    case bootVGA
    case groupHoldsBootVGA(group: Int, member: PCIAddress)
    case groupHolds(kind: HostCriticalKind, group: Int, member: PCIAddress)
    case groupMateChanged(group: Int, member: PCIAddress)
    case vfioUnavailable(String)
    /// In use by the host right now (`earlybind apply` only): a console or display server.
    case inUse(String)

    /// A stable snake_case code for JSON output and scripts.
    public var code: String {
        switch self {
        case .absent: return "absent"
        case .hardwareChanged: return "hardware_changed"
        case .unreadable: return "unreadable"
        case .bridge: return "bridge"
        case .idleHostBridge: return "idle_host_bridge"
        case .noIOMMUGroup: return "no_iommu_group"
        case .bootVGA: return "boot_vga"
        case .groupHoldsBootVGA: return "group_holds_boot_vga"
        case .groupHolds(let kind, _, _): return "group_holds_" + kind.code
        case .groupMateChanged: return "group_mate_changed"
        case .vfioUnavailable: return "vfio_unavailable"
        case .inUse: return "in_use"
        }
    }

    /// The reason as said of the device at `address`: a group's reason names the member
    /// it is about, which reads wrong when that member is the device itself.
    public func description(of address: PCIAddress) -> String {
        switch self {
        case .groupHoldsBootVGA(_, let member) where member == address:
            return LeaveReason.bootVGA.description
        case .groupHolds(let kind, _, let member) where member == address:
            return kind.description + " the host needs" + LeaveReason.forceHint
        default:
            return description
        }
    }

    private static let forceHint = " (add force to take it)"

    public var description: String {
        let forceHint = LeaveReason.forceHint
        switch self {
        case .absent:
            return "not present"
        case .hardwareChanged(let expected):
            return "ID differs from the expected " + expected.description + " (hardware changed?)"
        case .unreadable(let cause):
            return cause
        case .bridge:
            return "PCI bridge: bridges are never bound"
        case .idleHostBridge:
            return "host bridge without a driver: it stays with the host and does not keep its group from a VM"
        case .noIOMMUGroup:
            return "no IOMMU group (is the IOMMU on? intel_iommu=on on Intel)"
        case .bootVGA:
            return "boot VGA" + forceHint
        case .groupHoldsBootVGA(let group, let member):
            return "IOMMU group " + decimalString(group) + " also holds the boot VGA " + member.description + forceHint
        case .groupHolds(let kind, let group, let member):
            return "IOMMU group " + decimalString(group) + " also holds " + kind.description + " " + member.description + forceHint
        case .groupMateChanged(let group, let member):
            return "IOMMU group " + decimalString(group) + " also holds " + member.description + ", whose ID changed"
        case .vfioUnavailable(let cause):
            return "vfio-pci is not available: " + cause
        case .inUse(let user):
            return "in use by the host: " + user
        }
    }
}

/// What the plan says to do with one device.
public enum PlanAction: Sendable {
    case bind(forced: Bool)
    case leave(LeaveReason)
}

public struct Decision: Sendable {
    public let address: PCIAddress
    /// Nil when the device could not be found or read.
    public let device: PCIDevice?
    public var action: PlanAction
}

/// Which devices to bind, and why or why not: the config expanded to whole IOMMU
/// groups and checked against the safety rules. Reading only; nothing is written.
public struct BindPlan: Sendable {
    /// One decision per device, in address order.
    public var decisions: [Decision]
    /// ID selectors that matched no device.
    public var unmatchedIDs: [PCIID]

    public var toBind: [Decision] {
        decisions.filter { if case .bind = $0.action { return true } else { return false } }
    }

    private struct Request {
        var device: PCIDevice
        var force: Bool
    }

    public init<IO: FileIO>(entries: [ConfigEntry], sysfs: Sysfs<IO>) {
        var requests = AddressMap<Request>()
        var refused = AddressMap<Decision>()
        var unmatched: [PCIID] = []
        var everyDevice: [PCIDevice]? = nil

        func request(_ device: PCIDevice, force: Bool) {
            var entry = requests[device.address] ?? Request(device: device, force: false)
            entry.force = entry.force || force
            requests[device.address] = entry
        }

        for entry in entries {
            switch entry.selector {
            case .address(let address, let expected):
                let device: PCIDevice?
                do { device = try sysfs.device(address) } catch {
                    refused[address] = Decision(address: address, device: nil, action: .leave(.unreadable(error.description)))
                    continue
                }
                guard let device else {
                    refused[address] = Decision(address: address, device: nil, action: .leave(.absent))
                    continue
                }
                if let expected, expected != device.id {
                    refused[address] = Decision(address: address, device: device, action: .leave(.hardwareChanged(expected: expected)))
                    continue
                }
                request(device, force: entry.force)
            case .id(let id):
                if everyDevice == nil { everyDevice = (try? sysfs.allDevices()) ?? [] }
                let matches = everyDevice!.filter { $0.id == id }
                if matches.isEmpty && !unmatched.contains(id) { unmatched.append(id) }
                for device in matches { request(device, force: entry.force) }
            }
        }
        // A refusal of one entry wins over another entry that selects the same device.
        for address in refused.keys { requests[address] = nil }

        var decided = refused
        for address in requests.keys where decided[address] == nil {
            let device = requests[address]!.device
            if device.staysWithHost {
                decided[address] = Decision(address: address, device: device, action: .leave(device.isBridge ? .bridge : .idleHostBridge))
                continue
            }
            guard let group = device.iommuGroup else {
                decided[address] = Decision(address: address, device: device, action: .leave(.noIOMMUGroup))
                continue
            }
            for decision in BindPlan.decideGroup(group, around: device, requests: requests, refused: refused, sysfs: sysfs) {
                decided[decision.address] = decision
            }
        }
        decisions = decided.sortedValues
        unmatchedIDs = unmatched
    }

    /// The safety rule a group breaks, if any: it holds the boot VGA, or storage,
    /// network or a host or chipset bridge. One exception: a group made only of
    /// storage and network functions (an NVMe drive, a NIC) that are all asked for
    /// is the admin's explicit choice. `force` lifts these rules.
    public static func safetyRefusal(
        group: Int, members: [PCIDevice], isRequested: (PCIAddress) -> Bool
    ) -> LeaveReason? {
        if let vga = members.first(where: { $0.isBootVGA }) {
            return .groupHoldsBootVGA(group: group, member: vga.address)
        }
        let endpoints = members.filter { !$0.staysWithHost }
        var firstCritical: (kind: HostCriticalKind, address: PCIAddress)? = nil
        var onlyDrivesAndNICs = true
        var allRequested = true
        for member in endpoints {
            guard let kind = member.hostCriticalKind else {
                onlyDrivesAndNICs = false
                continue
            }
            if firstCritical == nil { firstCritical = (kind, member.address) }
            switch kind {
            case .storage, .network: break
            case .hostBridge, .chipsetBridge: onlyDrivesAndNICs = false
            }
            if !isRequested(member.address) { allRequested = false }
        }
        guard let critical = firstCritical else { return nil }
        if onlyDrivesAndNICs && allRequested { return nil }
        return .groupHolds(kind: critical.kind, group: group, member: critical.address)
    }

    /// Decides every endpoint of one IOMMU group together: a group is passed through whole or not at all.
    private static func decideGroup<IO: FileIO>(
        _ group: Int, around requested: PCIDevice, requests: AddressMap<Request>,
        refused: AddressMap<Decision>, sysfs: Sysfs<IO>
    ) -> [Decision] {
        var members: [PCIDevice] = []
        var groupRefusal: LeaveReason? = nil
        var addresses: [PCIAddress] = []
        do { addresses = try sysfs.groupMembers(group) } catch {
            groupRefusal = .unreadable("could not read IOMMU group " + decimalString(group) + ": " + error.description)
        }
        for address in addresses {
            do {
                if let device = try sysfs.device(address) { members.append(device) }
            } catch {
                groupRefusal = .unreadable("could not read " + address.description + " in IOMMU group " + decimalString(group) + ": " + error.description)
            }
        }
        if !members.contains(where: { $0.address == requested.address }) { members.append(requested) }
        let forced = members.contains { requests[$0.address]?.force ?? false }

        if groupRefusal == nil, let changed = members.first(where: { refused[$0.address] != nil }) {
            groupRefusal = .groupMateChanged(group: group, member: changed.address)
        }
        if groupRefusal == nil && !forced {
            groupRefusal = BindPlan.safetyRefusal(group: group, members: members) { requests[$0] != nil }
        }
        // The boot GPU is taken only by a force on its own entry, not one on a group mate's.
        if groupRefusal == nil, let vga = members.first(where: { $0.isBootVGA }), !(requests[vga.address]?.force ?? false) {
            groupRefusal = .groupHoldsBootVGA(group: group, member: vga.address)
        }

        var result: [Decision] = []
        for member in members where !member.staysWithHost && refused[member.address] == nil {
            let action: PlanAction
            switch groupRefusal {
            case .groupHoldsBootVGA(_, let vga) where vga == member.address:
                action = .leave(.bootVGA)
            case .some(let reason):
                action = .leave(reason)
            case .none:
                action = .bind(forced: forced)
            }
            result.append(Decision(address: member.address, device: member, action: action))
        }
        return result
    }
}
