import ArgumentParser
import EarlybindCore

extension Earlybind {
    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install the boot binder into initramfs-tools and rebuild every initramfs.",
            discussion: """
                Lays down the boot binary (/usr/local/lib/earlybind/earlybind-boot), an \
                initramfs-tools hook and init-top script under /etc/initramfs-tools, and a \
                GRUB drop-in (/etc/default/grub.d/earlybind.cfg) that turns the IOMMU on. \
                Creates /etc/earlybind.conf when there is none and refuses a config with \
                errors. Files that are already up to date are left untouched. Then runs \
                'update-initramfs -u -k all' and 'update-grub' (only when the root is /; \
                with another --root nothing is rebuilt).
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(name: .long, help: "Do not rebuild the initramfs images.")
        var noInitramfs = false

        @Flag(name: .long, help: "Do not write the GRUB drop-in or run update-grub.")
        var noGrub = false

        @Flag(name: .long, help: "Show what would be written and run, and change nothing.")
        var dryRun = false

        func run() throws {
            var installer = try Installer(root: options.host.root, bootBinary: Installer.bootBinaryBesideExecutable())
            installer.dryRun = dryRun
            installer.writeGrubDropIn = !noGrub
            try installer.run(rebuildInitramfs: !noInitramfs)
        }
    }
}
