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
    private let sysfs: Sysfs<CachingIO>

    init(_ host: Host) {
        var problem: String? = nil
        var devices: [PCIDevice] = []
        do { devices = try host.sysfs.allDevices() } catch {
            problem = error.description
        }
        self.devices = devices
        self.problem = problem
        sysfs = host.sysfs
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

    /// Every endpoint of the device's group and, for a GPU, the other functions of its
    /// card: what is passed together. Bridges are never among them.
    func passedTogether(with device: PCIDevice) -> [PCIDevice] {
        var together = device.iommuGroup.map { members(of: $0) } ?? []
        for mate in card(of: device) where !together.contains(where: { $0.address == mate.address }) { together.append(mate) }
        return together.filter { !$0.staysWithHost }.sorted { $0.address < $1.address }
    }

    /// A GPU's card: its display functions and their companions (HDMI audio 0403, USB 0c03,
    /// USB-C controller 0c80) of the same PCI vendor — NVIDIA's and AMD's cards keep one
    /// vendor across their functions, so an APU's iGPU (1002) leaves the board's USB and
    /// audio (1022) in its slot alone. They share the GPU's slot or sit below the card's own
    /// PCIe switch (Intel Arc's audio is on the next bus). Empty for any other device: there
    /// the IOMMU group alone decides.
    func card(of device: PCIDevice) -> [PCIDevice] {
        // An SR-IOV virtual function shares its slot with its siblings but is a device of its own.
        guard device.isDisplay || device.isGPUCompanion, !sysfs.isVirtualFunction(device.address) else { return [] }
        let vendor = device.id.vendor
        // The card's switch: the bridges right above the device that carry its vendor.
        let switchPorts = sysfs.upstreamBridges(of: device.address).prefix { byAddress[$0]?.id.vendor == vendor }
        let top = switchPorts.last
        let functions = devices.filter { candidate in
            guard candidate.id.vendor == vendor, candidate.isDisplay || candidate.isGPUCompanion,
                  !sysfs.isVirtualFunction(candidate.address) else { return false }
            if candidate.address.sameSlot(as: device.address) { return true }
            guard let top else { return false }
            return sysfs.upstreamBridges(of: candidate.address).contains(top)
        }
        return functions.contains(where: \.isDisplay) ? functions : []
    }

    /// Why the group cannot be passed through as a whole, or nil when it can.
    func refusal(ofGroup group: Int) -> LeaveReason? {
        BindPlan.safetyRefusal(group: group, members: members(of: group)) { _ in true }
    }
}
