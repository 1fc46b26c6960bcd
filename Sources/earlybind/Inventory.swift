import EarlybindCore

/// Every PCI device and IOMMU group, read once from sysfs.
struct Inventory {
    let devices: [PCIDevice]
    /// Group numbers in numeric order.
    let groups: [Int]
    /// Why the devices could not be listed, if they could not.
    let problem: String?

    init(_ host: Host) {
        var problem: String? = nil
        var devices: [PCIDevice] = []
        do { devices = try host.sysfs.allDevices() } catch {
            problem = error.description
        }
        self.devices = devices
        self.problem = problem
        let listed = (try? host.sysfs.io.list(host.sysfs.root + "/kernel/iommu_groups")) ?? []
        groups = listed.compactMap { Int($0) }.sorted()
    }

    /// IOMMU groups exist only when the kernel has an IOMMU turned on.
    var iommuEnabled: Bool { !groups.isEmpty }

    func device(_ address: PCIAddress) -> PCIDevice? {
        devices.first { $0.address == address }
    }

    func members(of group: Int) -> [PCIDevice] {
        devices.filter { $0.iommuGroup == group }
    }

    /// The device with every endpoint of its group and every function of its slot: what is passed together.
    func passedTogether(with device: PCIDevice) -> [PCIDevice] {
        let mates = devices.filter { other in
            !other.isBridge && (other.address.sameSlot(as: device.address)
                || (device.iommuGroup != nil && other.iommuGroup == device.iommuGroup))
        }
        return mates.contains { $0.address == device.address } ? mates : ([device] + mates).sorted { $0.address < $1.address }
    }

    /// Why the group cannot be passed through as a whole, or nil when it can. A group
    /// of nothing but storage or network functions (an NVMe drive, a NIC) can be passed:
    /// naming it is the admin's choice, as at boot. One that mixes them with others cannot.
    func refusal(ofGroup group: Int) -> LeaveReason? {
        let members = members(of: group)
        let endpoints = members.filter { !$0.isBridge }
        let ownGroup = endpoints.allSatisfy { device in
            switch device.hostCriticalKind {
            case .storage?, .network?: return true
            default: return false
            }
        }
        return BindPlan.safetyRefusal(group: group, members: members) { _ in ownGroup }
    }
}
