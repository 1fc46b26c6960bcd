import CKmod

/// Options of `earlybind-boot`.
public struct BootOptions: Sendable {
    public enum LogTarget: Sendable { case kmsg, stderr }

    public var sysfs = "/sys"
    public var config = Config.defaultPath
    public var cmdline = "/proc/cmdline"
    public var report = BootReport.defaultPath
    public var log = LogTarget.kmsg
    public var loadModules = true
    public var showHelp = false

    public init() {}

    public static let usage = """
        Usage: earlybind-boot [--sysfs DIR] [--config FILE] [--cmdline FILE]
                              [--report FILE] [--log kmsg|stderr] [--no-modules] [--help]

        Hands the PCI devices listed in the config to vfio-pci. Runs from the
        initramfs before udev; logs one 'earlybind:' line per device to the kernel
        log, writes what it did to the report (JSON, read by 'earlybind status'),
        and always exits 0, even on a bad option, so the boot goes on.
        Boot with earlybind=off on the kernel command line to skip it.

          --sysfs DIR       sysfs root (default /sys)
          --config FILE     config file (default /etc/earlybind.conf)
          --cmdline FILE    kernel command line (default /proc/cmdline)
          --report FILE     boot report (default /run/earlybind/boot.json)
          --log TARGET      kmsg (default) or stderr
          --no-modules      do not load kernel modules
          --help            show this text

        """

    public struct UsageError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Parses the arguments after the program name.
    public static func parse(_ arguments: [String]) throws(UsageError) -> BootOptions {
        var options = BootOptions()
        var index = 0
        func value(_ flag: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else { throw UsageError(description: "option '" + flag + "' needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasBytes("--sysfs") {
                options.sysfs = try value(argument)
            } else if argument.hasBytes("--config") {
                options.config = try value(argument)
            } else if argument.hasBytes("--cmdline") {
                options.cmdline = try value(argument)
            } else if argument.hasBytes("--report") {
                options.report = try value(argument)
            } else if argument.hasBytes("--log") {
                let target = try value(argument)
                if target.hasBytes("kmsg") {
                    options.log = .kmsg
                } else if target.hasBytes("stderr") {
                    options.log = .stderr
                } else {
                    throw UsageError(description: "unknown log target '" + printable(target.utf8) + "' (use kmsg or stderr)")
                }
            } else if argument.hasBytes("--no-modules") {
                options.loadModules = false
            } else if argument.hasBytes("--help") || argument.hasBytes("-h") {
                options.showHelp = true
            } else {
                throw UsageError(description: "unknown option '" + printable(argument.utf8) + "'")
            }
            index += 1
        }
        return options
    }
}

/// The boot-time job: read the command line and config, plan, load vfio-pci, bind, log.
/// Every outcome is a value in `report`; the log lines are rendered from those values.
public struct BootProgram<IO: FileIO, Loader: ModuleLoader, Log: LogSink> {
    public let options: BootOptions
    public let io: IO
    public var loader: Loader
    public var log: Log
    public private(set) var report = BootReport()

    static var prefix: String { "earlybind: " }

    /// The module vfio-pci binding needs (its dependencies come along through libkmod),
    /// with an empty `ids=`: an `options vfio-pci ids=…` left in modprobe.d by the manual
    /// method would otherwise grab every device with those IDs, the boot GPU included,
    /// before any safety rule runs.
    public static var module: String { "vfio-pci" }
    public static var moduleOptions: String { "ids=" }

    public init(options: BootOptions, io: IO, loader: Loader, log: Log) {
        self.options = options
        self.io = io
        self.loader = loader
        self.log = log
    }

    /// A boot without the trial variable (the tests).
    public mutating func run() {
        run(trialVariables: Optional<PosixIO>.none)
    }

    /// The boot: `trialVariables` reaches the EFI variables, for a trial boot.
    public mutating func run<Variables: EFIVariableIO>(trialVariables: Variables?) {
        if let cmdline = try? io.read(options.cmdline), BootProgram.isSwitchedOff(cmdline) {
            report.skipped = .switchedOff
            say("skipped: earlybind=off")
            return
        }
        let text: [UInt8]
        do { text = try io.read(options.config) } catch {
            if error.errno == ENOENT {
                say("no config at " + options.config + ": nothing to do")
            } else {
                report.skipped = .configError
                report.configErrors = [ConfigError(file: options.config, line: 0, message: error.description)]
                say(error.description + ": nothing bound")
            }
            return
        }
        report.configSHA256 = SHA256.hex(text)
        let config = Config.parse(text, file: options.config)
        if !config.errors.isEmpty {
            report.skipped = .configError
            report.configErrors = config.errors
            for error in config.errors { say(error.description) }
            say(options.config + " has " + decimalString(config.errors.count) + " bad line(s): nothing bound")
            return
        }
        if config.entries.isEmpty {
            say("no devices configured in " + options.config)
            return
        }

        if let trialVariables, let step = trialStep(trialVariables) {
            report.trial = step
            if let message = step.message { say(message) }
            if !step.binds {
                report.skipped = .trialNotConfirmed
                return
            }
        }

        let sysfs = Sysfs(root: options.sysfs, io: io)
        execute(BindPlan(entries: config.entries, sysfs: sysfs), sysfs: sysfs)
    }

    /// Loads vfio-pci when something is to be bound, binds group by group, and logs
    /// every decision and outcome. `earlybind apply` runs the same after its own checks.
    public mutating func execute(_ plan: BindPlan, sysfs: Sysfs<IO>) {
        var plan = plan
        report.unmatchedIDs = plan.unmatchedIDs
        for id in plan.unmatchedIDs { say(id.description + ": no device has this ID") }
        if !plan.toBind.isEmpty {
            if let missing = prepareVFIO(sysfs) {
                for index in plan.decisions.indices {
                    if case .bind = plan.decisions[index].action {
                        plan.decisions[index].action = .leave(.vfioUnavailable(missing))
                    }
                }
            }
        }

        let binder = Binder(sysfs: sysfs)
        var outcomes: [DeviceOutcome] = []
        var doneGroups: [Int] = []
        for decision in plan.decisions {
            switch decision.action {
            case .leave(let reason):
                let driver = decision.device?.driver
                outcomes.append(record(DeviceOutcome(address: decision.address, id: decision.device?.id, action: .left(reason),
                                                     forced: false, driverBefore: driver, driverAfter: driver)))
            case .bind:
                // A group is bound whole or not at all, so its members are bound together.
                let group = decision.device?.iommuGroup ?? -1
                if doneGroups.contains(group) { continue }
                doneGroups.append(group)
                let members = plan.decisions.filter { member in
                    if case .bind = member.action { return (member.device?.iommuGroup ?? -1) == group }
                    return false
                }
                outcomes += bindGroup(members, group: group, binder: binder)
            }
        }
        report.devices = outcomes.sorted { $0.address < $1.address }
        say(report.summary)
    }

    /// Binds every member; if one fails, gives back those this run bound, so the
    /// group is never left split between vfio-pci and the host.
    private mutating func bindGroup(_ members: [Decision], group: Int, binder: Binder<IO>) -> [DeviceOutcome] {
        var outcomes: [DeviceOutcome] = []
        var failure: PCIAddress? = nil
        for member in members {
            var forced = false
            if case .bind(let isForced) = member.action { forced = isForced }
            let outcome = DeviceOutcome(binding: member.address, id: member.device?.id, outcome: binder.bind(member.address),
                                        forced: forced, driverBefore: member.device?.driver)
            if case .failed = outcome.action { failure = failure ?? member.address }
            outcomes.append(record(outcome))
        }
        guard let failure else { return outcomes }
        for index in outcomes.indices {
            let outcome = outcomes[index]
            let after: (driver: DriverName?, errors: [String])
            switch outcome.action {
            case .bound: after = binder.release(outcome.address)
            // Not ours to give back, but the group is not the VM's either.
            case .alreadyBound: after = (.vfioPCI, [])
            case .left, .failed: continue
            }
            let givenBack = DeviceOutcome(address: outcome.address, id: outcome.id,
                                          action: .failed(.givenBack(mate: failure, group: group, errors: after.errors)),
                                          forced: outcome.forced, driverBefore: outcome.driverBefore, driverAfter: after.driver)
            // Only what this run gave back gets a line: the already-bound device was not touched.
            if case .bound = outcome.action { say(givenBack.logText) }
            outcomes[index] = givenBack
        }
        return outcomes
    }

    /// Writes `report` to `options.report` atomically, creating its directory; a
    /// failure is logged and changes nothing else (`/run` may be read-only or full).
    public mutating func saveReport() {
        let posix = PosixIO()
        do {
            try posix.makeDirectories(parentDirectory(options.report))
            try posix.replaceFile(options.report, Array((report.json.rendered() + "\n").utf8), mode: 0o644)
        } catch {
            say("no boot report: " + error.description)
        }
    }

    /// Logs the outcome's line and hands it back.
    private mutating func record(_ outcome: DeviceOutcome) -> DeviceOutcome {
        say(outcome.logText)
        return outcome
    }

    /// Reads and advances the trial variable, with efivarfs mounted for the while unless
    /// it already is (a systemd initramfs mounts it); nil on a machine booted without UEFI.
    private mutating func trialStep<Variables: EFIVariableIO>(_ io: Variables) -> TrialStep? {
        guard io.exists(TrialVariable<Variables>.firmwareDirectory(sysfs: options.sysfs)) else { return nil }
        let directory = TrialVariable<Variables>.variablesDirectory(sysfs: options.sysfs)
        let mounted = TrialVariable.variablesMounted(sysfs: options.sysfs, io: io)
        if !mounted {
            if options.loadModules {
                let result = loader.load("efivarfs", options: "")
                if !result.isAvailable { return .unreachable("efivarfs: " + result.description) }
            }
            do { try io.mountEFIVariables(directory) } catch { return .unreachable(error.description) }
        }
        let step = TrialStep.advance(TrialVariable(sysfs: options.sysfs, io: io))
        if !mounted { try? io.unmount(directory) }
        return step
    }

    /// Loads vfio-pci unless told not to; returns why it is unusable, or nil when its driver is registered.
    private mutating func prepareVFIO(_ sysfs: Sysfs<IO>) -> String? {
        var problem: String? = nil
        if options.loadModules && !sysfs.isDriverRegistered(.vfioPCI) {
            let module = BootProgram.module
            let result = loader.load(module, options: BootProgram.moduleOptions)
            say(module + ": " + result.description)
            if !result.isAvailable { problem = module + ": " + result.description }
        }
        if sysfs.isDriverRegistered(.vfioPCI) { return nil }
        return problem ?? "no vfio-pci driver in " + sysfs.root + "/bus/pci/drivers"
    }

    private mutating func say(_ text: String) {
        log.line(BootProgram.prefix + text)
    }

    /// True when the command line holds the word `earlybind=off`.
    static func isSwitchedOff(_ cmdline: [UInt8]) -> Bool {
        fields(cmdline[...]).contains { $0.elementsEqual("earlybind=off".utf8) }
    }
}
