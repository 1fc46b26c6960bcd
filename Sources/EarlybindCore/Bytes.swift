// Byte-level text helpers. The core parses bytes rather than `String`s so the
// Embedded build needs no Unicode tables (comparing or splitting `String`s
// would link them in).

enum ASCII {
    static let newline: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let carriageReturn: UInt8 = 0x0D
    static let hash: UInt8 = 0x23
    static let colon: UInt8 = 0x3A
    static let dot: UInt8 = 0x2E
    static let slash: UInt8 = 0x2F
    static let capitalC: UInt8 = 0x43

    static func isBlank(_ byte: UInt8) -> Bool {
        byte == space || byte == tab || byte == carriageReturn
    }

    /// The value of a hex digit of either case, or nil.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? 0x30 + value : 0x61 + value - 10
    }
}

/// Parses an unsigned hex number of 1...`maxDigits` digits, no prefix.
func parseHex<S: Collection>(_ digits: S, maxDigits: Int) -> UInt32? where S.Element == UInt8 {
    if digits.isEmpty || digits.count > maxDigits { return nil }
    var value: UInt32 = 0
    for byte in digits {
        guard let digit = ASCII.hexValue(byte) else { return nil }
        value = value << 4 | UInt32(digit)
    }
    return value
}

/// Lowercase hex, zero-padded to at least `width` digits.
public func hexString(_ value: UInt32, width: Int) -> String {
    var digits: [UInt8] = []
    var rest = value
    repeat {
        digits.append(ASCII.hexDigit(UInt8(rest & 0xF)))
        rest >>= 4
    } while rest != 0
    while digits.count < width { digits.append(0x30) }
    return String(decoding: digits.reversed(), as: UTF8.self)
}

public func decimalString(_ value: Int) -> String {
    var digits: [UInt8] = []
    var rest = value < 0 ? -value : value
    repeat {
        digits.append(0x30 + UInt8(rest % 10))
        rest /= 10
    } while rest != 0
    if value < 0 { digits.append(0x2D) }
    return String(decoding: digits.reversed(), as: UTF8.self)
}

/// Splits on blanks, dropping empty fields.
func fields(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
    var result: [ArraySlice<UInt8>] = []
    var start: Int? = nil
    for index in line.indices {
        if ASCII.isBlank(line[index]) || line[index] == ASCII.newline {
            if let begin = start { result.append(line[begin..<index]) }
            start = nil
        } else if start == nil {
            start = index
        }
    }
    if let begin = start { result.append(line[begin..<line.endIndex]) }
    return result
}

/// Text safe to put in a log line: control bytes become `?` and long input is cut.
func printable<S: Collection>(_ bytes: S, limit: Int = 64) -> String where S.Element == UInt8 {
    var out: [UInt8] = []
    for byte in bytes.prefix(limit) {
        out.append(byte < 0x20 || byte == 0x7F ? 0x3F : byte)
    }
    if bytes.count > limit { out.append(contentsOf: [0x2E, 0x2E, 0x2E]) }
    return String(decoding: out, as: UTF8.self)
}

/// The last `/`-separated component of a path, e.g. a symlink target.
func lastComponent(_ path: [UInt8]) -> ArraySlice<UInt8> {
    var end = path.endIndex
    while end > path.startIndex && path[end - 1] == ASCII.slash { end -= 1 }
    var start = end
    while start > path.startIndex && path[start - 1] != ASCII.slash { start -= 1 }
    return path[start..<end]
}

func trimmed(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
    var start = bytes.startIndex
    var end = bytes.endIndex
    while start < end && (ASCII.isBlank(bytes[start]) || bytes[start] == ASCII.newline) { start += 1 }
    while end > start && (ASCII.isBlank(bytes[end - 1]) || bytes[end - 1] == ASCII.newline) { end -= 1 }
    return bytes[start..<end]
}

extension String {
    /// Byte-wise equality, which needs no Unicode tables.
    func hasBytes(_ other: StaticString) -> Bool {
        let mine = utf8
        guard mine.count == other.utf8CodeUnitCount else { return false }
        var index = 0
        for byte in mine {
            if byte != other.utf8Start[index] { return false }
            index += 1
        }
        return true
    }
}
