import EarlybindCore
@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

/// apply and release, in-process against a simulated kernel.
@Suite struct ApplyReleaseTests {
    let machine: FakeMachine
    let kernel: SimulatedKernel
    let host: earlybind.Host
    let proc: String

    init() throws {
        machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0 10de:1b02\n")
        kernel = SimulatedKernel(machine.tree)
        host = earlybind.Host(root: InstallRoot(machine.root)!, sysfsRoot: machine.tree.root)
        proc = machine.root + "/proc"
    }

    var applier: Applier<SimulatedKernel> {
        Applier(host: host, sysfs: Sysfs(root: machine.tree.root, io: kernel), procRoot: proc)
    }

    func link(_ path: String, to target: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
    }

    @Test func appliesTheConfigGroupByGroup() throws {
        let lines = try applier.apply(dryRun: false).lines
        #expect(lines == [
            "earlybind: 0000:03:00.0 [10de:1b02]: bound to vfio-pci (was nouveau)",
            "earlybind: 0000:03:00.1 [10de:10ef]: bound to vfio-pci (was snd_hda_intel)",
            "earlybind: done: 2 on vfio-pci, 0 left alone, 0 failed",
        ])
        #expect(machine.tree.driver(of: "0000:03:00.1") == "vfio-pci")
    }

    /// apply's exit status comes from these values, not from its printed lines.
    @Test func theOutcomeIsTyped() throws {
        #expect(try applier.apply(dryRun: false).report?.failedCount == 0)
        try machine.write("/etc/earlybind.conf", "03:00.0 10de:1b02\n")
        kernel.vfioRefuses = ["0000:03:00.0"]
        _ = try Releaser(host: host).release(selectors: [], sysfs: Sysfs(root: machine.tree.root, io: kernel))
        let refused = try applier.apply(dryRun: false).report
        #expect(refused?.failedCount == 2)
        #expect(try applier.apply(dryRun: true).report == nil)
    }

    @Test func dryRunWritesNothing() throws {
        #expect(try applier.apply(dryRun: true).lines == ["would bind 0000:03:00.0 [10de:1b02]", "would bind 0000:03:00.1 [10de:10ef]"])
        #expect(kernel.writes.isEmpty)
    }

    @Test func refusesADisplayWithAConsoleOnIt() throws {
        try link(machine.tree.root + "/class/graphics/fb0/device", to: "../../../devices/pci0000:00/0000:03:00.0")
        let lines = try applier.apply(dryRun: false).lines
        #expect(lines.contains("earlybind: 0000:03:00.0 [10de:1b02]: left alone: in use by the host: 0000:03:00.0 a framebuffer console (fb0, nouveau)"))
        #expect(lines.contains("earlybind: 0000:03:00.1 [10de:10ef]: left alone: in use by the host: 0000:03:00.0 a framebuffer console (fb0, nouveau)"))
        #expect(kernel.writes.isEmpty)
    }

    @Test func refusesADisplayAProgramHoldsOpen() throws {
        try link(machine.tree.root + "/class/drm/card1/device", to: "../../../devices/pci0000:00/0000:03:00.0")
        try link(proc + "/1234/fd/7", to: "/dev/dri/card1")
        try machine.write("/proc/1234/comm", "Xorg\n")
        let lines = try applier.apply(dryRun: false).lines
        #expect(lines.first == "earlybind: 0000:03:00.0 [10de:1b02]: left alone: in use by the host: 0000:03:00.0 Xorg (pid 1234) has /dev/dri/card1 open")
        #expect(kernel.writes.isEmpty)
    }

    var kernelSysfs: Sysfs<SimulatedKernel> { Sysfs(root: machine.tree.root, io: kernel) }

    @Test func releaseGivesDevicesBack() throws {
        _ = try applier.apply(dryRun: false).lines
        let outcome = try Releaser(host: host).release(selectors: [], sysfs: kernelSysfs)
        #expect(outcome.lines == ["0000:03:00.0: released, now on nouveau", "0000:03:00.1: released, now on snd_hda_intel"])
        #expect(outcome.failed == 0)
        #expect(kernel.override(of: "0000:03:00.0") == nil)
        let again = try Releaser(host: host).release(selectors: ["03:00.0"], sysfs: kernelSysfs)
        #expect(again.lines == ["0000:03:00.0: not on vfio-pci, left alone", "0000:03:00.1: not on vfio-pci, left alone"])
    }

    /// An override that cannot be cleared sends the device straight back to vfio-pci: not "released".
    @Test func aDeviceVfioTakesAgainIsAFailure() throws {
        _ = try applier.apply(dryRun: false).lines
        kernel.faults["bus/pci/devices/0000:03:00.0/driver_override"] = [.errno(EACCES)]
        let outcome = try Releaser(host: host).release(selectors: [], sysfs: kernelSysfs)
        #expect(outcome.failed == 1)
        #expect(outcome.lines.first?.hasPrefix("0000:03:00.0: still on vfio-pci: it took the device again (") == true)
        #expect(!(outcome.lines.first ?? "").contains("released"))
        #expect(machine.tree.driver(of: "0000:03:00.0") == "vfio-pci")
    }

    /// A running VM holds the group open: unbinding would wait on it or pull the card from the guest.
    @Test func aGroupAVMHoldsIsRefusedWithTheHolderNamed() throws {
        _ = try applier.apply(dryRun: false).lines
        try machine.write("/dev/vfio/3", "")
        try link(proc + "/4321/fd/21", to: "/dev/vfio/3")
        try machine.write("/proc/4321/comm", "qemu-system-x86\n")
        let before = kernel.writes.count
        let outcome = try Releaser(host: host).release(selectors: [], sysfs: kernelSysfs)
        #expect(outcome.failed == 2)
        #expect(outcome.lines.first == "0000:03:00.0: refused: qemu-system-x86 (pid 4321) has its group open (/dev/vfio/3), as a running VM does: shut that VM down first")
        #expect(kernel.writes.count == before)
        #expect(machine.tree.driver(of: "0000:03:00.1") == "vfio-pci")
    }

    /// An iommufd-era VMM holds a member's own node, not the group's: refused the same way.
    @Test func aMembersOwnVFIONodeHeldIsRefusedToo() throws {
        _ = try applier.apply(dryRun: false).lines
        try FileManager.default.createDirectory(atPath: machine.tree.root + "/bus/pci/devices/0000:03:00.1/vfio-dev/vfio0",
                                                withIntermediateDirectories: true)
        try machine.write("/dev/vfio/devices/vfio0", "")
        try link(proc + "/4322/fd/5", to: "/dev/vfio/devices/vfio0")
        try machine.write("/proc/4322/comm", "cloud-hypervisor\n")
        let outcome = try Releaser(host: host).release(selectors: [], sysfs: kernelSysfs)
        #expect(outcome.failed == 2)
        #expect(outcome.lines.first == "0000:03:00.0: refused: cloud-hypervisor (pid 4322) has its group open (/dev/vfio/devices/vfio0), as a running VM does: shut that VM down first")
        #expect(machine.tree.driver(of: "0000:03:00.0") == "vfio-pci")
    }

    @Test func releaseDryRunWritesNothing() throws {
        _ = try applier.apply(dryRun: false).lines
        let before = kernel.writes.count
        let outcome = try Releaser(host: host).release(selectors: [], sysfs: kernelSysfs, dryRun: true)
        #expect(outcome.lines == ["would release 0000:03:00.0 from vfio-pci", "would release 0000:03:00.1 from vfio-pci"])
        #expect(kernel.writes.count == before)
    }

    @Test func refusesAConfigOthersCanChange() throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: machine.root + "/etc/earlybind.conf")
        #expect(throws: (any Error).self) { try applier.apply(dryRun: false) }
        #expect(kernel.writes.isEmpty)
    }
}
