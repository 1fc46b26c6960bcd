import CKmod

/// Vendor, device and class names from a `pci.ids` file, the database lspci reads.
/// Building libpci's table of all 36,000 entries costs more than the rest of a
/// `groups` run, so only vendor and class lines are indexed (one pass over the line
/// starts), and a device is looked for within its vendor's block when asked for.
public struct PCIIDDatabase: Sendable {
    private let text: [UInt8]
    private let vendorLines: [UInt16: Int]
    private let classLines: [UInt8: Int]

    public init(text: [UInt8]) {
        self.text = text
        var vendors: [UInt16: Int] = [:]
        var classes: [UInt8: Int] = [:]
        text.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let first = buffer[start]
                if first == ASCII.capitalC, let id = Self.id(buffer, at: start + 2, digits: 2) {
                    if classes[UInt8(id)] == nil { classes[UInt8(id)] = start }
                } else if ASCII.hexValue(first) != nil, let id = Self.id(buffer, at: start, digits: 4) {
                    if vendors[UInt16(id)] == nil { vendors[UInt16(id)] = start }
                }
                start = Self.nextLine(buffer, after: start)
            }
        }
        vendorLines = vendors
        classLines = classes
    }

    public func vendor(_ vendor: UInt16) -> String? {
        guard let line = vendorLines[vendor] else { return nil }
        return name(atLine: line)
    }

    public func device(vendor: UInt16, device: UInt16) -> String? {
        guard let line = vendorLines[vendor] else { return nil }
        return child(of: line, id: UInt32(device), digits: 4)
    }

    /// The subclass name of a 16-bit class and subclass (e.g. 0x0300, "VGA compatible
    /// controller"); when only the class is listed, its name and the number, as libpci
    /// gives them ("Multimedia controller [0477]").
    public func `class`(_ classAndSubclass: UInt16) -> String? {
        guard let line = classLines[UInt8(classAndSubclass >> 8)] else { return nil }
        if let subclass = child(of: line, id: UInt32(classAndSubclass & 0xFF), digits: 2) { return subclass }
        return name(atLine: line).map { $0 + " [" + hexString(UInt32(classAndSubclass), width: 4) + "]" }
    }

    /// The name on the first one-tab line below `parent` whose ID is `id`; the block
    /// ends at the next line that starts with neither a tab nor a comment.
    private func child(of parent: Int, id: UInt32, digits: Int) -> String? {
        text.withUnsafeBufferPointer { buffer in
            var start = Self.nextLine(buffer, after: parent)
            while start < buffer.count {
                let first = buffer[start]
                if first == ASCII.tab {
                    if start + 1 < buffer.count, buffer[start + 1] != ASCII.tab,
                        Self.id(buffer, at: start + 1, digits: digits) == id
                    {
                        return Self.name(buffer, after: start + 1 + digits)
                    }
                } else if first != ASCII.hash && first != ASCII.newline {
                    return nil
                }
                start = Self.nextLine(buffer, after: start)
            }
            return nil
        }
    }

    /// A vendor line is `1234  Name`, a class line `C 03  Name`: the name follows the
    /// first four bytes of either.
    private func name(atLine line: Int) -> String? {
        text.withUnsafeBufferPointer { Self.name($0, after: line + 4) }
    }

    /// `digits` hex digits at `index` followed by a blank, as a number.
    private static func id(_ buffer: UnsafeBufferPointer<UInt8>, at index: Int, digits: Int) -> UInt32? {
        guard index + digits < buffer.count, ASCII.isBlank(buffer[index + digits]) else { return nil }
        return parseHex(buffer[index..<index + digits], maxDigits: digits)
    }

    /// The rest of the line after `index`, without surrounding blanks; nil when empty.
    private static func name(_ buffer: UnsafeBufferPointer<UInt8>, after index: Int) -> String? {
        var start = index
        var end = nextLine(buffer, after: index) - 1
        if end >= buffer.count || buffer[end] != ASCII.newline { end = buffer.count }
        while start < end && ASCII.isBlank(buffer[start]) { start += 1 }
        while end > start && ASCII.isBlank(buffer[end - 1]) { end -= 1 }
        guard start < end else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<end]), as: UTF8.self)
    }

    /// The index just past the newline that ends the line holding `index`, or the end.
    private static func nextLine(_ buffer: UnsafeBufferPointer<UInt8>, after index: Int) -> Int {
        guard index < buffer.count, let base = buffer.baseAddress else { return buffer.count }
        guard let newline = memchr(base + index, Int32(ASCII.newline), buffer.count - index) else {
            return buffer.count
        }
        return UnsafeRawPointer(newline) - UnsafeRawPointer(base) + 1
    }
}
