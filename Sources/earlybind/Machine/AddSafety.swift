import EarlybindCore

/// A safety rule refused what the command was asked to take.
struct SafetyRefusal: Error, CustomStringConvertible {
    let description: String
}

/// The safety rules of `add`, as sentences; empty when none is broken.
enum AddSafety {
    /// `configured`: the devices the config already has bound at boot.
    static func refusals(_ selection: Selection, inventory: Inventory, configured: [PCIAddress]) -> [String] {
        var refusals: [String] = []
        for device in selection.devices where device.isBootVGA {
            refusals.append("\(device.address) is the boot GPU: the host would lose its console")
        }
        let displays = inventory.devices.filter(\.isDisplay)
        let taken = Set(configured + selection.devices.map(\.address))
        if !displays.isEmpty && displays.allSatisfy({ taken.contains($0.address) }) {
            refusals.append("this would leave the host no display controller (class 03xx)")
        }
        var groups: [Int] = []
        for device in selection.devices {
            guard let group = device.iommuGroup else {
                if inventory.iommuEnabled {
                    refusals.append("\(device.address) has no IOMMU group although the IOMMU is on: vfio-pci cannot take it")
                }
                continue
            }
            if groups.contains(group) { continue }
            groups.append(group)
            let named = selection.named.map(\.address)
            if case .groupHolds(let kind, _, let member)? = BindPlan.safetyRefusal(
                group: group, members: inventory.members(of: group), isRequested: named.contains) {
                refusals.append("IOMMU group \(group) also holds \(kind.description) \(member): the host needs it")
            }
        }
        return refusals
    }
}
