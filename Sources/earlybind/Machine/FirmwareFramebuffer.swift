import EarlybindCore

/// Firmware framebuffers (the console the firmware set up: efifb, vesafb, simpledrm, …)
/// that sit inside a device's BARs, read from /proc/iomem. Such a region is the classic
/// cause of QEMU's `BAR 0: can't reserve` and of a host console that goes black.
struct FirmwareFramebuffer {
    struct Region: Equatable {
        let name: String
        let start: UInt64
        let end: UInt64

        var range: String { String(start, radix: 16) + "-" + String(end, radix: 16) }
    }

    /// Names the kernel gives a firmware framebuffer's memory in /proc/iomem: sysfb's
    /// resource, then the drivers' own requests (fbdev and DRM).
    static let names: Set<String> = ["BOOTFB", "efifb", "vesafb", "simplefb", "simpledrm", "efidrm", "vesadrm"]

    /// Every framebuffer region, or nil when /proc/iomem is unreadable or shows only zero
    /// addresses (it does for anyone but root).
    let regions: [Region]?
    let kernel: KernelVersion?

    init(host: Host) {
        kernel = host.kernelRelease.flatMap(KernelVersion.init)
        guard host.procMatchesSysfs, let text = host.procFile("/proc/iomem").map({ String(decoding: $0, as: UTF8.self) }) else {
            regions = nil
            return
        }
        var found: [Region] = []
        var anyAddress = false
        for line in text.split(separator: "\n") {
            guard let colon = line.firstRange(of: " : ") else { continue }
            let bounds = line[..<colon.lowerBound].trimmingBlanks().split(separator: "-")
            guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16) else { continue }
            if end != 0 { anyAddress = true }
            let name = line[colon.upperBound...].trimmingBlanks()
            if FirmwareFramebuffer.names.contains(name) {
                found.append(Region(name: name, start: start, end: end))
            }
        }
        regions = anyAddress ? found : nil
    }

    /// The device's memory BARs from its sysfs `resource` file (start, end, flags; the ROM
    /// line and I/O BARs, whose numbers are ports, left out).
    static func bars(of device: PCIDevice, host: Host) -> [(start: UInt64, end: UInt64)] {
        guard let text = host.sysfsFile("bus/pci/devices/\(device.address)/resource") else { return [] }
        let memory: UInt64 = 0x200  // IORESOURCE_MEM
        return text.split(separator: "\n").prefix(6).compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 3, let start = UInt64(fields[0].dropFirst(2), radix: 16),
                  let end = UInt64(fields[1].dropFirst(2), radix: 16), let flags = UInt64(fields[2].dropFirst(2), radix: 16),
                  end > start, flags & memory != 0 else { return nil }
            return (start, end)
        }
    }

    /// The framebuffer regions inside the device's BARs, a driver's before sysfb's BOOTFB;
    /// nil when /proc/iomem cannot tell.
    func regions(in device: PCIDevice, host: Host) -> [Region]? {
        guard let regions else { return nil }
        let bars = FirmwareFramebuffer.bars(of: device, host: host)
        let inside = regions.filter { region in bars.contains { region.start <= $0.end && region.end >= $0.start } }
        return inside.filter { $0.name != "BOOTFB" } + inside.filter { $0.name == "BOOTFB" }
    }

    /// Since Linux 6.0 vfio-pci removes a firmware framebuffer from a VGA-class (0300) device
    /// when it binds it (aperture_remove_conflicting_pci_devices in vfio_pci_vga_init); before,
    /// and for other display classes, the region stays and QEMU cannot reserve the BAR.
    func vfioRemovesIt(from device: PCIDevice) -> Bool? {
        guard device.classCode >> 8 == 0x0300 else { return false }
        return kernel.map { $0 >= KernelVersion(6, 0) }
    }

    /// `inside`: `regions(in: device, host:)`.
    func check(for device: PCIDevice, inside: [Region]) -> StatusCheck? {
        guard let region = inside.first else { return nil }
        let subject = "the firmware framebuffer \(region.name) (\(region.range)) lies in this device's memory"
        let fix = "boot with initcall_blacklist=sysfb_init ('earlybind install --firmware-framebuffer-off' adds it) or video=efifb:off, so the firmware framebuffer is never set up on this card"
        // sysfb's BOOTFB alone is a placeholder no driver holds: it reserves nothing.
        if region.name == "BOOTFB" {
            return .warning("firmware_framebuffer", device.address,
                            subject + " (no framebuffer driver holds it yet; one that loads later would keep the BAR from the VM)", fix: fix)
        }
        if device.driver == .vfioPCI {
            return .error("firmware_framebuffer", device.address,
                          subject + " although vfio-pci has the device: QEMU fails with \"BAR 0: can't reserve\"", fix: fix)
        }
        switch vfioRemovesIt(from: device) {
        case true?:
            return .warning("firmware_framebuffer", device.address,
                            subject + ": on this kernel vfio-pci removes it when it binds the device, which also ends the host's console on this card",
                            fix: fix)
        case false?:
            return .error("firmware_framebuffer", device.address,
                          subject + ": vfio-pci leaves it in place (it removes one only from a VGA-class device, since Linux 6.0), and QEMU fails with \"BAR 0: can't reserve\"",
                          fix: fix)
        case nil:
            return .warning("firmware_framebuffer", device.address,
                            subject + ": kernels since 6.0 remove it when vfio-pci binds (ending the host console there); older ones leave it and QEMU cannot reserve the BAR",
                            fix: fix)
        }
    }
}
