import ArgumentParser
import EarlybindCore

extension Earlybind {
    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install the boot binder into the initramfs generator and rebuild every initramfs.",
            discussion: """
                Writes \(Layout.bootBinaryPath), the hook \
                \(Layout.hookPath), the script \
                \(Layout.initTopPath), a GRUB drop-in \
                \(Layout.grubDropInPath) with the IOMMU flags \(Layout.grubDefaultsPath) \
                lacks (and, where \(Layout.kernelCmdlinePath) exists for kernel-install and \
                systemd-boot, adds them there), and \(Config.defaultPath) when there is \
                none. Then runs \
                '\(BootCommand.updateInitramfs.commandLine)' and '\(BootCommand.updateGrub.commandLine)', and checks that every \
                image holds earlybind and runs it before udev (lsinitramfs and the \
                init-top ORDER; lsinitrd for dracut; mkinitcpio images go unchecked).

                With dracut (--backend dracut, or when dracut is the generator \
                installed) it writes the module \(Layout.dracutModuleDirectory), \
                whose pre-udev hook runs the binder, and \(Layout.dracutConfPath), \
                then runs '\(BootCommand.dracut.commandLine)'. With mkinitcpio it writes \
                \(Layout.mkinitcpioInstallPath) and \(Layout.mkinitcpioHookPath) (an \
                early hook), a unit for images built with the systemd hook, and \
                \(Layout.mkinitcpioConfPath), which puts the hook before udev \
                or systemd in HOOKS, then runs '\(BootCommand.mkinitcpio.commandLine)'.

                Each file is written atomically and only when its content changes; one \
                that was there before is backed up under \(Layout.stateDirectory), where a \
                manifest records what was written, for 'earlybind uninstall'. A second \
                run with nothing changed writes and rebuilds nothing. With --root other \
                than / nothing is run: the output says whether a rebuild is needed. \
                With the Debian package installed, the binary, hook and script are the \
                package's (\(Layout.programDirectory), /usr/share/initramfs-tools): install writes \
                only the config and the GRUB drop-in, and removes the copies an earlier \
                install left under /etc and /usr/local.

                Leftovers of the manual vfio recipe are reported, one warning each: \
                'options vfio-pci ids=' in /etc/modprobe.d, 'vfio-pci.ids=' on the kernel \
                command line (GRUB_CMDLINE_LINUX(_DEFAULT) in \(Layout.grubDefaultsPath) and \
                /etc/default/grub.d/*.cfg, \(Layout.kernelCmdlinePath)), which bind every \
                device with an ID, the host's too, before earlybind runs, and 'blacklist \
                nouveau|nvidia|amdgpu|radeon'. With --migrate, install takes the IDs of \
                the configured devices out of those ids= lists (the word once its list is \
                empty, an 'options vfio-pci' line once nothing else is left), editing \
                words and keeping every other byte; each file is backed up, and uninstall \
                puts it back while it is unchanged since. Files owned by a package (per \
                /var/lib/dpkg/info/*.list or pacman's database under the root), symlinks \
                and blacklist lines are left alone and reported.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(name: .long, help: ArgumentHelp(
            "The initramfs generator to install into (default: the one installed).",
            valueName: "NAME"))
        var backend: Backend?

        @Flag(name: .long, help: "Do not rebuild the initramfs images.")
        var noInitramfs = false

        @Flag(name: .long, help: "Leave the boot loader alone: no GRUB drop-in, no update-grub, no IOMMU flags in \(Layout.kernelCmdlinePath).")
        var noGrub = false

        @Flag(name: .long, help: "Take the configured devices' IDs out of the manual recipe's ids= lists (modprobe.d, GRUB files, \(Layout.kernelCmdlinePath)).")
        var migrate = false

        @Flag(name: .long, help: "Show each change as a diff, and each command, and do nothing.")
        var dryRun = false

        @Flag(name: .long, help: "Print what changed as JSON (for configuration management).")
        var json = false

        func run() throws {
            // One host for the plan, the boot plan and the in-use check: each sysfs file is read once.
            let host = options.host
            let root = host.root
            let request = InstallPlan.Request(host: host, bootBinary: try InstallPlan.bootBinaryBesideExecutable(),
                                              backend: backend, bootLoader: !noGrub, rebuildInitramfs: !noInitramfs,
                                              migrate: migrate)
            let plan = BootPlanView(host)
            if let refusals = plan?.inUseWithoutForce(host), !refusals.isEmpty {
                throw SafetyRefusal(description: refusals.map(\.reason).joined(separator: "\n")
                    + "\nnothing was installed; add 'force' to the entry in \(Config.defaultPath) to take it anyway, and at the next boot the host loses "
                    + refusals.map(\.cost).joined(separator: "; "))
            }
            let outcome = try Installer.install(request, dryRun: dryRun, output: json ? { printError($0) } : { print($0) })
            if json {
                guard case .object(let members) = outcome.json else { return }
                print(JSON.object(members + [("plan", plan?.json ?? .array([]))]).rendered())
                return
            }
            print((dryRun ? "earlybind install (dry run) into " : "earlybind install into ") + root.path + ":")
            if outcome.changes.isEmpty { print("  nothing to change") }
            for change in outcome.changes {
                print("  " + (dryRun ? "would be " + change.action.rawValue : change.action.rawValue).padding(18) + " " + change.path)
            }
            if outcome.changes.contains(where: { $0.path == Layout.kernelCmdlinePath }) && !dryRun {
                print("  \(Layout.kernelCmdlinePath) takes effect when kernel-install next writes the boot entries (a kernel update, or 'kernel-install add')")
            }
            for image in outcome.images {
                print("  initramfs \(image.kernel): earlybind inside, runs before udev")
            }
            if outcome.rebuildNeeded { print(rebuildAdvice(outcome, root: root)) }
            plan?.lines.forEach { print($0) }
        }

        private func rebuildAdvice(_ outcome: InstallOutcome, root: InstallRoot) -> String {
            let rebuild = outcome.backend.rebuild.commandLine
            if outcome.runsCommands {
                return "the initramfs needs rebuilding: run '\(rebuild)'"
            } else if outcome.backend == .initramfsTools {
                return "the initramfs needs rebuilding (--root is not /, so nothing was run): "
                    + "EARLYBIND_ROOT=\(root.path) mkinitramfs -d \(root.resolve(Layout.initramfsToolsDirectory)) -o IMAGE KERNEL"
            }
            return "the initramfs needs rebuilding (--root is not /, so nothing was run), as '\(rebuild)' would on that system"
        }
    }
}
