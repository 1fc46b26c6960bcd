import EarlybindCore

/// A safety rule refused what the command was asked to take.
struct SafetyRefusal: Error, CustomStringConvertible {
    let description: String
}

/// The safety rules of `add`, the same as the boot binder's, with what breaking each costs.
enum AddSafety {
    struct Refusal {
        /// Why the devices are refused.
        let reason: String
        /// What the host loses at the next boot if `force` takes them anyway.
        let cost: String
        /// The entries that need `force`: only those are written with it.
        let forced: [PCIAddress]
    }

    /// `configured`: the devices the config already has bound at boot; `inUse`: what the host
    /// is using of the selection (`HostUsage.findings`).
    static func refusals(_ selection: Selection, inventory: Inventory, configured: [PCIAddress],
                         inUse: [InUseFinding] = []) -> [Refusal] {
        var refusals: [Refusal] = inUseRefusals(inUse)
        for device in selection.devices where device.isBootVGA {
            refusals.append(Refusal(reason: "\(device.address) is the boot GPU: the host would lose its console",
                                    cost: "its console on \(device.address)", forced: [device.address]))
        }
        let displays = inventory.devices.filter(\.isDisplay)
        let taken = Set(configured + selection.devices.map(\.address))
        if !displays.isEmpty && displays.allSatisfy({ taken.contains($0.address) }) {
            refusals.append(Refusal(reason: "this would leave the host no display controller (class 03xx)",
                                    cost: "every display controller", forced: selection.devices.filter(\.isDisplay).map(\.address)))
        }
        // What add pulls in itself (the other ports of a NIC, a card's functions) counts as asked for.
        let requested = Set(selection.devices.map(\.address))
        var groups: [Int] = []
        for device in selection.devices {
            guard let group = device.iommuGroup else {
                if inventory.iommuEnabled {
                    refusals.append(Refusal(reason: "\(device.address) has no IOMMU group although the IOMMU is on: vfio-pci cannot take it",
                                            cost: "nothing, but vfio-pci will not take \(device.address) either", forced: []))
                }
                continue
            }
            if groups.contains(group) { continue }
            groups.append(group)
            let members = inventory.members(of: group)
            guard case .groupHolds? = BindPlan.safetyRefusal(group: group, members: members, isRequested: requested.contains) else { continue }
            let critical = members.filter { !$0.staysWithHost && $0.hostCriticalKind != nil }
            let named = Set(selection.named.map(\.address))
            let described = critical.map { "\($0.hostCriticalKind!.description) \($0.address)" }
            let others = critical.filter { !named.contains($0.address) }.map { "\($0.hostCriticalKind!.description) \($0.address)" }
            let own = critical.filter { named.contains($0.address) }.map { "\($0.address) is " + AddSafety.article($0.hostCriticalKind!) }
            let reason = (own + (others.isEmpty ? [] : ["IOMMU group \(group) also holds " + others.joined(separator: ", ")]))
                .joined(separator: "; ") + ": the host needs " + (critical.count == 1 ? "it" : "them")
            refusals.append(Refusal(reason: reason, cost: described.joined(separator: ", "),
                                    forced: selection.devices.filter { $0.iommuGroup == group }.map(\.address)))
        }
        return refusals
    }

    /// A device the host is using (its root filesystem, swap, default route, an SSH session):
    /// allowed in itself (a drive or NIC for a VM), refused while the host needs it.
    static func inUseRefusals(_ findings: [InUseFinding]) -> [Refusal] {
        findings.map { finding in
            Refusal(reason: finding.sentence + ": the host is using it", cost: finding.cost, forced: [finding.address])
        }
    }

    /// The kind as the subject of "is": "a storage controller".
    static func article(_ kind: HostCriticalKind) -> String {
        switch kind {
        case .storage: return "a storage controller"
        case .network: return "a network controller"
        case .hostBridge: return "a host bridge"
        case .chipsetBridge: return "a chipset bridge"
        }
    }

    /// The message when `--force` was not given: the reasons, and what forcing would cost.
    static func refusalMessage(_ refusals: [Refusal]) -> String {
        refusals.map(\.reason).joined(separator: "\n")
            + "\nnothing was changed; --force would take them anyway, and at the next boot the host would lose "
            + refusals.map(\.cost).joined(separator: "; ")
    }

    /// The warnings when `--force` overrides the rules: every critical device it takes.
    static func warnings(_ refusals: [Refusal]) -> [String] {
        refusals.map { "warning: --force overrides: \($0.reason); at the next boot the host loses \($0.cost)" }
    }
}
