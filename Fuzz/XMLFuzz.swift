// libFuzzer target: the libvirt XML reader never crashes or hangs, every rejection is
// `SOURCE:LINE: message` with a line that exists, and what it writes back reads again
// to the same document: a merge can never turn a definition into one libvirt cannot read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzXML(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    let lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).count
    let document: XMLDocument
    do {
        document = try XMLDocument(parsing: text, source: "f.xml")
    } catch {
        let message = error.description
        precondition(message.hasPrefix("f.xml:"), "bad error shape: \(message)")
        let line = Int(message.dropFirst(6).prefix { $0 != ":" })
        precondition(line != nil && line! >= 1 && line! <= lines, "no such line in \(message)")
        return 0
    }
    let written = document.rendered()
    guard let again = try? XMLDocument(parsing: written, source: "f.xml") else {
        preconditionFailure("the written document does not read again:\n\(written)")
    }
    precondition(again.rendered() == written, "writing is not stable:\n\(written)")
    return 0
}
