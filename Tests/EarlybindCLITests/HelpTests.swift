import ArgumentParser
@testable import earlybind
import Testing

@Suite struct HelpTests {
    @Test func rootHelpTeachesTheConfig() {
        let help = Earlybind.helpMessage(columns: 80)
        #expect(help.contains("""
              [DOMAIN:]BB:DD.F [vvvv:dddd] [force]
              vvvv:dddd [force]
            """))
        #expect(help.contains("earlybind=off"))
        #expect(help.contains("  install "))
        #expect(help.split(separator: "\n").allSatisfy { $0.count <= 80 })
    }

    @Test func installHelpIsPinned() {
        #expect(Earlybind.helpMessage(for: Earlybind.Install.self, columns: 80) == """
            OVERVIEW: Install the boot binder into initramfs-tools and rebuild every
            initramfs.

            Lays down the boot binary (/usr/local/lib/earlybind/earlybind-boot), an
            initramfs-tools hook and init-top script under /etc/initramfs-tools, and a GRUB
            drop-in (/etc/default/grub.d/earlybind.cfg) that turns the IOMMU on. Creates
            /etc/earlybind.conf when there is none and refuses a config with errors. Files
            that are already up to date are left untouched. Then runs 'update-initramfs -u
            -k all' and 'update-grub' (only when the root is /; with another --root nothing
            is rebuilt).

            USAGE: earlybind install [--sysfs <DIR>] [--root <DIR>] [--no-initramfs] [--no-grub] [--dry-run]

            OPTIONS:
              --sysfs <DIR>           Read devices from this sysfs tree. (default: /sys)
              --root <DIR>            Read and write the config, installed files and boot/
                                      under this root (and its proc/cmdline and
                                      proc/cpuinfo when present). (default: /)
              --no-initramfs          Do not rebuild the initramfs images.
              --no-grub               Do not write the GRUB drop-in or run update-grub.
              --dry-run               Show what would be written and run, and change
                                      nothing.
              --version               Show the version.
              -h, --help              Show help information.

            """)
    }

    @Test func unknownOptionIsAClearError() {
        #expect {
            try Earlybind.parseAsRoot(["install", "--rooot", "/x"])
        } throws: { error in
            Earlybind.message(for: error) == "Unknown option '--rooot'. Did you mean '--root'?"
        }
    }
}
