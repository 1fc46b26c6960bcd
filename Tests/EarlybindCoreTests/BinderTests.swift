import EarlybindCore
import EarlybindTestSupport
import Foundation
import Testing

@Suite struct BinderTests {
    let tree: FakeSysfs
    let kernel: SimulatedKernel
    let binder: Binder<SimulatedKernel>
    let gpu = PCIAddress("0000:03:00.0")!

    init() throws {
        tree = try FakeSysfs(Fixtures.gpuWithAudio)
        kernel = SimulatedKernel(tree)
        binder = Binder(sysfs: Sysfs(root: tree.root, io: kernel))
    }

    typealias Write = SimulatedKernel.Write

    /// Binds the GPU and returns the outcome as the boot log words it, after the address.
    func bound() -> String {
        let outcome = DeviceOutcome(binding: gpu, id: nil, outcome: binder.bind(gpu), forced: false, driverBefore: nil)
        return String(outcome.logText.dropFirst("0000:03:00.0: ".count))
    }

    @Test func overrideUnbindProbeInThatOrder() {
        #expect(bound() == "bound to vfio-pci (was nouveau)")
        #expect(kernel.writes == [
            Write(path: "bus/pci/devices/0000:03:00.0/driver_override", text: "vfio-pci\n"),
            Write(path: "bus/pci/drivers/nouveau/unbind", text: "0000:03:00.0"),
            Write(path: "bus/pci/drivers_probe", text: "0000:03:00.0"),
        ])
        #expect(tree.driver(of: "0000:03:00.0") == "vfio-pci")
    }

    @Test func driverlessDeviceIsOnlyProbed() throws {
        try tree.detach("0000:03:00.0")
        #expect(bound() == "bound to vfio-pci")
        #expect(kernel.writes.map(\.path) == ["bus/pci/devices/0000:03:00.0/driver_override", "bus/pci/drivers_probe"])
    }

    @Test func alreadyOnVFIOWritesNothing() throws {
        try tree.detach("0000:03:00.0")
        try tree.attach("0000:03:00.0", to: "vfio-pci")
        #expect(bound() == "already on vfio-pci")
        #expect(kernel.writes.isEmpty)
    }

    @Test func probeThatBindsNothingIsCaughtAndUndone() {
        kernel.vfioRefuses = ["0000:03:00.0"]
        #expect(bound() == "not bound: vfio-pci did not take it; back on nouveau")
        #expect(kernel.writes == [
            Write(path: "bus/pci/devices/0000:03:00.0/driver_override", text: "vfio-pci\n"),
            Write(path: "bus/pci/drivers/nouveau/unbind", text: "0000:03:00.0"),
            Write(path: "bus/pci/drivers_probe", text: "0000:03:00.0"),
            Write(path: "bus/pci/devices/0000:03:00.0/driver_override", text: "\n"),
            Write(path: "bus/pci/drivers_probe", text: "0000:03:00.0"),
        ])
        #expect(kernel.override(of: "0000:03:00.0") == nil)
    }

    @Test(arguments: [Fault.errno(EBUSY), .errno(EINVAL), .errno(ENODEV), .errno(EACCES), .shortWrite])
    func failedUnbindKeepsTheHostDriver(fault: Fault) {
        kernel.faults["bus/pci/drivers/nouveau/unbind"] = [fault]
        let outcome = bound()
        #expect(outcome.hasPrefix("not bound: could not write '\(tree.root)/bus/pci/drivers/nouveau/unbind': "))
        #expect(outcome.hasSuffix("; back on nouveau"))
        #expect(tree.driver(of: "0000:03:00.0") == "nouveau")
        #expect(kernel.override(of: "0000:03:00.0") == nil)
    }

    @Test func failedOverrideWriteTouchesNothingElse() {
        kernel.faults["bus/pci/devices/0000:03:00.0/driver_override"] = [.errno(EACCES)]
        #expect(bound()
            == "not bound: could not write '\(tree.root)/bus/pci/devices/0000:03:00.0/driver_override': Permission denied; back on nouveau")
        #expect(kernel.writes.count == 1)
    }

    @Test func failedProbeGivesTheDeviceBack() {
        kernel.faults["bus/pci/drivers_probe"] = [.errno(ENOMEM)]
        let outcome = bound()
        #expect(outcome.contains("drivers_probe': Cannot allocate memory; back on nouveau"))
        #expect(tree.driver(of: "0000:03:00.0") == "nouveau")
    }
}
