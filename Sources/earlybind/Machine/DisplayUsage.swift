import EarlybindCore

/// Who is using a display device: a framebuffer console on it (its driver's, or the
/// firmware's inside its BARs), or a process holding its DRM device open.
struct DisplayUsage<IO: FileIO> {
    let sysfs: Sysfs<IO>
    let procRoot: String
    /// The firmware framebuffers (efifb, simpledrm, …) inside a device's BARs: their fbN
    /// belongs to a platform device, not to the PCI device, so only /proc/iomem ties them to it.
    var firmwareFramebuffers: (PCIDevice) -> [FirmwareFramebuffer.Region] = { _ in [] }

    func user(of device: PCIDevice) -> String? {
        guard device.isDisplay, device.driver != .vfioPCI else { return nil }
        if let region = firmwareFramebuffers(device).first {
            return "the firmware framebuffer \(region.name) (\(region.range)), the host's console"
        }
        guard let driver = device.driver else { return nil }
        let address = device.address.description
        for fb in ((try? sysfs.io.list(sysfs.root + "/class/graphics")) ?? []).sorted() where fb.hasPrefix("fb") {
            if belongs(sysfs.root + "/class/graphics/" + fb + "/device", to: address) {
                return "a framebuffer console (\(fb), \(driver))"
            }
        }
        var nodes: [String] = []
        for node in ((try? sysfs.io.list(sysfs.root + "/class/drm")) ?? []).sorted()
            where (node.hasPrefix("card") || node.hasPrefix("renderD")) && !node.contains("-") {
            if belongs(sysfs.root + "/class/drm/" + node + "/device", to: address) { nodes.append("/dev/dri/" + node) }
        }
        guard !nodes.isEmpty else { return nil }
        return OpenFiles(io: sysfs.io, procRoot: procRoot).holders(of: Set(nodes)).first.map { holder in
            "\(holder.command) (pid \(holder.pid)) has \(holder.path) open"
        }
    }

    private func belongs(_ link: String, to address: String) -> Bool {
        guard let target = try? sysfs.io.readLink(link) else { return false }
        return String(decoding: target, as: UTF8.self).hasSuffix("/" + address)
    }
}
