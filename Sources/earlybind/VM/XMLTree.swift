struct XMLError: Error, CustomStringConvertible {
    let description: String
}

/// One node of a parsed document. Text, comments and CDATA keep their source bytes, so
/// what earlybind does not touch is written back as it came.
enum XMLNode {
    case element(XMLElement)
    case text(String)
    /// A comment, CDATA section or processing instruction, with its delimiters.
    case verbatim(String)
}

/// An element of a libvirt definition; a class, so a merge edits it where it lies.
final class XMLElement {
    let name: String
    /// Values as in the source, entities still escaped.
    private(set) var attributes: [(name: String, raw: String)]
    var children: [XMLNode]

    init(_ name: String, _ attributes: [(String, String)] = [], children: [XMLElement] = []) {
        self.name = name
        self.attributes = attributes.map { (name: $0.0, raw: XMLElement.escape($0.1)) }
        self.children = children.map(XMLNode.element)
    }

    fileprivate init(name: String, rawAttributes: [(name: String, raw: String)]) {
        self.name = name
        attributes = rawAttributes
        children = []
    }

    subscript(attribute: String) -> String? {
        get { attributes.first { $0.name == attribute }.map { XMLElement.unescape($0.raw) } }
        set {
            let index = attributes.firstIndex { $0.name == attribute }
            switch (index, newValue) {
            case (let index?, let value?): attributes[index].raw = XMLElement.escape(value)
            case (nil, let value?): attributes.append((name: attribute, raw: XMLElement.escape(value)))
            case (let index?, nil): attributes.remove(at: index)
            case (nil, nil): break
            }
        }
    }

    var elements: [XMLElement] {
        children.compactMap { if case .element(let element) = $0 { return element } else { return nil } }
    }

    func elements(_ name: String) -> [XMLElement] { elements.filter { $0.name == name } }

    func first(_ name: String) -> XMLElement? { elements.first { $0.name == name } }

    /// The first child named `name`, appended when there is none.
    func child(_ name: String, _ attributes: [(String, String)] = []) -> XMLElement {
        if let existing = first(name) { return existing }
        let made = XMLElement(name, attributes)
        append(made)
        return made
    }

    func append(_ element: XMLElement) { children.append(.element(element)) }

    /// Inserts `element` right after `sibling`, or at the end when `sibling` is not a child.
    func insert(_ element: XMLElement, after sibling: XMLElement?) {
        guard let sibling, let index = children.firstIndex(where: { if case .element(let e) = $0 { return e === sibling } else { return false } }) else {
            append(element)
            return
        }
        children.insert(.element(element), at: index + 1)
    }

    /// The concatenated text of the element's own text children, unescaped.
    var text: String {
        children.map { if case .text(let raw) = $0 { return XMLElement.unescape(raw) } else { return "" } }.joined()
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }

    static func unescape(_ raw: String) -> String {
        guard raw.contains("&") else { return raw }
        var out = ""
        var rest = Substring(raw)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";") else { out += rest[amp...]; return out }
            out += character(ofReference: rest[rest.index(after: amp)..<semicolon]) ?? String(rest[amp...semicolon])
            rest = rest[rest.index(after: semicolon)...]
        }
        return out + rest
    }

    /// What `&NAME;` stands for: one of the five named references or a character number
    /// (no sign); nil for anything else, which libvirt's parser refuses.
    static func character(ofReference name: Substring) -> String? {
        switch name {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "apos": return "'"
        case "quot": return "\""
        default:
            guard !name.contains("+"), !name.contains("-") else { return nil }
            let number = name.hasPrefix("#x") ? UInt32(name.dropFirst(2), radix: 16) : name.hasPrefix("#") ? UInt32(name.dropFirst(), radix: 10) : nil
            return number.flatMap(Unicode.Scalar.init).map { String(Character($0)) }
        }
    }
}

/// A whole document: what stands before the root (declaration, comments) and the root.
struct XMLDocument {
    var prolog: [String]
    var root: XMLElement
    /// Comments and processing instructions after the root.
    var epilog: [String]

    /// Elements nested deeper than this are refused: no libvirt definition comes close.
    static let depthLimit = 128

    /// Parses `text`; errors name `source` and the line, as `SOURCE:LINE: message`.
    /// A DOCTYPE is refused: libvirt writes none, and its entities are not expanded.
    init(parsing text: String, source: String) throws(XMLError) {
        var parser = XMLReader(Array(text.utf8), source: source)
        (prolog, root, epilog) = try parser.document()
    }

    /// libvirt's own layout: two-space indentation, attributes in single quotes, empty
    /// elements closed with "/>". Elements holding text keep their content as it was.
    func rendered() -> String {
        var out = ""
        for item in prolog { out += item + "\n" }
        XMLDocument.write(root, indent: "", into: &out)
        for item in epilog { out += item + "\n" }
        return out
    }

    private static func write(_ element: XMLElement, indent: String, into out: inout String) {
        out += indent + "<" + element.name
        for attribute in element.attributes {
            // A value quoted with " in the source may hold a ': single quotes need it escaped.
            out += " " + attribute.name + "='" + attribute.raw.replacing("'", with: "&apos;") + "'"
        }
        if element.children.isEmpty {
            out += "/>\n"
            return
        }
        let onlyBlankText = element.children.allSatisfy {
            // XML's white space only: a no-break space is content.
            if case .text(let raw) = $0 { return raw.utf8.allSatisfy(XMLReader.isSpace) } else { return true }
        }
        let hasChildElement = element.children.contains { if case .element = $0 { return true } else { return false } }
        guard onlyBlankText && hasChildElement else {
            // Text content, or text mixed with elements: kept exactly.
            out += ">"
            for child in element.children { writeInline(child, into: &out) }
            out += "</" + element.name + ">\n"
            return
        }
        out += ">\n"
        for child in element.children {
            switch child {
            case .element(let inner): write(inner, indent: indent + "  ", into: &out)
            case .verbatim(let raw): out += indent + "  " + raw + "\n"
            case .text: break
            }
        }
        out += indent + "</" + element.name + ">\n"
    }

    private static func writeInline(_ node: XMLNode, into out: inout String) {
        switch node {
        case .text(let raw), .verbatim(let raw): out += raw
        case .element(let element):
            out += "<" + element.name
            for attribute in element.attributes {
                out += " " + attribute.name + "='" + attribute.raw.replacing("'", with: "&apos;") + "'"
            }
            if element.children.isEmpty { out += "/>"; return }
            out += ">"
            for child in element.children { writeInline(child, into: &out) }
            out += "</" + element.name + ">"
        }
    }
}

/// A byte-level parser of the XML subset libvirt reads and writes.
struct XMLReader {
    let bytes: [UInt8]
    let source: String
    var position = 0

    init(_ bytes: [UInt8], source: String) {
        // A UTF-8 byte order mark is not content.
        self.bytes = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        self.source = source
    }

    func fail(_ message: String, at offset: Int? = nil) -> XMLError {
        let line = bytes[..<min(offset ?? position, bytes.count)].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
        return XMLError(description: "\(source):\(line): \(message)")
    }

    func starts(with text: String) -> Bool {
        let pattern = Array(text.utf8)
        return bytes.count - position >= pattern.count && bytes[position..<position + pattern.count].elementsEqual(pattern)
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

    mutating func skipSpace() {
        while position < bytes.count && XMLReader.isSpace(bytes[position]) { position += 1 }
    }

    /// Whether the '&' at `offset` starts a reference libvirt's parser accepts: one of
    /// the five named ones or a character number, closed by ';'. A bare '&' is not XML.
    func isReference(at offset: Int) -> Bool {
        guard let semicolon = bytes[offset...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else { return false }
        return XMLElement.character(ofReference: Substring(String(decoding: bytes[(offset + 1)..<semicolon], as: UTF8.self))) != nil
    }

    /// Everything up to and including `end`, from the current position.
    mutating func through(_ end: String, what: String) throws(XMLError) -> String {
        let start = position
        let pattern = Array(end.utf8)
        while position + pattern.count <= bytes.count {
            if bytes[position..<position + pattern.count].elementsEqual(pattern) {
                position += pattern.count
                return String(decoding: bytes[start..<position], as: UTF8.self)
            }
            position += 1
        }
        throw fail("\(what) is not closed with '\(end)'", at: start)
    }

    mutating func name() throws(XMLError) -> String {
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if XMLReader.isSpace(byte) || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "=")
                || byte == UInt8(ascii: "<") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") { break }
            position += 1
        }
        if position == start { throw fail("expected a name") }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// A comment, CDATA section or processing instruction at the current '<', or nil.
    mutating func verbatim() throws(XMLError) -> String? {
        if starts(with: "<!--") { return try through("-->", what: "a comment") }
        if starts(with: "<![CDATA[") { return try through("]]>", what: "a CDATA section") }
        if starts(with: "<?") { return try through("?>", what: "a processing instruction") }
        if starts(with: "<!") { throw fail(starts(with: "<!DOCTYPE") ? "a DOCTYPE is not accepted in a libvirt definition" : "unexpected '<!'") }
        return nil
    }

    mutating func document() throws(XMLError) -> ([String], XMLElement, [String]) {
        var prolog: [String] = []
        while true {
            skipSpace()
            if position >= bytes.count { throw fail("no root element") }
            if let item = try verbatim() { prolog.append(item); continue }
            break
        }
        let root = try element()
        var epilog: [String] = []
        while true {
            skipSpace()
            if position >= bytes.count { break }
            if let item = try verbatim() { epilog.append(item); continue }
            throw fail("content after the root element </\(root.name)>")
        }
        return (prolog, root, epilog)
    }

    /// The element at the current '<', its children parsed with an explicit stack.
    mutating func element() throws(XMLError) -> XMLElement {
        guard let (root, closed) = try startTag() else { throw fail("expected an element") }
        if closed { return root }
        var open = [root]
        var text: [UInt8] = []
        func flush(_ open: [XMLElement], _ text: inout [UInt8]) {
            if !text.isEmpty { open.last!.children.append(.text(String(decoding: text, as: UTF8.self))); text = [] }
        }
        while let current = open.last {
            guard position < bytes.count else { throw fail("<\(current.name)> is not closed") }
            guard bytes[position] == UInt8(ascii: "<") else {
                if bytes[position] == UInt8(ascii: "&") && !isReference(at: position) { throw fail("'&' in the text of <\(current.name)> starts no entity (write &amp;)") }
                text.append(bytes[position])
                position += 1
                continue
            }
            flush(open, &text)
            if let item = try verbatim() { current.children.append(.verbatim(item)); continue }
            if starts(with: "</") {
                let start = position
                position += 2
                let closing = try name()
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ">") else { throw fail("expected '>' after </\(closing)") }
                position += 1
                if closing != current.name { throw fail("</\(closing)> closes <\(current.name)>", at: start) }
                open.removeLast()
                continue
            }
            guard let (child, closed) = try startTag() else { throw fail("expected an element") }
            current.children.append(.element(child))
            if !closed {
                if open.count >= XMLDocument.depthLimit { throw fail("elements nested deeper than \(XMLDocument.depthLimit)") }
                open.append(child)
            }
        }
        return root
    }

    /// `<name attr='v' …>` or `<name …/>`: the element and whether it closed itself.
    mutating func startTag() throws(XMLError) -> (XMLElement, Bool)? {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "<") else { return nil }
        position += 1
        let tagName = try name()
        var attributes: [(name: String, raw: String)] = []
        while true {
            let before = position
            skipSpace()
            guard position < bytes.count else { throw fail("<\(tagName) is not closed") }
            if starts(with: "/>") { position += 2; return (XMLElement(name: tagName, rawAttributes: attributes), true) }
            if bytes[position] == UInt8(ascii: ">") { position += 1; return (XMLElement(name: tagName, rawAttributes: attributes), false) }
            if position == before { throw fail("expected a space before an attribute of <\(tagName)>") }
            let attributeName = try name()
            skipSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "=") else { throw fail("attribute '\(attributeName)' of <\(tagName)> has no value") }
            position += 1
            skipSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "'") || bytes[position] == UInt8(ascii: "\"") else {
                throw fail("the value of '\(attributeName)' in <\(tagName)> is not quoted")
            }
            let quote = bytes[position]
            position += 1
            let start = position
            while position < bytes.count && bytes[position] != quote {
                if bytes[position] == UInt8(ascii: "<") { throw fail("'<' in the value of '\(attributeName)'") }
                if bytes[position] == UInt8(ascii: "&") && !isReference(at: position) {
                    throw fail("'&' in the value of '\(attributeName)' starts no entity (write &amp;)")
                }
                position += 1
            }
            guard position < bytes.count else { throw fail("the value of '\(attributeName)' is not closed", at: start) }
            if attributes.contains(where: { $0.name == attributeName }) { throw fail("attribute '\(attributeName)' given twice in <\(tagName)>") }
            attributes.append((name: attributeName, raw: String(decoding: bytes[start..<position], as: UTF8.self)))
            position += 1
        }
    }
}
