import EarlybindCore

/// How a device can be reset between VM runs: what the kernel offers (`reset_method`),
/// whether it has Function Level Reset, and whether it belongs to a family known to
/// come back broken from a reset.
struct ResetCapability {
    /// An AMD GPU family whose reset leaves the card hung; gnif/vendor-reset's device table.
    enum BugFamily: String {
        case polaris10 = "Polaris 10", polaris11 = "Polaris 11", polaris12 = "Polaris 12"
        case vega10 = "Vega 10", vega20 = "Vega 20"
        case navi10 = "Navi 10", navi12 = "Navi 12", navi14 = "Navi 14"

        static func of(_ id: PCIID) -> BugFamily? {
            guard id.vendor == 0x1002 else { return nil }
            return devices[id.device]
        }

        private static let devices: [UInt16: BugFamily] = {
            var table: [UInt16: BugFamily] = [:]
            let families: [(BugFamily, [UInt16])] = [
                (.polaris10, [0x67C0, 0x67C1, 0x67C2, 0x67C4, 0x67C7, 0x67C8, 0x67C9, 0x67CA, 0x67CC, 0x67CF, 0x67D0, 0x67DF, 0x6FDF]),
                (.polaris11, [0x67E0, 0x67E1, 0x67E3, 0x67E7, 0x67E8, 0x67E9, 0x67EB, 0x67EF, 0x67FF]),
                (.polaris12, [0x6980, 0x6981, 0x6985, 0x6986, 0x6987, 0x6995, 0x6997, 0x699F]),
                (.vega10, [0x6860, 0x6861, 0x6862, 0x6863, 0x6864, 0x6867, 0x6868, 0x6869, 0x686A, 0x686B, 0x686C, 0x686D, 0x686E, 0x686F, 0x687F]),
                (.vega20, [0x66A0, 0x66A1, 0x66A2, 0x66A3, 0x66A4, 0x66A7, 0x66AF]),
                (.navi10, [0x7310, 0x7312, 0x7318, 0x7319, 0x731A, 0x731B, 0x731E, 0x731F]),
                (.navi12, [0x7360, 0x7362]),
                (.navi14, [0x7340, 0x7341, 0x7347, 0x734F]),
            ]
            for (family, ids) in families { for id in ids { table[id] = family } }
            return table
        }()
    }

    let device: PCIDevice
    /// The kernel's reset methods, in its order (`flr bus pm device_specific`); empty when
    /// it has none; nil when that cannot be told (a kernel before 5.15 has no such file).
    let methods: [String]?
    /// Function Level Reset, from the PCI Express or Advanced Features capability; nil when
    /// config space could not be read that far (non-root sees 64 bytes).
    let flr: Bool?
    let family: BugFamily?
    /// An empty reset_method file: someone turned the kernel's methods off.
    let turnedOff: Bool
    /// No bridge above the device: QEMU has no bus to hot-reset instead.
    let onRootBus: Bool

    init(device: PCIDevice, host: Host) {
        self.device = device
        let directory = "bus/pci/devices/\(device.address)/"
        if let text = host.sysfsFile(directory + "reset_method") {
            methods = text.split(whereSeparator: \.isWhitespace).map(String.init)
            turnedOff = methods == []
        } else if host.procMatchesSysfs, let release = host.kernelRelease, KernelVersion(release).map({ $0 >= KernelVersion(5, 15) }) == true,
                  host.sysfsExists(directory + "vendor") {
            // Since 5.15 the kernel hides reset_method from a device it cannot reset at all.
            methods = []
            turnedOff = false
        } else {
            methods = nil
            turnedOff = false
        }
        onRootBus = host.sysfs.upstreamBridges(of: device.address).isEmpty
        flr = (try? host.sysfs.io.read(host.sysfs.root + "/" + directory + "config")).flatMap(ResetCapability.functionLevelReset)
        family = BugFamily.of(device.id)
    }

    /// FLR from config space: the PCI Express capability's Device Capabilities bit 28, or
    /// the Advanced Features capability's FLR bit; nil when the list runs past what was read.
    static func functionLevelReset(config: [UInt8]) -> Bool? {
        guard config.count >= 0x40 else { return nil }
        guard config[0x06] & 0x10 != 0 else { return false }
        var offset = Int(config[0x34] & 0xFC)
        var visited = 0
        while offset != 0 {
            guard offset + 8 <= config.count, visited < 48 else { return offset + 8 > config.count ? nil : false }
            visited += 1
            switch config[offset] {
            case 0x10:
                let capabilities = UInt32(config[offset + 4]) | UInt32(config[offset + 5]) << 8
                    | UInt32(config[offset + 6]) << 16 | UInt32(config[offset + 7]) << 24
                return capabilities & (1 << 28) != 0
            case 0x13:
                return config[offset + 3] & 0x02 != 0
            default:
                offset = Int(config[offset + 1] & 0xFC)
            }
        }
        return false
    }

    var check: StatusCheck? {
        if let family {
            // vendor-reset, once loaded, offers its reset as device_specific.
            if methods?.contains("device_specific") == true { return nil }
            return .warning("reset_bug", device.address,
                            "an AMD \(family.rawValue) GPU: its standard reset leaves the card hung, so a second start of the VM fails until the host reboots",
                            fix: "install the out-of-tree vendor-reset module (gnif/vendor-reset), load it from the initramfs before vfio-pci binds, and check that reset_method lists device_specific")
        }
        if turnedOff {
            return .warning("no_reset", device.address,
                            "reset_method is empty: the kernel's reset methods for this device were turned off, so the VM cannot reset it and a restart of the VM may fail",
                            fix: "echo default > /sys/bus/pci/devices/\(device.address)/reset_method")
        }
        // QEMU resets a device the kernel cannot through a hot reset of the bus above it;
        // without a bridge above it says "no available reset mechanism", as status does here.
        guard methods == [], onRootBus else { return nil }
        return .warning("no_reset", device.address,
                        "neither the kernel (no reset_method) nor a bus above it can reset this device: the VM starts once, but after it stops the device keeps its state and a restart of the VM may fail until the host reboots",
                        fix: nil)
    }

    var json: JSON {
        .object([
            ("methods", methods.map { .array($0.map(JSON.string)) } ?? .null),
            ("flr", flr.map(JSON.bool) ?? .null),
            ("reset_bug", .optional(family?.rawValue)),
        ])
    }
}

/// The major and minor number of a kernel release (`6.1.0-57-amd64`).
struct KernelVersion: Comparable {
    let major: Int
    let minor: Int

    init(_ major: Int, _ minor: Int) {
        (self.major, self.minor) = (major, minor)
    }

    init?(_ release: String) {
        let parts = release.split(separator: ".", maxSplits: 2)
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1].prefix { $0.isNumber }) else { return nil }
        (self.major, self.minor) = (major, minor)
    }

    static func < (lhs: KernelVersion, rhs: KernelVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}
