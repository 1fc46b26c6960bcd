import ArgumentParser
import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

extension Earlybind {
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bind the configured devices to vfio-pci now, without a reboot.",
            discussion: """
                Applies /etc/earlybind.conf to the running system with the same safety \
                rules as at boot, group by group. A display device the host is using (a \
                framebuffer console on it, or a program such as Xorg holding its DRM \
                device open) is refused: stop the display server first, or reboot \
                after 'earlybind install'.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(name: .long, help: "Show what would be bound, and change nothing.")
        var dryRun = false

        func run() throws {
            let host = options.host
            try requireRoot(host, dryRun: dryRun, what: "apply")
            let lines = try Applier(host: host, sysfs: host.sysfs, procRoot: host.procRoot).apply(dryRun: dryRun)
            lines.forEach { print($0) }
            if lines.contains(where: { $0.contains(": not bound: ") || $0.contains(": given back: ") }) { throw ExitCode(1) }
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give devices on vfio-pci back to their host drivers now.",
            discussion: """
                Clears driver_override, unbinds each device from vfio-pci and probes it \
                again, then says which driver took it. Without selectors, releases every \
                configured device that is on vfio-pci. The config is not changed: the \
                next boot binds them again (see 'earlybind remove').
                """
        )

        @OptionGroup var options: GlobalOptions

        @OptionGroup var arguments: OptionalSelectorArguments

        func run() throws {
            let host = options.host
            try requireRoot(host, dryRun: false, what: "release")
            let lines = try Releaser(host: host).release(selectors: arguments.selectors)
            lines.forEach { print($0) }
        }
    }
}

/// Changing the real /sys needs root; a fake tree (tests) does not.
func requireRoot(_ host: Host, dryRun: Bool, what: String) throws {
    if host.sysfs.root == "/sys" && !dryRun && geteuid() != 0 {
        throw InstallError(description: "\(what) changes drivers in /sys: run it as root")
    }
}

/// `earlybind apply`: the boot job's plan and binding, after checking what the host is using.
struct Applier<IO: FileIO> {
    let host: Host
    let sysfs: Sysfs<IO>
    let procRoot: String

    func apply(dryRun: Bool) throws -> [String] {
        try ConfigPermissions.check(host.configPath)
        guard let loaded = try host.loadConfig() else {
            throw InstallError(description: "\(host.configPath) does not exist: add devices with 'earlybind add'")
        }
        if !loaded.config.errors.isEmpty {
            throw InstallError(description: loaded.config.errors.map(\.description).joined(separator: "\n")
                + "\nfix \(host.configPath) first: nothing was bound")
        }
        var plan = BindPlan(entries: loaded.config.entries, sysfs: sysfs)
        let usage = DisplayUsage(sysfs: sysfs, procRoot: procRoot)
        // A group with one member in use is left whole: it cannot be half taken.
        var busyGroups: [Int: String] = [:]
        for decision in plan.decisions {
            guard case .bind = decision.action, let device = decision.device, let user = usage.user(of: device) else { continue }
            busyGroups[device.iommuGroup ?? -1] = device.address.description + " " + user
        }
        for index in plan.decisions.indices {
            guard case .bind = plan.decisions[index].action,
                  let user = busyGroups[plan.decisions[index].device?.iommuGroup ?? -1] else { continue }
            plan.decisions[index].action = .leave(.inUse(user))
        }
        if dryRun {
            return plan.decisions.map { decision in
                let subject = decision.address.description + (decision.device.map { " [\($0.id)]" } ?? "")
                switch decision.action {
                case .bind: return "would bind \(subject)"
                case .leave(let reason): return "would leave \(subject): \(reason.description)"
                }
            }
        }
        var options = BootOptions()
        options.sysfs = sysfs.root
        options.loadModules = sysfs.root == "/sys"
        var program = BootProgram(options: options, io: sysfs.io, loader: KmodLoader(), log: MemoryLines())
        program.execute(plan, sysfs: sysfs)
        return program.log.lines
    }
}

/// Log lines kept in memory, to print after the run.
struct MemoryLines: LogSink {
    var lines: [String] = []
    mutating func line(_ text: String) { lines.append(text) }
}

/// Who is using a display device: a framebuffer console on it, or a process
/// holding its DRM device open.
struct DisplayUsage<IO: FileIO> {
    let sysfs: Sysfs<IO>
    let procRoot: String

    func user(of device: PCIDevice) -> String? {
        guard device.isDisplay, let driver = device.driver, driver != .vfioPCI else { return nil }
        let address = device.address.description
        for fb in ((try? sysfs.io.list(sysfs.root + "/class/graphics")) ?? []).sorted() where fb.hasPrefix("fb") {
            if belongs(sysfs.root + "/class/graphics/" + fb + "/device", to: address) {
                return "a framebuffer console (\(fb), \(driver))"
            }
        }
        var nodes: [String] = []
        for node in ((try? sysfs.io.list(sysfs.root + "/class/drm")) ?? []).sorted()
            where (node.hasPrefix("card") || node.hasPrefix("renderD")) && !node.contains("-") {
            if belongs(sysfs.root + "/class/drm/" + node + "/device", to: address) { nodes.append("/dev/dri/" + node) }
        }
        guard !nodes.isEmpty else { return nil }
        for pid in ((try? sysfs.io.list(procRoot)) ?? []).filter({ Int($0) != nil }).sorted() {
            let fdDirectory = procRoot + "/" + pid + "/fd"
            for fd in (try? sysfs.io.list(fdDirectory)) ?? [] {
                guard let target = try? sysfs.io.readLink(fdDirectory + "/" + fd) else { continue }
                let path = String(decoding: target, as: UTF8.self)
                if nodes.contains(path) {
                    let name = (try? sysfs.io.read(procRoot + "/" + pid + "/comm")).map { String(decoding: $0, as: UTF8.self).trimmingNewlines() } ?? "?"
                    return "\(name) (pid \(pid)) has \(path) open"
                }
            }
        }
        return nil
    }

    private func belongs(_ link: String, to address: String) -> Bool {
        guard let target = try? sysfs.io.readLink(link) else { return false }
        return String(decoding: target, as: UTF8.self).hasSuffix("/" + address)
    }
}

/// `earlybind release`: devices on vfio-pci go back to their host drivers.
struct Releaser {
    let host: Host

    func release(selectors: [String]) throws -> [String] {
        try release(selectors: selectors, sysfs: host.sysfs)
    }

    func release<IO: FileIO>(selectors: [String], sysfs: Sysfs<IO>) throws -> [String] {
        var addresses: [PCIAddress]
        if selectors.isEmpty {
            let configured = Configured(host: host)
            addresses = configured.addresses.filter { sysfs.driver(of: $0) == .vfioPCI }
        } else {
            addresses = try Selection(selectors, inventory: Inventory(host), includeBootVGA: true).devices.map(\.address)
        }
        if addresses.isEmpty { return ["nothing to release: no selected device is on vfio-pci"] }
        let binder = Binder(sysfs: sysfs)
        return addresses.map { address in
            guard sysfs.driver(of: address) == .vfioPCI else { return "\(address): not on vfio-pci, left alone" }
            let (driver, errors) = binder.release(address)
            let now = driver.map { "now on \($0)" } ?? "no driver took it"
            return "\(address): released, \(now)" + (errors.isEmpty ? "" : " (" + errors.joined(separator: "; ") + ")")
        }
    }
}

extension String {
    func trimmingNewlines() -> String {
        var text = self
        while text.last == "\n" { text.removeLast() }
        return text
    }
}
