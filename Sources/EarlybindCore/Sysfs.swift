import CKmod

/// A device's sysfs attribute that could not be understood.
public struct SysfsFormatError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let content: String

    public var description: String { "unexpected content '" + content + "' in '" + path + "'" }
}

/// Why a device could not be read.
public enum DeviceReadError: Error, CustomStringConvertible, Sendable {
    case system(SystemError)
    case format(SysfsFormatError)

    public var description: String {
        switch self {
        case .system(let error): return error.description
        case .format(let error): return error.description
        }
    }
}

/// The PCI part of sysfs, under an injectable root (`/sys` on a real system).
public struct Sysfs<IO: FileIO> {
    public let root: String
    public let io: IO

    public init(root: String = "/sys", io: IO) {
        self.root = root
        self.io = io
    }

    func devicePath(_ address: PCIAddress) -> String { root + "/bus/pci/devices/" + address.description }
    func driverPath(_ driver: DriverName) -> String { root + "/bus/pci/drivers/" + driver.description }
    var probePath: String { root + "/bus/pci/drivers_probe" }

    /// Every PCI function the kernel lists, in address order.
    public func addresses() throws(SystemError) -> [PCIAddress] {
        var result: [PCIAddress] = []
        for name in try io.list(root + "/bus/pci/devices") {
            if let address = PCIAddress(parsing: Array(name.utf8)) { result.append(address) }
        }
        return result.sorted()
    }

    /// The device at `address`, or nil when the kernel does not list it.
    public func device(_ address: PCIAddress) throws(DeviceReadError) -> PCIDevice? {
        let path = devicePath(address)
        let id: PCIID
        let classCode: UInt32
        let driver: DriverName?
        // One read of uevent gives the ID, class and driver that four other files hold.
        if let uevent = try? io.read(path + "/uevent"), let parsed = Sysfs.parseUevent(uevent) {
            (id, classCode, driver) = parsed
        } else {
            let vendor: UInt32
            do { vendor = try hexAttribute(path + "/vendor", maxDigits: 4) } catch {
                if case .system(let failure) = error, failure.errno == ENOENT, !io.exists(path) { return nil }
                throw error
            }
            id = PCIID(vendor: UInt16(vendor), device: UInt16(try hexAttribute(path + "/device", maxDigits: 4)))
            classCode = try hexAttribute(path + "/class", maxDigits: 6)
            driver = self.driver(of: address)
        }
        return PCIDevice(
            address: address,
            id: id,
            classCode: classCode,
            // Only a display controller has boot_vga; only class 06 needs its header type told apart.
            isBootVGA: classCode >> 16 == 0x03 ? try isBootVGA(path) : false,
            iommuGroup: try iommuGroup(path),
            driver: driver,
            headerType: classCode >> 16 == 0x06 ? headerType(path) : nil
        )
    }

    /// `PCI_ID=10DE:1B02`, `PCI_CLASS=30000` and `DRIVER=nouveau` from a device's uevent;
    /// nil when the ID or class is missing or malformed (the attribute files are read then).
    static func parseUevent(_ text: [UInt8]) -> (PCIID, UInt32, DriverName?)? {
        var id: PCIID? = nil
        var classCode: UInt32? = nil
        var driver: DriverName? = nil
        for line in text.split(separator: ASCII.newline) {
            if line.starts(with: "PCI_ID=".utf8) {
                id = PCIID(parsing: line.dropFirst(7))
            } else if line.starts(with: "PCI_CLASS=".utf8) {
                classCode = parseHex(line.dropFirst(10), maxDigits: 6)
            } else if line.starts(with: "DRIVER=".utf8), line.count > 7 {
                driver = DriverName(bytes: line.dropFirst(7))
            }
        }
        guard let id, let classCode else { return nil }
        return (id, classCode, driver)
    }

    /// Byte 0x0e of the config space, without its multi-function bit; nil when unreadable.
    private func headerType(_ devicePath: String) -> UInt8? {
        guard let config = try? io.read(devicePath + "/config"), config.count > 0x0e else { return nil }
        return config[0x0e] & 0x7f
    }

    /// Every device that can be read, in address order. A device that vanishes or
    /// cannot be read is skipped: nothing could be matched against it anyway.
    public func allDevices() throws(SystemError) -> [PCIDevice] {
        var result: [PCIDevice] = []
        for address in try addresses() {
            if let device = try? device(address) { result.append(device) }
        }
        return result
    }

    /// The addresses in IOMMU group `group`, in address order.
    public func groupMembers(_ group: Int) throws(SystemError) -> [PCIAddress] {
        var result: [PCIAddress] = []
        for name in try io.list(root + "/kernel/iommu_groups/" + decimalString(group) + "/devices") {
            if let address = PCIAddress(parsing: Array(name.utf8)) { result.append(address) }
        }
        return result.sorted()
    }

    /// The bridges above the device, nearest first, from where its `bus/pci/devices` link
    /// points (`../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0`).
    public func upstreamBridges(of address: PCIAddress) -> [PCIAddress] {
        guard let target = try? io.readLink(devicePath(address)) else { return [] }
        var chain: [PCIAddress] = []
        for component in target.split(separator: ASCII.slash) {
            if let bridge = PCIAddress(parsing: component), bridge != address { chain.append(bridge) }
        }
        return chain.reversed()
    }

    /// An SR-IOV virtual function: the kernel links it to its physical function (`physfn`).
    public func isVirtualFunction(_ address: PCIAddress) -> Bool {
        io.exists(devicePath(address) + "/physfn")
    }

    /// The driver bound to the device now, from its `driver` link.
    public func driver(of address: PCIAddress) -> DriverName? {
        guard let target = try? io.readLink(devicePath(address) + "/driver") else { return nil }
        return DriverName(bytes: lastComponent(target))
    }

    /// Whether a PCI driver of that name is registered (its module is loaded or built in).
    public func isDriverRegistered(_ driver: DriverName) -> Bool {
        io.exists(driverPath(driver))
    }

    public func setDriverOverride(_ address: PCIAddress, to driver: DriverName) throws(SystemError) {
        try io.write(devicePath(address) + "/driver_override", driver.bytes + [ASCII.newline])
    }

    /// Writing a lone newline clears the override, so any matching driver may bind again.
    public func clearDriverOverride(_ address: PCIAddress) throws(SystemError) {
        try io.write(devicePath(address) + "/driver_override", [ASCII.newline])
    }

    public func unbind(_ address: PCIAddress, from driver: DriverName) throws(SystemError) {
        try io.write(driverPath(driver) + "/unbind", Array(address.description.utf8))
    }

    /// Asks the kernel to attach a driver. Succeeds even when no driver took the
    /// device: read the `driver` link afterwards.
    public func probe(_ address: PCIAddress) throws(SystemError) {
        try io.write(probePath, Array(address.description.utf8))
    }

    private func hexAttribute(_ path: String, maxDigits: Int) throws(DeviceReadError) -> UInt32 {
        let content: [UInt8]
        do { content = try io.read(path) } catch { throw .system(error) }
        let text = trimmed(content)
        guard text.count > 2, text[text.startIndex] == 0x30, text[text.startIndex + 1] | 0x20 == 0x78,
              let value = parseHex(text.dropFirst(2), maxDigits: maxDigits)
        else { throw .format(SysfsFormatError(path: path, content: printable(text))) }
        return value
    }

    private func isBootVGA(_ devicePath: String) throws(DeviceReadError) -> Bool {
        let path = devicePath + "/boot_vga"
        let content: [UInt8]
        do { content = try io.read(path) } catch {
            if error.errno == ENOENT { return false }
            throw .system(error)
        }
        let text = trimmed(content)
        if text.elementsEqual("1".utf8) { return true }
        if text.elementsEqual("0".utf8) { return false }
        throw .format(SysfsFormatError(path: path, content: printable(text)))
    }

    private func iommuGroup(_ devicePath: String) throws(DeviceReadError) -> Int? {
        let path = devicePath + "/iommu_group"
        let target: [UInt8]
        do { target = try io.readLink(path) } catch {
            if error.errno == ENOENT { return nil }
            throw .system(error)
        }
        let name = lastComponent(target)
        guard let number = parseDecimal(name) else {
            throw .format(SysfsFormatError(path: path, content: printable(target)))
        }
        return number
    }
}

func parseDecimal<S: Collection>(_ digits: S) -> Int? where S.Element == UInt8 {
    if digits.isEmpty || digits.count > 9 { return nil }
    var value = 0
    for byte in digits {
        guard byte >= 0x30 && byte <= 0x39 else { return nil }
        value = value * 10 + Int(byte - 0x30)
    }
    return value
}
