import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

/// A PCI expansion ROM as the PCI Firmware Specification lays it out: images one after
/// another, each starting 55 AA with a pointer at 0x18 to its "PCIR" structure, which
/// gives the image's length, code type and whether it is the last. An OVMF (UEFI) guest
/// shows nothing on a passed GPU whose ROM has no UEFI image (code type 3).
struct ExpansionROM {
    struct Image: Equatable {
        let codeType: UInt8
        let length: Int
        /// The PE machine of a UEFI image: 0x8664 x64, 0xAA64 AArch64, 0x0EBC EFI byte code.
        let machine: UInt16?

        var name: String {
            switch codeType {
            case 0: return "BIOS"
            case 1: return "Open Firmware"
            case 3:
                switch machine {
                case 0x8664: return "UEFI x64"
                case 0x014C: return "UEFI IA32"
                case 0xAA64: return "UEFI AArch64"
                case 0x0EBC: return "UEFI EBC"
                default: return "UEFI"
                }
            default: return "code type 0x" + hexString(UInt32(codeType), width: 2)
            }
        }
    }

    let size: Int
    let images: [Image]

    /// An image an x86-64 OVMF guest can run: x64, or EFI byte code.
    var hasUEFIImage: Bool { images.contains { $0.codeType == 3 && ($0.machine == 0x8664 || $0.machine == 0x0EBC) } }

    init(_ bytes: [UInt8]) {
        size = bytes.count
        var images: [Image] = []
        var offset = 0
        func word(_ at: Int) -> Int? { at + 1 < bytes.count ? Int(bytes[at]) | Int(bytes[at + 1]) << 8 : nil }
        // The ROM is device data: every offset is checked, and 16 images is more than any card has.
        while images.count < 16, offset + 0x1A <= bytes.count, bytes[offset] == 0x55, bytes[offset + 1] == 0xAA,
              let pointer = word(offset + 0x18), offset + pointer + 0x16 <= bytes.count,
              bytes[(offset + pointer)..<(offset + pointer + 4)].elementsEqual(Array("PCIR".utf8)),
              let units = word(offset + pointer + 0x10), units > 0 {
            let pcir = offset + pointer
            let codeType = bytes[pcir + 0x14]
            // The EFI ROM header: signature 0x0EF1 at 0x04, the PE machine at 0x0A.
            let machine = codeType == 3 ? word(offset + 0x0A).map(UInt16.init) : nil
            images.append(Image(codeType: codeType, length: units * 512, machine: machine))
            if bytes[pcir + 0x15] & 0x80 != 0 { break }
            offset += units * 512
        }
        self.images = images
    }

    /// What reading a device's ROM gave.
    enum Reading {
        case none
        case unreadable(String)
        case rom(ExpansionROM)
    }

    /// `rom` of a device in sysfs. The kernel reads the ROM only while it is enabled, so on
    /// the real sysfs (`enabling`) this writes 1, reads, and writes 0 again; a fake tree's
    /// plain file is only read.
    static func read(devicePath: String, enabling: Bool) -> Reading {
        let path = devicePath + "/rom"
        guard access(path, F_OK) == 0 else { return .none }
        // sysfs makes rom readable by root alone; opening it needs no enabling to find that out.
        guard access(path, R_OK) == 0 else { return .unreadable("reading it needs root") }
        let io = PosixIO()
        // vfio-pci lets an idle device sleep in D3hot, where its ROM reads back as all ones:
        // it is woken for the read and allowed to sleep again.
        let power = devicePath + "/power/control"
        let wakes = enabling && (try? io.read(power)).map { $0.starts(with: Array("auto".utf8)) } == true
        do {
            if wakes { try io.write(power, Array("on".utf8)) }
            defer { if wakes { try? io.write(power, Array("auto".utf8)) } }
            if enabling { try io.write(path, Array("1".utf8)) }
            defer { if enabling { try? io.write(path, Array("0".utf8)) } }
            let bytes = try io.read(path)
            return bytes.isEmpty ? .unreadable("it is empty") : .rom(ExpansionROM(bytes))
        } catch {
            return .unreadable(error.errno == EACCES || error.errno == EPERM ? "reading it needs root" : errorText(error.errno))
        }
    }
}
