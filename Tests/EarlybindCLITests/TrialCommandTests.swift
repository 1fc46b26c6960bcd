@testable import earlybind
import EarlybindCore
import EarlybindTestSupport
import Foundation
import Testing

/// `trial`, `confirm`, `install --trial`, `--auto-confirm`, and the trial in `status` and
/// `uninstall`, against a fake sysfs whose firmware/efi/efivars stands in for efivarfs.
@Suite struct TrialCommandTests {
    let name = TrialVariable<PosixIO>.name

    /// A machine booted by UEFI with its EFI variables mounted, holding `state` (nil: no trial).
    func uefiMachine(_ state: String? = nil, config: String = "03:00.0\n") throws -> (FakeMachine, FakeEFIVariables) {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: config)
        let variables = try FakeEFIVariables(sysfs: machine.tree.root)
        if let state { try variables.store(state) }
        return (machine, variables)
    }

    /// On the running machine (root /), with only sysfs pointed at the fake.
    func onThisMachine(_ machine: FakeMachine, _ arguments: [String]) throws -> CLIResult {
        try runEarlybind(arguments + ["--sysfs", machine.tree.root])
    }

    @Test func trialArmsAndConfirmConfirmsEachOnceAndIdempotently() throws {
        let (machine, variables) = try uefiMachine()
        let none = try onThisMachine(machine, ["confirm"])
        #expect(none.status == 0 && none.output.contains("nothing to change: no trial is armed"))
        let armed = try onThisMachine(machine, ["trial"])
        #expect(armed.status == 0, "\(armed.errors)")
        #expect(armed.output.hasPrefix("trial armed: the next boot binds the configured devices"))
        #expect(variables.storedState == "armed")
        let raw = try #require(FileManager.default.contents(atPath: variables.directory + "/" + name))
        #expect(Array(raw.prefix(4)) == [7, 0, 0, 0], "non-volatile, boot-service and runtime access")
        #expect(try onThisMachine(machine, ["trial"]).output.contains("nothing to change: the next boot is already a trial"))
        let dry = try onThisMachine(machine, ["confirm", "--dry-run"])
        #expect(dry.output.contains("would confirm the trial (now armed)") && variables.storedState == "armed")

        try variables.store("reverted")
        let confirmed = try onThisMachine(machine, ["confirm"])
        #expect(confirmed.status == 0 && confirmed.output.contains("trial confirmed (it was reverted)"))
        #expect(variables.storedState == "confirmed")
        #expect(try onThisMachine(machine, ["confirm"]).output.contains("nothing to change: the trial is already confirmed"))
    }

    /// A store that refuses the write (full, read-only): the message says so and points at earlybind=off.
    @Test func aRefusedWriteSaysTheStoreMayBeFullOrReadOnly() throws {
        let (machine, variables) = try uefiMachine()
        // Readable, but never written through: a symlink, as earlybind never follows one to write.
        let target = machine.tree.root + "/elsewhere"
        try Data([7, 0, 0, 0] + Array("reverted".utf8)).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: variables.directory + "/" + name, withDestinationPath: target)
        let refused = try onThisMachine(machine, ["trial"])
        #expect(refused.status == 1 && refused.output.isEmpty)
        #expect(refused.errors.contains("cannot write the trial state (could not write '\(variables.directory)/\(name)': Too many levels of symbolic links): "
            + "the EFI variable store may be full or read-only; to boot once without earlybind, add earlybind=off"), "\(refused.errors)")
    }

    @Test func trialAndConfirmRefuseWhereNoTrialCanLive() throws {
        let (machine, variables) = try uefiMachine()
        let staged = try machine.run(["trial"])
        #expect(staged.status == 1)
        #expect(staged.errors.contains("a trial lives in the running machine's EFI variables, not under --root \(machine.root)"))

        try variables.removeEveryVariable()
        let unmounted = try onThisMachine(machine, ["confirm"])
        #expect(unmounted.status == 1 && unmounted.errors.contains("the EFI variables are not mounted on \(variables.directory)"))

        try FileManager.default.removeItem(atPath: machine.tree.root + "/firmware")
        let bios = try onThisMachine(machine, ["trial"])
        #expect(bios.status == 1)
        #expect(bios.errors.contains("this machine booted without UEFI (no \(machine.tree.root)/firmware/efi): there is no EFI variable to keep a trial in; "
            + "to boot once without earlybind, add earlybind=off to the kernel command line at the boot menu"))
        #expect(variables.storedState == nil)
    }

    /// The refusal comes before anything is installed (a dry run on this machine's root writes nothing either way).
    @Test func installTrialRefusesWithoutUEFIBeforeInstalling() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let refused = try onThisMachine(machine, ["install", "--trial", "--dry-run"])
        #expect(refused.status == 1)
        #expect(refused.errors.contains("--trial: this machine booted without UEFI"))
        #expect(refused.errors.contains("nothing was installed"))
        #expect(!refused.output.contains("earlybind install"))
    }

    @Test func installTrialUnderARootInstallsWithoutArming() throws {
        let test = try InstallTests()
        let result = try test.earlybind(["install", "--trial", "--json"])
        #expect(result.status == 0, "\(result.errors)")
        let json = try result.json()
        #expect(json["trial"] as? String == "not_armed" && json["changed"] as? Bool == true)
        let text = try test.earlybind(["install", "--trial"])
        #expect(text.output.contains("trial not armed: --root is not /, or the initramfs still needs rebuilding"))
        #expect(try test.installJSON()["trial"] is NSNull)
    }

    /// The install went through, the variable write did not: the summary says what was
    /// installed, then the error, exit 1 (JSON: "trial": "failed").
    @Test func aFailedArmAfterAGoodInstallPrintsTheSummaryFirst() throws {
        let system = try SystemRootTests()
        try "0000:03:00.0\n0000:03:00.1\n".write(toFile: system.root + "/etc/earlybind.conf", atomically: false, encoding: .utf8)
        let tree = try FakeSysfs(Fixtures.gpuWithAudio)
        let variables = try FakeEFIVariables(sysfs: tree.root)
        // Never written through: earlybind does not follow a symlink to write.
        let target = tree.root + "/elsewhere"
        try Data([7, 0, 0, 0] + Array("confirmed".utf8)).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: variables.directory + "/" + name, withDestinationPath: target)

        let text = try system.earlybind(["install", "--trial", "--no-grub", "--sysfs", tree.root])
        #expect(text.status == 1)
        #expect(text.output.contains("earlybind install into \(system.root):\n"), "\(text.output)")
        #expect(text.output.contains("initramfs 6.1.0-a: earlybind inside") && !text.output.contains("trial armed"))
        #expect(text.errors.contains("installed, but --trial could not arm: cannot write the trial state ("), "\(text.errors)")

        let json = try system.earlybind(["install", "--trial", "--no-grub", "--json", "--sysfs", tree.root])
        #expect(json.status == 1)
        #expect(try json.json()["trial"] as? String == "failed")
        #expect(json.errors.contains("installed, but --trial could not arm: "))
    }

    /// earlybind-confirm.service and its drop-in: laid down, kept by later installs, taken
    /// back by --no-auto-confirm; no initramfs input, so no rebuild for them.
    @Test func autoConfirmUnitIsKeptUntilTakenBack() throws {
        let test = try InstallTests()
        _ = try test.installJSON(["--no-grub"])
        let added = try test.installJSON(["--no-grub", "--auto-confirm"])
        #expect(Set(test.changes(added)) == ["\(Layout.confirmUnitPath) created", "\(Layout.confirmDropInPath) created"])
        #expect(added["rebuild_needed"] as? Bool == false)
        let unit = try test.read(Layout.confirmUnitPath)
        #expect(unit.contains("ConditionPathExists=/sys/firmware/efi/efivars/\(name)\n"))
        #expect(unit.contains("Wants=boot-complete.target\nAfter=boot-complete.target"))
        #expect(unit.contains("ExecStart=earlybind confirm --if-healthy\n") && !unit.contains(test.root))
        #expect(try test.read(Layout.confirmDropInPath).hasSuffix("[Unit]\nWants=earlybind-confirm.service\n"))
        #expect(try test.mode(Layout.confirmUnitPath) == 0o644)

        #expect(test.changes(try test.installJSON(["--no-grub"])).isEmpty)
        let removed = try test.installJSON(["--no-grub", "--no-auto-confirm"])
        #expect(Set(test.changes(removed)) == ["\(Layout.confirmUnitPath) removed", "\(Layout.confirmDropInPath) removed"])
        #expect(!test.exists(Layout.confirmUnitPath))

        _ = try test.installJSON(["--no-grub", "--auto-confirm"])
        #expect(try test.earlybind(["uninstall"]).status == 0)
        #expect(!test.exists(Layout.confirmUnitPath) && !test.exists(Layout.confirmDropInPath))
    }

    /// The unit and its drop-in as systemd reads them: `systemd-analyze verify` on the staged
    /// root (this machine's own systemd units copied in, the CLI where the package puts it)
    /// finds no bad key, value or unit name, and every unit they order against exists.
    @Test func systemdAcceptsTheConfirmUnitAndItsDropIn() throws {
        let test = try InstallTests()
        _ = try test.installJSON(["--no-grub", "--auto-confirm"])
        let units = "/usr/lib/systemd/system"
        try FileManager.default.createDirectory(atPath: test.root + "/usr/lib/systemd", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: units, toPath: test.root + units)
        // verify only asks that ExecStart's command be executable.
        try test.write("/usr/sbin/earlybind", "#!/bin/sh\n", mode: 0o755)

        // No man pages (a slim image has none) and no complaint about the host's own units.
        let verified = try runProgram("/usr/bin/systemd-analyze", ["verify", "--man=no", "--recursive-errors=no", "--root=" + test.root,
                                                                   "earlybind-confirm.service", "multi-user.target"])
        #expect(verified.status == 0 && verified.errors.isEmpty && verified.output.isEmpty, "\(verified.errors)")
        let named = try test.read(Layout.confirmUnitPath).split(separator: "\n")
            .filter { $0.hasPrefix("Wants=") || $0.hasPrefix("After=") }
            .flatMap { $0.split(separator: "=")[1].split(separator: " ") }
        #expect(Set(named) == ["boot-complete.target", "network-online.target"])
        for unit in named { #expect(test.exists(units + "/" + unit), "\(unit)") }
    }

    @Test func statusShowsTheStateAndWhatTheNextBootDoes() throws {
        let (machine, _) = try uefiMachine("pending")
        let result = try machine.run(["status", "--json"])
        let trial = try #require(try result.json()["trial"] as? [String: Any])
        #expect(trial["uefi"] as? Bool == true && trial["state"] as? String == "pending")
        #expect((trial["next_boot"] as? String)?.hasPrefix("binds nothing unless 'earlybind confirm' runs first") == true)
        let checks = try #require(try result.json()["checks"] as? [[String: Any]])
        #expect(checks.contains { $0["code"] as? String == "trial_pending" && $0["severity"] as? String == "warning" })
        let text = try machine.run(["status"]).output
        #expect(text.contains("trial\n  state:            pending\n  next boot:        binds nothing unless 'earlybind confirm'"))

        let garbled = try uefiMachine("sideways")
        let unreadable = try #require(try garbled.0.run(["status", "--json"]).json()["trial"] as? [String: Any])
        #expect(unreadable["error"] as? String == "the trial variable \(garbled.1.directory)/\(name) holds no known state" && unreadable["state"] is NSNull)
    }

    /// `earlybind_trial_state` as a state set: exactly the stored state is 1, "none" without a
    /// variable, and no sample where the state is unknown (a zero would claim a state).
    @Test func prometheusCarriesTheTrialStateAsAStateSet() throws {
        func samples(_ machine: FakeMachine) throws -> [String] {
            try machine.run(["status", "--format", "prometheus"]).output
                .split(separator: "\n").map(String.init).filter { $0.hasPrefix("earlybind_trial_state{") }
        }
        func stateSet(current: String) -> [String] {
            ["none", "armed", "pending", "reverted", "confirmed"].map { "earlybind_trial_state{state=\"\($0)\"} \($0 == current ? 1 : 0)" }
        }
        let (machine, variables) = try uefiMachine("pending")
        #expect(try samples(machine) == stateSet(current: "pending"))
        try FileManager.default.removeItem(atPath: variables.directory + "/" + name)
        #expect(try samples(machine) == stateSet(current: "none"))
        try variables.store("sideways")
        #expect(try samples(machine).isEmpty, "a garbled state is unknown")
        try variables.removeEveryVariable()
        #expect(try samples(machine).isEmpty, "with efivarfs not mounted the state is unknown")
        let bios = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let output = try bios.run(["status", "--format", "prometheus"]).output
        #expect(output.contains("# TYPE earlybind_trial_state gauge\n"))
        #expect(try samples(bios).isEmpty, "no trial without UEFI")
    }

    /// A variable whose data is no state boots as if absent; trial and confirm write over it.
    @Test func aGarbledVariableIsWrittenOverByTrialAndConfirm() throws {
        // Longer than any state: on a plain file a rewrite in place would leave its tail.
        let garbage = "sideways, and more"
        let (machine, variables) = try uefiMachine(garbage)
        let checks = try #require(try machine.run(["status", "--json"]).json()["checks"] as? [[String: Any]])
        let warning = try #require(checks.first { $0["code"] as? String == "trial_unreadable" })
        #expect(warning["fix"] as? String == "earlybind confirm (or earlybind trial) replaces it")

        let notInProgress = try onThisMachine(machine, ["confirm", "--if-healthy"])
        #expect(notInProgress.status == 0 && notInProgress.output.contains("(the trial state is garbled)") && variables.storedState == garbage)
        let dry = try onThisMachine(machine, ["confirm", "--dry-run"])
        #expect(dry.output.contains("would confirm the trial (now garbled)") && variables.storedState == garbage)
        let confirmed = try onThisMachine(machine, ["confirm"])
        #expect(confirmed.status == 0, "\(confirmed.errors)")
        #expect(confirmed.output.contains("replaced \(variables.directory)/\(name), which held no known state\n"))
        #expect(confirmed.output.contains("trial confirmed (it was garbled)") && variables.storedState == "confirmed")

        try variables.store(garbage)
        let armed = try onThisMachine(machine, ["trial"])
        #expect(armed.status == 0 && armed.output.contains("which held no known state") && variables.storedState == "armed")

        // A variable that cannot be read at all is not guessed at.
        let path = variables.directory + "/" + name
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        for command in ["trial", "confirm"] {
            let refused = try onThisMachine(machine, [command])
            #expect(refused.status == 1 && refused.errors.contains("cannot read the trial state: "), "\(command): \(refused.errors)")
            #expect(FileManager.default.fileExists(atPath: path + "/."), "\(command) left it alone")
        }
    }

    /// Only the boot whose binder moved armed → pending is the trial (its report says so,
    /// or else its log line); a pending state an earlier boot left is named as such.
    @Test func aPendingStateIsThisBootsTrialOnlyWhenThisBootLeftIt() throws {
        let (machine, _) = try uefiMachine("pending")
        func pending() throws -> (warning: String?, nextBoot: String?) {
            let json = try machine.run(["status", "--json"]).json()
            let checks = try #require(json["checks"] as? [[String: Any]])
            return (checks.first { $0["code"] as? String == "trial_pending" }?["message"] as? String,
                    (json["trial"] as? [String: Any])?["next_boot"] as? String)
        }
        func record(found: String, left: String, message: String) throws {
            try machine.write("/run/earlybind/boot.json", """
                {"format": 1, "version": "0.1.0", "devices": [],
                 "trial": {"found": "\(found)", "left": "\(left)", "binds": \(found == "armed"), "message": "\(message)"}}
                """)
        }
        let earlier = "an earlier boot's trial is still pending (this boot did not advance it)"
        let thisBoot = "this boot is a trial: unless 'earlybind confirm' runs, the next boot binds nothing"

        // Neither a report nor a kernel log: it cannot tell whose.
        #expect(try pending().warning == "a trial is pending: unless 'earlybind confirm' runs, the next boot binds nothing")
        #expect(try pending().nextBoot == "binds nothing unless 'earlybind confirm' runs first")
        try machine.write("/dev/kmsg", "6,1,0,-;Linux version 6.1.0\n")
        #expect(try pending().warning?.hasPrefix(earlier) == true)
        #expect(try pending().nextBoot?.hasSuffix(": an earlier boot's trial is still pending") == true)
        try machine.write("/dev/kmsg", "6,1,0,-;Linux version 6.1.0\n6,2,1,-;earlybind: \(TrialStep.trialBootMessage)\n")
        #expect(try pending().warning == thisBoot)

        // The report outranks the log: a boot that found pending and could not write reverted is no trial.
        try record(found: "pending", left: "pending", message: TrialStep.notConfirmedMessage)
        #expect(try pending().warning?.hasPrefix(earlier) == true)
        try record(found: "armed", left: "pending", message: TrialStep.trialBootMessage)
        #expect(try pending().warning == thisBoot)
        #expect(try pending().nextBoot == "binds nothing unless 'earlybind confirm' runs first: this boot is the trial")
    }

    @Test func anUnmountedStoreWarnsOnlyWhereATrialMayExist() throws {
        func unmounted(config: String) throws -> FakeMachine {
            let (machine, variables) = try uefiMachine(config: config)
            try variables.removeEveryVariable()
            return machine
        }
        func unreadableWarning(_ machine: FakeMachine) throws -> [String: Any]? {
            let checks = try #require(try machine.run(["status", "--json"]).json()["checks"] as? [[String: Any]])
            return checks.first { $0["code"] as? String == "trial_unreadable" }
        }
        #expect(try unreadableWarning(unmounted(config: "")) == nil)
        let configured = try unmounted(config: "03:00.0\n")
        let warning = try #require(try unreadableWarning(configured))
        #expect((warning["fix"] as? String)?.hasPrefix("mount -t efivarfs efivarfs ") == true)
        try configured.write("/run/earlybind/boot.json", """
            {"format": 1, "version": "0.1.0", "devices": [], "trial": {"found": null, "left": null, "binds": true, "message": null}}
            """)
        #expect(try unreadableWarning(configured) == nil, "the binder found no variable at boot")
        try configured.write("/run/earlybind/boot.json", """
            {"format": 1, "version": "0.1.0", "devices": [],
             "trial": {"found": null, "left": null, "binds": true, "message": "trial state unreadable (efivarfs): a normal boot"}}
            """)
        #expect(try unreadableWarning(configured) != nil, "the binder could not read the store either")
    }

    /// The unit's own check, run by hand: a pending trial on a host that is not healthy stays pending, exit 1.
    @Test func confirmIfHealthyLeavesAnUnhealthyTrialPending() throws {
        let (machine, variables) = try uefiMachine("pending")
        let refused = try onThisMachine(machine, ["confirm", "--if-healthy"])
        #expect(refused.status == 1 && refused.output.isEmpty)
        #expect(refused.errors.contains("not confirmed: earlybind's devices are not ready: "), "\(refused.errors)")
        #expect(refused.errors.contains("not confirmed: no NIC carries a default route"))
        #expect(variables.storedState == "pending")

        try variables.store("armed")
        let early = try onThisMachine(machine, ["confirm", "--if-healthy"])
        #expect(early.status == 0 && early.output.contains("--if-healthy confirms only a trial boot in progress (the trial state is armed)"))
        #expect(variables.storedState == "armed")
    }

    /// The package's prerm runs uninstall when the variable exists, by its name written out in sh.
    @Test func thePackagesPrermNamesTheVariable() throws {
        let prerm = try String(contentsOfFile: JSONKeyTableTests.repository + "/debian/prerm", encoding: .utf8)
        #expect(prerm.contains("trial_variable=/sys/firmware/efi/efivars/\(name)\n"))
    }

    @Test func uninstallOnTheRunningMachineRemovesTheVariable() throws {
        let (machine, variables) = try uefiMachine("reverted")
        // A dry run: it must not touch this machine's real files.
        let dry = try onThisMachine(machine, ["uninstall", "--dry-run", "--json"])
        #expect(dry.errors.contains("would remove the trial variable \(variables.directory)/\(name)"), "\(dry.errors)")
        let json = try dry.json()
        #expect((json["changes"] as? [[String: String]])?.contains { $0["path"] == variables.directory + "/" + name } == true)
        #expect(variables.storedState == "reverted")
    }

    /// What --if-healthy asks before confirming by itself.
    @Test func healthNeedsReadyDevicesTheBootDisplayAndTheDefaultRoute() throws {
        let usage = try HostUsageTests()
        let noRoute = TrialControl.healthProblems(usage.host)
        #expect(noRoute.contains("no NIC carries a default route"))
        #expect(noRoute.contains { $0.hasPrefix("earlybind's devices are not ready: ") })
        #expect(!noRoute.contains { $0.hasPrefix("the boot display") })

        try usage.interface("eno1", on: "0000:00:1f.6")
        try usage.routes(["eno1\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0"])
        let routed = TrialControl.healthProblems(usage.host)
        #expect(routed.count == 1 && routed[0].hasPrefix("earlybind's devices are not ready: "), "\(routed)")

        let taken = try FakeMachine([
            FakeDevice("0000:00:01.0", id: "1234:1111", class: "030000", group: 1, driver: "vfio-pci", bootVGA: true),
        ])
        let takenProblems = TrialControl.healthProblems(Host(root: InstallRoot(taken.root)!, sysfsRoot: taken.tree.root))
        #expect(takenProblems.contains("the boot display 0000:00:01.0 is not on a host driver (vfio-pci)"))
        // A boot VGA the config forces to the VM is no loss.
        try taken.write("/etc/earlybind.conf", "00:01.0 force\n")
        let forced = TrialControl.healthProblems(Host(root: InstallRoot(taken.root)!, sysfsRoot: taken.tree.root))
        #expect(!forced.contains { $0.hasPrefix("the boot display") })
    }
}
