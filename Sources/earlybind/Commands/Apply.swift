import ArgumentParser
import EarlybindCore

extension Earlybind {
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bind the configured devices to vfio-pci now, without a reboot.",
            discussion: """
                Applies /etc/earlybind.conf to the running system with the same safety \
                rules as at boot, group by group. A display device the host is using (a \
                framebuffer console on it, or a program such as Xorg holding its DRM \
                device open) is refused: stop the display server first, or reboot \
                after 'earlybind install'. So is a device the host is using for \
                storage (below a mounted filesystem or active swap) or network (the \
                default route, an SSH session), with its whole group. Exits 1 when a \
                configured device was left alone or failed to bind.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(name: .long, help: "Show what would be bound, and change nothing.")
        var dryRun = false

        func run() throws {
            let host = options.host
            try Privileges.requireRoot("apply changes drivers in /sys", onRealSystem: host.sysfs.root == "/sys", dryRun: dryRun)
            let result = try Applier(host: host, sysfs: host.sysfs, procRoot: host.procRoot).apply(dryRun: dryRun)
            result.lines.forEach { print($0) }
            if let report = result.report, report.failedCount + report.leftCount > 0 { throw ExitCode(1) }
        }
    }
}
