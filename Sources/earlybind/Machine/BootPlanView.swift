import EarlybindCore

/// What the boot binder will do on this machine with the config as it stands: per
/// device bind or leave alone with the reason, what each forced group takes from the
/// host, and the IDs that match nothing. `install` shows it before the reboot.
struct BootPlanView {
    struct Entry {
        let decision: Decision
        /// For a forced bind: the host's devices the group takes ("the boot VGA 0000:00:02.0").
        let costs: [String]
    }

    let entries: [Entry]
    let unmatchedIDs: [PCIID]

    /// Nil when there is no config or it has errors (install refuses those itself).
    init?(_ host: Host) {
        guard let loaded = try? ConfigFile.load(host), loaded.config.errors.isEmpty else { return nil }
        let inventory = Inventory(host)
        let plan = BindPlan(entries: loaded.config.entries, sysfs: host.sysfs)
        entries = plan.decisions.map { decision in
            guard case .bind(forced: true) = decision.action, let group = decision.device?.iommuGroup else {
                return Entry(decision: decision, costs: [])
            }
            let costs = inventory.members(of: group).compactMap { member -> String? in
                if member.isBootVGA { return "the boot VGA \(member.address)" }
                guard !member.staysWithHost, let kind = member.hostCriticalKind else { return nil }
                return "\(kind.description) \(member.address)"
            }
            return Entry(decision: decision, costs: costs)
        }
        unmatchedIDs = plan.unmatchedIDs
    }

    /// The boot VGA when the boot takes it (only a force on its own entry does).
    var bootVGATaken: PCIAddress? {
        entries.first { entry in
            guard case .bind = entry.decision.action else { return false }
            return entry.decision.device?.isBootVGA == true
        }?.decision.address
    }

    /// Devices the boot would take although the host is using them (a mounted disk's
    /// controller, the NIC of the default route) and no `force` covers them: install
    /// refuses the config then, since the boot binder cannot see mounts.
    func inUseWithoutForce(_ host: Host) -> [AddSafety.Refusal] {
        let unforced = entries.compactMap { entry -> PCIAddress? in
            guard case .bind(forced: false) = entry.decision.action else { return nil }
            return entry.decision.address
        }
        return AddSafety.inUseRefusals(HostUsage.findings(host: host, addresses: unforced))
    }

    var lines: [String] {
        var lines = ["at the next boot on this machine:"]
        if entries.isEmpty && unmatchedIDs.isEmpty { lines.append("  nothing is configured") }
        for entry in entries {
            let decision = entry.decision
            let subject = decision.address.description + (decision.device.map { " [\($0.id)]" } ?? "")
            switch decision.action {
            case .bind(let forced):
                let cost = entry.costs.isEmpty ? "" : ", taking " + entry.costs.joined(separator: ", ") + " from the host"
                lines += wrapped("\(subject): bind" + (forced ? " (forced\(cost))" : ""), indent: "  ", continuation: "      ")
            case .leave(let reason):
                lines += wrapped("\(subject): leave alone: \(reason.description)", indent: "  ", continuation: "      ")
            }
        }
        lines += unmatchedIDs.map { "  \($0): no device has this ID" }
        return lines
    }

    /// `install --json`'s `plan`.
    var json: JSON {
        .array(entries.map { entry in
            var reason: JSON = .null
            var forced = false
            switch entry.decision.action {
            case .bind(let isForced): forced = isForced
            case .leave(let why): reason = .string(why.code)
            }
            return .object([
                ("address", .string(entry.decision.address.description)),
                ("id", .optional(entry.decision.device?.id.description)),
                ("action", .string(reason == .null ? "bind" : "leave")),
                ("reason", reason),
                ("forced", .bool(forced)),
                ("takes_from_host", .array(entry.costs.map(JSON.string))),
            ])
        })
    }
}
