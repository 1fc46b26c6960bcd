import EarlybindCore
import Testing

struct PCIIDsTests {
    static let sample = """
        # pci.ids excerpt
        10de  NVIDIA Corporation
        \t1b02  GP102 [TITAN Xp]
        \t\t10de 123e  TITAN Xp
        # a comment inside the block
        \t10ef  GP102 HDMI Audio Controller
        1234  Technical Corp.
        \t10ef  Not the NVIDIA one
        10de  A later duplicate of the vendor
        C 03  Display controller
        \t00  VGA compatible controller
        \t\t00  VGA controller
        \t80  Display controller
        C 04  Multimedia controller
        \t03  Audio device
        C ff  Unassigned class
        """

    let database = PCIIDDatabase(text: Array(sample.utf8))

    @Test func vendorsAndDevices() {
        #expect(database.vendor(0x10de) == "NVIDIA Corporation")
        #expect(database.device(vendor: 0x10de, device: 0x1b02) == "GP102 [TITAN Xp]")
        #expect(database.device(vendor: 0x10de, device: 0x10ef) == "GP102 HDMI Audio Controller")
        #expect(database.device(vendor: 0x1234, device: 0x10ef) == "Not the NVIDIA one")
    }

    @Test func unknownIDsAndSubsystemLinesAreNotDevices() {
        #expect(database.vendor(0xabcd) == nil)
        #expect(database.device(vendor: 0x10de, device: 0xffff) == nil)
        // "10de 123e" is a subsystem line (two tabs), not device 10de of vendor 10de.
        #expect(database.device(vendor: 0x10de, device: 0x10de) == nil)
        // The device search stops at the next vendor: 1234's devices are not 10de's.
        #expect(database.device(vendor: 0x10de, device: 0x1b03) == nil)
    }

    @Test func classesFallBackToTheClassNameAndNumber() {
        #expect(database.class(0x0300) == "VGA compatible controller")
        #expect(database.class(0x0380) == "Display controller")
        #expect(database.class(0x0403) == "Audio device")
        #expect(database.class(0x0401) == "Multimedia controller [0401]")
        #expect(database.class(0xff00) == "Unassigned class [ff00]")
        #expect(database.class(0x0b00) == nil)
    }

    @Test func raggedInput() {
        // No final newline, CRLF line ends, an ID without a name, a truncated line.
        let text = "8086  Intel Corporation\r\n\t1234  Last device\r\nabcd\n\tdead\nC 0"
        let ragged = PCIIDDatabase(text: Array(text.utf8))
        #expect(ragged.vendor(0x8086) == "Intel Corporation")
        #expect(ragged.device(vendor: 0x8086, device: 0x1234) == "Last device")
        #expect(ragged.vendor(0xabcd) == nil)
        #expect(PCIIDDatabase(text: []).vendor(0x8086) == nil)
        let unterminated = PCIIDDatabase(text: Array("1af4  Red Hat, Inc.\n\t1050  Virtio 1.0 GPU".utf8))
        #expect(unterminated.device(vendor: 0x1af4, device: 0x1050) == "Virtio 1.0 GPU")
    }
}
