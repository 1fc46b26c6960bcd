import EarlybindTestSupport
import Foundation
import Testing

/// The real-root path of install and uninstall, driven in a staged root that a debug
/// build treats as / (EARLYBIND_TEST_SYSTEM_ROOT), with recording stubs of
/// update-initramfs, update-grub, lsinitramfs and unmkinitramfs first in PATH.
@Suite struct SystemRootTests {
    let root: String
    let stubs: String
    let record: String

    init() throws {
        root = NSTemporaryDirectory() + "earlybind-system-" + UUID().uuidString
        stubs = root + "-stubs"
        record = root + "-commands"
        for directory in [root + "/etc/initramfs-tools", root + "/lib/modules/6.1.0-a", root + "/lib/modules/6.1.0-b", root + "/boot", stubs] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try "MODULES=most\n".write(toFile: root + "/etc/initramfs-tools/initramfs.conf", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try "0000:03:00.0\n".write(toFile: root + "/etc/earlybind.conf", atomically: false, encoding: .utf8)
        try stub("update-initramfs", "for k in a b; do : > \"$ROOT/boot/initrd.img-6.1.0-$k\"; done")
        try stub("update-grub", "")
        try stub("lsinitramfs", "printf '%s\\n' usr/lib/earlybind/earlybind-boot etc/earlybind.conf scripts/init-top/earlybind ${LS_EXTRA:-}")
        try stub("unmkinitramfs", """
            mkdir -p "$2/scripts/init-top"
            printf '%s\\n' ${ORDER:-'/scripts/init-top/earlybind "$@"' '/scripts/init-top/udev "$@"'} > "$2/scripts/init-top/ORDER"
            """)
    }

    func stub(_ name: String, _ body: String) throws {
        let path = stubs + "/" + name
        try "#!/bin/sh\necho \"\(name) $*\" >> \"\(record)\"\n\(body)\n".write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    func earlybind(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIResult {
        try runEarlybind(arguments + ["--root", root], environment: [
            "EARLYBIND_TEST_SYSTEM_ROOT": root, "ROOT": root,
            "PATH": stubs + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
        ].merging(environment) { $1 })
    }

    func commands() -> [String] {
        let text = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: record)
        return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: root, with: "ROOT") }
            .map { $0.replacingOccurrences(of: #"/tmp/earlybind-image\.\w+"#, with: "TMP", options: .regularExpression) }
    }

    @Test func installRebuildsAllKernelsChecksEveryImageAndRunsUpdateGrub() throws {
        let result = try earlybind(["install", "--json"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(commands() == [
            "update-initramfs -u -k all", "update-grub",
            "lsinitramfs ROOT/boot/initrd.img-6.1.0-a", "unmkinitramfs ROOT/boot/initrd.img-6.1.0-a TMP",
            "lsinitramfs ROOT/boot/initrd.img-6.1.0-b", "unmkinitramfs ROOT/boot/initrd.img-6.1.0-b TMP",
        ])
        let json = try result.json()
        #expect(json["commands"] as? [String] == ["update-initramfs -u -k all", "update-grub"])
        #expect((json["images"] as? [[String: Any]])?.map { $0["kernel"] as? String } == ["6.1.0-a", "6.1.0-b"])
        #expect((json["images"] as? [[String: Any]])?.allSatisfy { $0["ok"] as? Bool == true } == true)
        #expect(json["rebuild_needed"] as? Bool == false)

        let again = try earlybind(["install", "--json"])
        #expect(commands().isEmpty)
        #expect(try again.json()["changed"] as? Bool == false)

        try "0000:03:00.0\n0000:04:00.0\n".write(toFile: root + "/etc/earlybind.conf", atomically: false, encoding: .utf8)
        _ = try earlybind(["install"])
        #expect(commands().first == "update-initramfs -u -k all")
    }

    @Test func anImageWithoutEarlybindFailsTheInstall() throws {
        let missing = try earlybind(["install"], environment: ["ORDER": "/scripts/init-top/udev /scripts/init-top/earlybind"])
        #expect(missing.status == 1)
        #expect(missing.output.contains("  6.1.0-a: scripts/init-top/ORDER runs udev before earlybind"))
        #expect(missing.errors.contains("2 initramfs image(s) do not hold a working earlybind"))
        // Not recorded as built: the next install rebuilds again.
        _ = commands()
        _ = try earlybind(["install"])
        #expect(commands().first == "update-initramfs -u -k all")
    }

    @Test func noInitramfsReportsARebuildInstead() throws {
        let result = try earlybind(["install", "--no-initramfs", "--no-grub", "--json"])
        #expect(commands().isEmpty)
        #expect(try result.json()["rebuild_needed"] as? Bool == true)
    }

    @Test func uninstallRunsUpdateGrubAndRebuilds() throws {
        _ = try earlybind(["install"])
        _ = commands()
        let result = try earlybind(["uninstall"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(commands() == ["update-grub", "update-initramfs -u -k all"])
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/initramfs-tools/hooks/earlybind"))
        #expect(FileManager.default.fileExists(atPath: root + "/etc/earlybind.conf"))
    }

    @Test func aFailedUninstallRunsItsCommandsNextTime() throws {
        _ = try earlybind(["install"])
        _ = commands()
        try stub("update-initramfs", "exit 1")
        let failed = try earlybind(["uninstall"])
        #expect(failed.status == 1)
        #expect(failed.errors.contains("'update-initramfs -u -k all' failed with exit status 1; run uninstall again"))
        _ = commands()
        try stub("update-initramfs", "")
        let again = try earlybind(["uninstall"])
        #expect(again.status == 0, "\(again.errors)")
        #expect(commands() == ["update-initramfs -u -k all"])
        #expect(!FileManager.default.fileExists(atPath: root + "/var/lib/earlybind"))
    }

    @Test func updateGrubIsRetriedAfterAFailedInstall() throws {
        try stub("update-initramfs", "exit 1")
        #expect(try earlybind(["install"]).status == 1)
        #expect(commands() == ["update-initramfs -u -k all"])
        try stub("update-initramfs", "for k in a b; do : > \"$ROOT/boot/initrd.img-6.1.0-$k\"; done")
        #expect(try earlybind(["install"]).status == 0)
        #expect(commands().prefix(2) == ["update-initramfs -u -k all", "update-grub"])
    }

    /// With dracut: its rebuild, then every image listed with lsinitrd; an image
    /// without the pre-udev hook fails the install.
    @Test func dracutImagesAreRebuiltAndChecked() throws {
        try FileManager.default.createDirectory(atPath: root + "/usr/lib/dracut/modules.d", withIntermediateDirectories: true)
        try stub("dracut", "for k in a b; do : > \"$ROOT/boot/initramfs-6.1.0-$k.img\"; done")
        let listing = ["usr/lib/earlybind/earlybind-boot", "etc/earlybind.conf", "usr/lib/earlybind/earlybind-run"]
            .map { "'-rwxr-xr-x   1 root root  1 Nov 26 04:51 \($0)'" }.joined(separator: " ")
        try stub("lsinitrd", "printf '%s\\n' \(listing); [ -n \"$NO_HOOK\" ] || echo '-rwxr-xr-x 1 root root 1 Nov 26 04:51 usr/lib/dracut/hooks/pre-udev/00-earlybind-pre-udev.sh'")
        let result = try earlybind(["install", "--backend", "dracut", "--json", "--no-grub"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(commands() == ["dracut --regenerate-all --force",
                               "lsinitrd ROOT/boot/initramfs-6.1.0-a.img", "lsinitrd ROOT/boot/initramfs-6.1.0-b.img"])
        #expect((try result.json()["images"] as? [[String: Any]])?.allSatisfy { $0["ok"] as? Bool == true } == true)

        try "0000:03:00.0\n0000:04:00.0\n".write(toFile: root + "/etc/earlybind.conf", atomically: false, encoding: .utf8)
        let broken = try earlybind(["install", "--backend", "dracut", "--no-grub"], environment: ["NO_HOOK": "1"])
        #expect(broken.status == 1)
        #expect(broken.output.contains("6.1.0-a: dracut/hooks/pre-udev/00-earlybind-pre-udev.sh is missing"))
        #expect(broken.errors.contains("2 initramfs image(s) do not hold a working earlybind"))
    }
}
