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

    /// Every endpoint of the device's group and every function of its slot: what is
    /// passed together. Bridges are never among them.
    func passedTogether(with device: PCIDevice) -> [PCIDevice] {
        devices.filter { other in
            !other.isBridge && (other.address.sameSlot(as: device.address)
                || (device.iommuGroup != nil && other.iommuGroup == device.iommuGroup))
        }
    }

    /// Why the group cannot be passed through as a whole, or nil when it can.
    func refusal(ofGroup group: Int) -> LeaveReason? {
        BindPlan.safetyRefusal(group: group, members: members(of: group)) { _ in true }
    }
}
