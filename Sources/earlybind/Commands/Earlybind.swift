import ArgumentParser
import EarlybindCore

@main
struct Earlybind: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "earlybind",
        abstract: "Hand a GPU and the other functions of its card to vfio-pci at early boot.",
        discussion: """
            earlybind binds PCI devices to vfio-pci from the initramfs, before udev and \
            before any GPU driver, so they can be passed through to a virtual machine. \
            It reads /etc/earlybind.conf, one entry per line, # for comments:

              [DOMAIN:]BB:DD.F [vvvv:dddd] [force]
              vvvv:dddd [force]

            The first form selects one device by address (and, with an ID, only while it \
            still has that ID); the second every device with that ID. Each device is bound \
            with every other endpoint of its IOMMU group. The boot GPU and groups holding \
            storage, network or a host bridge are refused unless the entry ends with \
            'force'. Boot with earlybind=off on the kernel command line to skip it once; \
            'dmesg | grep earlybind:' shows what it did at boot.
            """,
        version: earlybindVersion,
        subcommands: [Status.self, Groups.self, Add.self, Remove.self, VMXML.self, Install.self, Uninstall.self, Apply.self, Release.self, Trial.self, Confirm.self]
    )

    /// As ArgumentParser's, except that a bad value found only once a subcommand runs
    /// (no device at that address) shows that subcommand's usage, not the root's.
    static func main() {
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do {
            try command.run()
        } catch let error as ValidationError {
            let subcommand = type(of: command)
            printError("Error: \(error.message)")
            printError("Usage: " + usageString(for: subcommand))
            printError("  See 'earlybind \(subcommand._commandName) --help' for more information.")
            exit(withError: ExitCode.validationFailure)
        } catch {
            exit(withError: error)
        }
    }
}
