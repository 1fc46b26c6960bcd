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
                \(Layout.grubDropInPath) with the IOMMU flags GRUB's files lack \
                (\(Layout.grubDefaultsPath), then \(GrubDefaults.dropInDirectory)/*.cfg in name \
                order), and, where \(Layout.kernelCmdlinePath) exists for kernel-install, \
                systemd-boot and Proxmox, adds them there, and \(Config.defaultPath) when \
                there is none. Then runs \
                '\(BootCommand.updateInitramfs.commandLine)' and '\(BootCommand.updateGrub.commandLine)' (and \
                '\(BootCommand.proxmoxBootRefresh.commandLine)' where \(Layout.proxmoxBootUUIDsPath) \
                exists), checks that every image holds earlybind and runs it before udev \
                (lsinitramfs and the init-top ORDER; lsinitrd for dracut; mkinitcpio images \
                go unchecked), and records per image its size, time and SHA-256, the \
                config's SHA-256 and the check's result, for 'earlybind status'.

                A word that turns the IOMMU off counts as a missing flag, with a warning: \
                intel_iommu=off is outdone by the intel_iommu=on earlybind adds after it \
                (the kernel takes the later word); iommu=off and amd_iommu=off must go by \
                hand. --firmware-framebuffer-off adds \(Layout.firmwareFramebufferFlag) to \
                those flags; the manifest records it, so every later install keeps it until \
                --firmware-framebuffer-on or uninstall takes it out. When the config forces \
                the boot VGA and the flag is not there, install says so.

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

                Every image also gets efivarfs, so that the binder can keep a trial boot \
                in an EFI variable. --trial arms one once the install went through (see \
                'earlybind trial'), and refuses before installing anything on a machine \
                that cannot keep one (no UEFI, no mounted efivarfs); with --root other \
                than /, or while a rebuild is still needed (--no-initramfs), it installs \
                without arming. --auto-confirm lays down \
                \(Layout.confirmUnitPath) and a drop-in that starts it with \
                multi-user.target: once the boot reaches boot-complete.target it runs \
                'earlybind confirm --if-healthy'; later installs keep it until \
                --no-auto-confirm or uninstall takes it out.
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

        @Flag var firmwareFramebuffer: FirmwareFramebuffer?

        @Flag(name: .long, help: "Once installed, arm a trial boot (see 'earlybind trial'): unless 'earlybind confirm' runs during the next boot, the boot after it binds nothing. Needs UEFI; with --root other than / it installs without arming.")
        var trial = false

        @Flag var autoConfirm: AutoConfirm?

        @Flag(name: .long, help: "Show each change as a diff, and each command, and do nothing.")
        var dryRun = false

        @Flag(name: .long, help: "Print what changed as JSON (for configuration management).")
        var json = false

        enum FirmwareFramebuffer: EnumerableFlag {
            case firmwareFramebufferOff
            case firmwareFramebufferOn

            static func help(for value: Self) -> ArgumentHelp? {
                switch value {
                case .firmwareFramebufferOff:
                    return "Also add \(Layout.firmwareFramebufferFlag) to the boot-loader flags, so that no framebuffer driver holds the boot GPU; later installs keep it."
                case .firmwareFramebufferOn:
                    return "Take \(Layout.firmwareFramebufferFlag) out of the boot-loader flags again (uninstall does too)."
                }
            }
        }

        enum AutoConfirm: EnumerableFlag {
            case autoConfirm
            case noAutoConfirm

            static func help(for value: Self) -> ArgumentHelp? {
                switch value {
                case .autoConfirm:
                    return "Also lay down \(Layout.confirmUnitPath), which confirms a trial boot once the boot reaches boot-complete.target and the devices are ready with the host keeping its display and default route; later installs keep it."
                case .noAutoConfirm:
                    return "Take earlybind-confirm.service away again (uninstall does too)."
                }
            }
        }

        func validate() throws {
            if noGrub && firmwareFramebuffer != nil {
                throw ValidationError("--firmware-framebuffer-off and --firmware-framebuffer-on change the boot-loader flags: leave out --no-grub")
            }
        }

        func run() throws {
            // One host for the plan, the boot plan and the in-use check: each sysfs file is read once.
            let host = options.host
            let root = host.root
            let request = InstallPlan.Request(host: host, bootBinary: try InstallPlan.bootBinaryBesideExecutable(),
                                              backend: backend, bootLoader: !noGrub, rebuildInitramfs: !noInitramfs,
                                              migrate: migrate, framebufferOff: firmwareFramebuffer.map { $0 == .firmwareFramebufferOff },
                                              autoConfirm: autoConfirm.map { $0 == .autoConfirm })
            let trialControl = TrialControl(host: host)
            // A trial that cannot be armed is refused before anything is installed.
            if trial && root.actsAsRunningSystem, let reason = trialControl.unavailability() {
                throw MachineError(description: "--trial: " + reason + "\nnothing was installed")
            }
            let plan = BootPlanView(host)
            if let refusals = plan?.inUseWithoutForce(host), !refusals.isEmpty {
                throw SafetyRefusal(description: refusals.map(\.reason).joined(separator: "\n")
                    + "\nnothing was installed; add 'force' to the entry in \(Config.defaultPath) to take it anyway, and at the next boot the host loses "
                    + refusals.map(\.cost).joined(separator: "; "))
            }
            var outcome = try Installer.install(request, dryRun: dryRun, output: json ? { printError($0) } : { print($0) })
            let note = framebufferNote(plan, framebufferOff: outcome.framebufferOff)
            outcome.notes += note.map { [$0] } ?? []
            let trialOutcome = trial ? arm(trialControl, root: root, rebuildNeeded: outcome.rebuildNeeded) : nil
            if json {
                note.map(printError)
                if case .object(let members) = outcome.json {
                    print(JSON.object(members + [("plan", plan?.json ?? .array([])), ("trial", .optional(trialOutcome?.code))]).rendered())
                }
            } else {
                printSummary(outcome, root: root, plan: plan, note: note, trial: trialOutcome)
            }
            // The install went through and its summary says so; a failed arm is the error after it.
            if case .failed(let reason)? = trialOutcome {
                throw MachineError(description: "installed, but --trial could not arm: \(reason)")
            }
        }

        private func printSummary(_ outcome: InstallOutcome, root: InstallRoot, plan: BootPlanView?, note: String?, trial: TrialOutcome?) {
            print((dryRun ? "earlybind install (dry run) into " : "earlybind install into ") + root.path + ":")
            if outcome.changes.isEmpty { print("  nothing to change") }
            for change in outcome.changes {
                print("  " + (dryRun ? "would be " + change.action.rawValue : change.action.rawValue).padding(18) + " " + change.path)
            }
            if outcome.changes.contains(where: { $0.path == Layout.kernelCmdlinePath }) && !dryRun
                && !outcome.commands.contains(.proxmoxBootRefresh) {
                print(PosixIO().exists(root.resolve(Layout.proxmoxBootUUIDsPath))
                    ? "  \(Layout.kernelCmdlinePath) takes effect once '\(BootCommand.proxmoxBootRefresh.commandLine)' copies it to the ESPs"
                    : "  \(Layout.kernelCmdlinePath) takes effect when kernel-install next writes the boot entries (a kernel update, or 'kernel-install add')")
            }
            for image in outcome.images {
                print("  initramfs \(image.kernel): earlybind inside, runs before udev")
            }
            if outcome.rebuildNeeded { print(rebuildAdvice(outcome, root: root)) }
            plan?.lines.forEach { print($0) }
            note.map { print($0) }
            trial?.line.map { print($0) }
        }

        /// What --trial did once the install went through.
        enum TrialOutcome {
            case armed, wouldArm, notArmed
            /// The install went through, the variable write did not (the reason).
            case failed(String)

            var code: String {
                switch self {
                case .armed: return "armed"
                case .wouldArm: return "would_arm"
                case .notArmed: return "not_armed"
                case .failed: return "failed"
                }
            }

            /// The summary's last line; a failure is the command's error instead.
            var line: String? {
                switch self {
                case .armed: return "trial armed: the next boot binds; run 'earlybind confirm' once the host works, or the boot after it binds nothing"
                case .wouldArm: return "would arm a trial boot"
                case .notArmed: return "trial not armed: --root is not /, or the initramfs still needs rebuilding; "
                    + "run 'earlybind trial' on that machine once its images are rebuilt"
                case .failed: return nil
                }
            }
        }

        private func arm(_ trial: TrialControl, root: InstallRoot, rebuildNeeded: Bool) -> TrialOutcome {
            // --root, or --no-initramfs with a rebuild pending: the next boot would not try this config.
            guard root.actsAsRunningSystem && !rebuildNeeded else { return .notArmed }
            if dryRun { return .wouldArm }
            do { try trial.write(.armed) } catch { return .failed(error.description) }
            return .armed
        }

        /// A note when the boot takes the boot VGA (a force on its entry) while nothing
        /// keeps the firmware framebuffer off it, which may then hold its memory from the VM.
        private func framebufferNote(_ plan: BootPlanView?, framebufferOff: Bool) -> String? {
            guard let vga = plan?.bootVGATaken, !framebufferOff else { return nil }
            return "note: the boot VGA \(vga) goes to vfio-pci (forced) while the firmware framebuffer may still hold its memory: "
                + (noGrub ? "add \(Layout.firmwareFramebufferFlag) to the kernel command line"
                    : "'earlybind install --firmware-framebuffer-off' adds \(Layout.firmwareFramebufferFlag) to the kernel command line")
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
