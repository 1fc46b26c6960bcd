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
                config cannot be read).
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        @Flag(name: .long, help: "Decide each group's viability from sysfs alone, never opening /dev/vfio: for timers and monitoring, where a VM may be starting and the node admits one opener.")
        var passive = false

        @Flag(name: .long, help: "Unpack every initramfs image to check it holds earlybind and this config (slow), instead of comparing it with install's records.")
        var images = false

        /// The kernel log to read instead of the root's (/dev/kmsg, or a staged root's dev/kmsg).
        @Option(name: .long, help: .hidden)
        var kernelLog: String?

        func run() throws {
            let report = StatusReport(host: options.host, kernelLogPath: kernelLog, mayOpenGroupNodes: !passive, unpackImages: images)
            print(json ? report.json.rendered() : report.text)
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        }
    }
}
