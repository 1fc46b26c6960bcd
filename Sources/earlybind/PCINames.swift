import CPCINames
import EarlybindCore

/// Vendor, device and class names through libpci, as lspci shows them.
final class PCINames {
    private let names: OpaquePointer?
    // A machine has a few distinct vendors, products and classes: look each up once.
    private var products: [PCIID: String] = [:]
    private var classes: [UInt32: String?] = [:]

    init() {
        names = eb_pci_names_open()
    }

    deinit {
        eb_pci_names_close(names)
    }

    func vendor(_ id: PCIID) -> String? {
        lookup { eb_pci_vendor_name(names, UInt32(id.vendor), $0, $1) }
    }

    func device(_ id: PCIID) -> String? {
        lookup { eb_pci_device_name(names, UInt32(id.vendor), UInt32(id.device), $0, $1) }
    }

    /// The class name of the 16-bit class and subclass, e.g. "VGA compatible controller".
    func `class`(_ classCode: UInt32) -> String? {
        if let known = classes[classCode >> 8] { return known }
        let name = lookup { eb_pci_class_name(names, classCode >> 8, $0, $1) }
        classes[classCode >> 8] = name
        return name
    }

    /// "Vendor Device" as lspci prints them: `Device 1234:1111` when the vendor is
    /// unknown, `Intel Corporation Device 1234` when only the device is.
    func product(_ id: PCIID) -> String {
        if let known = products[id] { return known }
        let name: String
        if let vendorName = vendor(id) {
            name = vendorName + " " + (device(id) ?? "Device " + hex4(id.device))
        } else {
            name = "Device " + id.description
        }
        products[id] = name
        return name
    }

    private func lookup(_ call: (UnsafeMutablePointer<CChar>, Int32) -> Int32) -> String? {
        guard names != nil else { return nil }
        var buffer = [CChar](repeating: 0, count: 256)
        let found = buffer.withUnsafeMutableBufferPointer { call($0.baseAddress!, Int32($0.count)) }
        guard found != 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

func hex4(_ value: UInt16) -> String { hexString(UInt32(value), width: 4) }

func classHex(_ classCode: UInt32) -> String { hexString(classCode, width: 6) }
