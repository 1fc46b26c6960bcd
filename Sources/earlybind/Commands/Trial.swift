import ArgumentParser
import EarlybindCore

extension Earlybind {
    struct Trial: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the next boot a trial that reverts itself unless confirmed.",
            discussion: """
                Arms a trial in an EFI variable of earlybind's own (\(TrialVariable<PosixIO>.name)): \
                the next boot binds as usual and marks the trial pending; if no \
                'earlybind confirm' follows before the boot after it, that boot binds \
                nothing, as with earlybind=off, and says why in the kernel log and in \
                'earlybind status'. It needs no boot-loader support: the boot binder reads \
                and writes the variable from the initramfs, before udev, so it works the same \
                with GRUB, systemd-boot, proxmox-boot-tool and unified kernel images.

                Only on the running machine, booted by UEFI, with the EFI variables mounted \
                (efivarfs, as systemd does) and the images built by this earlybind's \
                install, which puts efivarfs in every image ('earlybind install --trial' \
                installs and arms in one go). Without UEFI there is no variable to keep the \
                state: boot with earlybind=off at the boot menu to skip earlybind once.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(name: .long, help: "Say what would change, and change nothing.")
        var dryRun = false

        func run() throws {
            let host = options.host
            let trial = try TrialControl.available(host, dryRun: dryRun, change: "trial writes an EFI variable")
            // A trial of an image that predates the config would confirm a config never booted.
            let outdated = ImageCheck.olderThanConfig(ImageCheck.bootImages(host.root).map(\.path), host: host)
            if !outdated.isEmpty {
                throw MachineError(description: "the initramfs is older than the config (\(outdated.joined(separator: ", "))): "
                    + "run 'earlybind install --trial' to rebuild and arm")
            }
            let (found, garbled) = try trial.stateToReplace()
            if found == .armed {
                print("nothing to change: the next boot is already a trial")
                return
            }
            if dryRun {
                print("would arm a trial (the trial state is \(TrialControl.name(found, garbled: garbled))); dry run: nothing was written")
                return
            }
            try trial.write(.armed, replacingGarbled: garbled != nil)
            garbled.map { print("replaced \($0), which held no known state") }
            print("trial armed: the next boot binds the configured devices; run 'earlybind confirm' once the host works,"
                + " or the boot after it binds nothing")
        }
    }

    struct Confirm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Confirm a trial boot: boots bind as usual again.",
            discussion: """
                Marks the trial confirmed, so later boots bind the configured devices; \
                after a trial that went unconfirmed (boots bind nothing), it makes them \
                bind again. With no trial armed there is nothing to confirm (exit 0); a \
                variable that holds no state is written over.

                With --if-healthy (what earlybind-confirm.service runs once the boot \
                reaches boot-complete.target) it confirms only a pending trial boot, and \
                only when 'earlybind status' finds the devices ready, the boot display \
                still on a host driver (unless its entry is forced) and the NIC of the \
                default route still on a host driver; otherwise it says what is wrong and \
                exits 1, leaving the trial pending.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(name: .long, help: "Confirm only a pending trial boot, and only when the devices are ready and the host keeps its display and default route.")
        var ifHealthy = false

        @Flag(name: .long, help: "Say what would change, and change nothing.")
        var dryRun = false

        func run() throws {
            let host = options.host
            let trial = try TrialControl.available(host, dryRun: dryRun, change: "confirm writes an EFI variable")
            let (found, garbled) = try trial.stateToReplace()
            let name = TrialControl.name(found, garbled: garbled)
            switch found {
            case nil where garbled == nil:
                print("nothing to change: no trial is armed, boots bind as usual")
                return
            case .confirmed?:
                print("nothing to change: the trial is already confirmed")
                return
            default:
                break
            }
            if ifHealthy {
                guard found == .pending else {
                    print("not confirmed: --if-healthy confirms only a trial boot in progress (the trial state is \(name))")
                    return
                }
                let problems = TrialControl.healthProblems(host)
                if !problems.isEmpty {
                    problems.forEach { printError("not confirmed: " + $0) }
                    throw ExitCode(1)
                }
            }
            if dryRun {
                print("would confirm the trial (now \(name)); dry run: nothing was written")
                return
            }
            try trial.write(.confirmed, replacingGarbled: garbled != nil)
            garbled.map { print("replaced \($0), which held no known state") }
            print(found == .armed ? "trial cancelled before it ran: the next boot binds as usual, untried"
                : "trial confirmed (it was \(name)): boots bind the configured devices as usual")
        }
    }
}
