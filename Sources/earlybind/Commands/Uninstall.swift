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

        @Flag(name: .long, help: "Print the result as JSON on standard output ({\"changed\", \"dry_run\", \"changes\", \"commands\", \"released\"}); the text goes to standard error.")
        var json = false

        func run() throws {
            let host = options.host
            let say: (String) -> Void = json ? { printError($0) } : { print($0) }
            var release = Releaser.Outcome()
            if releaseNow {
                try Privileges.requireRoot("--release-now changes drivers in /sys", onRealSystem: host.sysfs.root == "/sys", dryRun: dryRun)
                release = try Releaser(host: host).release(selectors: [], dryRun: dryRun)
                release.lines.forEach(say)
            }
            var uninstaller = Uninstaller(root: host.root)
            uninstaller.dryRun = dryRun
            uninstaller.purge = purge
            uninstaller.rebuildInitramfs = !noInitramfs
            uninstaller.touchGrub = !noGrub
            uninstaller.output = say
            say((dryRun ? "earlybind uninstall (dry run) from " : "earlybind uninstall from ") + host.root.path + ":")
            var (changes, commands) = try uninstaller.run()
            if let removed = try removeTrialVariable(host, say: say) { changes.append(removed) }
            if changes.isEmpty { say("  nothing to undo") }
            if Layout.isPackaged(host.root) && !purge {
                say("""
                      the packaged hook \(Layout.packagedHookPath) stays and binds what \(Config.defaultPath) lists
                      at boot: empty it with 'earlybind remove', or use --purge, or remove the package
                    """)
            }
            if json {
                print(JSON.object([
                    ("changed", .bool(!changes.isEmpty || !commands.isEmpty)),
                    ("dry_run", .bool(dryRun)),
                    ("changes", .array(changes.map(\.json))),
                    ("commands", .array(commands.map { .string($0.commandLine) })),
                    ("released", .array(release.lines.map(JSON.string))),
                ]).rendered())
            }
            if release.failed > 0 { throw ExitCode(1) }
        }

        /// The running machine's trial variable goes too, so no later install inherits an
        /// unconfirmed trial; a staged root has none of its own.
        private func removeTrialVariable(_ host: Host, say: (String) -> Void) throws -> FileChange? {
            guard host.root.isSystemRoot else { return nil }
            let trial = TrialControl(host: host)
            guard trial.hasUEFI, PosixIO().exists(trial.variable.path) else { return nil }
            if dryRun {
                say("would remove the trial variable \(trial.variable.path)")
            } else {
                do { try trial.variable.remove() } catch { throw MachineError(description: "cannot remove the trial variable: \(error)") }
                say("  removed       \(trial.variable.path)")
            }
            return FileChange(path: trial.variable.path, action: .removed)
        }
    }
}
