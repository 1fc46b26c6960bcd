import EarlybindCore

/// Every initramfs image in the root's /boot (Debian's initrd.img-*, dracut's and
/// mkinitcpio's initramfs-*.img), and whether it carries earlybind and the current
/// config. What install recorded of an image (`Manifest.images`) holds while the image
/// has the recorded size and modification time, or, after a mere touch, the recorded
/// SHA-256; so status hashes no unchanged image. Looking inside (`unpack`, with
/// ImageCheck) happens only when asked: it takes seconds per image.
struct ImageStatus {
    struct Image {
        enum Checked: String {
            /// What install found when it checked this very image.
            case manifest
            /// Looked inside now.
            case unpacked
        }

        /// Absolute path on the target system.
        let path: String
        let kernel: String
        /// nil: not known (no record, or nothing can look inside mkinitcpio's images).
        let earlybind: Bool?
        /// Whether it was built with the config as it is now; nil when not known.
        let configCurrent: Bool?
        let checked: Checked?
        let problems: [String]
        /// install recorded this path, for an image that has changed since.
        let recorded: Bool
    }

    let images: [Image]
    /// Whether install has run (a manifest exists): only then can an image lack a record.
    let installed: Bool

    /// `manifest`: install's, as status read it. `inspect` looks inside one image (path on
    /// the target system, kernel); ImageCheck with the root's generator unless a test stands in for it.
    init(host: Host, manifest: Manifest?, unpack: Bool, inspect: ((String, String) throws -> ImageCheck?)? = nil) {
        let root = host.root
        let backend = Backend.current(root, manifest: manifest) ?? .initramfsTools
        let inspect = inspect ?? { try ImageCheck.check($0, kernel: $1, backend: backend, root: root) }
        let config = host.file(Config.defaultPath).map(SHA256.hex)
        installed = manifest != nil
        images = ImageCheck.bootImages(root).map { kernel, path in
            let record = manifest?.images?.first { $0.path == path }
            if unpack {
                do {
                    if let check = try inspect(path, kernel) {
                        return Image(path: path, kernel: kernel, earlybind: check.problems.isEmpty,
                                     configCurrent: check.config.flatMap { inside in config.map { SHA256.hex(inside) == $0 } },
                                     checked: .unpacked, problems: check.problems, recorded: record != nil)
                    }
                } catch {
                    return Image(path: path, kernel: kernel, earlybind: nil, configCurrent: nil, checked: nil,
                                 problems: ["\(error)"], recorded: record != nil)
                }
            }
            guard let record, ImageStatus.isUnchanged(root.resolve(path), since: record) else {
                return Image(path: path, kernel: kernel, earlybind: nil, configCurrent: nil, checked: nil, problems: [], recorded: record != nil)
            }
            return Image(path: path, kernel: kernel, earlybind: record.earlybind, configCurrent: config.map { $0 == record.config },
                         checked: .manifest, problems: record.problems ?? [], recorded: true)
        }
    }

    /// Whether the image is still the one install recorded: the same size and time, or
    /// after a touch (same size, another time) the same SHA-256.
    private static func isUnchanged(_ resolved: String, since record: Manifest.Image) -> Bool {
        guard let stamp = ImageCheck.stamp(resolved), stamp.size == record.size else { return false }
        if stamp.modified == record.modified { return true }
        return (try? PosixIO().read(resolved)).map(SHA256.hex) == record.sha256
    }

    var checks: [StatusCheck] {
        images.compactMap { image in
            if image.earlybind == false {
                return .warning("image_without_earlybind", nil, "\(image.path) does not hold a working earlybind: " + image.problems.joined(separator: "; "),
                                fix: "run 'earlybind install', which rebuilds every image and checks it")
            }
            if image.configCurrent == false {
                return .warning("image_config_outdated", nil, "\(image.path) was built with another config than the current \(Config.defaultPath)",
                                fix: "run 'earlybind install', then reboot")
            }
            guard image.checked == nil, installed else { return nil }
            if let failure = image.problems.first {
                return .warning("image_unchecked", nil, "could not look inside \(image.path): \(failure)",
                                fix: "install the generator's tools (lsinitramfs and unmkinitramfs; lsinitrd for dracut)")
            }
            return .warning("image_unchecked", nil, "\(image.path) was " + (image.recorded ? "rebuilt after earlybind install checked it" : "built after earlybind install last checked the images")
                + ", by something else such as a kernel update's hook; earlybind's hook still puts earlybind and the config into every image the generator builds",
                            fix: "run 'earlybind status --images' to look inside it")
        }
    }

    var json: JSON {
        .array(images.map { image in
            .object([
                ("path", .string(image.path)),
                ("kernel", .string(image.kernel)),
                ("earlybind", image.earlybind.map(JSON.bool) ?? .null),
                ("config_current", image.configCurrent.map(JSON.bool) ?? .null),
                ("checked", .optional(image.checked?.rawValue)),
                ("problems", .array(image.problems.map(JSON.string))),
            ])
        })
    }

    var lines: [String] {
        var lines = ["initramfs images"]
        if images.isEmpty { lines.append("  none in /boot") }
        for image in images {
            var state: String
            switch image.earlybind {
            case true?: state = "earlybind inside"
            case false?: state = "no working earlybind: " + image.problems.joined(separator: "; ")
            case nil:
                state = image.problems.first.map { "could not look inside: " + $0 }
                    ?? (image.checked == nil ? "not checked since it was built" : "earlybind not checked (nothing looks inside these images)")
            }
            switch image.configCurrent {
            case true?: state += ", the current config"
            case false?: state += ", another config than the current one"
            case nil: break
            }
            if let checked = image.checked { state += checked == .manifest ? " (checked by install)" : " (looked inside now)" }
            lines += wrapped(image.path + ": " + state, indent: "  ", continuation: "      ")
        }
        return lines
    }
}
