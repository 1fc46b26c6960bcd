/// A PCI function address, `DDDD:BB:DD.F`.
public struct PCIAddress: Hashable, Comparable, CustomStringConvertible, Sendable {
    public let domain: UInt32
    public let bus: UInt8
    public let device: UInt8
    public let function: UInt8

    public init?(domain: UInt32, bus: UInt8, device: UInt8, function: UInt8) {
        guard domain <= 0xFFFFF, device <= 0x1F, function <= 7 else { return nil }
        self.domain = domain
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// Parses `[DOMAIN:]BB:DD.F` (domain of 4 or 5 hex digits, either case).
    public init?<S: Collection>(parsing text: S) where S.Element == UInt8 {
        guard let parsed = try? PCIAddress.parse(Array(text)) else { return nil }
        self = parsed
    }

    public init?(_ text: String) {
        self.init(parsing: Array(text.utf8))
    }

    /// Parses an address, saying what is wrong with a malformed one.
    static func parse(_ text: [UInt8]) throws(AddressError) -> PCIAddress {
        let parts = text.split(separator: ASCII.colon, omittingEmptySubsequences: false)
        var domain: UInt32 = 0
        let busPart: ArraySlice<UInt8>
        let slotPart: ArraySlice<UInt8>
        switch parts.count {
        case 2:
            busPart = parts[0]
            slotPart = parts[1]
        case 3:
            guard parts[0].count == 4 || parts[0].count == 5,
                  let value = parseHex(parts[0], maxDigits: 5)
            else { throw .badDomain }
            domain = value
            busPart = parts[1]
            slotPart = parts[2]
        default:
            throw .shape
        }
        guard busPart.count == 2, let bus = parseHex(busPart, maxDigits: 2) else { throw .badBus }
        let slot = slotPart.split(separator: ASCII.dot, omittingEmptySubsequences: false)
        guard slot.count == 2 else { throw .shape }
        guard slot[0].count == 2, let device = parseHex(slot[0], maxDigits: 2) else { throw .badDevice }
        guard device <= 0x1F else { throw .deviceTooLarge }
        guard slot[1].count == 1, let function = parseHex(slot[1], maxDigits: 1) else { throw .badFunction }
        guard function <= 7 else { throw .functionTooLarge }
        return PCIAddress(domain: domain, bus: UInt8(bus), device: UInt8(device), function: UInt8(function))!
    }

    enum AddressError: Error {
        case shape, badDomain, badBus, badDevice, deviceTooLarge, badFunction, functionTooLarge

        var explanation: String {
            switch self {
            case .shape: return "expected [DOMAIN:]BB:DD.F"
            case .badDomain: return "the domain must be 4 or 5 hex digits"
            case .badBus: return "the bus must be 2 hex digits"
            case .badDevice: return "the device must be 2 hex digits"
            case .deviceTooLarge: return "the device number goes up to 1f"
            case .badFunction: return "the function must be 1 digit"
            case .functionTooLarge: return "the function number goes up to 7"
            }
        }
    }

    /// Kernel spelling: `0000:03:00.0`.
    public var description: String {
        hexString(domain, width: 4) + ":" + hexString(UInt32(bus), width: 2) + ":"
            + hexString(UInt32(device), width: 2) + "." + hexString(UInt32(function), width: 1)
    }

    /// The same slot: every function of one card.
    public func sameSlot(as other: PCIAddress) -> Bool {
        domain == other.domain && bus == other.bus && device == other.device
    }

    public static func < (lhs: PCIAddress, rhs: PCIAddress) -> Bool {
        (lhs.domain, lhs.bus, lhs.device, lhs.function) < (rhs.domain, rhs.bus, rhs.device, rhs.function)
    }
}

/// A vendor:device ID pair, `vvvv:dddd`.
public struct PCIID: Hashable, CustomStringConvertible, Sendable {
    public let vendor: UInt16
    public let device: UInt16

    public init(vendor: UInt16, device: UInt16) {
        self.vendor = vendor
        self.device = device
    }

    /// Parses `vvvv:dddd`, either case.
    public init?<S: Collection>(parsing text: S) where S.Element == UInt8 {
        let parts = Array(text).split(separator: ASCII.colon, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 4,
              let vendor = parseHex(parts[0], maxDigits: 4),
              let device = parseHex(parts[1], maxDigits: 4)
        else { return nil }
        self.init(vendor: UInt16(vendor), device: UInt16(device))
    }

    public init?(_ text: String) {
        self.init(parsing: Array(text.utf8))
    }

    public var description: String {
        hexString(UInt32(vendor), width: 4) + ":" + hexString(UInt32(device), width: 4)
    }
}

/// The name of a kernel driver, compared as bytes.
public struct DriverName: Hashable, CustomStringConvertible, Sendable {
    public let bytes: [UInt8]

    public init<S: Sequence>(bytes: S) where S.Element == UInt8 {
        self.bytes = Array(bytes)
    }

    public static let vfioPCI = DriverName(bytes: "vfio-pci".utf8)

    public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// What earlybind knows of one PCI function, read from sysfs.
public struct PCIDevice: Sendable {
    public let address: PCIAddress
    public let id: PCIID
    /// The 24-bit class code: class, subclass, programming interface.
    public let classCode: UInt32
    public let isBootVGA: Bool
    public let iommuGroup: Int?
    public let driver: DriverName?
    /// The configuration header type (low 7 bits of byte 0x0e), when `config` could be read.
    public let headerType: UInt8?

    public init(address: PCIAddress, id: PCIID, classCode: UInt32, isBootVGA: Bool, iommuGroup: Int?,
                driver: DriverName?, headerType: UInt8? = nil) {
        self.address = address
        self.id = id
        self.classCode = classCode
        self.isBootVGA = isBootVGA
        self.iommuGroup = iommuGroup
        self.driver = driver
        self.headerType = headerType
    }

    var baseClass: UInt32 { classCode >> 16 }
    var subclass: UInt32 { classCode >> 8 }

    /// A PCI-to-PCI or CardBus bridge (header type 1 or 2): it routes traffic for
    /// others, vfio-pci refuses it, and a VM never needs it. Host and ISA bridges
    /// have ordinary headers and are endpoints like any other device.
    public var isBridge: Bool {
        if let headerType { return headerType != 0 }
        return subclass == 0x0604 || subclass == 0x0607 || subclass == 0x0609
    }

    public var isHostBridge: Bool { subclass == 0x0600 }

    /// A host bridge no driver has: AMD's "PCIe Dummy Host Bridge" (1022:1482 and kin)
    /// shares the GPU's group on Zen boards. Since Linux 5.19 a group is claimed for a VM
    /// when every member is driverless or on a driver that manages its own DMA
    /// (vfio-pci, pci-stub, pcieport): such a bridge is neither taken nor in the way.
    public var isIdleHostBridge: Bool { isHostBridge && driver == nil }

    /// Never handed to vfio-pci: a PCI bridge, or a host bridge without a driver. The
    /// rest of its group can still go to a VM.
    public var staysWithHost: Bool { isBridge || isIdleHostBridge }
    public var isDisplay: Bool { baseClass == 0x03 }

    /// A function a graphics card carries beside its GPU: HDMI/DP audio (0403), USB (0c03),
    /// a USB-C controller (0c80, serial bus).
    public var isGPUCompanion: Bool { subclass == 0x0403 || subclass == 0x0c03 || subclass == 0x0c80 }

    /// What makes this device too important to take from the host along with its group, if anything.
    public var hostCriticalKind: HostCriticalKind? {
        if isIdleHostBridge { return nil }
        // Intel's EDAC drivers bind 00:00.0: a host bridge with a driver is the host's.
        if isHostBridge { return .hostBridge }
        switch baseClass {
        case 0x01: return .storage
        case 0x02: return .network
        case 0x06 where !isBridge: return .chipsetBridge
        default: return nil
        }
    }
}

/// Devices whose loss would cripple the host: a group holding one is refused unless forced.
public enum HostCriticalKind: Sendable {
    /// Class 01xx.
    case storage
    /// Class 02xx.
    case network
    /// Class 0600.
    case hostBridge
    /// Other class 06xx endpoints: ISA/LPC bridges (keyboard, TPM, firmware) and the like.
    case chipsetBridge

    public var code: String {
        switch self {
        case .storage: return "storage"
        case .network: return "network"
        case .hostBridge: return "host_bridge"
        case .chipsetBridge: return "chipset_bridge"
        }
    }

    public var description: String {
        switch self {
        case .storage: return "storage"
        case .network: return "network"
        case .hostBridge: return "host bridge"
        case .chipsetBridge: return "chipset bridge"
        }
    }
}
