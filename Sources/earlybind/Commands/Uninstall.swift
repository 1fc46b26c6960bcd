import ArgumentParser
import EarlybindCore

extension Earlybind {
    struct Uninstall: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove what install wrote, restore what it replaced, and rebuild every initramfs.",
            discussion: """
                Follows the manifest in \(Layout.stateDirectory): each file install wrote is \
                removed, or replaced by the file that was there before, byte for byte. A \
                file changed since install wrote it is left in place and named. Then \
                runs '\(BootCommand.updateGrub.commandLine)' (when the GRUB drop-in went) and rebuilds every \
                initramfs with the generator install wrote for ('\(BootCommand.updateInitramfs.commandLine)', \
                '\(BootCommand.dracut.commandLine)' or '\(BootCommand.mkinitcpio.commandLine)'). \
                \(Config.defaultPath) stays unless --purge. With the Debian \
                package installed, its hook under /usr/share/initramfs-tools stays: it \
                binds nothing once \(Config.defaultPath) is gone (--purge).
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(name: .long, help: "Also remove \(Config.defaultPath).")
        var purge = false

        @Flag(name: .long, help: "Also give the devices on vfio-pci back to their host drivers now.")
        var releaseNow = false

        @Flag(name: .long, help: "Do not rebuild the initramfs images.")
        var noInitramfs = false

        @Flag(name: .long, help: "Leave the GRUB drop-in and do not run update-grub.")
        var noGrub = false

        @Flag(name: .long, help: "Show what would be undone, and do nothing.")
        var dryRun = false

        func run() throws {
            let host = options.host
            if releaseNow && !dryRun {
                let released = try Releaser(host: host).release(selectors: [])
                released.forEach { print($0) }
            }
            var uninstaller = Uninstaller(root: host.root)
            uninstaller.dryRun = dryRun
            uninstaller.purge = purge
            uninstaller.rebuildInitramfs = !noInitramfs
            uninstaller.touchGrub = !noGrub
            print((dryRun ? "earlybind uninstall (dry run) from " : "earlybind uninstall from ") + host.root.path + ":")
            let changes = try uninstaller.run()
            if changes.isEmpty && !dryRun { print("  nothing to undo") }
            if Layout.isPackaged(host.root) && !purge {
                print("""
                      the packaged hook \(Layout.packagedHookPath) stays and binds what \(Config.defaultPath) lists
                      at boot: empty it with 'earlybind remove', or use --purge, or remove the package
                    """)
            }
        }
    }
}
