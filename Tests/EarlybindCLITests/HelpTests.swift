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
            OVERVIEW: Install the boot binder into the initramfs generator and rebuild
            every initramfs.

            Writes /usr/local/lib/earlybind/earlybind-boot, the hook
            /etc/initramfs-tools/hooks/earlybind, the script
            /etc/initramfs-tools/scripts/init-top/earlybind, a GRUB drop-in
            /etc/default/grub.d/earlybind.cfg with the IOMMU flags GRUB's files lack
            (/etc/default/grub, then /etc/default/grub.d/*.cfg in name order), and, where
            /etc/kernel/cmdline exists for kernel-install, systemd-boot and Proxmox, adds
            them there, and /etc/earlybind.conf when there is none. Then runs
            'update-initramfs -u -k all' and 'update-grub' (and 'proxmox-boot-tool refresh'
            where /etc/kernel/proxmox-boot-uuids exists), checks that every image holds
            earlybind and runs it before udev (lsinitramfs and the init-top ORDER; lsinitrd
            for dracut; mkinitcpio images go unchecked), and records per image its size,
            time and SHA-256, the config's SHA-256 and the check's result, for 'earlybind
            status'.

            A word that turns the IOMMU off counts as a missing flag, with a warning:
            intel_iommu=off is outdone by the intel_iommu=on earlybind adds after it (the
            kernel takes the later word); iommu=off and amd_iommu=off must go by hand.
            --firmware-framebuffer-off adds initcall_blacklist=sysfb_init to those flags;
            the manifest records it, so every later install keeps it until
            --firmware-framebuffer-on or uninstall takes it out. When the config forces the
            boot VGA and the flag is not there, install says so.

            With dracut (--backend dracut, or when dracut is the generator installed) it
            writes the module /usr/lib/dracut/modules.d/90earlybind, whose pre-udev hook
            runs the binder, and /etc/dracut.conf.d/earlybind.conf, then runs 'dracut
            --regenerate-all --force'. With mkinitcpio it writes
            /etc/initcpio/install/earlybind and /etc/initcpio/hooks/earlybind (an early
            hook), a unit for images built with the systemd hook, and
            /etc/mkinitcpio.conf.d/zz-earlybind.conf, which puts the hook before udev or
            systemd in HOOKS, then runs 'mkinitcpio -P'.

            Each file is written atomically and only when its content changes; one that was
            there before is backed up under /var/lib/earlybind, where a manifest records
            what was written, for 'earlybind uninstall'. A second run with nothing changed
            writes and rebuilds nothing. With --root other than / nothing is run: the
            output says whether a rebuild is needed. With the Debian package installed, the
            binary, hook and script are the package's (/usr/lib/earlybind,
            /usr/share/initramfs-tools): install writes only the config and the GRUB
            drop-in, and removes the copies an earlier install left under /etc and
            /usr/local.

            Leftovers of the manual vfio recipe are reported, one warning each: 'options
            vfio-pci ids=' in /etc/modprobe.d, 'vfio-pci.ids=' on the kernel command line
            (GRUB_CMDLINE_LINUX(_DEFAULT) in /etc/default/grub and
            /etc/default/grub.d/*.cfg, /etc/kernel/cmdline), which bind every device with
            an ID, the host's too, before earlybind runs, and 'blacklist
            nouveau|nvidia|amdgpu|radeon'. With --migrate, install takes the IDs of the
            configured devices out of those ids= lists (the word once its list is empty, an
            'options vfio-pci' line once nothing else is left), editing words and keeping
            every other byte; each file is backed up, and uninstall puts it back while it
            is unchanged since. Files owned by a package (per /var/lib/dpkg/info/*.list or
            pacman's database under the root), symlinks and blacklist lines are left alone
            and reported.

            Every image also gets efivarfs, so that the binder can keep a trial boot in an
            EFI variable. --trial arms one once the install went through (see 'earlybind
            trial'), and refuses before installing anything on a machine that cannot keep
            one (no UEFI, no mounted efivarfs); with --root other than /, or while a
            rebuild is still needed (--no-initramfs), it installs without arming.
            --auto-confirm lays down /etc/systemd/system/earlybind-confirm.service and a
            drop-in that starts it with multi-user.target: once the boot reaches
            boot-complete.target it runs 'earlybind confirm --if-healthy'; later installs
            keep it until --no-auto-confirm or uninstall takes it out.

            USAGE: earlybind install <options>

            OPTIONS:
              --sysfs <DIR>           Read devices from this sysfs tree. (default: /sys)
              --root <DIR>            Read and write the config, installed files and boot/
                                      under this root; a root other than / also gives proc/
                                      and dev/kmsg in place of this machine's. (default: /)
              --full                  Do not cut long lines to the terminal's width (piped
                                      or redirected output is never cut).
              --backend <NAME>        The initramfs generator to install into (default: the
                                      one installed). (values: initramfs-tools, dracut,
                                      mkinitcpio)
              --no-initramfs          Do not rebuild the initramfs images.
              --no-grub               Leave the boot loader alone: no GRUB drop-in, no
                                      update-grub, no IOMMU flags in /etc/kernel/cmdline.
              --migrate               Take the configured devices' IDs out of the manual
                                      recipe's ids= lists (modprobe.d, GRUB files,
                                      /etc/kernel/cmdline).
              --firmware-framebuffer-off
                                      Also add initcall_blacklist=sysfb_init to the
                                      boot-loader flags, so that no framebuffer driver
                                      holds the boot GPU; later installs keep it.
              --firmware-framebuffer-on
                                      Take initcall_blacklist=sysfb_init out of the
                                      boot-loader flags again (uninstall does too).
              --trial                 Once installed, arm a trial boot (see 'earlybind
                                      trial'): unless 'earlybind confirm' runs during the
                                      next boot, the boot after it binds nothing. Needs
                                      UEFI; with --root other than / it installs without
                                      arming.
              --auto-confirm          Also lay down
                                      /etc/systemd/system/earlybind-confirm.service, which
                                      confirms a trial boot once the boot reaches
                                      boot-complete.target and the devices are ready with
                                      the host keeping its display and default route; later
                                      installs keep it.
              --no-auto-confirm       Take earlybind-confirm.service away again (uninstall
                                      does too).
              --dry-run               Show each change as a diff, and each command, and do
                                      nothing.
              --json                  Print what changed as JSON (for configuration
                                      management).
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
