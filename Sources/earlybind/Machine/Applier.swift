import EarlybindCore

/// `earlybind apply`: the boot job's plan and binding, after checking what the host is using.
struct Applier<IO: FileIO> {
    let host: Host
    let sysfs: Sysfs<IO>
    let procRoot: String

    /// What apply printed, and what it did: nil in a dry run.
    struct Result {
        let lines: [String]
        let report: BootReport?
    }

    func apply(dryRun: Bool) throws -> Result {
        guard let loaded = try ConfigFile.gate(host, otherwise: "nothing was bound") else {
            throw ConfigFileError(description: "\(host.configPath) does not exist: add devices with 'earlybind add'")
        }
        var plan = BindPlan(entries: loaded.config.entries, sysfs: sysfs)
        let framebuffers = FirmwareFramebuffer(host: host)
        var usage = DisplayUsage(sysfs: sysfs, procRoot: procRoot)
        usage.firmwareFramebuffers = { [host] device in framebuffers.regions(in: device, host: host) ?? [] }
        // A group with one member in use is left whole: it cannot be half taken.
        var busyGroups: [Int: String] = [:]
        for decision in plan.decisions {
            guard case .bind = decision.action, let device = decision.device, let user = usage.user(of: device) else { continue }
            busyGroups[device.iommuGroup ?? -1] = device.address.description + " " + user
        }
        // A device the host is using for storage or network (its root, swap, default route, an SSH session).
        let candidates = plan.decisions.compactMap { decision -> PCIDevice? in
            if case .bind = decision.action { return decision.device }
            return nil
        }
        for finding in HostUsage.findings(host: host, addresses: candidates.map(\.address)) {
            let group = candidates.first { $0.address == finding.address }?.iommuGroup ?? -1
            if busyGroups[group] == nil { busyGroups[group] = finding.sentence }
        }
        for index in plan.decisions.indices {
            guard case .bind = plan.decisions[index].action,
                  let user = busyGroups[plan.decisions[index].device?.iommuGroup ?? -1] else { continue }
            plan.decisions[index].action = .leave(.inUse(user))
        }
        if dryRun {
            return Result(lines: plan.decisions.map { decision in
                let subject = decision.address.description + (decision.device.map { " [\($0.id)]" } ?? "")
                switch decision.action {
                case .bind: return "would bind \(subject)"
                case .leave(let reason): return "would leave \(subject): \(reason.description)"
                }
            }, report: nil)
        }
        var options = BootOptions()
        options.sysfs = sysfs.root
        options.loadModules = sysfs.root == "/sys"
        var program = BootProgram(options: options, io: sysfs.io, loader: KmodLoader(), log: MemoryLines())
        program.execute(plan, sysfs: sysfs)
        return Result(lines: program.log.lines, report: program.report)
    }
}

/// Log lines kept in memory, to print after the run.
struct MemoryLines: LogSink {
    var lines: [String] = []
    mutating func line(_ text: String) { lines.append(text) }
}
