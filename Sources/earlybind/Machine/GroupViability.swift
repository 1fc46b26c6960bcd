import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Whether a VMM can open the IOMMU groups of the configured devices. The kernel
/// answers through the group's node (VFIO_GROUP_GET_STATUS); sysfs gives the same answer
/// where the node cannot be asked: VFIO admits a group only when every endpoint in it
/// is on vfio-pci, pci-stub or no driver at all.
struct GroupViability {
    enum Source: String {
        /// VFIO_GROUP_GET_STATUS on /dev/vfio/GROUP.
        case vfio
        /// The drivers of the group's members.
        case sysfs
    }

    struct Group {
        let number: Int
        let viable: Bool
        let source: Source
        let members: [PCIDevice]
        /// Endpoints whose driver keeps the group from a VMM.
        let blockers: [PCIDevice]
        /// Processes that have the group's node (or a member's VFIO device node) open.
        let holders: [OpenFiles<PosixIO>.Holder]
        /// The node is open elsewhere but no visible process holds it (not root).
        let busy: Bool
    }

    /// Drivers VFIO lets share a group with a device it hands to a VM.
    static let groupSafeDrivers: Set<String> = ["vfio-pci", "pci-stub"]

    let groups: [Group]

    /// Addresses in the config: a blocker among them needs only `apply`, any other an `add` first.
    let configured: Set<PCIAddress>

    /// The device nodes through which a VMM holds a group, those that exist: the group's
    /// own and, as iommufd-era VMMs open instead, each member's (/dev/vfio/devices/vfioN).
    static func vfioNodes(ofGroup number: Int, members: [PCIDevice], host: Host) -> Set<String> {
        var nodes: Set<String> = ["/dev/vfio/\(number)"]
        for member in members {
            for node in host.sysfsList("bus/pci/devices/\(member.address)/vfio-dev") { nodes.insert("/dev/vfio/devices/" + node) }
        }
        return nodes.filter { PosixIO().exists(host.root.resolve($0)) }
    }

    /// `askKernel`: open each group's node once for VFIO_GROUP_GET_STATUS. Only for this
    /// machine's own /sys and /dev, as root, and never for periodic runs: the node admits
    /// one opener, so a VM starting at that moment would fail.
    init(groups numbers: [Int], configured: Set<PCIAddress>, inventory: Inventory, host: Host, askKernel: Bool) {
        self.configured = configured
        // A group's node exists once a member is on a VFIO driver.
        var nodesByGroup: [Int: Set<String>] = [:]
        for number in numbers {
            nodesByGroup[number] = GroupViability.vfioNodes(ofGroup: number, members: inventory.members(of: number), host: host)
        }
        // One pass over /proc for all groups, none when no node exists; never against another machine's sysfs.
        let wanted = nodesByGroup.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        let allHolders = host.procMatchesSysfs ? OpenFiles(io: PosixIO(), procRoot: host.procRoot).holders(of: wanted) : []
        groups = numbers.map { number in
            let members = inventory.members(of: number)
            let blockers = members.filter { member in
                !member.isBridge && member.driver.map { !GroupViability.groupSafeDrivers.contains($0.description) } ?? false
            }
            let nodes = nodesByGroup[number] ?? []
            let holders = allHolders.filter { nodes.contains($0.path) }
            let sysfsVerdict = Group(number: number, viable: blockers.isEmpty, source: .sysfs, members: members,
                                     blockers: blockers, holders: holders, busy: false)
            // A held group is the VM's: asking would only fail, and its verdict is the VM running.
            guard askKernel, holders.isEmpty else { return sysfsVerdict }
            switch VFIOGroupNode.status(group: number) {
            case .viable(let viable):
                return Group(number: number, viable: viable, source: .vfio, members: members,
                             blockers: viable ? [] : blockers, holders: [], busy: false)
            case .busy:
                return Group(number: number, viable: blockers.isEmpty, source: .sysfs, members: members,
                             blockers: blockers, holders: [], busy: true)
            case .unavailable:
                return sysfsVerdict
            }
        }
    }

    var checks: [StatusCheck] {
        groups.flatMap { group -> [StatusCheck] in
            var checks: [StatusCheck] = []
            // A group none of whose devices is on vfio-pci yet is no VMM's to open: the
            // devices' own problems say why.
            let handedToVFIO = group.members.contains { $0.driver == .vfioPCI }
            if !group.viable && handedToVFIO {
                let rule = "a VMM opens a group only when every endpoint in it is on vfio-pci, pci-stub or no driver"
                if group.blockers.isEmpty {
                    let drivers = group.members.map { "\($0.address) on \($0.driver?.description ?? "no driver")" }
                    checks.append(.error("group_not_viable", nil,
                                         "the kernel reports IOMMU group \(group.number) not viable (\(drivers.joined(separator: ", ")))",
                                         fix: "earlybind apply"))
                }
                for blocker in group.blockers {
                    checks.append(.error("group_not_viable", blocker.address,
                                         "IOMMU group \(group.number) is not viable: \(blocker.address) is on \(blocker.driver!.description), and \(rule)",
                                         fix: configured.contains(blocker.address) ? "earlybind apply (or reboot)"
                                             : "earlybind add \(blocker.address), then earlybind apply (or reboot)"))
                }
            }
            for holder in group.holders {
                checks.append(.warning("group_in_use", nil,
                                       "IOMMU group \(group.number) is in use by \(holder.command) (pid \(holder.pid)), which has \(holder.path) open",
                                       fix: "none while that VM runs; stop it before 'earlybind release'"))
            }
            if group.busy {
                checks.append(.warning("group_in_use", nil,
                                       "IOMMU group \(group.number) is open in another process (/dev/vfio/\(group.number) is busy)",
                                       fix: "run 'earlybind status' as root to see which process"))
            }
            return checks
        }
    }

    var json: JSON {
        .array(groups.map { group in
            .object([
                ("group", .int(group.number)),
                ("viable", .bool(group.viable)),
                ("source", .string(group.source.rawValue)),
                ("in_use", .bool(!group.holders.isEmpty || group.busy)),
                ("holders", .array(group.holders.map { holder in
                    .object([("pid", .int(holder.pid)), ("command", .string(holder.command)), ("path", .string(holder.path))])
                })),
                ("members", .array(group.members.map { member in
                    .object([("address", .string(member.address.description)), ("driver", .optional(member.driver?.description))])
                })),
            ])
        })
    }
}

/// One VFIO_GROUP_GET_STATUS call on a group's node, opened and closed at once.
enum VFIOGroupNode {
    enum Status {
        case viable(Bool)
        /// Another process has the node open (the node admits one opener).
        case busy
        /// No node (no member on a VFIO driver yet) or no permission: ask sysfs.
        case unavailable
    }

    /// _IO(VFIO_TYPE ';', VFIO_BASE 100 + 3) from linux/vfio.h.
    static let getStatus: UInt = 0x3B67
    static let flagViable: UInt32 = 1 << 0

    static func status(group: Int) -> Status {
        let fd = retryingInterrupts { open("/dev/vfio/\(group)", O_RDWR | O_CLOEXEC) }
        if fd < 0 { return errno == EBUSY ? .busy : .unavailable }
        defer { close(fd) }
        // struct vfio_group_status { __u32 argsz; __u32 flags; }
        var status: (argsz: UInt32, flags: UInt32) = (8, 0)
        let result = withUnsafeMutableBytes(of: &status) { ioctl(fd, getStatus, $0.baseAddress!) }
        return result < 0 ? .unavailable : .viable(status.flags & flagViable != 0)
    }
}
