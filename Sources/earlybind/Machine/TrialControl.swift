import EarlybindCore

/// The running machine's trial variable (`TrialVariable`), as `trial`, `confirm`,
/// `install --trial`, `uninstall` and `status` reach it: through the host's sysfs, so a
/// test points it at a directory standing in for efivarfs.
struct TrialControl {
    let host: Host
    var variable: TrialVariable<PosixIO> { TrialVariable(sysfs: host.sysfs.root, io: PosixIO()) }
    var variablesDirectory: String { TrialVariable<PosixIO>.variablesDirectory(sysfs: host.sysfs.root) }

    static let skipOnceAdvice = "to boot once without earlybind, add earlybind=off to the kernel command line at the boot menu"

    /// Whether this machine booted by UEFI, the only kind that has EFI variables.
    var hasUEFI: Bool { PosixIO().exists(TrialVariable<PosixIO>.firmwareDirectory(sysfs: host.sysfs.root)) }

    var variablesMounted: Bool { TrialVariable.variablesMounted(sysfs: host.sysfs.root, io: PosixIO()) }

    /// Why a trial cannot be armed or confirmed here; nil when it can.
    func unavailability() -> String? {
        if !host.root.actsAsRunningSystem {
            return "a trial lives in the running machine's EFI variables, not under --root \(host.root.path): "
                + "run it on that machine once it runs this system ('install --trial --root' installs without arming)"
        }
        if !hasUEFI {
            return "this machine booted without UEFI (no \(TrialVariable<PosixIO>.firmwareDirectory(sysfs: host.sysfs.root))): "
                + "there is no EFI variable to keep a trial in; \(TrialControl.skipOnceAdvice)"
        }
        if !variablesMounted {
            return "the EFI variables are not mounted on \(variablesDirectory): mount -t efivarfs efivarfs \(variablesDirectory)"
        }
        return nil
    }

    /// The control for `trial` and `confirm`: refused where no trial can live, and without root.
    static func available(_ host: Host, dryRun: Bool, change: String) throws -> TrialControl {
        let trial = TrialControl(host: host)
        if let reason = trial.unavailability() { throw MachineError(description: reason) }
        try Privileges.requireRoot(change, onRealSystem: host.sysfs.root == "/sys", dryRun: dryRun)
        return trial
    }

    /// What keeps a trial boot from being confirmed by itself: devices not ready, the
    /// boot display or the default route's NIC gone from the host.
    static func healthProblems(_ host: Host) -> [String] {
        var problems: [String] = []
        let report = StatusReport(host: host)
        if !report.ready {
            problems.append("earlybind's devices are not ready: "
                + report.checks.filter { $0.severity == .error }.map(\.message).joined(separator: "; "))
        }
        // A single-GPU host that forces its boot VGA to the VM has no display by design.
        let entries = ((try? ConfigFile.load(host))?.config.entries) ?? []
        let forced = Set(BindPlan(entries: entries, sysfs: host.sysfs).decisions.compactMap { decision -> PCIAddress? in
            if case .bind(true) = decision.action { return decision.address }
            return nil
        })
        if let display = report.inventory.devices.first(where: \.isBootVGA), !forced.contains(display.address) {
            if display.driver == .vfioPCI || display.driver == nil {
                problems.append("the boot display \(display.address) is not on a host driver (\(display.driver?.description ?? "none"))")
            }
        }
        let network = HostUsage(host: host).uses().filter { $0.value.contains { $0.kind == .network && $0.what.hasPrefix("the default route") } }
        if network.isEmpty {
            problems.append("no NIC carries a default route")
        } else {
            for address in network.keys.sorted() {
                let driver = report.inventory.devices.first { $0.address == address }?.driver
                if driver == nil || driver == .vfioPCI {
                    problems.append("the default route's NIC \(address) is not on a host driver (\(driver?.description ?? "none"))")
                }
            }
        }
        return problems
    }

    /// Why the stored state is unknown.
    enum Unknown: Error, CustomStringConvertible {
        case notMounted(directory: String)
        case unreadable(SystemError)
        /// Data that is no state: the binder boots as if there were no variable, and
        /// `trial` or `confirm` replace it.
        case garbled(path: String)

        var description: String {
            switch self {
            case .notMounted(let directory): return "the EFI variables are not mounted on \(directory): the trial state is unknown"
            case .unreadable(let error): return "cannot read the trial state: \(error)"
            case .garbled(let path): return "the trial variable \(path) holds no known state"
            }
        }

        var fix: String {
            switch self {
            case .notMounted(let directory): return "mount -t efivarfs efivarfs \(directory)"
            case .unreadable(let error): return "check \(error.path)"
            case .garbled: return "earlybind confirm (or earlybind trial) replaces it"
            }
        }
    }

    /// The stored state.
    func state() throws(Unknown) -> TrialState? {
        if !variablesMounted { throw .notMounted(directory: variablesDirectory) }
        let contents: TrialVariable<PosixIO>.Contents
        do { contents = try variable.contents() } catch { throw .unreadable(error) }
        switch contents {
        case .absent: return nil
        case .state(let state): return state
        case .garbled: throw .garbled(path: variable.path)
        }
    }

    /// The state `trial` and `confirm` replace: a garbled variable reads as none, with
    /// its path; any other failure to read is refused.
    func stateToReplace() throws(MachineError) -> (state: TrialState?, garbled: String?) {
        do { return (try state(), nil) } catch {
            guard case .garbled(let path) = error else { throw MachineError(description: error.description) }
            return (nil, path)
        }
    }

    /// The state's name in messages: `garbled` for data that is no state, `none` for no variable.
    static func name(_ state: TrialState?, garbled: String?) -> String {
        state?.code ?? (garbled == nil ? "none" : "garbled")
    }

    /// Writes `state`; a refused write says the store may be full or read-only. A garbled
    /// variable goes first: it may carry attributes a rewrite with ours would be refused for.
    func write(_ state: TrialState, replacingGarbled: Bool = false) throws(MachineError) {
        do {
            if replacingGarbled { try variable.remove() }
            try variable.write(state)
        } catch {
            throw MachineError(description: "cannot write the trial state (\(error)): the EFI variable store may be full or read-only; "
                + TrialControl.skipOnceAdvice)
        }
    }

    /// What the next boot does, for `status`; `thisBootIsTheTrial` tells whose a pending
    /// state is (nil: unknown).
    static func nextBoot(_ state: TrialState?, thisBootIsTheTrial: Bool?) -> String {
        switch state {
        case nil, .confirmed?: return "binds as usual"
        case .armed?: return "is a trial: it binds, and the boot after binds nothing unless 'earlybind confirm' runs in between"
        case .pending?:
            let whose = thisBootIsTheTrial.map { $0 ? ": this boot is the trial" : ": an earlier boot's trial is still pending" } ?? ""
            return "binds nothing unless 'earlybind confirm' runs first" + whose
        case .reverted?: return "binds nothing: a trial boot was not confirmed ('earlybind trial' to try again, 'earlybind confirm' to bind)"
        }
    }
}
