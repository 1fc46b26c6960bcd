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
    var problems: [String]

    /// Every kernel under the root that has modules and an image by one of `names`
    /// (first found wins), in order.
    private static func images(root: InstallRoot, names: [(String) -> String]) -> [(kernel: String, image: String)] {
        let kernels = ((try? PosixIO().list(root.resolve(Layout.modulesDirectory))) ?? []).sorted()
        return kernels.compactMap { kernel in
            names.map { root.resolve($0(kernel)) }.first(where: { PosixIO().exists($0) }).map { (kernel, $0) }
        }
    }

    /// Checks the images `backend` built; nil for mkinitcpio's, which need lsinitcpio,
    /// which only Arch has.
    static func all(_ backend: Backend, root: InstallRoot) throws -> [ImageCheck]? {
        switch backend {
        case .initramfsTools: return try allInitramfsTools(root: root)
        case .dracut: return try allDracut(root: root)
        case .mkinitcpio: return nil
        }
    }

    /// Checks the dracut image of every kernel, under Debian's name or dracut's own
    /// (initramfs-KERNEL.img).
    private static func allDracut(root: InstallRoot) throws -> [ImageCheck] {
        try images(root: root, names: [Layout.debianImagePath, Layout.dracutImagePath]).map { kernel, image in
            let listing = try ExternalCommand.capture(["lsinitrd", image])
            guard listing.status == 0 else {
                return ImageCheck(kernel: kernel, problems: ["lsinitrd failed with exit status \(listing.status)"])
            }
            // lsinitrd lists like ls -l: the path is the last field (usr/ or not, with or without usrmerge).
            let paths = listing.output.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
            let problems = Layout.Image.dracutRequired.filter { required in !paths.contains { $0 == required || $0.hasSuffix("/" + required) } }
                .map { "\($0) is missing" }
            return ImageCheck(kernel: kernel, problems: problems)
        }
    }

    /// Checks the initramfs-tools image of every kernel that has modules and one.
    private static func allInitramfsTools(root: InstallRoot) throws -> [ImageCheck] {
        try images(root: root, names: [Layout.debianImagePath]).map { try check(kernel: $0.kernel, image: $0.image) }
    }

    static func check(kernel: String, image: String) throws -> ImageCheck {
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
        return ImageCheck(kernel: kernel, problems: problems)
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
