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
                Checks what a VMM needs, the way a VMM checks it: the IOMMU (the firmware's \
                DMAR or IVRS table, the groups, the kernel flags, interrupt remapping), \
                the vfio modules, the installation and every configured device: present, ID \
                as expected, on vfio-pci, and its IOMMU group viable (every endpoint on \
                vfio-pci, pci-stub or no driver; as root the kernel is asked through \
                /dev/vfio/GROUP, opened once and closed at once, unless a process holds it). \
                Also the device's reset, a firmware framebuffer in its BARs, the boot \
                loader and the initramfs images, and what this boot's binder recorded.

                Every finding is a check with a stable code, error or warning, and a fix; \
                ready means no error: at least one device configured, the config readable \
                and valid, each device and its group on vfio-pci, the IOMMU on and \
                interrupts remapped.

                Exit status: 0 ready, 1 not ready, 2 when status cannot tell (sysfs or the \
                config cannot be read). With --format prometheus: 0 whenever the metrics \
                were written, ready or not (earlybind_ready says which), so that a timer \
                keeps the node_exporter textfile current when it matters most; the groups \
                are judged from sysfs alone, never opening /dev/vfio.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case text, json, prometheus
        }

        @OptionGroup var options: GlobalOptions

        @Flag(name: .long, help: "Print JSON (as --format json).")
        var json = false

        @Option(name: .long, help: "text, json, or prometheus (the node_exporter textfile format).")
        var format: Format = .text

        @Option(name: .long, help: ArgumentHelp("With --format prometheus: write the metrics to FILE, through a temporary file renamed over it, instead of standard output.", valueName: "FILE"))
        var output: String?

        @Flag(name: .long, help: "Decide each group's viability from sysfs alone, never opening /dev/vfio: for timers and monitoring, where a VM may be starting and the node admits one opener.")
        var passive = false

        @Flag(name: .long, help: "Unpack every initramfs image to check it holds earlybind and this config (slow), instead of comparing it with install's records.")
        var images = false

        /// The kernel log to read instead of the root's (/dev/kmsg, or a staged root's dev/kmsg).
        @Option(name: .long, help: .hidden)
        var kernelLog: String?

        func validate() throws {
            if json && format != .text && format != .json { throw ValidationError("--json and --format \(format.rawValue) exclude each other") }
            if output != nil && format != .prometheus { throw ValidationError("--output goes with --format prometheus") }
        }

        func run() throws {
            let metrics = format == .prometheus
            let report = StatusReport(host: options.host, kernelLogPath: kernelLog, mayOpenGroupNodes: !passive && !metrics, unpackImages: images)
            if metrics {
                let text = PrometheusMetrics(report: report).text
                guard let output else { print(text, terminator: ""); return }
                do { try PosixIO().replaceFile(GlobalOptions.absolute(output), Array(text.utf8), mode: 0o644) } catch {
                    throw MachineError(description: "cannot write \(output): \(error)")
                }
                return
            }
            print(json || format == .json ? report.json.rendered() : report.text)
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        }
    }
}
