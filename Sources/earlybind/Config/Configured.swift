import EarlybindCore

/// The addresses the config selects, expanded to their groups as the boot binder will.
struct Configured {
    private(set) var addresses: [PCIAddress] = []
    private(set) var plan: BindPlan? = nil
    private(set) var config: Config? = nil
    /// Why the config could not be read or has errors.
    private(set) var problems: [String] = []

    init(host: Host) {
        do {
            guard let loaded = try ConfigFile.load(host) else { return }
            config = loaded.config
            problems = loaded.config.errors.map(\.description)
            let plan = BindPlan(entries: loaded.config.entries, sysfs: host.sysfs)
            self.plan = plan
            addresses = plan.decisions.map(\.address)
        } catch {
            problems = ["\(error)"]
        }
    }

    func contains(_ address: PCIAddress) -> Bool { addresses.contains(address) }

    /// The devices the boot binder will bind (not those it leaves alone).
    var bound: [PCIAddress] {
        plan?.decisions.compactMap { decision in
            if case .bind = decision.action { return decision.address }
            return nil
        } ?? []
    }
}
