@testable import earlybind
import EarlybindCore
import EarlybindTestSupport
import Foundation
import Testing

/// The manual recipe's leftovers on staged roots: what status finds, what install warns
/// about, what install --migrate edits and what uninstall puts back.
@Suite struct LeftoverTests {
    let root: String

    static let modprobe = "# from the guide\noptions vfio-pci ids=10de:1b02,10de:10f0 disable_vga=1\nsoftdep nouveau pre: vfio-pci\nblacklist nouveau\n"
    static let grub = "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"vfio-pci.ids=10de:1b02\tquiet  splash\"\nGRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt vfio-pci.ids=10de:1b02,1912:0014\"\n"

    init() throws {
        root = NSTemporaryDirectory() + "earlybind-leftovers-" + UUID().uuidString
        try write("/etc/initramfs-tools/initramfs.conf", "MODULES=most\n")
        try write("/proc/cpuinfo", "vendor_id\t: GenuineIntel\n")
        try write("/etc/earlybind.conf", "0000:03:00.0 10de:1b02\n")
        try FileManager.default.createDirectory(atPath: root + "/lib/modules/6.1.0-test", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/sys", withIntermediateDirectories: true)
    }

    func write(_ path: String, _ text: String) throws {
        let full = root + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: false, encoding: .utf8)
    }

    func read(_ path: String) throws -> String { try String(contentsOfFile: root + path, encoding: .utf8) }

    func earlybind(_ arguments: [String]) throws -> CLIResult {
        try runEarlybind(arguments + ["--root", root, "--sysfs", root + "/sys"])
    }

    func leftovers() throws -> [[String: Any]] {
        try #require(try earlybind(["status", "--json"]).json()["leftovers"] as? [[String: Any]])
    }

    func summary(_ leftovers: [[String: Any]]) -> [String] {
        leftovers.map { "\($0["file"]!):\($0["line"]!) \($0["kind"]!) \($0["text"]!)" }
    }

    @Test func statusFindsEveryKind() throws {
        try write("/etc/modprobe.d/vfio.conf", Self.modprobe)
        try write("/etc/modprobe.d/notes.txt", "options vfio-pci ids=10de:1b02\n")
        try write("/etc/initramfs-tools/modules", "# modules\nvfio\nvfio_iommu_type1\nvfio_pci ids=10de:1b02\nnvme\n")
        try write("/proc/cmdline", "BOOT_IMAGE=/vmlinuz ro vfio-pci.ids=10de:1b02 rd.driver.pre=vfio-pci\n")
        try write("/etc/default/grub", Self.grub)
        try write("/etc/default/grub.d/vfio.cfg", "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX vfio_pci.ids=10de:1b02\"\n")
        try write("/etc/kernel/cmdline", "# comment vfio-pci.ids=10de:1b02\nroot=/dev/sda1 vfio-pci.ids=10de:1b02\n")
        let found = try leftovers()
        #expect(summary(found) == [
            "/etc/modprobe.d/vfio.conf:2 modprobe_ids options vfio-pci ids=10de:1b02,10de:10f0 disable_vga=1",
            "/etc/modprobe.d/vfio.conf:3 softdep softdep nouveau pre: vfio-pci",
            "/etc/modprobe.d/vfio.conf:4 blacklist blacklist nouveau",
            "/etc/initramfs-tools/modules:2 initramfs_module vfio",
            "/etc/initramfs-tools/modules:3 initramfs_module vfio_iommu_type1",
            "/etc/initramfs-tools/modules:4 initramfs_module vfio_pci ids=10de:1b02",
            "/proc/cmdline:1 cmdline_ids vfio-pci.ids=10de:1b02",
            "/proc/cmdline:1 cmdline_driver_pre rd.driver.pre=vfio-pci",
            "/etc/default/grub:2 cmdline_ids vfio-pci.ids=10de:1b02",
            "/etc/default/grub:3 cmdline_ids vfio-pci.ids=10de:1b02,1912:0014",
            "/etc/default/grub.d/vfio.cfg:1 cmdline_ids vfio_pci.ids=10de:1b02",
            "/etc/kernel/cmdline:2 cmdline_ids vfio-pci.ids=10de:1b02",
        ])
        let effects = found.map { $0["effect"] as! String }
        #expect(effects[0].contains("takes every device with those IDs, the host's too, before earlybind runs"))
        #expect(effects[0].contains("empty ids="))
        #expect(effects[1].contains("harmless"))
        #expect(effects[2].contains("every NVIDIA card"))
        #expect(effects[6].contains("at this boot"))
        let text = try earlybind(["status"])
        #expect(text.lines.contains("leftovers from the manual method"))
        #expect(text.lines.contains("  /etc/modprobe.d/vfio.conf:4: blacklist nouveau"))
    }

    @Test func leftoversAreWarningsOnly() throws {
        let before = try earlybind(["status", "--json"])
        try write("/etc/modprobe.d/vfio.conf", Self.modprobe)
        let after = try earlybind(["status", "--json"])
        #expect(after.status == before.status)
        #expect(try after.json()["ready"] as? Bool == (try before.json()["ready"] as? Bool))
        #expect(try leftovers().count == 3)
    }

    @Test func installWarnsPerConflictingLeftover() throws {
        try write("/etc/modprobe.d/vfio.conf", Self.modprobe)
        try write("/etc/default/grub", Self.grub)
        let result = try earlybind(["install", "--json"])
        #expect(result.status == 0, "\(result.errors)")
        let warnings = result.errors.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
        #expect(warnings.count == 4, "\(result.errors)")
        #expect(warnings.contains { $0.hasPrefix("warning: /etc/modprobe.d/vfio.conf:4: 'blacklist nouveau'") })
        #expect(warnings.contains { $0.hasPrefix("warning: /etc/modprobe.d/vfio.conf:2:") && $0.hasSuffix("(run 'earlybind install --migrate' to remove it)") })
        #expect(!warnings.contains { $0.contains("softdep") })
        // Without --migrate nothing of the admin's changes.
        #expect(try read("/etc/modprobe.d/vfio.conf") == Self.modprobe)
        #expect(try read("/etc/default/grub") == Self.grub)
    }

    @Test func migrateEditsWordsAndKeepsEveryOtherByte() throws {
        try write("/etc/modprobe.d/vfio.conf", Self.modprobe)
        try write("/etc/modprobe.d/only.conf", "options vfio_pci ids=10de:1b02\n# kept\n")
        try write("/etc/default/grub", Self.grub)
        try write("/etc/kernel/cmdline", "# comment vfio-pci.ids=10de:1b02\nroot=/dev/sda1 vfio-pci.ids=10de:1b02 quiet\n")

        let dry = try earlybind(["install", "--migrate", "--dry-run"])
        #expect(dry.status == 0, "\(dry.errors)")
        #expect(dry.lines.contains("-options vfio-pci ids=10de:1b02,10de:10f0 disable_vga=1"))
        #expect(dry.lines.contains("+options vfio-pci ids=10de:10f0 disable_vga=1"))
        #expect(try read("/etc/modprobe.d/vfio.conf") == Self.modprobe)

        let result = try earlybind(["install", "--migrate", "--json"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(try read("/etc/modprobe.d/vfio.conf") == Self.modprobe.replacingOccurrences(of: "10de:1b02,", with: ""))
        #expect(try read("/etc/modprobe.d/only.conf") == "# kept\n")
        #expect(try read("/etc/default/grub") == "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet  splash\"\nGRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt vfio-pci.ids=1912:0014\"\n")
        #expect(try read("/etc/kernel/cmdline") == "# comment vfio-pci.ids=10de:1b02\nroot=/dev/sda1 quiet intel_iommu=on iommu=pt\n")
        // The blacklist stays, reported.
        #expect(try leftovers().contains { $0["kind"] as? String == "blacklist" })

        let manifest = try #require(try Manifest.load(root: InstallRoot(root)!))
        #expect(manifest.entry("/etc/modprobe.d/vfio.conf")?.migrated == true)
        #expect(manifest.entry("/etc/default/grub")?.backup == SHA256.hex(Array(Self.grub.utf8)))

        // A second run changes nothing, with or without --migrate.
        let snapshot = try ["/etc/modprobe.d/vfio.conf", "/etc/default/grub", "/etc/kernel/cmdline", "/var/lib/earlybind/manifest.json"].map(read)
        for extra in [["--migrate"], []] {
            let again = try earlybind(["install", "--json"] + extra)
            #expect(again.status == 0, "\(again.errors)")
            let json = try again.json()
            #expect(json["changed"] as? Bool == false)
            #expect(json["rebuild_needed"] as? Bool == false)
            #expect(try ["/etc/modprobe.d/vfio.conf", "/etc/default/grub", "/etc/kernel/cmdline", "/var/lib/earlybind/manifest.json"].map(read) == snapshot)
        }

        // Uninstall puts every file back byte for byte.
        let uninstall = try earlybind(["uninstall"])
        #expect(uninstall.status == 0, "\(uninstall.errors)")
        #expect(try read("/etc/modprobe.d/vfio.conf") == Self.modprobe)
        #expect(try read("/etc/modprobe.d/only.conf") == "options vfio_pci ids=10de:1b02\n# kept\n")
        #expect(try read("/etc/default/grub") == Self.grub)
        #expect(try read("/etc/kernel/cmdline") == "# comment vfio-pci.ids=10de:1b02\nroot=/dev/sda1 vfio-pci.ids=10de:1b02 quiet\n")
    }

    @Test func packageFilesAndSymlinksAreLeftAlone() throws {
        try write("/etc/modprobe.d/vfio.conf", Self.modprobe)
        try write("/etc/default/grub", Self.grub)
        try write("/var/lib/dpkg/info/grub-common.list", "/etc\n/etc/default\n/etc/default/grub\n")
        try write("/usr/share/vfio/real.conf", "options vfio-pci ids=10de:1b02\n")
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/modprobe.d/linked.conf", withDestinationPath: root + "/usr/share/vfio/real.conf")
        let result = try earlybind(["install", "--migrate", "--json"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(try read("/etc/default/grub") == Self.grub)
        #expect(try read("/usr/share/vfio/real.conf") == "options vfio-pci ids=10de:1b02\n")
        #expect(FileWriter().isSymlink(root + "/etc/modprobe.d/linked.conf"))
        #expect(result.errors.contains("--migrate leaves /etc/default/grub alone: it belongs to the package grub-common"))
        #expect(result.errors.contains("--migrate leaves /etc/modprobe.d/linked.conf alone: it is a symlink"))
        // The admin's own file is still migrated.
        #expect(try read("/etc/modprobe.d/vfio.conf").contains("ids=10de:10f0 disable_vga=1"))
    }

    @Test func anEditAfterMigrateIsLeftAloneByUninstall() throws {
        try write("/etc/modprobe.d/vfio.conf", Self.modprobe)
        try write("/etc/default/grub", Self.grub)
        #expect(try earlybind(["install", "--migrate"]).status == 0)
        let edited = try read("/etc/modprobe.d/vfio.conf") + "options snd_hda_intel power_save=0\n"
        try write("/etc/modprobe.d/vfio.conf", edited)
        let uninstall = try earlybind(["uninstall"])
        #expect(uninstall.status == 0, "\(uninstall.errors)")
        #expect(try read("/etc/modprobe.d/vfio.conf") == edited)
        #expect(uninstall.output.contains("/etc/modprobe.d/vfio.conf: left as it is: changed since 'install --migrate' edited it"))
        #expect(try read("/etc/default/grub") == Self.grub)
    }

    @Test func wordEditsKeepBytes() {
        let ids: Set<String> = ["10de:1b02"]
        let edit = { (path: String, text: String) in String(decoding: Migration.edited(path, Array(text.utf8), ids), as: UTF8.self) }
        #expect(edit("/etc/modprobe.d/a.conf", "options  vfio-pci\tids=10de:1b02 disable_vga=1\r\n") == "options  vfio-pci disable_vga=1\r\n")
        #expect(edit("/etc/modprobe.d/a.conf", "options vfio-pci ids=10DE:1B02\nx") == "x")
        #expect(edit("/etc/modprobe.d/a.conf", "#options vfio-pci ids=10de:1b02\n") == "#options vfio-pci ids=10de:1b02\n")
        #expect(edit("/etc/default/grub", "  GRUB_CMDLINE_LINUX='vfio-pci.ids=10de:1b02'\n") == "  GRUB_CMDLINE_LINUX=''\n")
        #expect(edit("/etc/default/grub", "GRUB_CMDLINE_LINUX_DEFAULT=vfio-pci.ids=10de:1b02\n") == "GRUB_CMDLINE_LINUX_DEFAULT=\n")
        #expect(edit("/etc/default/grub", "GRUB_TIMEOUT=\"vfio-pci.ids=10de:1b02\"\n") == "GRUB_TIMEOUT=\"vfio-pci.ids=10de:1b02\"\n")
        #expect(edit("/etc/kernel/cmdline", "a vfio_pci.ids=1912:0014,10de:1b02 b") == "a vfio_pci.ids=1912:0014 b")
    }
}
