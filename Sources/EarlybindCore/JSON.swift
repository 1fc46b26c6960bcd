/// A JSON value that keeps its keys in the order given, so output is stable and
/// reads in the same order as the text output. In the core because the boot binder
/// writes its report with it (Embedded Swift: no Foundation, no `String(Int)`).
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    // Byte comparison: String == needs the Unicode tables Embedded Swift leaves out.
    public static func == (lhs: JSON, rhs: JSON) -> Bool { lhs.rendered().utf8.elementsEqual(rhs.rendered().utf8) }

    public static func optional(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
    public static func optional(_ value: Int?) -> JSON { value.map(JSON.int) ?? .null }

    /// Pretty-printed with two-space indentation.
    public func rendered(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return decimalString(value)
        case .string(let value): return JSON.quote(value)
        case .array(let items):
            if items.isEmpty { return "[]" }
            var text = "[\n"
            for (index, item) in items.enumerated() {
                text += inner + item.rendered(indent: inner) + (index + 1 < items.count ? ",\n" : "\n")
            }
            return text + indent + "]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            var text = "{\n"
            for (index, member) in members.enumerated() {
                text += inner + JSON.quote(member.0) + ": " + member.1.rendered(indent: inner) + (index + 1 < members.count ? ",\n" : "\n")
            }
            return text + indent + "}"
        }
    }

    /// Escapes by UTF-8 byte: the same text as escaping by scalar, without the
    /// Unicode machinery that would grow the boot binary.
    public static func quote(_ text: String) -> String {
        var out: [UInt8] = [0x22]
        for byte in text.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case ASCII.newline: out += [0x5C, 0x6E]
            case ASCII.carriageReturn: out += [0x5C, 0x72]
            case ASCII.tab: out += [0x5C, 0x74]
            case 0..<0x20: out += Array(("\\u" + hexString(UInt32(byte), width: 4)).utf8)
            default: out.append(byte)
            }
        }
        out.append(0x22)
        return String(decoding: out, as: UTF8.self)
    }
}
