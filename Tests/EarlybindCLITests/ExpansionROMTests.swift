@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

/// ROM images laid out as the PCI Firmware Specification says, and real ROMs from Debian's packages.
@Suite struct ExpansionROMTests {
    /// One image of `units` × 512 bytes: 55 AA, the PCIR pointer at 0x18, code type, last-image flag.
    static func image(codeType: UInt8, units: Int = 2, last: Bool, machine: UInt16 = 0x8664) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: units * 512)
        bytes[0] = 0x55
        bytes[1] = 0xAA
        if codeType == 3 {
            bytes[4] = 0xF1
            bytes[5] = 0x0E
            bytes[0x0A] = UInt8(machine & 0xFF)
            bytes[0x0B] = UInt8(machine >> 8)
        }
        let pcir = 0x40
        bytes[0x18] = UInt8(pcir)
        bytes[pcir..<pcir + 4] = ArraySlice("PCIR".utf8)
        bytes[pcir + 0x10] = UInt8(units)
        bytes[pcir + 0x14] = codeType
        bytes[pcir + 0x15] = last ? 0x80 : 0
        return bytes
    }

    @Test func biosThenUEFIImage() {
        let rom = ExpansionROM(Self.image(codeType: 0, last: false) + Self.image(codeType: 3, last: true))
        #expect(rom.images.map(\.name) == ["BIOS", "UEFI x64"])
        #expect(rom.hasUEFIImage)
        #expect(rom.size == 2048)
    }

    @Test func biosOnlyOrAnotherMachineHasNoUEFIImageForOVMF() {
        #expect(!ExpansionROM(Self.image(codeType: 0, last: true)).hasUEFIImage)
        let arm = ExpansionROM(Self.image(codeType: 0, last: false) + Self.image(codeType: 3, last: true, machine: 0xAA64))
        #expect(arm.images.map(\.name) == ["BIOS", "UEFI AArch64"])
        #expect(!arm.hasUEFIImage)
    }

    /// The last-image flag ends the walk: what follows is not read as an image.
    @Test func theLastImageFlagEndsTheWalk() {
        let rom = ExpansionROM(Self.image(codeType: 0, last: true) + Self.image(codeType: 3, last: true))
        #expect(rom.images.map(\.name) == ["BIOS"])
    }

    /// Device data is not trusted: truncated or garbled ROMs give what is valid, never a crash.
    @Test func truncatedAndGarbledROMs() {
        var noSignature = Self.image(codeType: 0, last: true)
        noSignature[0] = 0
        #expect(ExpansionROM(noSignature).images.isEmpty)
        var badPointer = Self.image(codeType: 0, last: true)
        badPointer[0x18] = 0xFF
        badPointer[0x19] = 0xFF
        #expect(ExpansionROM(badPointer).images.isEmpty)
        #expect(ExpansionROM(Array(Self.image(codeType: 3, last: true).prefix(0x50))).images.isEmpty)
        #expect(ExpansionROM([]).images.isEmpty)
        // An image claiming more length than the ROM holds ends the walk after it.
        var long = Self.image(codeType: 0, last: false)
        long[0x40 + 0x10] = 0xFF
        #expect(ExpansionROM(long).images.count == 1)
        // No image that never says it is the last goes on for ever.
        let endless = (0..<40).flatMap { _ in Self.image(codeType: 0, units: 1, last: false) }
        #expect(ExpansionROM(endless).images.count == 16)
    }

    /// iPXE's ROM for QEMU's e1000e (Debian's ipxe-qemu): a BIOS image, then an x64 UEFI driver.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/lib/ipxe/qemu/efi-e1000e.rom"), "needs ipxe-qemu"))
    func iPXEsDualImageROM() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "/usr/lib/ipxe/qemu/efi-e1000e.rom")))
        let rom = ExpansionROM(bytes)
        #expect(rom.images.map(\.name) == ["BIOS", "UEFI x64"])
        #expect(rom.hasUEFIImage)
    }

    /// SeaVGABIOS for QEMU's bochs-display (Debian's seabios), the ROM the boot test's GPU carries: BIOS only.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/seabios/vgabios-bochs-display.bin"), "needs seabios"))
    func seaVGABIOSIsBIOSOnly() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "/usr/share/seabios/vgabios-bochs-display.bin")))
        let rom = ExpansionROM(bytes)
        #expect(rom.images.map(\.name) == ["BIOS"])
        #expect(!rom.hasUEFIImage)
    }

    /// The card of Fixtures.gpuWithAudio on vfio-pci, as after the boot.
    static var boundGPU: [FakeDevice] {
        Fixtures.gpuWithAudio.map { device in
            var device = device
            if device.address.hasPrefix("0000:03:00") { device.driver = "vfio-pci" }
            return device
        }
    }

    /// vm-xml reads a display function's rom and says what an OVMF guest needs; other functions are not mentioned.
    @Test func vmXMLSaysWhetherTheGPUsROMHasAUEFIImage() throws {
        let machine = try FakeMachine(Self.boundGPU, config: "03:00.0\n")
        let rom = machine.tree.root + "/bus/pci/devices/0000:03:00.0/rom"
        try Data(Self.image(codeType: 0, units: 128, last: true)).write(to: URL(fileURLWithPath: rom))
        var result = try machine.run(["vm-xml"])
        #expect(result.status == 0)
        // Notes are wrapped at 80 columns.
        var errors: String { result.errors.replacingOccurrences(of: "\n  ", with: " ") }
        #expect(errors.contains("0000:03:00.0: ROM 64 KiB (BIOS) holds no UEFI image"))
        #expect(errors.contains("<rom file="))
        #expect(!errors.contains("0000:03:00.1"))
        result = try machine.run(["vm-xml", "--format", "proxmox"])
        #expect(errors.contains("romfile=CARD.rom"))

        try Data(Self.image(codeType: 0, units: 64, last: false) + Self.image(codeType: 3, units: 64, last: true))
            .write(to: URL(fileURLWithPath: rom))
        result = try machine.run(["vm-xml"])
        #expect(errors.contains("0000:03:00.0: ROM 64 KiB (BIOS, UEFI x64): an OVMF (UEFI) guest can use it"))
        #expect(!errors.contains("warning"))
    }

    /// A ROM enabled under a working driver may decode over the card's other BARs: it is left alone.
    @Test func aROMIsNotReadWhileAHostDriverHasTheCard() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        try Data(Self.image(codeType: 0, units: 128, last: true))
            .write(to: URL(fileURLWithPath: machine.tree.root + "/bus/pci/devices/0000:03:00.0/rom"))
        let result = try machine.run(["vm-xml"])
        let errors = result.errors.replacingOccurrences(of: "\n  ", with: " ")
        #expect(errors.contains("the ROM of 0000:03:00.0 was not read (not read while nouveau drives it; run vm-xml again once it is on vfio-pci)"))
        #expect(!errors.contains("64 KiB"))
    }

    @Test func aGPUWithoutROMIsWarnedAbout() throws {
        let machine = try FakeMachine(Self.boundGPU, config: "03:00.0\n")
        let result = try machine.run(["vm-xml", "--format", "qemu"])
        let errors = result.errors.replacingOccurrences(of: "\n  ", with: " ")
        #expect(errors.contains("warning: 0000:03:00.0 has no ROM"))
        #expect(errors.contains("romfile=/PATH/CARD.rom"))
    }
}
