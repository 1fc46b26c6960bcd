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
    let cpuVendor: String?
    let firmwareTable: String
    let firmwareTablePresent: Bool
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
    let configErrors: [String]
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

    /// `kernelLogPath` replaces the host's kernel log (`Host.kernelLogPath`).
    init(host: Host, kernelLogPath: String? = nil) {
        self.host = host
        inventory = Inventory(host)
        cmdline = host.cmdline
        cpuVendor = host.cpuVendor
        firmwareTable = cpuVendor == "AuthenticAMD" ? "IVRS" : "DMAR"
        firmwareTablePresent = host.sysfs.io.exists(host.sysfs.root + "/firmware/acpi/tables/" + firmwareTable)

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

        let backend = Backend.current(host.root, manifest: (try? Manifest.load(root: host.root)) ?? nil)
        self.backend = backend
        let bootFiles = (backend ?? .initramfsTools).bootFiles
        hookPaths = bootFiles.hooks.filter { host.file($0) != nil }
        initTopPaths = bootFiles.runners.filter { host.file($0) != nil }
        // Debian's name for every generator, then dracut's elsewhere and mkinitcpio's.
        images = host.list("/boot").filter { $0.hasPrefix("initrd.img-") || ($0.hasPrefix("initramfs-") && $0.hasSuffix(".img")) }
            .map { "/boot/" + $0 }
        let configTime = host.modificationTime(host.configPath)
        outdatedImages = images.filter { image in
            guard let configTime, let imageTime = host.modificationTime(host.root.resolve(image)) else { return false }
            return imageTime < configTime
        }
        kernelLog = KernelLogReader.earlybindLines(path: kernelLogPath ?? host.kernelLogPath)
        let record = BootRecord.load(host)
        bootRecord = record

        var loaded: (config: Config, text: [UInt8])? = nil
        var readError: String? = nil
        do { loaded = try ConfigFile.load(host) } catch { readError = "\(error)" }
        configReadError = readError
        configExists = loaded != nil
        configErrors = loaded?.config.errors.map(\.description) ?? []
        if let booted = record?.configSHA256, let text = loaded?.text {
            configChangedSinceBoot = booted != SHA256.hex(text)
        } else {
            configChangedSinceBoot = nil
        }

        let names = host.pciNames()
        var views: [DeviceView] = []
        if let config = loaded?.config {
            let plan = BindPlan(entries: config.entries, sysfs: host.sysfs)
            for decision in plan.decisions {
                let device = decision.device ?? PCIDevice(
                    address: decision.address, id: StatusReport.expectedID(decision.address, in: config) ?? PCIID(vendor: 0, device: 0),
                    classCode: 0, isBootVGA: false, iommuGroup: nil, driver: nil)
                var view = DeviceView(device, names: names, configured: true)
                view.problem = StatusReport.problem(decision, configHasErrors: !configErrors.isEmpty, context: (
                    off: cmdline.contains("earlybind=off"), installed: !hookPaths.isEmpty && !initTopPaths.isEmpty,
                    outdated: !outdatedImages.isEmpty,
                    atBoot: StatusReport.bootOutcome(decision.address, record: record, log: kernelLog ?? [])))
                views.append(view)
            }
            unmatchedIDs = plan.unmatchedIDs.map(\.description)
        } else {
            unmatchedIDs = []
        }
        devices = views
        leftovers = RecipeLeftovers(host).all
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
        context: (off: Bool, installed: Bool, outdated: Bool, atBoot: BootOutcome?)
    ) -> (code: String, message: String)? {
        if let device = decision.device, device.driver == .vfioPCI { return nil }
        if case .leave(let reason) = decision.action { return (reason.code, reason.description) }
        if configHasErrors { return ("config_invalid", "the config has errors, so nothing is bound at boot") }
        if context.off { return ("earlybind_off", "earlybind=off is on this boot's kernel command line") }
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

    var ready: Bool { devices.allSatisfy { $0.problem == nil } && configErrors.isEmpty && unmatchedIDs.isEmpty }

    var exitCode: Int32 {
        if inventory.problem != nil || configReadError != nil { return 2 }
        return ready ? 0 : 1
    }

    var iommuFlags: [String] {
        cmdline.filter { $0.hasPrefix("intel_iommu=") || $0.hasPrefix("amd_iommu=") || $0.hasPrefix("iommu=") || $0 == "earlybind=off" }
    }

    var json: JSON {
        let needed = IOMMUAdvice.neededFlag(cpuVendor: cpuVendor)
        let leftovers: JSON = .array(self.leftovers.map(\.json))
        return .object([
            ("ready", .bool(ready)),
            ("iommu", .object([
                ("enabled", .bool(inventory.iommuEnabled)),
                ("groups", .int(inventory.groups.count)),
                ("cpu_vendor", .optional(cpuVendor)),
                ("needed_flag", .optional(needed)),
                ("needed_flag_present", .bool(needed.map { IOMMUAdvice.isPresent($0, in: cmdline) } ?? true)),
                ("kernel_flags", .array(iommuFlags.map(JSON.string))),
                ("firmware_table", .string(firmwareTable)),
                ("firmware_table_present", .bool(firmwareTablePresent)),
            ])),
            ("modules", .array(moduleStates.map { .object([("name", .string($0.name)), ("state", .string($0.state))]) })),
            ("installation", .object([
                ("hook", .bool(hookInstalled)),
                ("init_top", .bool(initTopInstalled)),
                ("layout", .string(layout)),
                ("backend", .optional(backend?.rawValue)),
                ("config", .string(Config.defaultPath)),
                ("config_exists", .bool(configExists)),
                ("config_errors", .array(configErrors.map(JSON.string))),
                ("initramfs_images", .array(images.map(JSON.string))),
                ("outdated_images", .array(outdatedImages.map(JSON.string))),
            ])),
            ("devices", .array(devices.map(\.json))),
            ("unmatched_ids", .array(unmatchedIDs.map(JSON.string))),
            ("leftovers", leftovers),
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

    var text: String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) {
            lines += wrapped(value, indent: "  " + (label + ":").padding(18), continuation: String(repeating: " ", count: 20))
        }

        lines.append("IOMMU")
        if inventory.iommuEnabled {
            row("groups", "\(inventory.groups.count) in \(host.sysfs.root)/kernel/iommu_groups")
        } else {
            row("groups", "none: the IOMMU is off")
        }
        let needed = IOMMUAdvice.neededFlag(cpuVendor: cpuVendor)
        let cpu = cpuVendor ?? "unknown vendor"
        if inventory.iommuEnabled {
            row("CPU", cpu + ": the IOMMU is on")
        } else if let needed {
            row("CPU", cpu + ": needs " + needed + (IOMMUAdvice.isPresent(needed, in: cmdline) ? " (present)" : " (missing)"))
        } else if cpuVendor == "AuthenticAMD" {
            row("CPU", cpu + ": on by default")
        } else {
            row("CPU", cpu + ": no flag known to be needed")
        }
        row("kernel flags", iommuFlags.isEmpty ? "none of intel_iommu=, amd_iommu=, iommu=" : iommuFlags.joined(separator: " "))
        row("ACPI table", firmwareTable + (firmwareTablePresent ? " present" : " missing (firmware has the IOMMU off?)"))

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
        configErrors.forEach { row("config error", $0) }
        if images.isEmpty {
            row("initramfs", "no /boot/initrd.img-*")
        } else if outdatedImages.isEmpty {
            row("initramfs", "\(images.count) image(s), none older than the config")
        } else {
            outdatedImages.forEach { row("initramfs", $0 + " is older than the config") }
        }

        lines.append("devices")
        if devices.isEmpty && unmatchedIDs.isEmpty {
            lines.append("  none configured (earlybind add ADDRESS)")
        }
        unmatchedIDs.forEach { lines.append("  \($0): no device has this ID") }
        for view in devices {
            lines += view.lines()
            let verdict = view.problem.map { "not on vfio-pci [\($0.code)]: \($0.message)" } ?? "on vfio-pci: ready"
            lines += wrapped(verdict, indent: "    ", continuation: "      ")
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
        return lines.joined(separator: "\n")
    }
}
