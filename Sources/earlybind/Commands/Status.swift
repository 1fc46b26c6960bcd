import ArgumentParser
import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

extension Earlybind {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Is the GPU ready for the VM? If not, why not.",
            discussion: """
                Checks the IOMMU (groups, kernel flags, CPU vendor, firmware table), the \
                vfio modules, the installation (hook, init-top script, initramfs images \
                newer than the config) and every configured device: present, ID as \
                expected, IOMMU group, driver, and when it is not on vfio-pci, why. Shows \
                earlybind's lines from this boot's kernel log when it can read it (root).

                Exit status: 0 when every configured device is on vfio-pci (or none is \
                configured), 1 when one is not, 2 when sysfs or the config cannot be read.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        /// The kernel log to read instead of the root's (/dev/kmsg, or a staged root's dev/kmsg).
        @Option(name: .long, help: .hidden)
        var kernelLog: String?

        func run() throws {
            let report = StatusReport(host: options.host, kernelLogPath: kernelLog)
            print(json ? report.json.rendered() : report.text)
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        }
    }
}
