@testable import EarlybindCore
import Testing

@Suite struct ConfigTests {
    func parse(_ text: String) -> Config {
        Config.parse(Array(text.utf8), file: "/etc/earlybind.conf")
    }

    func address(_ text: String) -> PCIAddress { PCIAddress(text)! }
    func id(_ text: String) -> PCIID { PCIID(text)! }

    @Test func entriesCommentsAndBlankLines() {
        let config = parse("""
            # passthrough GPU
            0000:03:00.0 10de:1b02   # the 1080
            \t
            04:00.1 force
            10DE:10EF
            0000A:0B:1F.7 10de:1B02 force
            """)
        #expect(config.errors.isEmpty)
        #expect(config.entries == [
            ConfigEntry(selector: .address(address("0000:03:00.0"), expected: id("10de:1b02")), force: false, line: 2),
            ConfigEntry(selector: .address(address("0000:04:00.1"), expected: nil), force: true, line: 4),
            ConfigEntry(selector: .id(id("10de:10ef")), force: false, line: 5),
            ConfigEntry(selector: .address(address("000a:0b:1f.7"), expected: id("10de:1b02")), force: true, line: 6),
        ])
    }

    @Test func addressesAreNormalisedToKernelSpelling() {
        #expect(address("03:00.0").description == "0000:03:00.0")
        #expect(address("00000:0A:1f.7").description == "0000:0a:1f.7")
        #expect(address("1ABCD:ff:00.1").description == "1abcd:ff:00.1")
        #expect(id("10DE:1B02").description == "10de:1b02")
        #expect(PCIAddress("0000:03:00.0") == PCIAddress("03:00.0"))
    }

    @Test(arguments: [
        ("00:20.0", "bad PCI address '00:20.0': the device number goes up to 1f"),
        ("00:1f.8", "bad PCI address '00:1f.8': the function number goes up to 7"),
        ("000:00:01.0", "bad PCI address '000:00:01.0': the domain must be 4 or 5 hex digits"),
        ("0:00:01.0", "bad PCI address '0:00:01.0': the domain must be 4 or 5 hex digits"),
        ("3:00.0", "bad PCI address '3:00.0': the bus must be 2 hex digits"),
        ("03:0.0", "bad PCI address '03:0.0': the device must be 2 hex digits"),
        ("03:00.", "bad PCI address '03:00.': the function must be 1 digit"),
        ("0000:03:00", "bad PCI address '0000:03:00': expected [DOMAIN:]BB:DD.F"),
        ("gpu", "'gpu' is neither a PCI address ([DOMAIN:]BB:DD.F) nor an ID (vvvv:dddd)"),
        ("10de:1b0", "'10de:1b0' is neither a PCI address ([DOMAIN:]BB:DD.F) nor an ID (vvvv:dddd)"),
        ("03:00.0 FORCE", "'FORCE': write 'force' in lowercase"),
        ("03:00.0 10de:1b02 FORCE", "'FORCE': write 'force' in lowercase"),
        ("03:00.0 10de:2206 10de:2206", "unexpected '10de:2206' after 0000:03:00.0 10de:2206: an address takes one ID"),
        ("03:00.0 nouveau", "unexpected 'nouveau' after address 0000:03:00.0: expected a vvvv:dddd ID or 'force'"),
        ("03:00.0 10de:1b02 10de:10ef", "unexpected '10de:10ef' after 0000:03:00.0 10de:1b02: an address takes one ID"),
        ("03:00.0 10de:1b02 force force", "unexpected 'force' after 0000:03:00.0 10de:1b02: 'force' must come last, once"),
        ("03:00.0 10de:1b02 nouveau", "unexpected 'nouveau' after 0000:03:00.0 10de:1b02: only 'force' may follow the ID"),
        ("03:00.0 force force", "unexpected 'force' after address 0000:03:00.0: 'force' must come last, once"),
        ("10de:1b02 03:00.0", "unexpected '03:00.0' after ID 10de:1b02: only 'force' may follow"),
        ("force", "'force' is neither a PCI address ([DOMAIN:]BB:DD.F) nor an ID (vvvv:dddd)"),
    ])
    func rejectsWithFileAndLine(line: String, message: String) {
        let config = parse("# header\n" + line + "\n")
        #expect(config.entries.isEmpty)
        #expect(config.errors.map(\.description) == ["/etc/earlybind.conf:2: " + message])
    }

    /// Two IDs for one address is the admin's contradiction, not changed hardware: both lines are named.
    @Test func oneAddressWithTwoExpectedIDsIsAnError() {
        let config = parse("01:00.0 10de:1b80\n01:00.1\n0000:01:00.0 10de:1b81\n01:00.0 10DE:1B80 force\n01:00.0\n")
        #expect(config.errors.map(\.description) == [
            "/etc/earlybind.conf:3: 0000:01:00.0 expects 10de:1b81, line 1 expects 10de:1b80",
        ])
        #expect(config.entries.map(\.line) == [1, 2, 4, 5])
    }

    @Test func oneErrorPerBadLineAndGoodLinesStillParsed() {
        let config = parse("03:00.0\nbad\n04:00.0\n00:99.0\n")
        #expect(config.entries.count == 2)
        #expect(config.errors.map(\.line) == [2, 4])
    }

    @Test func controlBytesNeverReachTheLog() {
        let config = Config.parse(Array("\u{1b}[31mx\r".utf8) + [0xFF], file: "f")
        let message = config.errors[0].description
        #expect(!message.utf8.contains { $0 < 0x20 })
        #expect(message.hasPrefix("f:1: '?[31mx"))
    }

    /// A byte order mark (Windows editors) is not part of the first address.
    @Test func aByteOrderMarkIsNotContent() {
        let config = Config.parse([0xEF, 0xBB, 0xBF] + Array("0000:03:00.0 10de:1b02\n".utf8), file: "/etc/earlybind.conf")
        #expect(config.errors.isEmpty)
        #expect(config.entries.map(\.selector) == [.address(address("0000:03:00.0"), expected: id("10de:1b02"))])
    }

    @Test func emptyConfigHasNoEntries() {
        let config = parse("\n# nothing yet\n   \n")
        #expect(config.entries.isEmpty && config.errors.isEmpty)
    }
}
