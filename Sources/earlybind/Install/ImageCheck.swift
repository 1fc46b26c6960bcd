import EarlybindCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Whether one kernel's initramfs holds a working earlybind: its binary, config and
/// init-top script are inside, and the script runs before udev starts.
struct ImageCheck {
    let kernel: String
    /// The image, as a path on the target system.
    let path: String
    var problems: [String]
    /// The config inside the image, where the check unpacks it (initramfs-tools).
    var config: [UInt8]? = nil

    /// Every kernel under the root that has modules and an image by one of `names`
    /// (first found wins), in order.
    private static func images(root: InstallRoot, names: [(String) -> String]) -> [(kernel: String, path: String)] {
        let kernels = ((try? PosixIO().list(root.resolve(Layout.modulesDirectory))) ?? []).sorted()
        return kernels.compactMap { kernel in
            names.map { $0(kernel) }.first(where: { PosixIO().exists(root.resolve($0)) }).map { (kernel, $0) }
        }
    }

    /// Checks the images `backend` built: dracut's under Debian's name or its own
    /// (initramfs-KERNEL.img); nil for mkinitcpio's, which need lsinitcpio, which only Arch has.
    static func all(_ backend: Backend, root: InstallRoot) throws -> [ImageCheck]? {
        let names: [(String) -> String]
        switch backend {
        case .initramfsTools: names = [Layout.debianImagePath]
        case .dracut: names = [Layout.debianImagePath, Layout.dracutImagePath]
        case .mkinitcpio: return nil
        }
        return try images(root: root, names: names).compactMap { try check($0.path, kernel: $0.kernel, backend: backend, root: root) }
    }

    /// Checks one image `backend` built; nil for mkinitcpio's.
    static func check(_ path: String, kernel: String, backend: Backend, root: InstallRoot) throws -> ImageCheck? {
        switch backend {
        case .initramfsTools: return try initramfsTools(path, kernel: kernel, image: root.resolve(path))
        case .dracut: return try dracut(path, kernel: kernel, image: root.resolve(path))
        case .mkinitcpio: return nil
        }
    }

    private static func dracut(_ path: String, kernel: String, image: String) throws -> ImageCheck {
        let listing = try ExternalCommand.capture(["lsinitrd", image])
        guard listing.status == 0 else {
            return ImageCheck(kernel: kernel, path: path, problems: ["lsinitrd failed with exit status \(listing.status)"])
        }
        // lsinitrd lists like ls -l: the path is the last field (usr/ or not, with or without usrmerge).
        let paths = listing.output.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        let problems = Layout.Image.dracutRequired.filter { required in !paths.contains { $0 == required || $0.hasSuffix("/" + required) } }
            .map { "\($0) is missing" }
        return ImageCheck(kernel: kernel, path: path, problems: problems)
    }

    private static func initramfsTools(_ path: String, kernel: String, image: String) throws -> ImageCheck {
        var problems: [String] = []
        let listing = try ExternalCommand.capture(["lsinitramfs", image])
        if listing.status != 0 {
            problems.append("lsinitramfs failed with exit status \(listing.status)")
        } else {
            let paths = Set(listing.output.split(separator: "\n").map(String.init))
            for path in Layout.Image.initramfsToolsRequired where !paths.contains(path) { problems.append("\(path) is missing") }
        }

        var template = Array("/tmp/earlybind-image.XXXXXX".utf8CString)
        guard let directory = mkdtemp(&template).map({ String(cString: $0) }) else {
            throw InstallError("could not create a temporary directory: \(errorText(errno))")
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let unpacked = try ExternalCommand.capture(["unmkinitramfs", image, directory])
        let order = Layout.Image.unpackedInitTopOrders
            .compactMap { try? PosixIO().read(directory + $0) }.first
        if unpacked.status != 0 || order == nil {
            problems.append("could not read \(Layout.Image.initTopOrder) from the image")
        } else if let problem = orderProblem(String(decoding: order!, as: UTF8.self)) {
            problems.append(problem)
        }
        let config = ["/main/", "/"].compactMap { try? PosixIO().read(directory + $0 + Layout.Image.config) }.first
        return ImageCheck(kernel: kernel, path: path, problems: problems, config: config)
    }

    /// Those of `images` (paths under the root) last written before the config: built from an older one.
    static func olderThanConfig(_ images: [String], host: Host) -> [String] {
        guard let configTime = host.modificationTime(host.configPath) else { return [] }
        return images.filter { image in
            guard let imageTime = host.modificationTime(host.root.resolve(image)) else { return false }
            return imageTime < configTime
        }
    }

    /// Every image in /boot by Debian's name or dracut's (mkinitcpio's too), in name order.
    static func bootImages(_ root: InstallRoot) -> [(kernel: String, path: String)] {
        ((try? PosixIO().list(root.resolve("/boot"))) ?? []).sorted().compactMap { name in
            Layout.imageKernel(name).map { ($0, "/boot/" + name) }
        }
    }

    /// Size and modification time (nanoseconds) of a file on this machine, or nil.
    static func stamp(_ resolved: String) -> (size: Int, modified: Int)? {
        var info = stat()
        guard stat(resolved, &info) == 0 else { return nil }
        return (Int(info.st_size), info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec)
    }

    /// nil when earlybind's init-top script runs before udev's.
    static func orderProblem(_ order: String) -> String? {
        let scripts = order.split(separator: "\n").map { $0.prefix { $0 != " " } }
        guard let ours = scripts.firstIndex(where: { $0 == "/" + Layout.Image.initTop }) else {
            return "\(Layout.Image.initTopOrder) does not run earlybind"
        }
        if let udev = scripts.firstIndex(where: { $0 == "/" + Layout.Image.udevInitTop }), udev < ours {
            return "\(Layout.Image.initTopOrder) runs udev before earlybind"
        }
        return nil
    }
}
