@testable import earlybind
import EarlybindCore
import Foundation
import Testing

/// The real-root path with Proxmox's proxmox-boot-tool, and the record install keeps
/// of every image it checked, in SystemRootTests' staged root with stubs.
extension SystemRootTests {
    func makeProxmox() throws {
        try FileManager.default.createDirectory(atPath: root + "/etc/kernel", withIntermediateDirectories: true)
        try "1234-ABCD\n".write(toFile: root + Layout.proxmoxBootUUIDsPath, atomically: false, encoding: .utf8)
        try "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n".write(toFile: root + Layout.kernelCmdlinePath, atomically: false, encoding: .utf8)
        try stub("proxmox-boot-tool", "")
    }

    func manifest() throws -> Manifest { try #require(try Manifest.load(root: InstallRoot(root)!)) }

    @Test func proxmoxBootToolRefreshesAfterTheRebuildAndACommandLineChange() throws {
        try makeProxmox()
        let result = try earlybind(["install", "--json"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(Array(commands().prefix(3)) == ["update-initramfs -u -k all", "update-grub", "proxmox-boot-tool refresh"])
        #expect(try result.json()["commands"] as? [String] == ["update-initramfs -u -k all", "update-grub", "proxmox-boot-tool refresh"])
        #expect(try manifest().pending == nil)
        #expect(!result.output.contains("takes effect"))

        _ = try earlybind(["install"])
        #expect(commands().isEmpty)
        // The admin drops a flag: install puts it back, and only the refresh carries it to the ESPs.
        try "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n".write(toFile: root + Layout.kernelCmdlinePath, atomically: false, encoding: .utf8)
        _ = try earlybind(["install"])
        #expect(commands() == ["proxmox-boot-tool refresh"])

        _ = try earlybind(["uninstall"])
        #expect(commands() == ["update-grub", "update-initramfs -u -k all", "proxmox-boot-tool refresh"])
        #expect(try String(contentsOfFile: root + Layout.kernelCmdlinePath, encoding: .utf8) == "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n")
    }

    @Test func aFailedRefreshIsRunAgainByTheNextInstall() throws {
        try makeProxmox()
        try stub("proxmox-boot-tool", "exit 1")
        let failed = try earlybind(["install"])
        #expect(failed.status == 1)
        #expect(failed.errors.contains("'proxmox-boot-tool refresh' failed with exit status 1"))
        #expect(try manifest().pending == [.proxmoxBootRefresh])
        _ = commands()
        try stub("proxmox-boot-tool", "")
        #expect(try earlybind(["install"]).status == 0)
        #expect(commands().contains("proxmox-boot-tool refresh"))
        #expect(try manifest().pending == nil)
    }

    /// The tool alone is not enough: without proxmox-boot-uuids it keeps no ESP.
    @Test func noRefreshWithoutProxmoxESPs() throws {
        try stub("proxmox-boot-tool", "")
        #expect(try earlybind(["install"]).status == 0)
        #expect(!commands().contains("proxmox-boot-tool refresh"))
    }

    @Test func installRecordsEveryImageItChecked() throws {
        // The image's copy of the config, as unmkinitramfs unpacks it, differs from the root's.
        try stub("unmkinitramfs", """
            mkdir -p "$2/scripts/init-top" "$2/etc"
            printf '%s\\n' '/scripts/init-top/earlybind "$@"' '/scripts/init-top/udev "$@"' > "$2/scripts/init-top/ORDER"
            printf '0000:03:00.0\\n' > "$2/etc/earlybind.conf"
            """)
        try "0000:03:00.0\n0000:04:00.0\n".write(toFile: root + "/etc/earlybind.conf", atomically: false, encoding: .utf8)
        #expect(try earlybind(["install"]).status == 0)
        let images = try #require(try manifest().images)
        #expect(images.map(\.path) == ["/boot/initrd.img-6.1.0-a", "/boot/initrd.img-6.1.0-b"])
        for image in images {
            let stamp = try #require(ImageCheck.stamp(root + image.path))
            #expect(image.size == 0 && image.modified == stamp.modified)
            #expect(image.sha256 == SHA256.hex([]))
            #expect(image.config == SHA256.hex(Array("0000:03:00.0\n".utf8)))
            #expect(image.earlybind == true && image.problems == [])
        }
    }

    @Test func aBrokenImageIsRecordedToo() throws {
        let failed = try earlybind(["install"], environment: ["ORDER": "/scripts/init-top/udev /scripts/init-top/earlybind"])
        #expect(failed.status == 1)
        let images = try #require(try manifest().images)
        #expect(images.map(\.kernel) == ["6.1.0-a", "6.1.0-b"])
        #expect(images.allSatisfy { $0.earlybind == false && $0.problems == ["scripts/init-top/ORDER runs udev before earlybind"] })
        // No copy of the config inside (the stub unpacks none): the root's, as the rebuild left it.
        #expect(images.allSatisfy { $0.config == SHA256.hex(Array("0000:03:00.0\n".utf8)) })
    }
}
