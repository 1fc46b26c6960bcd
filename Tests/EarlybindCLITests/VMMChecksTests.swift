import EarlybindCore
@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

/// What QEMU checks beyond the driver: the device's reset and a firmware framebuffer in its BARs.
@Suite struct VMMChecksTests {
    /// The GPU with audio on vfio-pci, configured, on a kernel of `release`.
    func machine(_ devices: [FakeDevice] = Fixtures.gpuWithAudio, release: String = "6.1.0-57-amd64") throws -> FakeMachine {
        let machine = try FakeMachine(devices.map { device in
            var device = device
            if device.address.hasPrefix("0000:03:00.") { device.driver = "vfio-pci" }
            return device
        }, config: "03:00.0\n")
        try machine.markInstalled()
        try machine.write("/proc/sys/kernel/osrelease", release + "\n")
        return machine
    }

    func checks(_ machine: FakeMachine) throws -> [[String: Any]] {
        try machine.run(["status", "--json"]).json()["checks"] as? [[String: Any]] ?? []
    }

    func device(_ machine: FakeMachine, _ address: String) throws -> [String: Any]? {
        let devices = try machine.run(["status", "--json"]).json()["devices"] as? [[String: Any]] ?? []
        return devices.first { $0["address"] as? String == address }
    }

    func gpu(reset: String?, id: String = "10de:1b02") -> [FakeDevice] {
        Fixtures.gpuWithAudio.map { device in
            var device = device
            if device.address == "0000:03:00.0" { device.resetMethod = reset; device.id = id }
            return device
        }
    }

    // MARK: reset

    @Test(arguments: [
        ("flr bus", "6.1.0-57-amd64", false),
        ("", "6.1.0-57-amd64", true),
        (nil, "6.1.0-57-amd64", true),
        (nil, "5.15.0-91-generic", true),
        (nil, "5.10.0-28-amd64", false),
    ] as [(String?, String, Bool)])
    func noResetWarningFollowsWhatTheKernelOffers(reset: String?, release: String, warned: Bool) throws {
        let machine = try machine(gpu(reset: reset), release: release)
        let found = try checks(machine).filter { $0["code"] as? String == "no_reset" && $0["device"] as? String == "0000:03:00.0" }
        #expect(found.count == (warned ? 1 : 0))
        if warned {
            #expect(found.first?["severity"] as? String == "warning")
            #expect((found.first?["message"] as? String)?.contains("a restart of the VM may fail") == true)
            #expect(found.first?["fix"] as? String == (reset == "" ? "echo default > /sys/bus/pci/devices/0000:03:00.0/reset_method" : nil))
        }
        let methods = try #require(try device(machine, "0000:03:00.0")?["reset"] as? [String: Any])["methods"]
        if release.hasPrefix("5.10") { #expect(methods is NSNull) } else { #expect(methods as? [String] == (reset ?? "").split(separator: " ").map(String.init)) }
    }

    /// Below a bridge QEMU falls back to a hot reset of that bus: no warning there.
    @Test func aDeviceBelowABridgeIsResetThroughItsBus() throws {
        let devices = gpu(reset: nil).map { device in
            var device = device
            if device.address.hasPrefix("0000:03:00.") { device.parent = "0000:00:01.1" }
            return device
        }
        let machine = try machine(devices)
        #expect(try checks(machine).contains { $0["code"] as? String == "no_reset" } == false)
    }

    /// Config space with one capability at 0x40: status bit 4 set, pointer at 0x34.
    func config(capability id: UInt8, _ bytes: [UInt8], length: Int = 256) -> [UInt8] {
        var config = [UInt8](repeating: 0, count: length)
        config[0x06] = 0x10
        config[0x34] = 0x40
        for (offset, byte) in ([id, 0] + bytes).enumerated() where 0x40 + offset < length { config[0x40 + offset] = byte }
        return config
    }

    @Test func functionLevelResetFromConfigSpace() {
        // PCI Express: Device Capabilities (cap + 4) bit 28.
        #expect(ResetCapability.functionLevelReset(config: config(capability: 0x10, [0x02, 0x00, 0x00, 0x00, 0x00, 0x10])) == true)
        #expect(ResetCapability.functionLevelReset(config: config(capability: 0x10, [0x02, 0x00, 0xff, 0xff, 0xff, 0x0f])) == false)
        // Advanced Features: its capabilities byte (cap + 3) bit 1.
        #expect(ResetCapability.functionLevelReset(config: config(capability: 0x13, [0x06, 0x03])) == true)
        #expect(ResetCapability.functionLevelReset(config: config(capability: 0x13, [0x06, 0x01])) == false)
        // No capability list at all.
        #expect(ResetCapability.functionLevelReset(config: [UInt8](repeating: 0, count: 256)) == false)
        // What a non-root user reads: 64 bytes, the list points past them.
        #expect(ResetCapability.functionLevelReset(config: config(capability: 0x10, [], length: 64)) == nil)
    }

    @Test(arguments: [
        ("1002:67df", "Polaris 10"), ("1002:67ff", "Polaris 11"), ("1002:699f", "Polaris 12"),
        ("1002:687f", "Vega 10"), ("1002:66af", "Vega 20"),
        ("1002:731f", "Navi 10"), ("1002:7360", "Navi 12"), ("1002:7340", "Navi 14"),
    ])
    func resetBugFamiliesAreNamed(id: String, family: String) throws {
        let machine = try machine(gpu(reset: "bus", id: id))
        let warning = try #require(try checks(machine).first { $0["code"] as? String == "reset_bug" })
        #expect(warning["device"] as? String == "0000:03:00.0")
        #expect((warning["message"] as? String)?.contains("AMD \(family) GPU") == true)
        #expect((warning["fix"] as? String)?.contains("vendor-reset") == true)
        #expect((try device(machine, "0000:03:00.0")?["reset"] as? [String: Any])?["reset_bug"] as? String == family)
    }

    @Test func vendorResetInPlaceSilencesTheFamilyWarning() throws {
        let loaded = try machine(gpu(reset: "device_specific bus", id: "1002:731f"))
        #expect(try checks(loaded).contains { $0["code"] as? String == "reset_bug" } == false)
        // A Navi 21 (73bf) resets fine: not in the family list.
        let navi21 = try machine(gpu(reset: "bus", id: "1002:73bf"))
        #expect(try checks(navi21).contains { $0["code"] as? String == "reset_bug" } == false)
    }

    // MARK: firmware framebuffer

    /// /proc/iomem with efifb nested in the GPU's BAR 1, as Debian's 6.1 kernel shows it under OVMF.
    static let iomem = """
        00000000-00000fff : Reserved
        c0000000-c0ffffff : 0000:03:00.0
          c0000000-c03e7fff : efifb
        d0000000-d0ffffff : 0000:00:01.0
          d0000000-d01fffff : BOOTFB
        fe000000-fe003fff : 0000:03:00.1

        """

    func withBARs(_ machine: FakeMachine) throws {
        let resource = """
            0x00000000f6000000 0x00000000f6ffffff 0x0000000000040200
            0x00000000c0000000 0x00000000c0ffffff 0x000000000014220c
            0x000000000000e000 0x000000000000e07f 0x0000000000040101

            """
        try machine.tree.write(machine.tree.root + "/bus/pci/devices/0000:03:00.0/resource", resource)
        try machine.tree.write(machine.tree.root + "/bus/pci/devices/0000:03:00.1/resource",
                               "0x00000000fe000000 0x00000000fe003fff 0x0000000000040200\n")
    }

    /// vfio-pci removes the framebuffer only from a VGA-class (0300) device, since 6.0.
    @Test(arguments: [
        ("6.1.0-57-amd64", "030000", "warning", "vfio-pci removes it"),
        ("5.19.0-1-amd64", "030000", "error", "BAR 0: can't reserve"),
        ("6.1.0-57-amd64", "038000", "error", "only from a VGA-class device"),
    ])
    func firmwareFramebufferInsideABARDependsOnTheKernel(release: String, classCode: String, severity: String, says: String) throws {
        let devices = Fixtures.gpuWithAudio.map { device in
            var device = device
            if device.address == "0000:03:00.0" { device.classCode = classCode }
            return device
        }
        let machine = try machine(devices, release: release)
        // As under OVMF with earlybind=off: no driver has the card, efifb drives its memory.
        try machine.tree.detach("0000:03:00.0")
        try withBARs(machine)
        try machine.write("/proc/iomem", VMMChecksTests.iomem)
        let found = try checks(machine).filter { $0["code"] as? String == "firmware_framebuffer" }
        #expect(found.count == 1)
        let check = try #require(found.first)
        #expect(check["device"] as? String == "0000:03:00.0")
        #expect(check["severity"] as? String == severity)
        #expect((check["message"] as? String)?.contains("efifb (c0000000-c03e7fff)") == true)
        #expect((check["message"] as? String)?.contains(says) == true)
        #expect((check["fix"] as? String)?.contains("initcall_blacklist=sysfb_init") == true)
        #expect((check["fix"] as? String)?.contains("video=efifb:off") == true)
        let regions = try #require(try device(machine, "0000:03:00.0")?["firmware_framebuffers"] as? [[String: Any]])
        #expect(regions.map { $0["name"] as? String } == ["efifb"])
        #expect((try device(machine, "0000:03:00.1")?["firmware_framebuffers"] as? [[String: Any]])?.isEmpty == true)
    }

    @Test func framebufferOutsideTheBARsOrTopLevel() throws {
        let machine = try machine()
        try withBARs(machine)
        // A top-level simpledrm region in the GPU's BAR 0 although vfio-pci has it; the BOOTFB
        // elsewhere belongs to another card; a vesafb "region" at the numbers of the I/O BAR is not memory.
        try machine.write("/proc/iomem", "0000e000-0000e07f : vesafb\nd0000000-d01fffff : BOOTFB\nf6000000-f61fffff : simpledrm\n")
        let found = try checks(machine).filter { $0["code"] as? String == "firmware_framebuffer" }
        #expect(found.map { $0["device"] as? String } == ["0000:03:00.0"])
        #expect(found.first?["severity"] as? String == "error")
        #expect((found.first?["message"] as? String)?.contains("simpledrm (f6000000-f61fffff) lies in this device's memory although vfio-pci has the device") == true)
    }

    /// Anyone but root reads /proc/iomem with zero addresses: unknown, never "none".
    @Test func zeroAddressesMeanUnknown() throws {
        let machine = try machine()
        try withBARs(machine)
        try machine.write("/proc/iomem", "00000000-00000000 : 0000:03:00.0\n  00000000-00000000 : efifb\n")
        #expect(try checks(machine).contains { $0["code"] as? String == "firmware_framebuffer" } == false)
        #expect(try device(machine, "0000:03:00.0")?["firmware_framebuffers"] is NSNull)
    }

    /// efifb's fb0 belongs to a platform device, so only /proc/iomem ties it to the card: apply leaves the card.
    @Test func applyLeavesACardWhoseBARHoldsTheFirmwareConsole() throws {
        var devices = Fixtures.gpuWithAudio
        let gpu = devices.firstIndex { $0.address == "0000:03:00.0" }!
        devices[gpu].driver = nil
        let machine = try FakeMachine(devices, config: "03:00.0 10de:1b02\n")
        try withBARs(machine)
        try machine.write("/proc/iomem", VMMChecksTests.iomem)
        let kernel = SimulatedKernel(machine.tree)
        let host = earlybind.Host(root: InstallRoot(machine.root)!, sysfsRoot: machine.tree.root)
        let applier = Applier(host: host, sysfs: Sysfs(root: machine.tree.root, io: kernel), procRoot: machine.root + "/proc")
        let lines = try applier.apply(dryRun: false).lines
        #expect(lines.contains { $0.contains("0000:03:00.0") && $0.contains("the firmware framebuffer efifb (c0000000-c03e7fff), the host's console") })
        #expect(machine.tree.driver(of: "0000:03:00.0") == nil)
        #expect(machine.tree.driver(of: "0000:03:00.1") == "snd_hda_intel")
    }
}
