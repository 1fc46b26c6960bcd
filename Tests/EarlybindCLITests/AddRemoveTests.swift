import EarlybindTestSupport
import Foundation
import Testing

@Suite struct AddRemoveTests {
    let header = "# my passthrough devices\n"

    @Test func addressBringsItsGroupAndKeepsComments() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: header)
        let result = try machine.run(["add", "03:00.0"])
        #expect(result.status == 0, "\(result.errors)")
        let config = try machine.read("/etc/earlybind.conf").split(separator: "\n")
        #expect(config.count == 3)
        #expect(config[0] == "# my passthrough devices")
        #expect(config[1].hasPrefix("0000:03:00.0 10de:1b02  # VGA compatible controller: NVIDIA Corporation"))
        #expect(config[2].hasPrefix("0000:03:00.1 10de:10ef  # Audio device: NVIDIA Corporation"))
        #expect(result.output.contains("wrote 2 entries to \(machine.root)/etc/earlybind.conf"))
        #expect(result.output.contains("next: run 'earlybind install'"))
        let again = try machine.run(["add", "0000:03:00.1"])
        #expect(again.status == 0)
        #expect(again.output.contains("nothing to change: every device is already configured"))
    }

    @Test func idSelectorRecordsAddresses() throws {
        let machine = try FakeMachine(Fixtures.identicalGPUs)
        let result = try machine.run(["add", "1234:1111"])
        #expect(result.status == 0, "\(result.errors)")
        let entries = try machine.read("/etc/earlybind.conf").split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(entries.map { String($0.prefix(22)) } == [
            "0000:00:03.0 1234:1111", "0000:00:05.0 1234:1111", "0000:00:05.1 8086:293e",
        ])
    }

    @Test func refusesTheBootGPUUnlessForced() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: header)
        let refused = try machine.run(["add", "00:01.0"])
        #expect(refused.status == 1)
        #expect(refused.errors.contains("0000:00:01.0 is the boot GPU: the host would lose its console"))
        #expect(refused.errors.contains("nothing was changed; --force would take them anyway, and at the next boot the host would lose its console on 0000:00:01.0"))
        #expect(try machine.read("/etc/earlybind.conf") == header)

        let forced = try machine.run(["add", "00:01.0", "--force"])
        #expect(forced.status == 0)
        #expect(forced.errors.contains("warning: --force overrides: 0000:00:01.0 is the boot GPU"))
        #expect(try machine.read("/etc/earlybind.conf").contains("0000:00:01.0 1234:1111 force  # "))
    }

    @Test func refusesTakingTheLastDisplay() throws {
        let machine = try FakeMachine([
            FakeDevice("0000:01:00.0", id: "10de:1b02", class: "030000", group: 1, driver: "nouveau"),
            FakeDevice("0000:01:00.1", id: "10de:10ef", class: "040300", group: 1, driver: "snd_hda_intel"),
        ])
        let result = try machine.run(["add", "01:00.0"])
        #expect(result.status == 1)
        #expect(result.errors.contains("this would leave the host no display controller (class 03xx)"))
    }

    @Test func refusesGroupsWithHostDevices() throws {
        let sata = try FakeMachine(Fixtures.groupWithSATA.filter { $0.address != "0000:00:1f.0" })
        let result = try sata.run(["add", "00:1f.4"])
        #expect(result.status == 1)
        #expect(result.errors.contains("IOMMU group 7 also holds storage 0000:00:1f.2: the host needs it"))
        let chipset = try FakeMachine(Fixtures.chipsetGroup)
        #expect(try chipset.run(["add", "00:1f.3"]).errors.contains("IOMMU group 8 also holds chipset bridge 0000:00:1f.0"))
    }

    /// A 4-port BCM5719 alone in its group: one port named brings the others, and they count as asked for.
    @Test func onePortOfAMultiPortNICTakesTheCard() throws {
        let ports = (0..<4).map { FakeDevice("0000:06:00.\($0)", id: "14e4:1657", class: "020000", group: 31, driver: "tg3") }
        let machine = try FakeMachine(Fixtures.gpuWithAudio + ports, config: header)
        let result = try machine.run(["add", "06:00.0"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(try machine.read("/etc/earlybind.conf").split(separator: "\n").filter { $0.hasPrefix("0000:06:00.") }.count == 4)
    }

    /// --force writes force only where a rule needed it, and its warning names every host device it takes.
    @Test func forceIsWrittenOnlyWhereARuleNeedsIt() throws {
        let plain = try FakeMachine(Fixtures.gpuWithAudio, config: header)
        #expect(try plain.run(["add", "03:00.0", "--force"]).status == 0)
        #expect(!(try plain.read("/etc/earlybind.conf")).contains("force  #"))

        let chipset = try FakeMachine(Fixtures.chipsetGroup, config: header)
        let refused = try chipset.run(["add", "00:1f.3"])
        #expect(refused.status == 1)
        #expect(refused.errors.contains("at the next boot the host would lose chipset bridge 0000:00:1f.0"))
        let forced = try chipset.run(["add", "00:1f.3", "--force"])
        #expect(forced.status == 0)
        // Warnings are wrapped at 80 columns.
        let warning = forced.errors.replacingOccurrences(of: "\n  ", with: " ")
        #expect(warning.contains("warning: --force overrides: IOMMU group 8 also holds chipset bridge 0000:00:1f.0"))
        #expect(warning.contains("the host loses chipset bridge 0000:00:1f.0"))
        let config = try chipset.read("/etc/earlybind.conf")
        #expect(config.contains("0000:00:1f.3 ") && config.split(separator: "\n").filter { $0.contains(" force  #") }.count
            == config.split(separator: "\n").filter { $0.hasPrefix("0000:00:1f.") }.count)
    }

    /// The devices `add --dry-run` would configure.
    func taken(_ machine: FakeMachine, _ selector: String) throws -> [String] {
        let result = try machine.run(["add", "--dry-run", selector])
        #expect(result.status == 0, "\(result.errors)")
        return result.lines.filter { $0.hasPrefix("  0000:") }.map { String($0.dropFirst(2).prefix(12)) }
    }

    /// Only a GPU brings the other functions of its slot, and only those of its own vendor.
    @Test func slotMatesComeAlongOnlyForAGPUOfTheSameVendor() throws {
        let x570 = [
            FakeDevice("0000:0e:00.0", id: "1022:148a", class: "130000", group: 24),
            FakeDevice("0000:0e:00.1", id: "1022:1486", class: "108000", group: 25, driver: "ccp"),
            FakeDevice("0000:0e:00.3", id: "1022:149c", class: "0c0330", group: 26, driver: "xhci_hcd"),
            FakeDevice("0000:0e:00.4", id: "1022:1487", class: "040300", group: 27, driver: "snd_hda_intel"),
        ]
        let board = try FakeMachine(Fixtures.gpuWithAudio + x570)
        #expect(try taken(board, "0e:00.3") == ["0000:0e:00.3"])

        let apu = [
            FakeDevice("0000:05:00.0", id: "1002:1636", class: "030000", group: 5, driver: "amdgpu"),
            FakeDevice("0000:05:00.1", id: "1002:1637", class: "040300", group: 6, driver: "snd_hda_intel"),
            FakeDevice("0000:05:00.3", id: "1022:1639", class: "0c0330", group: 7, driver: "xhci_hcd"),
            FakeDevice("0000:05:00.6", id: "1022:15e3", class: "040300", group: 8, driver: "snd_hda_intel"),
        ]
        let laptop = try FakeMachine(Fixtures.gpuWithAudio + apu)
        #expect(try taken(laptop, "05:00.0") == ["0000:05:00.0", "0000:05:00.1"])

        let turing = [
            FakeDevice("0000:06:00.0", id: "10de:1e87", class: "030000", group: 14, driver: "nvidia"),
            FakeDevice("0000:06:00.1", id: "10de:10f8", class: "040300", group: 15, driver: "snd_hda_intel"),
            FakeDevice("0000:06:00.2", id: "10de:1ad8", class: "0c0330", group: 16, driver: "xhci_hcd"),
            FakeDevice("0000:06:00.3", id: "10de:1ad9", class: "0c8000", group: 17, driver: "nvidia-gpu"),
        ]
        let card = try FakeMachine(Fixtures.gpuWithAudio + turing)
        #expect(try taken(card, "06:00.0") == ["0000:06:00.0", "0000:06:00.1", "0000:06:00.2", "0000:06:00.3"])
    }

    /// SR-IOV: an Intel iGPU's virtual functions share its slot, each in a group of its own; one VF is one device.
    @Test func oneVirtualFunctionIsOneDevice() throws {
        let vfs = (1...3).map { FakeDevice("0000:00:02.\($0)", id: "8086:a7a0", class: "030000", group: 20 + $0) }
        let machine = try FakeMachine(Fixtures.gpuWithAudio + vfs)
        for vf in vfs {
            try FileManager.default.createSymbolicLink(atPath: machine.tree.root + "/bus/pci/devices/\(vf.address)/physfn",
                                                       withDestinationPath: "../0000:00:01.0")
        }
        #expect(try taken(machine, "00:02.2") == ["0000:00:02.2"])
    }

    @Test func refusesADeviceWithoutGroupWhileIOMMUIsOn() throws {
        var devices = Fixtures.gpuWithAudio
        devices.append(FakeDevice("0000:04:00.0", id: "10de:1b80", class: "030000", group: nil, driver: "nouveau"))
        let machine = try FakeMachine(devices)
        let result = try machine.run(["add", "04:00.0"])
        #expect(result.status == 1)
        #expect(result.errors.contains("0000:04:00.0 has no IOMMU group although the IOMMU is on: vfio-pci cannot take it"))
    }

    @Test func warnsThatGroupsCannotBeCheckedWhileIOMMUIsOff() throws {
        let machine = try FakeMachine(Fixtures.noIOMMU)
        let result = try machine.run(["add", "03:00.0"])
        #expect(result.status == 0)
        #expect(result.errors.contains("warning: the IOMMU is off, so group safety cannot be checked yet"))
        #expect(try machine.read("/etc/earlybind.conf").contains("0000:03:00.0 10de:1b02  # "))
    }

    @Test(arguments: [
        (["add", "3:00.0"], "'3:00.0' is neither a PCI address"),
        (["add", "nvidia"], "'nvidia' is neither a PCI address"),
        (["add", "0000:0a:00.0"], "no PCI device at 0000:0a:00.0"),
        (["add", "abcd:ef01"], "no PCI device has ID abcd:ef01"),
        (["add"], "Missing expected argument '<selector> ...'"),
        (["vm-xml", "00:99.0"], "'00:99.0' is neither a PCI address"),
    ])
    func badSelectorsExit64(arguments: [String], message: String) throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "00:02.0\n")
        let result = try machine.run(arguments)
        #expect(result.status == 64)
        #expect(result.errors.contains(message))
        #expect(!result.errors.contains("Fatal error"))
    }

    @Test func dryRunChangesNothing() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: header)
        let result = try machine.run(["add", "03:00.0", "--dry-run"])
        #expect(result.status == 0)
        #expect(result.output.contains("dry run: \(machine.root)/etc/earlybind.conf was not changed"))
        #expect(try machine.read("/etc/earlybind.conf") == header)
    }

    @Test func configWithErrorsIsNotEdited() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.9\n")
        let result = try machine.run(["add", "03:00.0"])
        #expect(result.status == 1)
        #expect(result.errors.contains("\(machine.root)/etc/earlybind.conf:1: bad PCI address '03:00.9'"))
    }

    @Test func removingOneMemberRemovesTheWholeGroup() throws {
        let config = "# keep me\n0000:03:00.0 10de:1b02  # GPU\n# and me\n0000:03:00.1 10de:10ef\n00:02.0\n"
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: config)
        let result = try machine.run(["remove", "03:00.1"])
        #expect(result.status == 0)
        #expect(result.output.contains("  line 2: 0000:03:00.0 10de:1b02  # GPU"))
        #expect(result.output.contains("  line 4: 0000:03:00.1 10de:10ef"))
        #expect(try machine.read("/etc/earlybind.conf") == "# keep me\n# and me\n00:02.0\n")
    }

    @Test func removingAnIDRemovesItsEntries() throws {
        let machine = try FakeMachine(Fixtures.identicalGPUs, config: "1234:1111\n0000:00:05.1 8086:293e\n02:00.0\n")
        let result = try machine.run(["remove", "1234:1111"])
        #expect(result.status == 0)
        #expect(result.output.contains("  line 1: 1234:1111\n    it selected 0000:00:01.0, 0000:00:03.0, 0000:00:05.0\n"))
        #expect(try machine.read("/etc/earlybind.conf") == "02:00.0\n")
    }

    @Test func namingTheStorageMemberDoesNotLiftTheRule() throws {
        let sata = try FakeMachine(Fixtures.groupWithSATA.filter { $0.address != "0000:00:1f.0" })
        for selector in ["00:1f.2", "8086:2922"] {
            let result = try sata.run(["add", selector])
            #expect(result.status == 1, "\(selector)")
            #expect(result.errors.contains("0000:00:1f.2 is a storage controller: the host needs it"))
        }
        // A driverless host bridge is no selector; one with a driver is the host's.
        let idle = try FakeMachine(Fixtures.gpuWithAudio).run(["add", "00:00.0"])
        #expect(idle.status == 64)
        #expect(idle.errors.contains("0000:00:00.0 is a host bridge without a driver: it stays with the host"))
        let edac = try FakeMachine([FakeDevice("0000:00:00.0", id: "8086:3e30", class: "060000", group: 0, driver: "skx_edac")]
            + Fixtures.gpuWithAudio.filter { $0.address != "0000:00:00.0" })
        #expect(try edac.run(["add", "00:00.0"]).errors.contains("0000:00:00.0 is a host bridge: the host needs it"))
        let nvme = try FakeMachine(Fixtures.gpuWithAudio + [FakeDevice("0000:04:00.0", id: "144d:a808", class: "010802", group: 9, driver: "nvme")])
        #expect(try nvme.run(["add", "04:00.0"]).status == 0)
    }

    @Test func aBridgeIsNotASelector() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio)
        let result = try machine.run(["add", "00:01.1"])
        #expect(result.status == 64)
        #expect(result.errors.contains("0000:00:01.1 is a PCI bridge: bridges stay with the host"))
    }

    @Test func aBootVGALeftAloneStillCountsAsTheHostsDisplay() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "00:01.0\n")
        #expect(try machine.run(["add", "03:00.0"]).status == 0)
    }

    @Test func forceAndChangedHardwareUpdateTheEntryInPlace() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "00:01.0  # the console GPU\n")
        let forced = try machine.run(["add", "00:01.0", "--force"])
        #expect(forced.status == 0, "\(forced.errors)")
        #expect(forced.output.contains("    line 1 updated: 0000:00:01.0 1234:1111 force"))
        #expect(try machine.read("/etc/earlybind.conf") == "0000:00:01.0 1234:1111 force  # the console GPU\n")

        let swapped = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0 10de:2204  # old card\n")
        let changed = try swapped.run(["add", "03:00.0"])
        #expect(changed.status == 0, "\(changed.errors)")
        let lines = try swapped.read("/etc/earlybind.conf").split(separator: "\n")
        #expect(lines[0] == "0000:03:00.0 10de:1b02  # old card")
        #expect(lines[1].hasPrefix("0000:03:00.1 10de:10ef  # Audio device"))
    }

    @Test func crlfAndForeignBytesSurviveEdits() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "")
        let original: [UInt8] = Array("# caf".utf8) + [0xE9] + Array("\r\n0000:03:00.0 10de:1b02\r\n0000:03:00.1\r\n# end\r\n".utf8)
        try Data(original).write(to: URL(fileURLWithPath: machine.root + "/etc/earlybind.conf"))
        let removed = try machine.run(["remove", "03:00.0"])
        #expect(removed.status == 0, "\(removed.errors)")
        #expect(removed.output.contains("  line 2: 0000:03:00.0 10de:1b02\n"))
        let after = Array(try Data(contentsOf: URL(fileURLWithPath: machine.root + "/etc/earlybind.conf")))
        #expect(after == Array("# caf".utf8) + [0xE9] + Array("\r\n# end\r\n".utf8))
        #expect(try machine.run(["add", "03:00.0"]).status == 0)
        let added = Array(try Data(contentsOf: URL(fileURLWithPath: machine.root + "/etc/earlybind.conf")))
        #expect(Array(added.prefix(after.count)) == after)
    }
}
