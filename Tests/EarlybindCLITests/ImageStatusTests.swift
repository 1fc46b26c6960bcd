@testable import earlybind
import EarlybindCore
import EarlybindTestSupport
import Foundation
import Testing

/// Every image in a staged root's /boot against what install recorded of it: by size
/// and time, by hash after a touch, and looking inside only when asked.
@Suite struct ImageStatusTests {
    static let config = "0000:03:00.0\n"
    static let image = "/boot/initrd.img-6.1.0-test"

    let machine: FakeMachine
    var root: InstallRoot { InstallRoot(machine.root)! }

    init() throws {
        machine = try FakeMachine(Fixtures.gpuWithAudio, config: Self.config)
        try machine.write(Self.image, "image bytes")
        try machine.write("/boot/initramfs-6.1.0-test.img", "dracut's")
        try machine.write("/boot/vmlinuz-6.1.0-test", "not an image")
        try Manifest().save(root: root)
    }

    /// A record of `path` as it is on disk now, with `change` applied.
    func record(_ path: String, _ change: (inout Manifest.Image) -> Void = { _ in }) throws {
        let stamp = try #require(ImageCheck.stamp(machine.root + path))
        var image = Manifest.Image(path: path, kernel: "6.1.0-test", sha256: SHA256.hex(Array(try machine.read(path).utf8)), size: stamp.size,
                                   modified: stamp.modified, config: SHA256.hex(Array(Self.config.utf8)), earlybind: true, problems: [])
        change(&image)
        var manifest = try #require(try Manifest.load(root: root))
        manifest.images = (manifest.images ?? []) + [image]
        try manifest.save(root: root)
    }

    func status(unpack: Bool = false, inspect: ((String, String) throws -> ImageCheck?)? = nil) -> ImageStatus {
        ImageStatus(host: earlybind.Host(root: root, sysfsRoot: machine.tree.root), manifest: (try? Manifest.load(root: root)) ?? nil,
                    unpack: unpack, inspect: inspect)
    }

    func touch(_ path: String) throws {
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: machine.root + path)
    }

    @Test func anImageAsInstallCheckedIt() throws {
        try record(Self.image)
        try record("/boot/initramfs-6.1.0-test.img")
        let images = status()
        #expect(images.checks.isEmpty)
        #expect(images.json.rendered() == """
            [
              {
                "path": "/boot/initramfs-6.1.0-test.img",
                "kernel": "6.1.0-test",
                "earlybind": true,
                "config_current": true,
                "checked": "manifest",
                "problems": []
              },
              {
                "path": "/boot/initrd.img-6.1.0-test",
                "kernel": "6.1.0-test",
                "earlybind": true,
                "config_current": true,
                "checked": "manifest",
                "problems": []
              }
            ]
            """)
        #expect(images.lines == [
            "initramfs images",
            "  /boot/initramfs-6.1.0-test.img: earlybind inside, the current config (checked",
            "      by install)",
            "  /boot/initrd.img-6.1.0-test: earlybind inside, the current config (checked by",
            "      install)",
        ])
    }

    /// Size and time alone: a record whose hash no longer matches still holds, since nothing is hashed.
    @Test func anUnchangedImageIsNotHashed() throws {
        try record(Self.image) { $0.sha256 = "not the hash" }
        #expect(status().images.first { $0.path == Self.image }?.checked == .manifest)
        // Touched: the time differs, so the hash decides, and this one differs.
        try touch(Self.image)
        #expect(status().images.first { $0.path == Self.image }?.checked == nil)
    }

    @Test func aTouchedImageIsStillTheOneInstallChecked() throws {
        try record(Self.image)
        try touch(Self.image)
        #expect(status().images.first { $0.path == Self.image }?.checked == .manifest)
    }

    @Test func anImageRebuiltSinceIsUnchecked() throws {
        try record(Self.image)
        try machine.write(Self.image, "image BYTES")
        try touch(Self.image)
        let checks = status().checks
        #expect(checks.count == 2)
        #expect(checks.last == .warning("image_unchecked", nil,
            "/boot/initrd.img-6.1.0-test was rebuilt after earlybind install checked it, by something else such as a kernel update's hook; "
                + "earlybind's hook still puts earlybind and the config into every image the generator builds",
            fix: "run 'earlybind status --images' to look inside it"))
        // The dracut-named image has no record at all.
        #expect(checks.first?.message.hasPrefix("/boot/initramfs-6.1.0-test.img was built after earlybind install last checked the images, by something else") == true)
    }

    @Test func anImageBuiltWithAnotherConfig() throws {
        try record(Self.image) { $0.config = SHA256.hex(Array("0000:04:00.0\n".utf8)) }
        try record("/boot/initramfs-6.1.0-test.img")
        #expect(status().checks == [
            .warning("image_config_outdated", nil, "/boot/initrd.img-6.1.0-test was built with another config than the current /etc/earlybind.conf",
                     fix: "run 'earlybind install', then reboot"),
        ])
        #expect(status().lines[3...4] == [
            "  /boot/initrd.img-6.1.0-test: earlybind inside, another config than the current",
            "      one (checked by install)",
        ])
    }

    @Test func anImageWithoutEarlybind() throws {
        try record(Self.image) { $0.earlybind = false; $0.problems = ["scripts/init-top/ORDER runs udev before earlybind"] }
        try record("/boot/initramfs-6.1.0-test.img")
        #expect(status().checks == [
            .warning("image_without_earlybind", nil,
                     "/boot/initrd.img-6.1.0-test does not hold a working earlybind: scripts/init-top/ORDER runs udev before earlybind",
                     fix: "run 'earlybind install', which rebuilds every image and checks it"),
        ])
    }

    /// mkinitcpio's images are recorded unchecked: nothing to warn about, nothing known inside.
    @Test func anImageNothingLooksInto() throws {
        try record(Self.image) { $0.earlybind = nil; $0.problems = nil }
        try record("/boot/initramfs-6.1.0-test.img")
        let image = try #require(status().images.first { $0.path == Self.image })
        #expect(image.checked == .manifest && image.earlybind == nil && image.configCurrent == true)
        #expect(status().checks.isEmpty)
    }

    @Test func unpackingLooksInsideEveryImage() throws {
        try record(Self.image) { $0.config = "recorded with another config" }
        var looked: [String] = []
        let images = status(unpack: true) { path, kernel in
            looked.append(path + " " + kernel)
            return path == Self.image
                ? ImageCheck(kernel: kernel, path: path, problems: [], config: Array(Self.config.utf8))
                : ImageCheck(kernel: kernel, path: path, problems: ["etc/earlybind.conf is missing"])
        }
        #expect(looked == ["/boot/initramfs-6.1.0-test.img 6.1.0-test", "/boot/initrd.img-6.1.0-test 6.1.0-test"])
        #expect(images.images.map(\.checked) == [.unpacked, .unpacked])
        #expect(images.images.map(\.configCurrent) == [nil, true])
        #expect(images.checks.map(\.code) == ["image_without_earlybind"])

        let failing = status(unpack: true) { _, _ in throw InstallError("could not run 'lsinitramfs': No such file or directory") }
        #expect(failing.checks.first == .warning("image_unchecked", nil,
            "could not look inside /boot/initramfs-6.1.0-test.img: could not run 'lsinitramfs': No such file or directory",
            fix: "install the generator's tools (lsinitramfs and unmkinitramfs; lsinitrd for dracut)"))
    }

    /// Before any install there is nothing an image could be checked against.
    @Test func noWarningsBeforeInstall() throws {
        try FileManager.default.removeItem(atPath: machine.root + Layout.manifestPath)
        #expect(status().images.count == 2)
        #expect(status().checks.isEmpty)
        #expect(status().lines.allSatisfy { $0.count <= 80 })
    }
}
