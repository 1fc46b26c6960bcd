// libFuzzer target: whatever bytes sysfs attributes and links hold, reading a
// device gives a device or a typed error, never a crash; and whatever a pci.ids
// file holds, looking names up in it gives a name or nil.
struct FuzzedIO: FileIO {
    let parts: [[UInt8]]

    func part(_ index: Int) -> [UInt8] { index < parts.count ? parts[index] : [] }

    func read(_ path: String) throws(SystemError) -> [UInt8] {
        if path.hasSuffix("/vendor") { return part(0) }
        if path.hasSuffix("/device") { return part(1) }
        if path.hasSuffix("/class") { return part(2) }
        if path.hasSuffix("/boot_vga") { return part(3) }
        if path.hasSuffix("/config") { return part(4) }
        if path.hasSuffix("/uevent") { return part(7) }
        throw SystemError(.read, path, errno: 2)
    }

    func readLink(_ path: String) throws(SystemError) -> [UInt8] {
        if path.hasSuffix("/iommu_group") { return part(5) }
        if path.hasSuffix("/driver") { return part(6) }
        throw SystemError(.readLink, path, errno: 2)
    }

    func write(_ path: String, _ bytes: [UInt8]) throws(SystemError) {}
    func list(_ path: String) throws(SystemError) -> [String] { [] }
    func exists(_ path: String) -> Bool { true }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSysfs(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let parts = bytes.split(separator: 0xFF, omittingEmptySubsequences: false).map(Array.init)
    let sysfs = Sysfs(root: "/sys", io: FuzzedIO(parts: parts))
    do {
        if let device = try sysfs.device(PCIAddress("0000:03:00.0")!) {
            precondition(device.id.vendor <= 0xFFFF && device.classCode <= 0xFFFFFF)
            _ = device.isBridge
            _ = device.hostCriticalKind
        }
    } catch {
        precondition(!error.description.isEmpty)
    }
    let names = PCIIDDatabase(text: bytes)
    // The input's first bytes as the ID asked for, so vendor lines the fuzzer finds get looked up.
    let id = UInt16(parseHex(bytes.prefix(4), maxDigits: 4) ?? 0)
    _ = names.vendor(id)
    _ = names.device(vendor: id, device: UInt16(parseHex(bytes.dropFirst(7).prefix(4), maxDigits: 4) ?? 0))
    _ = names.class(id)
    return 0
}
