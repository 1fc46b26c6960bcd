import ArgumentParser
@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

@Suite struct InstallTests {
    let root: String
    let bootBinary: String

    init() throws {
        root = NSTemporaryDirectory() + "earlybind-root-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root + "/etc/initramfs-tools", withIntermediateDirectories: true)
        try "MODULES=most\n".write(toFile: root + "/etc/initramfs-tools/initramfs.conf", atomically: false, encoding: .utf8)
        try "vendor_id\t: GenuineIntel\n".writeCreatingDirectory(root + "/proc/cpuinfo")
        bootBinary = root + "/build/earlybind-boot"
        try "\u{7f}ELF fake binder".writeCreatingDirectory(bootBinary)
    }

    func install(noGrub: Bool = false, dryRun: Bool = false) throws -> [String] {
        var lines: [String] = []
        var installer = try Installer(root: InstallRoot(root)!, bootBinary: bootBinary)
        installer.dryRun = dryRun
        installer.writeGrubDropIn = !noGrub
        installer.output = { lines.append($0) }
        try installer.run(rebuildInitramfs: true)
        return lines
    }

    func read(_ path: String) throws -> String {
        try String(contentsOfFile: root + path, encoding: .utf8)
    }

    func mode(_ path: String) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: root + path)[.posixPermissions] as! NSNumber).intValue
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func laysDownEveryFile() throws {
        let lines = try install()
        #expect(lines == [
            "earlybind install into \(root):",
            "  created       /etc/earlybind.conf",
            "  created       /usr/local/lib/earlybind/earlybind-boot",
            "  created       /etc/initramfs-tools/hooks/earlybind",
            "  created       /etc/initramfs-tools/scripts/init-top/earlybind",
            "  created       /etc/default/grub.d/earlybind.cfg",
        ] + (ExternalCommand.find("update-grub") == nil
            ? ["not running update-initramfs: --root is not /"]
            : ["not running update-initramfs or update-grub: --root is not /"]))
        #expect(try read("/usr/local/lib/earlybind/earlybind-boot") == "\u{7f}ELF fake binder")
        #expect(try mode("/usr/local/lib/earlybind/earlybind-boot") == 0o755)
        #expect(try mode("/etc/initramfs-tools/hooks/earlybind") == 0o755)
        #expect(try mode("/etc/initramfs-tools/scripts/init-top/earlybind") == 0o755)
        #expect(try mode("/etc/earlybind.conf") == 0o644)
        let shipped = try String(contentsOf: Self.repository.appending(path: "hooks/init-top-earlybind"), encoding: .utf8)
        #expect(try read("/etc/initramfs-tools/scripts/init-top/earlybind") == shipped)
    }

    @Test func hookCarriesOnlyTheRootsPaths() throws {
        _ = try install()
        let hook = try read("/etc/initramfs-tools/hooks/earlybind")
        #expect(hook.contains("BOOT_BINARY='\(root)/usr/local/lib/earlybind/earlybind-boot'\n"))
        #expect(hook.contains("CONFIG='\(root)/etc/earlybind.conf'\n"))
        #expect(!hook.contains("@"))
        let template = try String(contentsOf: Self.repository.appending(path: "hooks/earlybind-hook.in"), encoding: .utf8)
        #expect(hook.split(separator: "\n").count == template.split(separator: "\n").count)
    }

    @Test func secondRunChangesNothing() throws {
        _ = try install()
        let before = try FileManager.default.attributesOfItem(atPath: root + "/etc/initramfs-tools/hooks/earlybind")
        let lines = try install()
        #expect(lines.dropFirst().prefix(5).allSatisfy { $0.hasPrefix("  unchanged") })
        let after = try FileManager.default.attributesOfItem(atPath: root + "/etc/initramfs-tools/hooks/earlybind")
        #expect(before[.systemFileNumber] as? Int == after[.systemFileNumber] as? Int)
    }

    @Test func keepsTheAdminsConfig() throws {
        try "0000:03:00.0 10de:1b02 # mine\n".writeCreatingDirectory(root + "/etc/earlybind.conf")
        let lines = try install()
        #expect(lines.contains("  unchanged     /etc/earlybind.conf"))
        #expect(try read("/etc/earlybind.conf") == "0000:03:00.0 10de:1b02 # mine\n")
    }

    @Test func refusesABadConfigAndWritesNothing() throws {
        try "03:00.0\n03:00.8\n".writeCreatingDirectory(root + "/etc/earlybind.conf")
        #expect {
            try install()
        } throws: { error in
            "\(error)" == "\(root)/etc/earlybind.conf:2: bad PCI address '03:00.8': the function number goes up to 7\n"
                + "\(root)/etc/earlybind.conf has 1 bad line(s): fix them first, nothing was installed"
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/initramfs-tools/hooks/earlybind"))
    }

    @Test func neverOverwritesAFileItDidNotWrite() throws {
        try "#!/bin/sh\n# the admin's own hook\n".writeCreatingDirectory(root + "/etc/initramfs-tools/hooks/earlybind")
        #expect {
            try install()
        } throws: { error in
            "\(error)" == "'\(root)/etc/initramfs-tools/hooks/earlybind' was not written by earlybind: move it away first"
        }
        #expect(try read("/etc/initramfs-tools/hooks/earlybind") == "#!/bin/sh\n# the admin's own hook\n")
        #expect(!FileManager.default.fileExists(atPath: root + "/usr/local/lib/earlybind/earlybind-boot"))
    }

    @Test func neverWritesThroughASymlink() throws {
        _ = try install()
        let script = root + "/etc/initramfs-tools/scripts/init-top/earlybind"
        let elsewhere = root + "/elsewhere"
        try "# Generated by earlybind, but moved\n".write(toFile: elsewhere, atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: script)
        try FileManager.default.createSymbolicLink(atPath: script, withDestinationPath: elsewhere)
        #expect {
            try install()
        } throws: { error in
            "\(error)" == "refusing to write '\(script)': it is a symlink"
        }
        #expect(try String(contentsOfFile: elsewhere, encoding: .utf8) == "# Generated by earlybind, but moved\n")
    }

    @Test func neverWritesThroughASymlinkedDirectory() throws {
        let outside = root + "-outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.createSymbolicLink(atPath: root + "/etc/initramfs-tools/hooks", withDestinationPath: outside)
        #expect {
            try install()
        } throws: { error in
            "\(error)" == "refusing to write under '\(root)/etc/initramfs-tools/hooks': it is a symlink"
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
    }

    @Test func dryRunWritesNothing() throws {
        let lines = try install(dryRun: true)
        #expect(lines[0] == "earlybind install (dry run) into \(root):")
        #expect(lines[1] == "  would create  /etc/earlybind.conf")
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/earlybind.conf"))
        #expect(!FileManager.default.fileExists(atPath: root + "/usr"))
    }

    @Test func grubDropInFollowsTheCPUVendor() throws {
        _ = try install()
        #expect(try read("/etc/default/grub.d/earlybind.cfg") == """
            # Generated by earlybind: turns the IOMMU on for vfio-pci passthrough.
            GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT intel_iommu=on iommu=pt"

            """)
        try "vendor_id\t: AuthenticAMD\n".write(toFile: root + "/proc/cpuinfo", atomically: false, encoding: .utf8)
        _ = try install()
        #expect(try read("/etc/default/grub.d/earlybind.cfg").contains("\"$GRUB_CMDLINE_LINUX_DEFAULT iommu=pt\""))
    }

    @Test func noGrubWritesNoDropIn() throws {
        _ = try install(noGrub: true)
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/default/grub.d/earlybind.cfg"))
    }

    @Test func needsAnInitramfsToolsConfDir() throws {
        try FileManager.default.removeItem(atPath: root + "/etc/initramfs-tools")
        #expect {
            try install()
        } throws: { error in
            "\(error)" == "no initramfs-tools configuration at '\(root)/etc/initramfs-tools': install initramfs-tools first"
        }
    }

    @Test(arguments: ["relative/dir", "/tmp/with space", "/tmp/quote'd", "/tmp/$(reboot)", "/tmp/../etc", "/.", "/./", "/tmp/@CONFIG@"])
    func rejectsARootThatCannotGoIntoAScript(path: String) {
        #expect(throws: (any Error).self) { try Earlybind.parseAsRoot(["install", "--root", path]) }
        #expect(InstallRoot(path) == nil)
    }

    @Test func rootIsNormalised() {
        #expect(InstallRoot("/srv/stage/")?.path == "/srv/stage")
        #expect(InstallRoot("//srv//stage")?.path == "/srv/stage")
        #expect(InstallRoot("/")?.isSystemRoot == true)
        #expect(InstallRoot("/srv/stage")?.resolve("/etc/earlybind.conf") == "/srv/stage/etc/earlybind.conf")
    }
}

extension String {
    func writeCreatingDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try write(toFile: path, atomically: false, encoding: .utf8)
    }
}
