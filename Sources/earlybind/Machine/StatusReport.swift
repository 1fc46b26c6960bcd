import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// Everything `status` finds out, computed once and shown as text or JSON.
struct StatusReport {
    static let modules = ["vfio_pci", "vfio_pci_core", "vfio", "vfio_iommu_type1"]

    let host: Host
    let inventory: Inventory
    let cmdline: [String]
    let iommu: IOMMUEvidence
    /// The IOMMU groups of the configured devices, as a VMM finds them.
    let viability: GroupViability
    /// Each configured device's reset and firmware framebuffer findings.
    let deviceChecks: [StatusCheck]
    /// The boot loader, and whether this boot got the flags install wrote.
    let bootPath: BootPath
    /// Each initramfs image, from install's records (or unpacked with `--images`).
    let imageStatus: ImageStatus
    let moduleStates: [(name: String, state: String)]
    let modulesNote: String?
    /// Where the hook and init-top script were found: the package's copies under
    /// /usr/share/initramfs-tools, install's under /etc, or both.
    let hookPaths: [String]
    let initTopPaths: [String]
    /// The initramfs generator install wrote for, or the one installed.
    let backend: Backend?
    var hookInstalled: Bool { !hookPaths.isEmpty }
    var initTopInstalled: Bool { !initTopPaths.isEmpty }
    var layout: String {
        if let backend, backend != .initramfsTools { return hookInstalled ? "install" : "none" }
        let packaged = hookPaths.contains(Layout.packagedHookPath)
        let local = hookPaths.contains(Layout.hookPath)
        return packaged && local ? "both" : packaged ? "package" : local ? "install" : "none"
    }
    let configExists: Bool
    let configErrors: [ConfigError]
    let configReadError: String?
    let outdatedImages: [String]
    let images: [String]
    let kernelLog: [String]?
    /// What this boot's binder recorded in /run/earlybind/boot.json; nil for an older boot or a lost /run.
    let bootRecord: BootRecord?
    /// Whether the config differs from the one that boot read; nil when either is unknown.
    let configChangedSinceBoot: Bool?
    let devices: [DeviceView]
    /// ID selectors of the config that match no device.
    let unmatchedIDs: [String]
    /// What the manual vfio recipe left behind: warnings only, `ready` does not depend on them.
    let leftovers: [RecipeLeftovers.Leftover]
    /// Whether this machine booted by UEFI, where a trial can live.
    let trialAvailable: Bool
    /// The trial variable's state now, or why it cannot be read.
    let trialState: Result<TrialState?, TrialControl.Unknown>

    /// `kernelLogPath` replaces the host's kernel log (`Host.kernelLogPath`). `mayOpenGroupNodes`
    /// lets viability be asked of the kernel (as root, on this machine's own /sys and /dev only).
    /// `unpackImages` looks inside every initramfs image instead of trusting install's records.
    init(host: Host, kernelLogPath: String? = nil, mayOpenGroupNodes: Bool = true, unpackImages: Bool = false) {
        self.host = host
        let manifest = (try? Manifest.load(root: host.root)) ?? nil
        bootPath = BootPath(host: host, manifest: manifest)
        imageStatus = ImageStatus(host: host, manifest: manifest, unpack: unpackImages)
        let inventory = Inventory(host)
        self.inventory = inventory
        cmdline = host.cmdline
        let messages = KernelLogReader.messages(path: kernelLogPath ?? host.kernelLogPath)
        kernelLog = messages.map(KernelLogReader.earlybindLines)
        iommu = IOMMUEvidence(host: host, groups: inventory.groups.count, kernelLog: messages)

        let modulesDirectory = host.modulesDirectory
        let haveModules = modulesDirectory.map(PosixIO().exists) ?? false
        if let modulesDirectory {
            modulesNote = haveModules ? nil : "no \(modulesDirectory): cannot tell built-in from missing modules"
        } else {
            modulesNote = "no \(host.root.resolve(Host.releasePath)): cannot tell built-in from missing modules"
        }
        // A staged root's modules are looked up in that root alone, never this machine's.
        let loader = KmodLoader(modulesDirectory: modulesDirectory, configDirectories: host.modprobeDirectories)
        let state = { (name: String) in loader.state(name, ignoringRunningKernel: !host.root.isSystemRoot) }
        moduleStates = StatusReport.modules.map { name in
            let module = host.sysfs.root + "/module/" + name
            if host.sysfs.io.exists(module + "/initstate") { return (name, "loaded") }
            if host.sysfs.io.exists(module) { return (name, "built_in") }
            return (name, haveModules ? state(name).code : "unknown")
        }

        let backend = Backend.current(host.root, manifest: manifest)
        self.backend = backend
        let bootFiles = (backend ?? .initramfsTools).bootFiles
        hookPaths = bootFiles.hooks.filter { host.file($0) != nil }
        initTopPaths = bootFiles.runners.filter { host.file($0) != nil }
        images = ImageCheck.bootImages(host.root).map(\.path)
        outdatedImages = ImageCheck.olderThanConfig(images, host: host)
        let record = BootRecord.load(host)
        bootRecord = record
        let trial = TrialControl(host: host)
        trialAvailable = trial.hasUEFI
        trialState = trialAvailable ? Result { () throws(TrialControl.Unknown) in try trial.state() } : .success(nil)

        var loaded: (config: Config, text: [UInt8])? = nil
        var readError: String? = nil
        do { loaded = try ConfigFile.load(host) } catch { readError = "\(error)" }
        configReadError = readError
        var info = stat()
        configExists = lstat(host.configPath, &info) == 0
        configErrors = loaded?.config.errors ?? []
        if let booted = record?.configSHA256, let text = loaded?.text {
            configChangedSinceBoot = booted != SHA256.hex(text)
        } else {
            configChangedSinceBoot = nil
        }

        let names = host.pciNames()
        let framebuffers = FirmwareFramebuffer(host: host)
        var deviceChecks: [StatusCheck] = []
        var views: [DeviceView] = []
        if let config = loaded?.config {
            let plan = BindPlan(entries: config.entries, sysfs: host.sysfs)
            for decision in plan.decisions {
                let device = decision.device ?? PCIDevice(
                    address: decision.address, id: StatusReport.expectedID(decision.address, in: config) ?? PCIID(vendor: 0, device: 0),
                    classCode: 0, isBootVGA: false, iommuGroup: nil, driver: nil)
                var view = DeviceView(device, names: names, configured: true)
                view.absent = decision.device == nil
                view.problem = StatusReport.problem(decision, configHasErrors: !configErrors.isEmpty, context: (
                    off: cmdline.contains("earlybind=off"), trialSkip: record?.skipped == BootReport.Skip.trialNotConfirmed.code
                        ? record?.trial?.message : nil, installed: !hookPaths.isEmpty && !initTopPaths.isEmpty,
                    outdated: !outdatedImages.isEmpty,
                    atBoot: StatusReport.bootOutcome(decision.address, record: record, log: kernelLog ?? [])))
                if decision.device != nil {
                    let reset = ResetCapability(device: device, host: host)
                    let inside = framebuffers.regions(in: device, host: host)
                    view.extraJSON = [
                        ("reset", reset.json),
                        ("firmware_framebuffers", inside.map { .array($0.map { region in
                            .object([("name", .string(region.name)), ("range", .string(region.range))])
                        }) } ?? .null),
                    ]
                    deviceChecks += [reset.check, inside.flatMap { framebuffers.check(for: device, inside: $0) }].compactMap { $0 }
                }
                views.append(view)
            }
            unmatchedIDs = plan.unmatchedIDs.map(\.description)
        } else {
            unmatchedIDs = []
        }
        devices = views
        self.deviceChecks = deviceChecks
        leftovers = RecipeLeftovers(host).all
        let configuredGroups = Set(views.compactMap { $0.device.iommuGroup }).sorted()
        let ownMachine = geteuid() == 0 && host.root.isSystemRoot && host.sysfs.root == "/sys"
        viability = GroupViability(groups: configuredGroups, configured: Set(views.map(\.device.address)), inventory: inventory, host: host,
                                   askKernel: mayOpenGroupNodes && ownMachine)
        checks = gatherChecks()
    }

    /// Every finding, errors that keep the VM from the devices first in the order they
    /// arise, then the warnings; gathered once, at the end of init.
    private(set) var checks: [StatusCheck] = []

    private func gatherChecks() -> [StatusCheck] {
        var all: [StatusCheck] = []
        if let problem = inventory.problem {
            all.append(.error("sysfs_unreadable", nil, "cannot list PCI devices: \(problem)", fix: "check the --sysfs path, or run on the host itself"))
        }
        if let configReadError {
            all.append(.error("config_unreadable", nil, "cannot read the config: \(configReadError)",
                              fix: geteuid() == 0 ? "make \(Config.defaultPath) a readable file" : "run 'earlybind status' as root (sudo earlybind status)"))
        } else if !configErrors.isEmpty {
            all.append(.error("config_invalid", nil, configErrors.map(\.description).joined(separator: "; "), fix: "fix those lines of \(Config.defaultPath), then run 'earlybind install'"))
        } else if devices.isEmpty && unmatchedIDs.isEmpty && inventory.problem == nil {
            all.append(.error("nothing_configured", nil, "no device is configured for vfio-pci",
                              fix: "earlybind groups, then earlybind add ADDRESS and earlybind install"))
        }
        all += unmatchedIDs.map { .error("id_unmatched", nil, "no device has the ID \($0) of the config", fix: "earlybind remove \($0), or check 'earlybind groups'") }
        // An unreadable sysfs shows no groups: that says nothing about the IOMMU.
        if inventory.problem == nil { all += iommu.checks }
        for view in devices {
            guard let problem = view.problem else { continue }
            all.append(.error(problem.code, view.device.address, problem.message, fix: StatusReport.fix(forProblem: problem.code, view.device.address)))
        }
        all += viability.checks
        all += deviceChecks
        all += bootPath.checks
        all += imageStatus.checks
        if case .failure(let error) = trialState, trialMatters(error) {
            all.append(.warning("trial_unreadable", nil, error.description, fix: error.fix))
        } else if case .success(.pending?) = trialState {
            let (whose, fix) = switch thisBootIsTheTrial {
            case true?: ("this boot is a trial", "earlybind confirm, once the host works")
            case false?: ("an earlier boot's trial is still pending (this boot did not advance it)",
                          "earlybind trial to try the config again, or earlybind confirm to bind it as usual")
            case nil: ("a trial is pending", "earlybind confirm, once the host works")
            }
            all.append(.warning("trial_pending", nil, whose + ": unless 'earlybind confirm' runs, the next boot binds nothing", fix: fix))
        }
        if configChangedSinceBoot == true {
            all.append(.warning("config_changed_since_boot", nil,
                                "the config has changed since this boot's binder read it: the next boot binds what it says now",
                                fix: "earlybind install, then reboot (or earlybind apply to bind now)"))
        }
        return all.filter { $0.severity == .error } + all.filter { $0.severity == .warning }
    }

    /// What to run for a configured device's problem.
    static func fix(forProblem code: String, _ address: PCIAddress) -> String? {
        switch code {
        case "absent", "hardware_changed", "group_mate_changed":
            return "check the card is seated where the config says (earlybind groups), then earlybind remove \(address) and earlybind add the device where it is now"
        case "earlybind_off": return "reboot without earlybind=off"
        case "trial_not_confirmed": return "once the problem is found: earlybind trial (try again) or earlybind confirm (bind as usual), then reboot; or earlybind apply to bind now"
        case "not_installed": return "earlybind install, then reboot"
        case "initramfs_outdated": return "earlybind install, then reboot"
        case "other_driver", "no_driver", "bind_failed": return "earlybind apply (now), or reboot after earlybind install"
        case "vfio_unavailable": return "install the kernel's vfio-pci module (or remove its blacklist), then earlybind install and reboot"
        case "no_iommu_group": return "turn the IOMMU on (see iommu_off), then reboot"
        case "config_invalid": return "fix the config's bad lines, then earlybind install"
        default: return "earlybind add \(address) explains the refusal; add 'force' to the entry only if the host can do without it"
        }
    }

    /// The ID an address entry expects, for showing a device that is gone.
    static func expectedID(_ address: PCIAddress, in config: Config) -> PCIID? {
        for entry in config.entries {
            if case .address(address, let expected) = entry.selector { return expected }
        }
        return nil
    }

    /// What the boot did to a device that kept it from vfio-pci, as a problem code and sentence.
    enum BootOutcome {
        case bindFailed(String)
        case vfioUnavailable(String)
    }

    /// The device's outcome from the boot report; from its kernel-log line only when
    /// there is no report (an older boot, a lost /run).
    static func bootOutcome(_ address: PCIAddress, record: BootRecord?, log: [String]) -> BootOutcome? {
        if let record {
            guard let device = record.device(address.description) else { return nil }
            if device.action == "failed" { return .bindFailed("at boot: " + device.message) }
            if device.reason == LeaveReason.vfioUnavailable("").code { return .vfioUnavailable("at boot: " + device.message) }
            return nil
        }
        let subject = "earlybind: " + address.description + " "
        guard let line = log.last(where: { $0.hasPrefix(subject) }) else { return nil }
        let text = "at boot: " + line.dropFirst("earlybind: ".count)
        if line.contains(": not bound: ") || line.contains(": given back: ") { return .bindFailed(text) }
        if line.contains(": left alone: vfio-pci is not available") { return .vfioUnavailable(text) }
        return nil
    }

    /// Why a configured device is not on vfio-pci, or nil when it is.
    static func problem(
        _ decision: Decision, configHasErrors: Bool,
        context: (off: Bool, trialSkip: String?, installed: Bool, outdated: Bool, atBoot: BootOutcome?)
    ) -> (code: String, message: String)? {
        if let device = decision.device, device.driver == .vfioPCI { return nil }
        if case .leave(let reason) = decision.action { return (reason.code, reason.description) }
        if configHasErrors { return ("config_invalid", "the config has errors, so nothing is bound at boot") }
        if context.off { return ("earlybind_off", "earlybind=off is on this boot's kernel command line") }
        if let skip = context.trialSkip { return ("trial_not_confirmed", "at boot: " + skip) }
        if !context.installed { return ("not_installed", "earlybind is not installed: run 'earlybind install'") }
        switch context.atBoot {
        case .bindFailed(let text): return ("bind_failed", text)
        case .vfioUnavailable(let text): return ("vfio_unavailable", text)
        case nil: break
        }
        if context.outdated {
            return ("initramfs_outdated", "the config is newer than the initramfs: run 'earlybind install' and reboot")
        }
        if let driver = decision.device?.driver {
            return ("other_driver", "taken by \(driver) (reboot after 'earlybind install', or see the boot lines)")
        }
        return ("no_driver", "no driver is bound (reboot after 'earlybind install')")
    }

    /// Ready for the VM exactly when no check is an error.
    var ready: Bool { !checks.contains { $0.severity == .error } }

    /// 0 ready, 1 not ready, 2 when status cannot tell (sysfs or the config unreadable).
    var exitCode: Int32 {
        if inventory.problem != nil || configReadError != nil { return 2 }
        return ready ? 0 : 1
    }

    var json: JSON {
        let leftovers: JSON = .array(self.leftovers.map(\.json))
        return .object([
            ("ready", .bool(ready)),
            ("reasons", .array(checks.filter { $0.severity == .error }.map(\.json))),
            ("checks", .array(checks.map(\.json))),
            ("iommu", iommu.json),
            ("vfio_groups", viability.json),
            ("modules", .array(moduleStates.map { .object([("name", .string($0.name)), ("state", .string($0.state))]) })),
            ("installation", .object([
                ("hook", .bool(hookInstalled)),
                ("init_top", .bool(initTopInstalled)),
                ("layout", .string(layout)),
                ("backend", .optional(backend?.rawValue)),
                ("config", .string(Config.defaultPath)),
                ("config_exists", .bool(configExists)),
                ("config_errors", .array(configErrors.map {
                    .object([("file", .string($0.file)), ("line", .int($0.line)), ("message", .string($0.message))])
                })),
                ("initramfs_images", .array(images.map(JSON.string))),
                ("outdated_images", .array(outdatedImages.map(JSON.string))),
            ])),
            ("devices", .array(devices.map(\.json))),
            ("unmatched_ids", .array(unmatchedIDs.map(JSON.string))),
            ("boot_path", bootPath.json),
            ("images", imageStatus.json),
            ("leftovers", leftovers),
            ("trial", trialJSON),
            ("kernel_log", kernelLog.map { .array($0.map(JSON.string)) } ?? .null),
            ("boot_report", bootRecord.map { record in
                .object([
                    ("path", .string(BootReport.defaultPath)),
                    ("version", .string(record.version)),
                    ("skipped", .optional(record.skipped)),
                    ("config_changed", configChangedSinceBoot.map(JSON.bool) ?? .null),
                    ("devices", .array(record.devices.map { device in
                        .object([("address", .string(device.address)), ("action", .string(device.action)),
                                 ("reason", .optional(device.reason)), ("message", .string(device.message))])
                    })),
                ])
            } ?? .null),
        ])
    }

    private var trialJSON: JSON {
        var state: JSON = .null, error: JSON = .null, next: JSON = .null
        switch trialState {
        case .success(let found):
            state = .optional(found?.code)
            next = .string(TrialControl.nextBoot(found, thisBootIsTheTrial: thisBootIsTheTrial))
        case .failure(let failure): error = .string(failure.description)
        }
        return .object([
            ("uefi", .bool(trialAvailable)),
            ("state", state),
            ("error", error),
            ("next_boot", next),
            ("this_boot", bootRecord?.trial.map { step in
                .object([("found", .optional(step.found)), ("left", .optional(step.left)), ("binds", .bool(step.binds)),
                         ("message", .optional(step.message))])
            } ?? .null),
        ])
    }

    /// Whether this boot's binder moved the trial from armed to pending, from its report or
    /// else its log line; nil when neither can tell. A pending state this boot did not leave
    /// is an earlier boot's, which this boot did not advance (earlybind=off, say).
    private var thisBootIsTheTrial: Bool? {
        if let record = bootRecord {
            return record.trial.map { $0.found == TrialState.armed.code && $0.left == TrialState.pending.code } ?? false
        }
        return kernelLog.map { $0.contains("earlybind: " + TrialStep.trialBootMessage) }
    }

    /// Whether an unknown trial state deserves a warning. Without efivarfs mounted nothing
    /// can arm a trial, so it does not when nothing is configured or the binder found no
    /// variable at boot.
    private func trialMatters(_ unknown: TrialControl.Unknown) -> Bool {
        guard case .notMounted = unknown else { return true }
        let noVariableAtBoot = bootRecord?.trial.map { $0.found == nil && $0.message == nil } ?? false
        return !devices.isEmpty && !noVariableAtBoot
    }

    /// The trial section: shown where a trial can live or this boot had one.
    private var trialLines: [String] {
        guard trialAvailable || bootRecord?.trial != nil else { return [] }
        var lines = ["trial"]
        switch trialState {
        case .failure(let error): lines += labelled("state", error.description)
        case .success(let state):
            lines += labelled("state", state?.code ?? "none (earlybind trial arms one)")
            lines += labelled("next boot", TrialControl.nextBoot(state, thisBootIsTheTrial: thisBootIsTheTrial))
        }
        if let message = bootRecord?.trial?.message { lines += labelled("this boot", message) }
        return lines
    }

    var text: String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) { lines += labelled(label, value) }

        lines.append("IOMMU")
        if iommu.enabled {
            row("groups", "\(iommu.groups) in \(host.sysfs.root)/kernel/iommu_groups")
        } else if inventory.problem != nil {
            row("groups", "unknown: cannot read \(host.sysfs.root)")
        } else {
            row("groups", "none: the IOMMU is off")
        }
        row("firmware", iommu.firmwareTable.map { "ACPI " + $0 + " table (" + ($0 == "DMAR" ? "Intel VT-d" : "AMD-Vi") + ")" }
            ?? "no ACPI DMAR or IVRS table")
        row("CPU", iommu.cpuVendor ?? "unknown vendor")
        var flags = iommu.kernelFlags.isEmpty ? "none of intel_iommu=, amd_iommu=, iommu=" : iommu.kernelFlags.joined(separator: " ")
        if let needed = iommu.neededFlag { flags += "; needs " + needed + (iommu.neededFlagPresent ? " (present)" : " (missing)") }
        row("kernel flags", flags)
        if iommu.enabled {
            switch (iommu.interruptRemapping, iommu.remappingSource) {
            case (true?, .procInterrupts?): row("interrupts", "remapped (IR chips in /proc/interrupts)")
            case (true?, _): row("interrupts", "remapped (kernel log)")
            case (false?, _): row("interrupts", "not remapped" + (iommu.unsafeInterruptsAllowed ? " (allow_unsafe_interrupts is set)" : ""))
            case (nil, _): row("interrupts", "cannot tell whether they are remapped")
            }
        }

        lines.append("vfio modules")
        moduleStates.forEach { row($0.name, $0.state.replacingAll("_", with: " ")) }
        if let modulesNote { row("note", modulesNote) }

        lines.append("installation")
        row("generator", backend?.rawValue ?? "none found (initramfs-tools, dracut or mkinitcpio)")
        // When missing, the path install would write: the last candidate.
        let expected = (backend ?? .initramfsTools).bootFiles
        row("hook", hookInstalled ? "present " + hookPaths.joined(separator: ", ") : "missing " + expected.hooks.last!)
        row(expected.runnerName, initTopInstalled ? "present " + initTopPaths.joined(separator: ", ") : "missing " + expected.runners.last!)
        if layout == "both" {
            row("note", "the package's hook and install's /etc copies both run: 'earlybind install' removes the copies")
        }
        if let configReadError {
            row("config", configReadError)
        } else {
            row("config", Config.defaultPath + (configExists ? "" : " (none)"))
        }
        configErrors.forEach { row("config error", $0.description) }
        if images.isEmpty {
            row("initramfs", "no /boot/initrd.img-*")
        } else if outdatedImages.isEmpty {
            row("initramfs", "\(images.count) image(s), none older than the config")
        } else {
            outdatedImages.forEach { row("initramfs", $0 + " is older than the config") }
        }

        lines += bootPath.lines
        lines += imageStatus.lines
        lines.append("devices")
        if devices.isEmpty && unmatchedIDs.isEmpty {
            lines.append("  none configured (earlybind add ADDRESS)")
        }
        unmatchedIDs.forEach { lines.append("  \($0): no device has this ID") }
        for view in devices {
            lines += view.lines()
            let groupBlocked = viability.groups.first { $0.number == view.device.iommuGroup && !$0.viable }
            let verdict = view.problem.map { "not on vfio-pci [\($0.code)]: \($0.message)" }
                ?? groupBlocked.map { "on vfio-pci, but IOMMU group \($0.number) is not viable [group_not_viable]" }
                ?? "on vfio-pci"
            lines += wrapped(verdict, indent: "    ", continuation: "      ")
        }
        for group in viability.groups {
            let members = group.members.map { "\($0.address) \($0.driver?.description ?? "-")" }.joined(separator: ", ")
            let verdict = (group.viable ? "viable" : "not viable") + (group.source == .vfio ? " (asked VFIO)" : " (from sysfs)")
            row("group \(group.number)", verdict + ": " + members)
        }
        if !leftovers.isEmpty {
            lines.append("leftovers from the manual method")
            for leftover in leftovers {
                lines += wrapped(leftover.location + ": " + leftover.text, indent: "  ", continuation: "      ")
                lines += wrapped(leftover.effect, indent: "    ", continuation: "      ")
            }
        }
        if let record = bootRecord {
            lines.append("boot report")
            row("file", BootReport.defaultPath + " (earlybind " + record.version + ")")
            if let skipped = record.skipped { row("skipped", skipped) }
            if configChangedSinceBoot == true {
                row("note", "the config has changed since this boot: run 'earlybind install' and reboot")
            }
            lines += record.devices.flatMap { wrapped($0.message, indent: "  ", continuation: "      ") }
        } else if let kernelLog {
            lines.append("boot log")
            lines += kernelLog.isEmpty ? ["  no earlybind lines in this boot's kernel log"]
                : kernelLog.flatMap { wrapped($0, indent: "  ", continuation: "      ") }
        } else {
            lines.append("boot log: cannot read the kernel log (as root it shows earlybind's lines)")
        }
        lines += trialLines
        if !checks.isEmpty {
            lines.append("checks")
            lines += checks.flatMap(\.lines)
        }
        let errors = checks.filter { $0.severity == .error }.count
        let warnings = checks.count - errors
        let counts = "\(errors) error(s), \(warnings) warning(s)"
        lines.append(errors == 0 ? "ready for the VM (\(devices.count) device(s); \(warnings) warning(s))" : "not ready: " + counts)
        return lines.joined(separator: "\n")
    }
}
