// libFuzzer target: the config parser never crashes or hangs, and every rejection
// is `FILE:LINE: message` with a line that exists and no control byte.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let config = Config.parse(bytes, file: "/etc/earlybind.conf")
    let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).count
    precondition(config.entries.count + config.errors.count <= lines)
    for entry in config.entries { precondition(entry.line >= 1 && entry.line <= lines) }
    for error in config.errors {
        precondition(error.line >= 1 && error.line <= lines)
        let prefix = "/etc/earlybind.conf:" + String(error.line) + ": "
        precondition(error.description.hasPrefix(prefix), "bad error shape: \(error.description)")
        precondition(!error.description.utf8.contains { $0 < 0x20 }, "control byte in \(error.description)")
    }
    for entry in config.entries {
        // A parsed address or ID prints back in the kernel's spelling and parses again to itself.
        switch entry.selector {
        case .address(let address, let expected):
            precondition(PCIAddress(address.description) == address)
            if let expected { precondition(PCIID(expected.description) == expected) }
        case .id(let id):
            precondition(PCIID(id.description) == id)
        }
    }
    return 0
}
