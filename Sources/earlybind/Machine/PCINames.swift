import EarlybindCore
import Glibc

/// Vendor, device and class names as lspci shows them, from the system's pci.ids (or another).
final class PCINames {
    /// Where distributions install pci.ids: Debian's `pci.ids` package, then hwdata
    /// (Fedora, Arch), then the upstream default.
    static let databasePaths = ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids"]

    private let database: PCIIDDatabase?
    // A machine has a few distinct vendors, products and classes: look each up once.
    private var products: [PCIID: String] = [:]
    private var classes: [UInt32: String?] = [:]

    /// The first of `databasePaths` that can be read; a missing or unreadable pci.ids
    /// only means numeric names, as with lspci.
    init(databasePaths: [String] = PCINames.databasePaths) {
        database = databasePaths.lazy.compactMap(Self.readWhole).first.map(PCIIDDatabase.init(text:))
    }

    /// The class name of the 16-bit class and subclass, e.g. "VGA compatible controller".
    func `class`(_ classCode: UInt32) -> String? {
        if let known = classes[classCode >> 8] { return known }
        let name = database?.class(UInt16(truncatingIfNeeded: classCode >> 8))
        classes[classCode >> 8] = name
        return name
    }

    /// "Vendor Device" as lspci prints them: `Device 1234:1111` when the vendor is
    /// unknown, `Intel Corporation Device 1234` when only the device is.
    func product(_ id: PCIID) -> String {
        if let known = products[id] { return known }
        let name: String
        if let vendorName = database?.vendor(id.vendor) {
            name = vendorName + " " + (database?.device(vendor: id.vendor, device: id.device) ?? "Device " + hex4(id.device))
        } else {
            name = "Device " + id.description
        }
        products[id] = name
        return name
    }

    /// The file in one read(2) of its size. PosixIO.read takes a page at a time, right for
    /// sysfs attributes; growing it for the 1.3 MB pci.ids made `groups` 3 ms slower.
    private static func readWhole(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return nil }
        let size = Int(info.st_size)
        var complete = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var done = 0
            while done < size {
                let got = retryingInterrupts { read(fd, buffer.baseAddress! + done, size - done) }
                if got <= 0 { break }
                done += got
            }
            count = done
            complete = done == size
        }
        return complete ? bytes : nil
    }
}

func hex4(_ value: UInt16) -> String { hexString(UInt32(value), width: 4) }

func classHex(_ classCode: UInt32) -> String { hexString(classCode, width: 6) }
