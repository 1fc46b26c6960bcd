import EarlybindTestSupport
import Foundation
import Testing

@Suite struct GroupsTests {
    @Test func textListsEachGroupWithItsVerdict() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let result = try machine.run(["groups"])
        #expect(result.status == 0)
        let lines = result.lines
        // A host bridge without a driver stays with the host and blocks nothing.
        #expect(lines.contains("IOMMU group 0: only bridges"))
        #expect(lines.contains("IOMMU group 1: not passable: holds the boot VGA 0000:00:01.0"))
        #expect(lines.contains("IOMMU group 3: passable"))
        let gpu = try #require(lines.first { $0.hasPrefix("  0000:03:00.0 ") })
        #expect(gpu.contains("[10de:1b02] VGA compatible controller"))
        #expect(gpu.contains("nouveau"))
        #expect(gpu.hasSuffix("configured"))
        #expect(lines.first { $0.hasPrefix("  0000:00:01.0 ") }?.hasSuffix("boot VGA") == true)
        #expect(lines.first { $0.hasPrefix("  0000:00:01.1 ") }?.hasSuffix("bridge") == true)
        let product = try #require(lines.firstIndex(of: gpu).map { lines[$0 + 1] })
        #expect(product.hasPrefix("               NVIDIA Corporation"))
        #expect(!result.output.contains("…"))
    }

    @Test func jsonIsStableAndComplete() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        let json = try machine.run(["groups", "--json"]).json()
        #expect(json["iommu_enabled"] as? Bool == true)
        let groups = try #require(json["groups"] as? [[String: Any]])
        #expect(groups.map { $0["group"] as? Int } == [0, 1, 2, 3])
        let three = groups[3]
        #expect(three["passable"] as? Bool == true)
        #expect(three["reason"] is NSNull)
        let devices = try #require(three["devices"] as? [[String: Any]])
        #expect(devices.map { $0["address"] as? String } == ["0000:00:01.1", "0000:03:00.0", "0000:03:00.1"])
        let gpu = devices[1]
        #expect(gpu["vendor"] as? String == "10de")
        #expect(gpu["device"] as? String == "1b02")
        #expect(gpu["class"] as? String == "030000")
        #expect(gpu["iommu_group"] as? Int == 3)
        #expect(gpu["driver"] as? String == "nouveau")
        #expect(gpu["boot_vga"] as? Bool == false)
        #expect(gpu["configured"] as? Bool == true)
        #expect(gpu["problem"] is NSNull)
        #expect(gpu["message"] is NSNull)
        #expect(devices[0]["bridge"] as? Bool == true)
        #expect(groups[1]["reason"] as? String == "group_holds_boot_vga")
        let vga = try #require((groups[1]["devices"] as? [[String: Any]])?.first)
        #expect(vga["problem"] as? String == "group_holds_boot_vga")
        #expect(vga["boot_vga"] as? Bool == true)
    }

    @Test func groupSharedWithStorageIsNotPassable() throws {
        let machine = try FakeMachine(Fixtures.groupWithSATA.filter { $0.address != "0000:00:1f.0" })
        let json = try machine.run(["groups", "--json"]).json()
        let group = try #require((json["groups"] as? [[String: Any]])?.first { $0["group"] as? Int == 7 })
        #expect(group["passable"] as? Bool == false)
        #expect(group["reason"] as? String == "group_holds_storage")
        #expect(try machine.run(["groups"]).lines.contains("IOMMU group 7: not passable: holds storage 0000:00:1f.2"))
    }

    @Test func identicalGPUsAreTwoGroups() throws {
        let machine = try FakeMachine(Fixtures.identicalGPUs, config: "0000:00:05.0\n")
        let lines = try machine.run(["groups"]).lines
        #expect(lines.contains("IOMMU group 3: passable"))
        #expect(lines.contains("IOMMU group 5: passable"))
        #expect(lines.first { $0.hasPrefix("  0000:00:03.0 ") }?.hasSuffix("configured") == false)
        #expect(lines.first { $0.hasPrefix("  0000:00:05.1 ") }?.hasSuffix("configured") == true)
    }

    @Test func groupOfOnlyBridges() throws {
        let machine = try FakeMachine([
            FakeDevice("0000:00:1c.0", id: "8086:a33c", class: "060400", group: 9, driver: "pcieport", headerType: 0x01),
        ])
        let group = try #require((try machine.run(["groups", "--json"]).json()["groups"] as? [[String: Any]])?.first)
        #expect(group["passable"] as? Bool == false)
        #expect(group["reason"] as? String == "only_bridges")
        #expect(try machine.run(["groups"]).lines.contains("IOMMU group 9: only bridges"))
    }

    @Test func withoutIOMMUItSaysWhatToDo() throws {
        let machine = try FakeMachine(Fixtures.noIOMMU, cmdline: "quiet")
        let result = try machine.run(["groups"])
        #expect(result.status == 0)
        #expect(result.output.hasPrefix("IOMMU is off:"))
        #expect(result.output.contains("\(machine.tree.root)/kernel/iommu_groups is\nempty"))
        #expect(result.output.contains("Intel: boot with intel_iommu=on"))
        // The devices are listed all the same, so the user sees what to pass once it is on.
        let devices = Fixtures.noIOMMU.map(\.address)
        #expect(devices.allSatisfy { address in result.lines.contains { $0.hasPrefix("  " + address + " ") } })
        let json = try machine.run(["groups", "--json"]).json()
        #expect(json["iommu_enabled"] as? Bool == false)
        #expect((json["groups"] as? [Any])?.isEmpty == true)
        #expect((json["ungrouped_devices"] as? [[String: Any]])?.compactMap { $0["address"] as? String } == devices)
    }

    @Test func missingSysfsIsAClearError() throws {
        let result = try runEarlybind(["groups", "--sysfs", "/nonexistent-sysfs"])
        #expect(result.status == 1)
        #expect(result.errors.contains("cannot list PCI devices: could not list '/nonexistent-sysfs/bus/pci/devices': No such file or directory"))
    }
}
