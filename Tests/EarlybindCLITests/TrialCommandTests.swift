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

        try FileManager.default.removeItem(atPath: variables.directory + "/BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c")
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

        let garbled = try uefiMachine("sideways").0.run(["status", "--json"])
        let unreadable = try #require(try garbled.json()["trial"] as? [String: Any])
        #expect((unreadable["error"] as? String)?.contains("Invalid argument") == true && unreadable["state"] is NSNull)
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
