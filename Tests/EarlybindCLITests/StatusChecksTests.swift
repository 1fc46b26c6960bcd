@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

/// `status` decides "ready" the way a VMM would: IOMMU evidence, interrupt remapping,
/// group viability, and a check with a code and a fix for every finding.
@Suite struct StatusChecksTests {
    static let remapped = """
                    CPU0       CPU1
           0:         35          0  IR-IO-APIC    2-edge      timer
         122:      12345        210  IR-PCI-MSI-0000:00:14.0    0-edge      xhci_hcd

        """
    static let notRemapped = """
                    CPU0       CPU1
           0:         35          0   IO-APIC    2-edge      timer
         122:      12345        210  PCI-MSI 327680-edge      xhci_hcd

        """

    /// The GPU with audio on vfio-pci, configured and installed, interrupts remapped unless told.
    func boundMachine(_ devices: [FakeDevice] = Fixtures.gpuWithAudio, bound: Set<String> = ["0000:03:00.0", "0000:03:00.1"],
                      interrupts: String? = remapped, cmdline: String = "BOOT_IMAGE=/vmlinuz intel_iommu=on iommu=pt",
                      cpu: String = "GenuineIntel") throws -> FakeMachine {
        let machine = try FakeMachine(devices.map { device in
            var device = device
            if bound.contains(device.address) { device.driver = "vfio-pci" }
            return device
        }, config: "03:00.0\n", cmdline: cmdline, cpu: cpu)
        try machine.markInstalled()
        if let interrupts { try machine.write("/proc/interrupts", interrupts) }
        return machine
    }

    func table(_ name: String, in machine: FakeMachine) throws {
        try FileManager.default.createDirectory(atPath: machine.tree.root + "/firmware/acpi/tables", withIntermediateDirectories: true)
        try machine.tree.write(machine.tree.root + "/firmware/acpi/tables/" + name, "")
    }

    func status(_ machine: FakeMachine, _ extra: [String] = []) throws -> (status: Int32, json: [String: Any], checks: [[String: Any]]) {
        let result = try machine.run(["status", "--json"] + extra)
        let json = try result.json()
        return (result.status, json, json["checks"] as? [[String: Any]] ?? [])
    }

    func check(_ code: String, in checks: [[String: Any]]) -> [String: Any]? {
        checks.first { $0["code"] as? String == code }
    }

    @Test func readyIsFalseExactlyWhenAnErrorIsReported() throws {
        let machines = [
            try boundMachine(),
            try boundMachine(interrupts: StatusChecksTests.notRemapped),
            try boundMachine(bound: ["0000:03:00.0"]),
            try boundMachine(interrupts: nil),
            try FakeMachine(Fixtures.noIOMMU, config: "01:00.0\n"),
        ]
        var readiness: [Bool] = []
        for machine in machines {
            let run = try status(machine)
            let errors = run.checks.filter { $0["severity"] as? String == "error" }
            let ready = try #require(run.json["ready"] as? Bool)
            #expect(ready == errors.isEmpty)
            #expect(codes(run.json["reasons"]) == errors.compactMap { $0["code"] as? String })
            #expect(run.status == (ready ? 0 : 1))
            // Errors come first, then warnings, each with a sentence.
            let severities = run.checks.compactMap { $0["severity"] as? String }
            #expect(severities == severities.sorted { $0 == "error" && $1 == "warning" })
            #expect(run.checks.allSatisfy { ($0["message"] as? String)?.isEmpty == false })
            readiness.append(ready)
        }
        #expect(readiness == [true, false, false, true, false])
    }

    @Test func interruptRemappingFromProcInterrupts() throws {
        let remapped = try status(try boundMachine())
        let iommu = try #require(remapped.json["iommu"] as? [String: Any])
        #expect(iommu["interrupt_remapping"] as? Bool == true)
        #expect(iommu["interrupt_remapping_source"] as? String == "proc_interrupts")
        #expect(remapped.checks.isEmpty)

        let plain = try status(try boundMachine(interrupts: StatusChecksTests.notRemapped))
        #expect(codes(plain.json["reasons"]) == ["interrupt_remapping_off"])
        #expect((check("interrupt_remapping_off", in: plain.checks)?["message"] as? String)?.contains("vfio_iommu_type1 refuses to attach") == true)
    }

    @Test func unsafeInterruptsAreAWarningThatSaysWhy() throws {
        let machine = try boundMachine(interrupts: StatusChecksTests.notRemapped)
        try FileManager.default.createDirectory(atPath: machine.tree.root + "/module/vfio_iommu_type1/parameters", withIntermediateDirectories: true)
        try machine.tree.write(machine.tree.root + "/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y\n")
        let run = try status(machine)
        #expect(run.status == 0)
        let warning = try #require(check("unsafe_interrupts", in: run.checks))
        #expect(warning["severity"] as? String == "warning")
        #expect((warning["message"] as? String)?.contains("MSI spoofing") == true)
        #expect((run.json["iommu"] as? [String: Any])?["allow_unsafe_interrupts"] as? Bool == true)
    }

    @Test func interruptRemappingFromTheKernelLogWhenProcSaysNothing() throws {
        let machine = try boundMachine(interrupts: nil)
        try machine.write("/kmsg", "6,1,1,-;DMAR-IR: Enabled IRQ remapping in x2apic mode\n")
        let run = try status(machine, ["--kernel-log", machine.root + "/kmsg"])
        let iommu = try #require(run.json["iommu"] as? [String: Any])
        #expect(iommu["interrupt_remapping"] as? Bool == true)
        #expect(iommu["interrupt_remapping_source"] as? String == "kernel_log")

        let unknown = try status(try boundMachine(interrupts: nil))
        #expect(check("interrupt_remapping_unknown", in: unknown.checks)?["severity"] as? String == "warning")
        #expect((unknown.json["iommu"] as? [String: Any])?["interrupt_remapping"] is NSNull)
    }

    /// An AMD CPU under an Intel VT-d IOMMU (QEMU's default CPU with intel-iommu): the table decides.
    @Test func iommuKindFollowsTheFirmwareTableNotTheCPU() throws {
        let machine = try FakeMachine(Fixtures.noIOMMU, config: "01:00.0\n", cmdline: "ro quiet", cpu: "AuthenticAMD")
        try table("DMAR", in: machine)
        let run = try status(machine)
        let iommu = try #require(run.json["iommu"] as? [String: Any])
        #expect(iommu["kind"] as? String == "intel")
        #expect(iommu["needed_flag"] as? String == "intel_iommu=on")
        let off = try #require(check("iommu_off", in: run.checks))
        #expect(off["severity"] as? String == "error")
        #expect((off["message"] as? String)?.contains("ACPI DMAR table") == true)
        #expect((off["fix"] as? String)?.contains("intel_iommu=on") == true)
        #expect(try machine.run(["status"]).lines.contains("  firmware:         ACPI DMAR table (Intel VT-d)"))
    }

    @Test(arguments: [
        ("ro intel_iommu=off", "DMAR", "intel_iommu=off is on this boot's kernel command line", "remove intel_iommu=off"),
        ("ro amd_iommu=off", "IVRS", "amd_iommu=off is on this boot's kernel command line", "remove amd_iommu=off"),
        ("ro", nil, "no ACPI DMAR or IVRS table", "firmware setup"),
        ("ro", "IVRS", "but the kernel made no groups", "reboot"),
    ] as [(String, String?, String, String)])
    func iommuOffSaysWhatTheEvidenceShows(cmdline: String, firmwareTable: String?, message: String, fix: String) throws {
        let machine = try FakeMachine(Fixtures.noIOMMU, config: "01:00.0\n", cmdline: cmdline, cpu: "GenuineIntel")
        if let firmwareTable { try table(firmwareTable, in: machine) }
        let off = try #require(check("iommu_off", in: try status(machine).checks))
        #expect((off["message"] as? String)?.contains(message) == true, "\(off)")
        #expect((off["fix"] as? String)?.contains(fix) == true, "\(off)")
    }

    @Test func aGroupMateOnAHostDriverMakesTheGroupNotViable() throws {
        let machine = try boundMachine(bound: ["0000:03:00.0"])
        let run = try status(machine)
        #expect(run.status == 1)
        let blocker = try #require(run.checks.first { $0["code"] as? String == "group_not_viable" })
        #expect(blocker["device"] as? String == "0000:03:00.1")
        #expect((blocker["message"] as? String)?.hasPrefix("IOMMU group 3 is not viable: 0000:03:00.1 is on snd_hda_intel") == true)
        let group = try #require((run.json["vfio_groups"] as? [[String: Any]])?.first)
        #expect(group["group"] as? Int == 3)
        #expect(group["viable"] as? Bool == false)
        #expect(group["source"] as? String == "sysfs")
        let text = try machine.run(["status"]).lines
        #expect(text.contains("    on vfio-pci, but IOMMU group 3 is not viable [group_not_viable]"))
        #expect(text.contains("not ready: 2 error(s), 0 warning(s)"))
    }

    @Test(arguments: [nil, "pci-stub"] as [String?])
    func driverlessAndStubMatesKeepTheGroupViable(mateDriver: String?) throws {
        var devices = Fixtures.gpuWithAudio
        let mate = devices.firstIndex { $0.address == "0000:03:00.1" }!
        devices[mate].driver = mateDriver
        let machine = try FakeMachine(devices.map { device in
            var device = device
            if device.address == "0000:03:00.0" { device.driver = "vfio-pci" }
            return device
        }, config: "03:00.0\n00:01.1\n")
        let run = try status(machine)
        let group = try #require((run.json["vfio_groups"] as? [[String: Any]])?.first)
        #expect(group["viable"] as? Bool == true)
        #expect(check("group_not_viable", in: run.checks) == nil)
    }

    @Test func aGroupHeldByAVMIsInUseByThatProcess() throws {
        let machine = try boundMachine()
        let fd = machine.root + "/proc/4242/fd"
        try FileManager.default.createDirectory(atPath: fd, withIntermediateDirectories: true)
        try machine.write("/dev/vfio/3", "")
        try FileManager.default.createSymbolicLink(atPath: fd + "/17", withDestinationPath: "/dev/vfio/3")
        try FileManager.default.createSymbolicLink(atPath: fd + "/18", withDestinationPath: "/dev/vfio/3")
        try machine.write("/proc/4242/comm", "qemu-system-x86\n")
        let run = try status(machine)
        #expect(run.status == 0)
        let inUse = try #require(check("group_in_use", in: run.checks))
        #expect(inUse["severity"] as? String == "warning")
        #expect(inUse["message"] as? String == "IOMMU group 3 is in use by qemu-system-x86 (pid 4242), which has /dev/vfio/3 open")
        let group = try #require((run.json["vfio_groups"] as? [[String: Any]])?.first)
        #expect(group["in_use"] as? Bool == true)
        #expect((group["holders"] as? [[String: Any]])?.count == 1)
    }

    /// No node, no holder: a stale fd link to a node that is gone is not a VM.
    @Test func holdersAreLookedForOnlyWhenTheNodeExists() throws {
        let machine = try boundMachine()
        let fd = machine.root + "/proc/4242/fd"
        try FileManager.default.createDirectory(atPath: fd, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: fd + "/17", withDestinationPath: "/dev/vfio/3")
        #expect(check("group_in_use", in: try status(machine).checks) == nil)
    }

    /// iommufd-era VMMs open the device's own node, /dev/vfio/devices/vfioN, not the group's.
    @Test func aVFIODeviceNodeHolderCounts() throws {
        let machine = try boundMachine()
        let device = machine.tree.root + "/bus/pci/devices/0000:03:00.0/vfio-dev/vfio0"
        try FileManager.default.createDirectory(atPath: device, withIntermediateDirectories: true)
        let fd = machine.root + "/proc/77/fd"
        try FileManager.default.createDirectory(atPath: fd, withIntermediateDirectories: true)
        try machine.write("/dev/vfio/devices/vfio0", "")
        try FileManager.default.createSymbolicLink(atPath: fd + "/3", withDestinationPath: "/dev/vfio/devices/vfio0")
        try machine.write("/proc/77/comm", "cloud-hypervisor\n")
        let inUse = try #require(check("group_in_use", in: try status(machine).checks))
        #expect((inUse["message"] as? String)?.contains("cloud-hypervisor (pid 77), which has /dev/vfio/devices/vfio0 open") == true)
    }

    /// A config that exists but cannot be read: status cannot tell (2), and says the file is there.
    @Test func unreadableConfigExitsTwo() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio)
        try FileManager.default.createDirectory(atPath: machine.root + "/etc/earlybind.conf", withIntermediateDirectories: true)
        let run = try status(machine)
        #expect(run.status == 2)
        #expect(run.json["ready"] as? Bool == false)
        #expect(codes(run.json["reasons"]).first == "config_unreadable")
        #expect((run.json["installation"] as? [String: Any])?["config_exists"] as? Bool == true)
    }

    @Test func unreadableSysfsIsAReasonToo() throws {
        let result = try runEarlybind(["status", "--json", "--sysfs", "/nonexistent-sysfs", "--root", "/nonexistent-root"])
        #expect(result.status == 2)
        #expect(codes(try result.json()["reasons"]).first == "sysfs_unreadable")
    }

    @Test func eachCheckPrintsItsFix() throws {
        let lines = try boundMachine(interrupts: StatusChecksTests.notRemapped).run(["status"]).lines
        let index = try #require(lines.firstIndex { $0.hasPrefix("  error [interrupt_remapping_off] ") })
        #expect(lines[(index + 1)...].contains { $0.hasPrefix("    fix: enable interrupt remapping in the firmware setup") })
    }
}

/// install writes the flag the IOMMU needs, read from the firmware's table like status does.
@Suite struct InstallFlagEvidenceTests {
    @Test(arguments: [("DMAR", "AuthenticAMD", true), ("IVRS", "GenuineIntel", false), (nil, "GenuineIntel", true)] as [(String?, String, Bool)])
    func intelFlagFollowsTheTable(table: String?, cpu: String, intel: Bool) throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n", cpu: cpu)
        try machine.write("/etc/initramfs-tools/initramfs.conf", "MODULES=most\n")
        try machine.write("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n")
        if let table {
            try FileManager.default.createDirectory(atPath: machine.tree.root + "/firmware/acpi/tables", withIntermediateDirectories: true)
            try machine.tree.write(machine.tree.root + "/firmware/acpi/tables/" + table, "")
        }
        let result = try machine.run(["install", "--no-initramfs"])
        #expect(result.status == 0, "\(result.errors)")
        let dropIn = try machine.read(Layout.grubDropInPath)
        #expect(dropIn.contains("intel_iommu=on") == intel, "\(dropIn)")
        #expect(dropIn.contains("iommu=pt"))
    }
}

@Suite struct PassiveStatusTests {
    /// --passive answers like status, from sysfs: the only difference is never opening /dev/vfio.
    @Test func passiveDecidesFromSysfs() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio.map { device in
            var device = device
            if device.address == "0000:03:00.0" { device.driver = "vfio-pci" }
            return device
        }, config: "03:00.0\n")
        let run = try machine.run(["status", "--json", "--passive"])
        #expect(run.status == 1)
        let group = try #require((try run.json()["vfio_groups"] as? [[String: Any]])?.first)
        #expect(group["source"] as? String == "sysfs")
        #expect(group["viable"] as? Bool == false)
    }
}
