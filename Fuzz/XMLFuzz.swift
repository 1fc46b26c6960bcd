// libFuzzer target: the libvirt XML reader never crashes or hangs, every rejection is
// `SOURCE:LINE: message` with a line that exists, and what it writes back reads again
// to the same document, every name, value, comment and character of text kept (only XML
// white space between elements may change): a merge can never turn a definition into one
// libvirt cannot read, or lose a part of it.
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
    precondition(content(document) == content(again), "content lost in writing:\n\(written)")
    return 0
}

/// Everything but XML white space, in document order.
func content(_ document: XMLDocument) -> [String] {
    var out = document.prolog + ["|"] + document.epilog
    func walk(_ element: XMLElement) {
        out.append("<" + element.name)
        for attribute in element.attributes { out.append(attribute.name + "=" + XMLElement.unescape(attribute.raw)) }
        for child in element.children {
            switch child {
            case .element(let inner): walk(inner)
            case .text(let raw): out.append(String(decoding: raw.utf8.filter { !(XMLReader.isSpace($0)) }, as: UTF8.self))
            case .verbatim(let raw): out.append(raw)
            }
        }
        out.append(">")
    }
    walk(document.root)
    return out.filter { !$0.isEmpty }
}
