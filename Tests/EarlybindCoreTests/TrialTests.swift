import EarlybindCore
import EarlybindTestSupport
import Foundation
import Testing

/// The trial boot's EFI variable on a fake efivarfs: every state transition, the
/// immutable flag, failed writes, and the boot binder around them.
@Suite struct TrialTests {
    let name = TrialVariable<PosixIO>.name

    func store(_ state: String?, mounted: Bool = true) throws -> (FakeEFIVariables, String) {
        let sysfs = NSTemporaryDirectory() + "earlybind-efi-" + UUID().uuidString
        let variables = try FakeEFIVariables(sysfs: sysfs, mounted: mounted)
        variables.removesSysfs = true
        if let state { try variables.store(state) }
        return (variables, sysfs)
    }

    func advance(_ state: String?, writeFaults: [Int32] = []) throws -> (step: TrialStep, variables: FakeEFIVariables) {
        let (variables, sysfs) = try store(state)
        variables.writeFaults = writeFaults
        return (TrialStep.advance(TrialVariable(sysfs: sysfs, io: variables)), variables)
    }

    @Test func noTrialAndAConfirmedOneBootAsUsualAndWriteNothing() throws {
        for state in [nil, "confirmed"] as [String?] {
            let run = try advance(state)
            #expect(run.step.binds && run.step.message == nil)
            #expect(run.step.found?.code == state && run.step.left?.code == state)
            #expect(!run.variables.operations.contains { $0.hasPrefix("write") })
        }
    }

    /// The variable is immutable, as efivarfs makes it: the flag is cleared before the rewrite.
    @Test func anArmedTrialBindsAndIsLeftPending() throws {
        let run = try advance("armed")
        #expect(run.step.binds)
        #expect(run.step.found == .armed && run.step.left == .pending)
        #expect(run.step.message == "trial boot: run 'earlybind confirm' once the host works")
        #expect(run.variables.operations == ["mutable \(name)", "write \(name) pending"])
        #expect(run.variables.storedState == "pending")
    }

    @Test func aPendingTrialWasNeverConfirmed() throws {
        let run = try advance("pending")
        #expect(!run.step.binds)
        #expect(run.step.left == .reverted && run.variables.storedState == "reverted")
        #expect(run.step.message == "trial boot not confirmed: skipped (earlybind trial to try again)")
    }

    @Test func aRevertedTrialKeepsBindingNothingAndWritesNothing() throws {
        let run = try advance("reverted")
        #expect(!run.step.binds && run.step.left == .reverted)
        #expect(run.step.message?.contains("earlybind trial to try again, earlybind confirm to bind") == true)
        #expect(run.variables.operations.isEmpty)
    }

    /// A full or read-only store: a normal boot rather than a guess, except that a trial
    /// known to be unconfirmed still binds nothing.
    @Test func aFailedWriteGivesANormalBootButNeverBindsAnUnconfirmedTrial() throws {
        let armed = try advance("armed", writeFaults: [ENOSPC])
        #expect(armed.step.binds && armed.step.left == .armed && armed.variables.storedState == "armed")
        #expect(armed.step.message?.hasPrefix("trial boot not recorded (could not write '") == true)
        #expect(armed.step.message?.hasSuffix("No space left on device): a normal boot") == true)

        let pending = try advance("pending", writeFaults: [EROFS])
        #expect(!pending.step.binds && pending.step.left == .pending && pending.variables.storedState == "pending")
    }

    @Test func dataThatIsNoStateIsNotGuessedAt() throws {
        for garbage in ["", "armed\u{0}", "ARMED", "confirm"] {
            let run = try advance(garbage)
            #expect(run.step.binds && run.step.found == nil)
            #expect(run.step.message?.hasPrefix("trial state unreadable (could not read '") == true, "\(garbage.debugDescription)")
            #expect(run.variables.operations.isEmpty)
        }
    }

    /// Without clearing the flag, efivarfs refuses the rewrite and the unlink.
    @Test func writesAndRemovalClearTheImmutableFlagFirst() throws {
        let (variables, sysfs) = try store("reverted")
        #expect(throws: SystemError.self) { try variables.writeVariable(variables.directory + "/" + name, [7, 0, 0, 0] + Array("armed".utf8)) }
        let variable = TrialVariable(sysfs: sysfs, io: variables)
        try variable.write(.armed)
        #expect(try variable.read() == .armed)
        #expect(try variable.remove())
        #expect(try variable.read() == nil && !(try variable.remove()))
        #expect(variables.operations == ["write \(name) armed", "mutable \(name)", "write \(name) armed", "mutable \(name)", "remove \(name)"])
    }

    // MARK: The boot binder

    func boot(_ state: String?, uefi: Bool = true, mounted: Bool = false, cmdline: String = "quiet",
              efivarfs: ModuleLoadResult = .inserted) throws -> (program: BootProgram<SimulatedKernel, FakeModuleLoader, MemoryLog>,
                                                              tree: FakeSysfs, variables: FakeEFIVariables) {
        let tree = try FakeSysfs(Fixtures.gpuWithAudio, drivers: [])
        var options = BootOptions()
        options.sysfs = tree.root
        options.config = tree.root + "/earlybind.conf"
        options.cmdline = tree.root + "/cmdline"
        try tree.write(options.cmdline, cmdline + "\n")
        try tree.write(options.config, "03:00.0\n")
        let real = try FakeEFIVariables(sysfs: tree.root, mounted: mounted)
        if let state { try real.store(state) }
        if !uefi { try FileManager.default.removeItem(atPath: tree.root + "/firmware") }
        var loader = FakeModuleLoader(onLoad: { name in if name == "vfio-pci" { try? tree.addDriver("vfio-pci") } })
        loader.results["efivarfs"] = efivarfs
        var program = BootProgram(options: options, io: SimulatedKernel(tree), loader: loader, log: MemoryLog())
        program.run(trialVariables: real)
        return (program, tree, real)
    }

    /// In the initramfs efivarfs is neither loaded nor mounted: the binder loads and mounts
    /// it, advances the trial before binding, and unmounts it again.
    @Test func theTrialBootMountsEfivarfsForTheWhileAndBinds() throws {
        let run = try boot("armed")
        #expect(run.program.loader.requested == ["efivarfs ", "vfio-pci ids="])
        #expect(run.variables.operations == ["mount", "mutable \(name)", "write \(name) pending", "unmount"])
        #expect(run.program.log.lines.first == "earlybind: trial boot: run 'earlybind confirm' once the host works")
        #expect(run.tree.driver(of: "0000:03:00.0") == "vfio-pci" && run.tree.driver(of: "0000:03:00.1") == "vfio-pci")
        #expect(run.program.report.trial?.left == .pending && run.program.report.skipped == nil)
        let json = run.program.report.json.rendered()
        #expect(json.contains("\"trial\": {\n    \"found\": \"armed\",\n    \"left\": \"pending\",\n    \"binds\": true,"))
    }

    @Test func theBootAfterAnUnconfirmedTrialBindsNothing() throws {
        let run = try boot("pending")
        #expect(run.program.log.lines == ["earlybind: trial boot not confirmed: skipped (earlybind trial to try again)"])
        #expect(run.program.loader.requested == ["efivarfs "])
        #expect(run.tree.driver(of: "0000:03:00.0") == "nouveau" && run.tree.driver(of: "0000:03:00.1") == "snd_hda_intel")
        #expect(run.program.report.skipped == .trialNotConfirmed && run.program.report.devices.isEmpty)
        #expect(run.variables.storedState == "reverted" && !run.variables.mounted)
    }

    /// A systemd initramfs has efivarfs mounted already: it stays mounted, nothing is loaded for it.
    @Test func aMountedStoreIsUsedAndLeftMounted() throws {
        let run = try boot("armed", mounted: true)
        #expect(run.program.loader.requested == ["vfio-pci ids="])
        #expect(!run.variables.operations.contains("mount") && !run.variables.operations.contains("unmount"))
        #expect(run.variables.mounted && run.variables.storedState == "pending")
    }

    @Test func withoutUEFIOrWithEarlybindOffTheVariableIsNotTouched() throws {
        let bios = try boot("pending", uefi: false)
        #expect(bios.program.report.trial == nil && bios.variables.operations.isEmpty)
        #expect(bios.tree.driver(of: "0000:03:00.0") == "vfio-pci")

        let off = try boot("armed", cmdline: "quiet earlybind=off")
        #expect(off.program.report.skipped == .switchedOff && off.variables.operations.isEmpty)
    }

    /// An image without efivarfs cannot read the state: a normal boot, and the log says why.
    @Test func anUnreachableStoreGivesANormalBoot() throws {
        let run = try boot("pending", efivarfs: .failed("Module efivarfs not found in directory /lib/modules/6.1.0"))
        #expect(run.program.log.lines.first == "earlybind: trial state unreadable (efivarfs: Module efivarfs not found in directory /lib/modules/6.1.0): a normal boot")
        #expect(run.tree.driver(of: "0000:03:00.0") == "vfio-pci")
        #expect(run.variables.storedState == "pending" && !run.variables.operations.contains("mount"))
    }
}
