@testable import EarlybindCore
import EarlybindTestSupport
import Testing

@Suite struct PlanTests {
    /// The plan for `config` on a fake machine, as "address: bind" / "address: leave: reason" lines.
    func plan(_ devices: [FakeDevice], _ config: String) throws -> [String] {
        let tree = try FakeSysfs(devices)
        let parsed = Config.parse(Array(config.utf8), file: "test.conf")
        #expect(parsed.errors.isEmpty)
        let plan = BindPlan(entries: parsed.entries, sysfs: Sysfs(root: tree.root, io: PosixIO()))
        return plan.decisions.map { decision in
            switch decision.action {
            case .bind(let forced): return "\(decision.address): bind" + (forced ? " forced" : "")
            case .leave(let reason): return "\(decision.address): leave: \(reason.description)"
            }
        }
    }

    @Test func addressTakesItsWholeGroupButNotTheBridge() throws {
        #expect(try plan(Fixtures.gpuWithAudio, "03:00.0 10de:1b02") == [
            "0000:03:00.0: bind",
            "0000:03:00.1: bind",
        ])
    }

    @Test func oneOfTwoIdenticalGPUs() throws {
        #expect(try plan(Fixtures.identicalGPUs, "0000:00:05.0") == [
            "0000:00:05.0: bind",
            "0000:00:05.1: bind",
        ])
    }

    @Test func idSelectorTakesEveryMatchButNeverTheBootVGA() throws {
        #expect(try plan(Fixtures.identicalGPUs, "1234:1111") == [
            "0000:00:01.0: leave: boot VGA (add force to take it)",
            "0000:00:03.0: bind",
            "0000:00:05.0: bind",
            "0000:00:05.1: bind",
        ])
    }

    @Test func bootVGARefusedUnlessForced() throws {
        #expect(try plan(Fixtures.gpuWithAudio, "00:01.0") == ["0000:00:01.0: leave: boot VGA (add force to take it)"])
        #expect(try plan(Fixtures.gpuWithAudio, "00:01.0 force") == ["0000:00:01.0: bind forced"])
    }

    @Test func groupWithStorageRefusedUnlessForced() throws {
        let refusal = "IOMMU group 7 also holds chipset bridge 0000:00:1f.0 (add force to take it)"
        #expect(try plan(Fixtures.groupWithSATA, "00:1f.4") == [
            "0000:00:1f.0: leave: \(refusal)",
            "0000:00:1f.2: leave: \(refusal)",
            "0000:00:1f.4: leave: \(refusal)",
        ])
        #expect(try plan(Fixtures.groupWithSATA, "00:1f.4 force") == [
            "0000:00:1f.0: bind forced",
            "0000:00:1f.2: bind forced",
            "0000:00:1f.4: bind forced",
        ])
        let storageOnly = Fixtures.groupWithSATA.filter { $0.address != "0000:00:1f.0" }
        #expect(try plan(storageOnly, "00:1f.4") == [
            "0000:00:1f.2: leave: IOMMU group 7 also holds storage 0000:00:1f.2 (add force to take it)",
            "0000:00:1f.4: leave: IOMMU group 7 also holds storage 0000:00:1f.2 (add force to take it)",
        ])
    }

    /// An ISA/LPC bridge has an ordinary header: it is a group endpoint that vfio needs
    /// bound too, and one the host needs, so the group is refused rather than half taken.
    @Test func chipsetBridgeIsAnEndpointThatRefusesTheGroup() throws {
        let refusal = "IOMMU group 8 also holds chipset bridge 0000:00:1f.0 (add force to take it)"
        #expect(try plan(Fixtures.chipsetGroup, "00:1f.3") == [
            "0000:00:1f.0: leave: \(refusal)",
            "0000:00:1f.3: leave: \(refusal)",
            "0000:00:1f.4: leave: \(refusal)",
        ])
        #expect(try plan(Fixtures.chipsetGroup, "00:1f.3 force") == [
            "0000:00:1f.0: bind forced", "0000:00:1f.3: bind forced", "0000:00:1f.4: bind forced",
        ])
    }

    @Test func headerTypeDecidesWhatIsABridge() throws {
        let devices = [
            FakeDevice("0000:00:1c.0", id: "8086:a33c", class: "060400", group: 4, driver: "pcieport", headerType: 0x81),
            FakeDevice("0000:02:00.0", id: "10de:1b02", class: "030000", group: 4, driver: "nouveau", headerType: 0x00),
            FakeDevice("0000:02:00.1", id: "1234:5678", class: "060400", group: 4, headerType: 0x00),
        ]
        #expect(try plan(devices, "02:00.0") == [
            "0000:02:00.0: leave: IOMMU group 4 also holds chipset bridge 0000:02:00.1 (add force to take it)",
            "0000:02:00.1: leave: IOMMU group 4 also holds chipset bridge 0000:02:00.1 (add force to take it)",
        ])
    }

    @Test func storageNamedOnItsOwnIsTheAdminsChoice() throws {
        let devices = [FakeDevice("0000:04:00.0", id: "144d:a808", class: "010802", group: 9, driver: "nvme")]
        #expect(try plan(devices, "04:00.0") == ["0000:04:00.0: bind"])
    }

    /// A host bridge with a driver (Intel's EDAC drivers bind 00:00.0) is the host's: its group is refused.
    @Test func groupWithHostBridgeRefused() throws {
        let devices = [
            FakeDevice("0000:00:00.0", id: "8086:29c0", class: "060000", group: 0, driver: "ie31200_edac"),
            FakeDevice("0000:00:02.0", id: "8086:3e92", class: "030000", group: 0, driver: "i915"),
        ]
        #expect(try plan(devices, "00:02.0 8086:3e92") == [
            "0000:00:00.0: leave: IOMMU group 0 also holds host bridge 0000:00:00.0 (add force to take it)",
            "0000:00:02.0: leave: IOMMU group 0 also holds host bridge 0000:00:00.0 (add force to take it)",
        ])
    }

    /// AMD Zen: the GPU's group holds the CPU's driverless "PCIe Dummy Host Bridge" and the
    /// GPP bridge. Neither is taken, and neither keeps the GPU and its audio from the VM.
    @Test func aDriverlessHostBridgeNeitherBlocksNorIsTaken() throws {
        let devices = [
            FakeDevice("0000:00:03.0", id: "1022:1482", class: "060000", group: 2),
            FakeDevice("0000:00:03.1", id: "1022:1483", class: "060400", group: 2, driver: "pcieport"),
            FakeDevice("0000:0a:00.0", id: "10de:2206", class: "030000", group: 2, driver: "nvidia"),
            FakeDevice("0000:0a:00.1", id: "10de:1aef", class: "040300", group: 2, driver: "snd_hda_intel"),
        ]
        #expect(try plan(devices, "0a:00.0 10de:2206\n0a:00.1 10de:1aef") == [
            "0000:0a:00.0: bind",
            "0000:0a:00.1: bind",
        ])
        #expect(try plan(devices, "00:03.0") == [
            "0000:00:03.0: leave: host bridge without a driver: it stays with the host and does not keep its group from a VM",
        ])
    }

    @Test func noIOMMUGroupIsNeverBoundEvenForced() throws {
        #expect(try plan(Fixtures.noIOMMU, "03:00.0 force") == [
            "0000:03:00.0: leave: no IOMMU group (is the IOMMU on? intel_iommu=on on Intel)",
        ])
    }

    @Test func hardwareChangedIsLeftAloneAndVetoesItsGroup() throws {
        #expect(try plan(Fixtures.gpuWithAudio, "03:00.0 10de:2204\n03:00.1") == [
            "0000:03:00.0: leave: ID differs from the expected 10de:2204 (hardware changed?)",
            "0000:03:00.1: leave: IOMMU group 3 also holds 0000:03:00.0, whose ID changed",
        ])
    }

    @Test func absentAddressAndUnmatchedID() throws {
        let tree = try FakeSysfs(Fixtures.gpuWithAudio)
        let parsed = Config.parse(Array("0000:0a:00.0\nabcd:ef01\n".utf8), file: "t")
        let plan = BindPlan(entries: parsed.entries, sysfs: Sysfs(root: tree.root, io: PosixIO()))
        #expect(plan.decisions.count == 1)
        #expect(plan.decisions[0].address.description == "0000:0a:00.0")
        #expect(plan.decisions[0].device == nil)
        #expect(plan.unmatchedIDs.map(\.description) == ["abcd:ef01"])
    }

    @Test func duplicatesAndOverlapsGiveOneDecisionPerDevice() throws {
        #expect(try plan(Fixtures.gpuWithAudio, "03:00.0\n0000:03:00.0\n03:00.1\n10DE:1B02\n10de:10ef") == [
            "0000:03:00.0: bind",
            "0000:03:00.1: bind",
        ])
    }

    @Test func forceOnAnyEntryOfTheGroupForcesTheGroup() throws {
        #expect(try plan(Fixtures.groupWithSATA, "00:1f.4\n10de:1b02 force") == [
            "0000:00:1f.0: bind forced",
            "0000:00:1f.2: bind forced",
            "0000:00:1f.4: bind forced",
        ])
    }

    @Test func bridgeNamedDirectlyIsRefused() throws {
        #expect(try plan(Fixtures.gpuWithAudio, "00:01.1") == ["0000:00:01.1: leave: PCI bridge: bridges are never bound"])
    }

    @Test func forceOnAGroupMateDoesNotTakeTheBootGPU() throws {
        let devices = [
            FakeDevice("0000:01:00.0", id: "10de:1b02", class: "030000", group: 1, driver: "nouveau", bootVGA: true),
            FakeDevice("0000:01:00.1", id: "10de:10ef", class: "040300", group: 1, driver: "snd_hda_intel"),
        ]
        #expect(try plan(devices, "01:00.1 force") == [
            "0000:01:00.0: leave: boot VGA (add force to take it)",
            "0000:01:00.1: leave: IOMMU group 1 also holds the boot VGA 0000:01:00.0 (add force to take it)",
        ])
        #expect(try plan(devices, "01:00.0 force") == ["0000:01:00.0: bind forced", "0000:01:00.1: bind forced"])
    }
}
