import EarlybindCore
import Foundation

/// A device to put in a fake sysfs tree.
public struct FakeDevice: Sendable {
    public var address: String
    public var id: String
    public var classCode: String
    public var group: Int?
    public var driver: String?
    /// The driver the kernel would pick when nothing overrides it.
    public var hostDriver: String?
    public var bootVGA: Bool?
    /// Written into a 64-byte `config` file when set; without it the class tells bridges apart.
    public var headerType: UInt8?
    /// The upstream bridge: the device's directory goes below the parent's, as the kernel lays
    /// out a topology (`devices/pci0000:00/0000:00:01.0/0000:01:00.0`). Nil: directly below `pci0000:00`.
    public var parent: String?
    /// The words of `reset_method`; nil leaves the file out, as the kernel does for a device it cannot reset.
    public var resetMethod: String?

    public init(_ address: String, id: String, class classCode: String, group: Int?, driver: String? = nil,
                hostDriver: String? = nil, bootVGA: Bool? = nil, headerType: UInt8? = nil, parent: String? = nil,
                resetMethod: String? = "bus") {
        self.address = address
        self.resetMethod = resetMethod
        self.parent = parent
        self.id = id
        self.classCode = classCode
        self.group = group
        self.driver = driver
        self.hostDriver = hostDriver ?? driver
        self.bootVGA = bootVGA
        self.headerType = headerType
    }
}

extension FakeDevice {
    /// The devices of a spec in `scripts/fake-sysfs` format, one a line:
    /// `ADDRESS VENDOR:DEVICE CLASS GROUP|- DRIVER|- [boot_vga] [parent=ADDRESS] [reset=METHOD,...|none]`,
    /// `#` starting a comment; without `reset=` a device has reset_method `bus`.
    /// As that script does, a display device (class 03) gets a boot_vga file (1 when marked,
    /// else 0) and every device a config header: type 1 for a PCI-to-PCI bridge, else 0.
    /// `parent=` places the device below its upstream bridge, which must come earlier.
    public static func parse(spec: String, file: String = "spec") throws -> [FakeDevice] {
        var devices: [FakeDevice] = []
        for (number, line) in spec.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let words = line.prefix { $0 != "#" }.split(whereSeparator: \.isWhitespace).map(String.init)
            if words.isEmpty { continue }
            let extra = words.dropFirst(5)
            let bootVGA = extra.contains("boot_vga")
            let parents = extra.filter { $0.hasPrefix("parent=") }.map { String($0.dropFirst("parent=".count)) }
            let resets = extra.filter { $0.hasPrefix("reset=") }.map { String($0.dropFirst("reset=".count)) }
            guard words.count >= 5, extra.count == (bootVGA ? 1 : 0) + parents.count + resets.count, parents.count <= 1, resets.count <= 1,
                  extra.filter({ $0 == "boot_vga" }).count <= 1, words[1].split(separator: ":").count == 2,
                  words[3] == "-" || Int(words[3]) != nil,
                  parents.allSatisfy({ parent in devices.contains { $0.address == parent } })
            else {
                throw FakeSpecError(description: "\(file):\(number + 1): expected ADDRESS VENDOR:DEVICE CLASS GROUP DRIVER [boot_vga] [parent=ADDRESS] [reset=METHODS|none] (a parent listed earlier)")
            }
            let classCode = words[2]
            let bridge = ["0604", "0607", "0609"].contains(String(classCode.prefix(4)))
            devices.append(FakeDevice(
                words[0], id: words[1], class: classCode, group: Int(words[3]), driver: words[4] == "-" ? nil : words[4],
                bootVGA: classCode.hasPrefix("03") ? bootVGA : nil, headerType: bridge ? 0x01 : 0x00,
                parent: parents.first,
                resetMethod: resets.first.map { $0 == "none" ? nil : $0.replacingOccurrences(of: ",", with: " ") } ?? "bus"))
        }
        return devices
    }
}

/// A fixture file that does not parse.
public struct FakeSpecError: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) {
        self.description = description
    }
}

/// A sysfs tree in a temporary directory, laid out like the kernel's:
/// device directories under `devices/pci0000:00`, symlinks in `bus/pci/devices`,
/// `iommu_group` and `driver` links, `kernel/iommu_groups/N/devices`.
public final class FakeSysfs {
    public let root: String
    public private(set) var devices: [String: FakeDevice] = [:]
    /// Each device's directory relative to `root`: `devices/pci0000:00/ADDRESS`, or below its parent's.
    private var locations: [String: String] = [:]

    /// A tree of `devices` at `path` (which must not exist yet), or in a new temporary directory.
    public init(_ devices: [FakeDevice], drivers: [String] = ["vfio-pci"], at path: String? = nil) throws {
        root = path ?? NSTemporaryDirectory() + "earlybind-sysfs-" + UUID().uuidString
        try make(root + "/bus/pci/devices")
        try make(root + "/kernel/iommu_groups")
        try write(root + "/bus/pci/drivers_probe", "")
        for driver in Set(drivers + devices.compactMap(\.driver)) { try addDriver(driver) }
        for device in devices { try add(device) }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    public func addDriver(_ name: String) throws {
        let path = root + "/bus/pci/drivers/" + name
        try make(path)
        try write(path + "/bind", "")
        try write(path + "/unbind", "")
    }

    /// The device's directory relative to the root; a device not added yet is placed below `pci0000:00`.
    private func location(of address: String) -> String {
        locations[address] ?? "devices/pci0000:00/" + address
    }

    /// `../` once for each component of the location: from the device's directory back to the root.
    private func climb(from location: String) -> String {
        String(repeating: "../", count: location.split(separator: "/").count)
    }

    public func add(_ device: FakeDevice) throws {
        devices[device.address] = device
        let location = device.parent.map { self.location(of: $0) + "/" + device.address } ?? "devices/pci0000:00/" + device.address
        locations[device.address] = location
        let up = climb(from: location)
        let dir = root + "/" + location
        try make(dir)
        let parts = device.id.split(separator: ":")
        try write(dir + "/vendor", "0x\(parts[0])\n")
        try write(dir + "/device", "0x\(parts[1])\n")
        try write(dir + "/class", "0x\(device.classCode)\n")
        try write(dir + "/driver_override", "(null)\n")
        if let bootVGA = device.bootVGA { try write(dir + "/boot_vga", bootVGA ? "1\n" : "0\n") }
        if let resetMethod = device.resetMethod { try write(dir + "/reset_method", resetMethod + "\n") }
        if let headerType = device.headerType {
            var config = [UInt8](repeating: 0, count: 64)
            config[0x0e] = headerType
            try Data(config).write(to: URL(fileURLWithPath: dir + "/config"))
        }
        try link(root + "/bus/pci/devices/" + device.address, to: "../../../" + location)
        if let group = device.group {
            let groupDir = root + "/kernel/iommu_groups/\(group)/devices"
            try make(groupDir)
            try link(groupDir + "/" + device.address, to: "../../../../" + location)
            try link(dir + "/iommu_group", to: up + "kernel/iommu_groups/\(group)")
        }
        if let driver = device.driver { try attach(device.address, to: driver) }
    }

    public func remove(_ path: String) throws {
        try FileManager.default.removeItem(atPath: root + "/" + path)
    }

    /// Links the device to a driver, as the kernel does on bind.
    public func attach(_ address: String, to driver: String) throws {
        let location = location(of: address)
        try link(root + "/" + location + "/driver", to: climb(from: location) + "bus/pci/drivers/" + driver)
    }

    public func detach(_ address: String) throws {
        try FileManager.default.removeItem(atPath: root + "/" + location(of: address) + "/driver")
    }

    public func driver(of address: String) -> String? {
        let path = root + "/" + location(of: address) + "/driver"
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { return nil }
        return String(target.split(separator: "/").last!)
    }

    public func isDriverRegistered(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: root + "/bus/pci/drivers/" + name)
    }

    public func write(_ path: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    private func make(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    private func link(_ path: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
    }
}
