@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

@Suite struct StatusTests {
    /// status --json on a machine; returns the exit status and the configured devices by address.
    func status(_ machine: FakeMachine, extra: [String] = []) throws -> (status: Int32, json: [String: Any], devices: [String: [String: Any]]) {
        let result = try machine.run(["status", "--json"] + extra)
        let json = try result.json()
        let devices = (json["devices"] as? [[String: Any]] ?? []).reduce(into: [String: [String: Any]]()) {
            $0[$1["address"] as! String] = $1
        }
        return (result.status, json, devices)
    }

    func vfioBound(_ devices: [FakeDevice], _ addresses: Set<String>) -> [FakeDevice] {
        devices.map { device in
            var device = device
            if addresses.contains(device.address) { device.driver = "vfio-pci" }
            return device
        }
    }

    @Test func readyWhenEveryConfiguredDeviceIsOnVFIO() throws {
        let machine = try FakeMachine(vfioBound(Fixtures.gpuWithAudio, ["0000:03:00.0", "0000:03:00.1"]), config: "03:00.0 10de:1b02\n")
        try machine.markInstalled()
        let run = try status(machine)
        #expect(run.status == 0)
        #expect(run.json["ready"] as? Bool == true)
        #expect(run.devices.keys.sorted() == ["0000:03:00.0", "0000:03:00.1"])
        #expect(run.devices["0000:03:00.0"]?["problem"] is NSNull)
        let text = try machine.run(["status"])
        #expect(text.status == 0)
        #expect(text.lines.contains("    on vfio-pci"))
        #expect(text.lines.contains("ready for the VM (2 device(s); 1 warning(s))"))
    }

    @Test func nothingConfiguredIsNotReady() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio)
        let run = try status(machine)
        #expect(run.status == 1)
        #expect(run.json["ready"] as? Bool == false)
        #expect(run.devices.isEmpty)
        #expect(codes(run.json["reasons"]) == ["nothing_configured"])
        let text = try machine.run(["status"]).lines
        #expect(text.contains("  none configured (earlybind add ADDRESS)"))
        #expect(text.contains("  error [nothing_configured] no device is configured for vfio-pci"))
    }

    @Test func iommuSectionReadsTheHost() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, cmdline: "ro quiet intel_iommu=on iommu=pt earlybind=off")
        try FileManager.default.createDirectory(atPath: machine.tree.root + "/firmware/acpi/tables", withIntermediateDirectories: true)
        try machine.tree.write(machine.tree.root + "/firmware/acpi/tables/DMAR", "")
        let iommu = try #require(try status(machine).json["iommu"] as? [String: Any])
        #expect(iommu["enabled"] as? Bool == true)
        #expect(iommu["groups"] as? Int == 4)
        #expect(iommu["cpu_vendor"] as? String == "GenuineIntel")
        #expect(iommu["needed_flag"] as? String == "intel_iommu=on")
        #expect(iommu["needed_flag_present"] as? Bool == true)
        #expect(iommu["kernel_flags"] as? [String] == ["intel_iommu=on", "iommu=pt", "earlybind=off"])
        #expect(iommu["firmware_table"] as? String == "DMAR")
        #expect(iommu["kind"] as? String == "intel")

        // No table: the CPU vendor is the only hint left.
        let amd = try FakeMachine(Fixtures.noIOMMU, cmdline: "ro", cpu: "AuthenticAMD")
        let amdIOMMU = try #require(try status(amd).json["iommu"] as? [String: Any])
        #expect(amdIOMMU["enabled"] as? Bool == false)
        #expect(amdIOMMU["needed_flag"] is NSNull)
        #expect(amdIOMMU["firmware_table"] is NSNull)
        #expect(amdIOMMU["kind"] as? String == "amd")
    }

    @Test func modulesFromSysfs() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio)
        try FileManager.default.createDirectory(atPath: machine.tree.root + "/module/vfio_pci", withIntermediateDirectories: true)
        try machine.tree.write(machine.tree.root + "/module/vfio_pci/initstate", "live\n")
        try FileManager.default.createDirectory(atPath: machine.tree.root + "/module/vfio", withIntermediateDirectories: true)
        let modules = try #require(try status(machine).json["modules"] as? [[String: String]])
        #expect(modules.first { $0["name"] == "vfio_pci" }?["state"] == "loaded")
        #expect(modules.first { $0["name"] == "vfio" }?["state"] == "built_in")
        #expect(modules.first { $0["name"] == "vfio_iommu_type1" }?["state"] == "unknown")
        #expect(try machine.run(["status"]).output.contains("cannot tell built-in from missing modules"))
    }

    /// The CLI loads libkmod with dlopen on first use: against an installed kernel's
    /// module directory, status must get real answers from it, not "unknown".
    @Test(.enabled(if: installedKernel() != nil, "needs a kernel under /lib/modules"))
    func modulesFromLibkmodLoadedOnDemand() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio)
        // A staged root's kernel is the one its proc/sys/kernel/osrelease names, not this machine's.
        let release = "6.1.0-installed"
        try machine.write("/proc/sys/kernel/osrelease", release + "\n")
        try FileManager.default.createDirectory(atPath: machine.root + "/lib/modules", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: machine.root + "/lib/modules/" + release, withDestinationPath: try #require(installedKernel()))
        let modules = try #require(try status(machine).json["modules"] as? [[String: String]])
        let states = Dictionary(uniqueKeysWithValues: modules.map { ($0["name"]!, $0["state"]!) })
        for name in ["vfio_pci", "vfio", "vfio_iommu_type1"] {
            #expect(["not_loaded", "built_in"].contains(states[name]), "\(name): \(states[name] ?? "-")")
        }
    }

    /// Each reason a configured device is not on vfio-pci, with its stable code.
    @Test(arguments: [
        ("absent", "0000:0a:00.0\n", false, "BOOT_IMAGE=x", "0000:0a:00.0"),
        ("hardware_changed", "03:00.0 10de:2204\n", false, "BOOT_IMAGE=x", "0000:03:00.0"),
        ("group_mate_changed", "03:00.0 10de:2204\n03:00.1\n", false, "BOOT_IMAGE=x", "0000:03:00.1"),
        ("boot_vga", "00:01.0\n", false, "BOOT_IMAGE=x", "0000:00:01.0"),
        ("bridge", "00:01.1\n", false, "BOOT_IMAGE=x", "0000:00:01.1"),
        ("earlybind_off", "03:00.0\n", false, "BOOT_IMAGE=x earlybind=off", "0000:03:00.0"),
        ("initramfs_outdated", "03:00.0\n", true, "BOOT_IMAGE=x", "0000:03:00.0"),
        ("other_driver", "03:00.0\n", false, "BOOT_IMAGE=x", "0000:03:00.0"),
        ("config_invalid", "03:00.0\nbad line\n", false, "BOOT_IMAGE=x", "0000:03:00.0"),
    ])
    func explainsWhyNotOnVFIO(code: String, config: String, outdated: Bool, cmdline: String, address: String) throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: config, cmdline: cmdline)
        try machine.markInstalled(imageOlderThanConfig: outdated)
        let run = try status(machine)
        #expect(run.status == 1)
        #expect(run.json["ready"] as? Bool == false)
        let device = try #require(run.devices[address])
        #expect(device["problem"] as? String == code)
        #expect((device["message"] as? String)?.isEmpty == false)
        #expect(try machine.run(["status"]).output.contains("not on vfio-pci [\(code)]: "))
    }

    @Test func notInstalledAndNoDriverAndNoGroup() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        #expect(try status(machine).devices["0000:03:00.0"]?["problem"] as? String == "not_installed")

        var driverless = Fixtures.gpuWithAudio
        driverless[4].driver = nil
        let bare = try FakeMachine(driverless, config: "03:00.0\n")
        try bare.markInstalled()
        #expect(try status(bare).devices["0000:03:00.0"]?["problem"] as? String == "no_driver")

        let off = try FakeMachine(Fixtures.noIOMMU, config: "03:00.0\n")
        try off.markInstalled()
        #expect(try status(off).devices["0000:03:00.0"]?["problem"] as? String == "no_iommu_group")
    }

    @Test func groupRefusalsAndChipsetBridges() throws {
        let sata = try FakeMachine(Fixtures.groupWithSATA.filter { $0.address != "0000:00:1f.0" }, config: "00:1f.4\n")
        #expect(try status(sata).devices["0000:00:1f.4"]?["problem"] as? String == "group_holds_storage")
        let chipset = try FakeMachine(Fixtures.chipsetGroup, config: "00:1f.3\n")
        #expect(try status(chipset).devices["0000:00:1f.3"]?["problem"] as? String == "group_holds_chipset_bridge")
        let hostBridge = try FakeMachine([
            FakeDevice("0000:00:00.0", id: "8086:29c0", class: "060000", group: 0, driver: "ie31200_edac"),
            FakeDevice("0000:00:02.0", id: "8086:3e92", class: "030000", group: 0, driver: "i915"),
        ], config: "00:02.0\n")
        #expect(try status(hostBridge).devices["0000:00:02.0"]?["problem"] as? String == "group_holds_host_bridge")
        let bootGroup = try FakeMachine([
            FakeDevice("0000:00:02.0", id: "8086:3e92", class: "030000", group: 1, driver: "i915", bootVGA: true),
            FakeDevice("0000:00:02.1", id: "8086:1234", class: "040300", group: 1, driver: "snd_hda_intel"),
        ], config: "00:02.1\n")
        #expect(try status(bootGroup).devices["0000:00:02.1"]?["problem"] as? String == "group_holds_boot_vga")
    }

    @Test func bootLinesFromTheKernelLog() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        try machine.markInstalled()
        let log = machine.root + "/kmsg"
        try """
            6,339,5140900,-;some other line
            5,340,5140901,-;earlybind: 0000:03:00.0 [10de:1b02]: not bound: vfio-pci did not take it; back on nouveau
            5,341,5140902,-;earlybind: done: 0 on vfio-pci, 0 left alone, 1 failed

            """.write(toFile: log, atomically: false, encoding: .utf8)
        let run = try status(machine, extra: ["--kernel-log", log])
        #expect(run.devices["0000:03:00.0"]?["problem"] as? String == "bind_failed")
        #expect(run.devices["0000:03:00.0"]?["message"] as? String
            == "at boot: 0000:03:00.0 [10de:1b02]: not bound: vfio-pci did not take it; back on nouveau")
        #expect(run.json["kernel_log"] as? [String] == [
            "earlybind: 0000:03:00.0 [10de:1b02]: not bound: vfio-pci did not take it; back on nouveau",
            "earlybind: done: 0 on vfio-pci, 0 left alone, 1 failed",
        ])
        let unreadable = try status(machine, extra: ["--kernel-log", "/nonexistent/kmsg"])
        #expect(unreadable.json["kernel_log"] is NSNull)
        #expect(try machine.run(["status", "--kernel-log", "/nonexistent/kmsg"]).output
            .contains("boot log: cannot read the kernel log (as root it shows earlybind's lines)"))
    }

    @Test func kernelBufferTextIsParsed() {
        let text = "<6>[    0.000000] Linux version 6.1.0\n<5>[    3.677427] earlybind: 0000:00:05.0 [1234:1111]: bound to vfio-pci\n<5>[    3.678594] earlybind: done: 1 on vfio-pci, 0 left alone, 0 failed\n<4>[ 9.1] notearlybind: x\n"
        let messages = KernelLogReader.bufferMessages(text)
        #expect(messages.first == "Linux version 6.1.0")
        #expect(KernelLogReader.earlybindLines(messages) == [
            "earlybind: 0000:00:05.0 [1234:1111]: bound to vfio-pci",
            "earlybind: done: 1 on vfio-pci, 0 left alone, 0 failed",
        ])
    }

    @Test func unreadableDeviceIsReported() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        try machine.tree.write(machine.tree.root + "/devices/pci0000:00/0000:03:00.0/vendor", "garbage\n")
        let device = try #require(try status(machine).devices["0000:03:00.0"])
        #expect(device["problem"] as? String == "unreadable")
        #expect((device["message"] as? String)?.hasPrefix("unexpected content 'garbage' in ") == true)
    }

    @Test(arguments: [
        ("earlybind: 0000:03:00.0 [10de:1b02]: given back: 0000:03:00.1 of IOMMU group 3 was not bound; back on nouveau", "bind_failed"),
        ("earlybind: 0000:03:00.0 [10de:1b02]: left alone: vfio-pci is not available: vfio-pci: blacklisted", "vfio_unavailable"),
    ])
    func otherBootOutcomes(line: String, code: String) throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        try machine.markInstalled()
        try machine.write("/kmsg", "5,1,1,-;" + line + "\n")
        #expect(try status(machine, extra: ["--kernel-log", machine.root + "/kmsg"]).devices["0000:03:00.0"]?["problem"] as? String == code)
    }

    @Test(arguments: [
        ("GenuineIntel", "quiet intel_iommu=on,igfx_off", "intel_iommu=on", true),
        ("GenuineIntel", "quiet intel_iommu=igfx_off", "intel_iommu=on", false),
        ("AuthenticAMD", "quiet", nil, true),
        ("ARM", "quiet", nil, true),
    ] as [(String, String, String?, Bool)])
    func neededFlag(cpu: String, cmdline: String, needed: String?, present: Bool) throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, cmdline: cmdline, cpu: cpu)
        let iommu = try #require(try status(machine).json["iommu"] as? [String: Any])
        #expect(iommu["needed_flag"] as? String == needed)
        #expect(iommu["needed_flag_present"] as? Bool == present)
    }

    @Test func unmatchedIDIsNotReady() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "abcd:ef01\n")
        try machine.markInstalled()
        let run = try status(machine)
        #expect(run.status == 1)
        #expect(run.json["unmatched_ids"] as? [String] == ["abcd:ef01"])
    }

    @Test func unreadableSysfsExitsTwo() throws {
        let result = try runEarlybind(["status", "--sysfs", "/nonexistent-sysfs", "--root", "/nonexistent-root"])
        #expect(result.status == 2)
        // No groups because nothing could be read: not a verdict on the IOMMU.
        #expect(result.output.contains("unknown: cannot read /nonexistent-sysfs"))
        #expect(!result.output.contains("iommu_off") && !result.output.contains("the IOMMU is off"))
    }

    /// Sentences wrap at 80 columns; only device rows, whole when piped, and paths run longer.
    @Test func proseFitsEightyColumns() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0 10de:1b02\n00:01.0\n")
        try machine.markInstalled(imageOlderThanConfig: true)
        let lines = try machine.run(["status"]).lines
        let long = lines.filter { $0.count > 80 && !$0.contains(machine.root) && !$0.contains(machine.tree.root) }
        #expect(long.allSatisfy { $0.hasPrefix("  0000:") }, "\(long)")
        #expect(long.contains { $0.hasSuffix("boot VGA, configured") })
    }
}

/// The codes of a JSON array of checks, in order.
func codes(_ checks: Any?) -> [String] {
    (checks as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
}

/// The newest kernel module directory with libkmod's indexes.
private func installedKernel() -> String? {
    let kernels = (try? FileManager.default.contentsOfDirectory(atPath: "/lib/modules")) ?? []
    return kernels.sorted().last { FileManager.default.fileExists(atPath: "/lib/modules/\($0)/modules.dep.bin") }
        .map { "/lib/modules/\($0)" }
}

@Suite struct NeededFlagOrderTests {
    /// A later intel_iommu=off undoes an earlier intel_iommu=on, as the kernel reads them.
    @Test func theLastIntelWordDecides() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, cmdline: "quiet intel_iommu=on intel_iommu=off")
        let iommu = try #require(try machine.run(["status", "--json"]).json()["iommu"] as? [String: Any])
        #expect(iommu["needed_flag_present"] as? Bool == false)
    }
}
