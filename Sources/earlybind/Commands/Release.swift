import ArgumentParser
import EarlybindCore

extension Earlybind {
    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give devices on vfio-pci back to their host drivers now.",
            discussion: """
                Clears driver_override, unbinds each device from vfio-pci and probes it \
                again, then says which driver took it. Without selectors, releases every \
                configured device that is on vfio-pci. A device whose IOMMU group a \
                process has open (/dev/vfio/N: a running VM) is refused, with that process \
                named. Exits 1 when a device stays on vfio-pci. The config is not changed: \
                the next boot binds them again (see 'earlybind remove').
                """
        )

        @OptionGroup var options: GlobalOptions

        @OptionGroup var arguments: OptionalSelectorArguments

        func run() throws {
            let host = options.host
            try Privileges.requireRoot("release changes drivers in /sys", onRealSystem: host.sysfs.root == "/sys", dryRun: false)
            let outcome = try Releaser(host: host).release(selectors: arguments.selectors)
            outcome.lines.forEach { print($0) }
            if outcome.failed > 0 { throw ExitCode(1) }
        }
    }
}
