/// What one config entry selects.
public enum Selector: Hashable, Sendable {
    /// One device by address; with an expected ID it is bound only while it still has that ID.
    case address(PCIAddress, expected: PCIID?)
    /// Every device with this ID.
    case id(PCIID)
}

/// One line of `/etc/earlybind.conf`.
public struct ConfigEntry: Hashable, Sendable {
    public let selector: Selector
    /// Allows what the safety rules refuse (boot VGA, groups with host-critical devices).
    public let force: Bool
    public let line: Int

    public init(selector: Selector, force: Bool, line: Int) {
        self.selector = selector
        self.force = force
        self.line = line
    }
}

/// A rejected config line, described as `FILE:LINE: message`.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int
    public let message: String

    public var description: String { file + ":" + decimalString(line) + ": " + message }
}

/// The parsed config: a config with any error binds nothing.
public struct Config: Sendable {
    public static let defaultPath = "/etc/earlybind.conf"

    public var entries: [ConfigEntry]
    public var errors: [ConfigError]

    /// Parses the whole file. Grammar, one entry per line, `#` to end of line is a comment:
    ///
    ///     [DOMAIN:]BB:DD.F [vvvv:dddd] [force]
    ///     vvvv:dddd [force]
    public static func parse(_ text: [UInt8], file: String) -> Config {
        var config = Config(entries: [], errors: [])
        // The first line that expects an ID at each address: another ID there later is a contradiction.
        var expectations = AddressMap<(line: Int, id: PCIID)>()
        var lineNumber = 0
        // Editors on other systems may start the file with a UTF-8 byte order mark: not content.
        let body = text.starts(with: [0xEF, 0xBB, 0xBF]) ? text.dropFirst(3) : text[...]
        for rawLine in body.split(separator: ASCII.newline, omittingEmptySubsequences: false) {
            lineNumber += 1
            var content = rawLine
            if let hash = content.firstIndex(of: ASCII.hash) { content = content[content.startIndex..<hash] }
            let words = fields(content)
            if words.isEmpty { continue }
            do {
                let entry = try parseEntry(words, line: lineNumber)
                if case .address(let address, let expected?) = entry.selector {
                    if let earlier = expectations[address], earlier.id != expected {
                        config.errors.append(ConfigError(file: file, line: lineNumber, message: address.description + " expects "
                            + expected.description + ", line " + decimalString(earlier.line) + " expects " + earlier.id.description))
                        continue
                    }
                    if expectations[address] == nil { expectations[address] = (lineNumber, expected) }
                }
                config.entries.append(entry)
            } catch {
                config.errors.append(ConfigError(file: file, line: lineNumber, message: error.message))
            }
        }
        return config
    }

    struct LineError: Error {
        let message: String
    }

    private static func parseEntry(_ words: [ArraySlice<UInt8>], line: Int) throws(LineError) -> ConfigEntry {
        let first = words[0]
        var rest = words.dropFirst()
        var force = false
        if let last = rest.last, isForce(last) {
            force = true
            rest = rest.dropLast()
        } else if let last = rest.last, isForceInAnyCase(last) {
            throw LineError(message: "'\(printable(last))': write 'force' in lowercase")
        }
        let selector: Selector
        if let id = PCIID(parsing: first) {
            if let extra = rest.first {
                throw LineError(message: "unexpected '\(printable(extra))' after ID \(id): only 'force' may follow")
            }
            selector = .id(id)
        } else if looksLikeAddress(first) {
            let address: PCIAddress
            do {
                address = try PCIAddress.parse(Array(first))
            } catch {
                throw LineError(message: "bad PCI address '\(printable(first))': \(error.explanation)")
            }
            var expected: PCIID? = nil
            if let second = rest.first {
                guard let id = PCIID(parsing: second) else {
                    let hint = isForce(second) ? "'force' must come last, once"
                        : isForceInAnyCase(second) ? "write 'force' in lowercase" : "expected a vvvv:dddd ID or 'force'"
                    throw LineError(message: "unexpected '\(printable(second))' after address \(address): \(hint)")
                }
                expected = id
                rest = rest.dropFirst()
            }
            if let extra = rest.first {
                let hint = PCIID(parsing: extra) != nil ? "an address takes one ID" : isForce(extra) ? "'force' must come last, once"
                    : "only 'force' may follow the ID"
                throw LineError(message: "unexpected '\(printable(extra))' after \(address) \(expected!): \(hint)")
            }
            selector = .address(address, expected: expected)
        } else {
            throw LineError(message: "'\(printable(first))' is neither a PCI address ([DOMAIN:]BB:DD.F) nor an ID (vvvv:dddd)")
        }
        return ConfigEntry(selector: selector, force: force, line: line)
    }

    private static func isForce(_ word: ArraySlice<UInt8>) -> Bool {
        word.elementsEqual("force".utf8)
    }

    private static func isForceInAnyCase(_ word: ArraySlice<UInt8>) -> Bool {
        word.count == 5 && word.map { $0 | 0x20 }.elementsEqual("force".utf8)
    }

    /// An address has a dot; an ID never does.
    private static func looksLikeAddress(_ word: ArraySlice<UInt8>) -> Bool {
        word.contains(ASCII.dot) || word.filter { $0 == ASCII.colon }.count == 2
    }
}
