import EarlybindCore

/// Every PCI device and IOMMU group, read once from sysfs.
struct Inventory {
    let devices: [PCIDevice]
    /// Group numbers in numeric order.
    let groups: [Int]
    /// Why the devices could not be listed, if they could not.
    let problem: String?

    private let byAddress: [PCIAddress: PCIDevice]
    private let byGroup: [Int: [PCIDevice]]

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
        byAddress = Dictionary(devices.map { ($0.address, $0) }) { first, _ in first }
        byGroup = Dictionary(grouping: devices.filter { $0.iommuGroup != nil }) { $0.iommuGroup! }
    }

    /// Throws when the devices could not be listed: commands that act on them stop there.
    func requireDevices() throws(MachineError) {
        if let problem { throw MachineError(description: "cannot list PCI devices: \(problem)") }
    }

    /// IOMMU groups exist only when the kernel has an IOMMU turned on.
    var iommuEnabled: Bool { !groups.isEmpty }

    func device(_ address: PCIAddress) -> PCIDevice? {
        byAddress[address]
    }

    /// In address order.
    func members(of group: Int) -> [PCIDevice] {
        byGroup[group] ?? []
    }

    /// Every endpoint of the device's group and every function of its slot: what is
    /// passed together. Bridges are never among them.
    func passedTogether(with device: PCIDevice) -> [PCIDevice] {
        let group = device.iommuGroup.map { members(of: $0) } ?? []
        let slot = devices.filter { $0.address.sameSlot(as: device.address) }
        var together = group
        for mate in slot where !together.contains(where: { $0.address == mate.address }) { together.append(mate) }
        return together.filter { !$0.isBridge }.sorted { $0.address < $1.address }
    }

    /// Why the group cannot be passed through as a whole, or nil when it can.
    func refusal(ofGroup group: Int) -> LeaveReason? {
        BindPlan.safetyRefusal(group: group, members: members(of: group)) { _ in true }
    }
}
