import EarlybindCore

/// Who is using a display device: a framebuffer console on it, or a process
/// holding its DRM device open.
struct DisplayUsage<IO: FileIO> {
    let sysfs: Sysfs<IO>
    let procRoot: String

    func user(of device: PCIDevice) -> String? {
        guard device.isDisplay, let driver = device.driver, driver != .vfioPCI else { return nil }
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
        for pid in ((try? sysfs.io.list(procRoot)) ?? []).filter({ Int($0) != nil }).sorted() {
            let fdDirectory = procRoot + "/" + pid + "/fd"
            for fd in (try? sysfs.io.list(fdDirectory)) ?? [] {
                guard let target = try? sysfs.io.readLink(fdDirectory + "/" + fd) else { continue }
                let path = String(decoding: target, as: UTF8.self)
                if nodes.contains(path) {
                    let name = (try? sysfs.io.read(procRoot + "/" + pid + "/comm")).map { String(decoding: $0, as: UTF8.self).trimmingNewlines() } ?? "?"
                    return "\(name) (pid \(pid)) has \(path) open"
                }
            }
        }
        return nil
    }

    private func belongs(_ link: String, to address: String) -> Bool {
        guard let target = try? sysfs.io.readLink(link) else { return false }
        return String(decoding: target, as: UTF8.self).hasSuffix("/" + address)
    }
}
