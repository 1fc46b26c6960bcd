@testable import EarlybindCore
import EarlybindTestSupport
import Foundation
import Testing

@Suite struct SysfsTests {
    let tree: FakeSysfs
    let sysfs: Sysfs<PosixIO>

    init() throws {
        tree = try FakeSysfs(Fixtures.gpuWithAudio)
        sysfs = Sysfs(root: tree.root, io: PosixIO())
    }

    func device(_ address: String) throws -> PCIDevice? {
        try sysfs.device(PCIAddress(address)!)
    }

    @Test func readsWhatTheKernelShows() throws {
        let gpu = try #require(try device("0000:03:00.0"))
        #expect(gpu.id.description == "10de:1b02")
        #expect(gpu.classCode == 0x030000)
        #expect(gpu.iommuGroup == 3)
        #expect(gpu.driver?.description == "nouveau")
        #expect(!gpu.isBootVGA && gpu.isDisplay && !gpu.isBridge)
        #expect(try device("0000:00:01.0")?.isBootVGA == true)
        #expect(try device("0000:00:01.1")?.isBridge == true)
        #expect(try device("0000:00:00.0")?.isHostBridge == true)
    }

    @Test func absentDeviceIsNil() throws {
        #expect(try device("0000:09:00.0") == nil)
    }

    @Test func listsDevicesAndGroupsInAddressOrder() throws {
        #expect(try sysfs.addresses().map(\.description) == [
            "0000:00:00.0", "0000:00:01.0", "0000:00:01.1", "0000:00:02.0", "0000:03:00.0", "0000:03:00.1",
        ])
        #expect(try sysfs.groupMembers(3).map(\.description) == ["0000:00:01.1", "0000:03:00.0", "0000:03:00.1"])
    }

    @Test func noGroupLinkMeansNoGroup() throws {
        try tree.remove("devices/pci0000:00/0000:03:00.0/iommu_group")
        #expect(try device("0000:03:00.0")?.iommuGroup == nil)
    }

    @Test(arguments: [
        ("vendor", "10de\n", "unexpected content '10de' in"),
        ("vendor", "0x10de0\n", "unexpected content '0x10de0' in"),
        ("class", "0xzz0000\n", "unexpected content '0xzz0000' in"),
        ("boot_vga", "2\n", "unexpected content '2' in"),
        ("device", "", "unexpected content '' in"),
    ])
    func oddAttributesAreTypedErrors(file: String, content: String, message: String) throws {
        try tree.write(tree.root + "/devices/pci0000:00/0000:03:00.0/" + file, content)
        #expect {
            _ = try device("0000:03:00.0")
        } throws: { error in
            guard case .format(let format) = error as? DeviceReadError else { return false }
            return format.description == "\(message) '\(tree.root)/bus/pci/devices/0000:03:00.0/\(file)'"
        }
    }

    @Test func unreadableDeviceIsSkippedWhenListingAll() throws {
        try tree.write(tree.root + "/devices/pci0000:00/0000:03:00.1/vendor", "garbage")
        #expect(try sysfs.allDevices().map(\.address.description).contains("0000:03:00.1") == false)
        #expect(try sysfs.allDevices().count == 5)
    }

    @Test func writesGoWhereTheKernelExpectsThem() throws {
        let kernel = SimulatedKernel(tree)
        let sysfs = Sysfs(root: tree.root, io: kernel)
        let gpu = PCIAddress("03:00.0")!
        try sysfs.setDriverOverride(gpu, to: .vfioPCI)
        try sysfs.clearDriverOverride(gpu)
        try sysfs.probe(gpu)
        #expect(kernel.writes.map(\.description) == [
            "bus/pci/devices/0000:03:00.0/driver_override <- \"vfio-pci\\n\"",
            "bus/pci/devices/0000:03:00.0/driver_override <- \"\\n\"",
            "bus/pci/drivers_probe <- \"0000:03:00.0\"",
        ])
        #expect(sysfs.isDriverRegistered(.vfioPCI))
        #expect(!sysfs.isDriverRegistered(DriverName(bytes: "nvidia".utf8)))
    }

    @Test func ueventGivesIDClassAndDriverInOneRead() throws {
        let dir = tree.root + "/devices/pci0000:00/0000:03:00.0"
        try tree.write(dir + "/uevent", "DRIVER=vfio-pci\nPCI_CLASS=30000\nPCI_ID=10DE:1B02\nPCI_SLOT_NAME=0000:03:00.0\n")
        try tree.write(dir + "/vendor", "unread\n")
        let gpu = try #require(try device("0000:03:00.0"))
        #expect(gpu.id.description == "10de:1b02")
        #expect(gpu.classCode == 0x030000)
        #expect(gpu.driver?.description == "vfio-pci")
        #expect(gpu.iommuGroup == 3)

        try tree.write(dir + "/uevent", "PCI_CLASS=30000\nPCI_SLOT_NAME=0000:03:00.0\n")
        try tree.write(dir + "/vendor", "0x10de\n")
        let fallback = try #require(try device("0000:03:00.0"))
        #expect(fallback.id.description == "10de:1b02")
        #expect(fallback.driver?.description == "nouveau")
    }

    @Test(arguments: [
        ("PCI_CLASS=C0330\nPCI_ID=8086:A36D\n", "8086:a36d 0c0330 -"),
        ("DRIVER=xhci_hcd\nPCI_CLASS=C0330\nPCI_ID=8086:A36D\nMODALIAS=pci:v00008086d0000A36Dsv\n", "8086:a36d 0c0330 xhci_hcd"),
        ("DRIVER=\nPCI_CLASS=10802\nPCI_ID=144d:a808\n", "144d:a808 010802 -"),
        ("PCI_CLASS=zz\nPCI_ID=8086:A36D\n", "nil"),
        ("PCI_CLASS=30000\nPCI_ID=8086\n", "nil"),
        ("", "nil"),
    ])
    func ueventParsing(text: String, expected: String) {
        let parsed = Sysfs<PosixIO>.parseUevent(Array(text.utf8))
        let shown = parsed.map { "\($0.0) \(String($0.1, radix: 16).leftPadded(6)) \($0.2?.description ?? "-")" } ?? "nil"
        #expect(shown == expected)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
