@testable import earlybind
import EarlybindTestSupport
import Foundation
import Testing

/// With --root other than /, every fact of the machine comes from the root and sysfs,
/// never from the machine that runs the command; with --root / they are this machine's.
@Suite struct StagedRootTests {
    /// The text with every run of blanks and newlines as one space: long temporary paths wrap.
    func words(_ text: String) -> String {
        text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    @Test func whatTheRootLacksIsUnknownNotBorrowed() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio)
        try FileManager.default.removeItem(atPath: machine.root + "/proc")
        let json = try machine.run(["status", "--json"]).json()
        let iommu = try #require(json["iommu"] as? [String: Any])
        #expect(iommu["cpu_vendor"] is NSNull)
        #expect(iommu["kernel_flags"] as? [String] == [])
        #expect(json["kernel_log"] is NSNull)
        let modules = try #require(json["modules"] as? [[String: String]])
        #expect(modules.allSatisfy { $0["state"] == "unknown" })
        let text = words(try machine.run(["status"]).output)
        #expect(text.contains("CPU: unknown vendor"))
        // Without the root's proc/interrupts, remapping is unknown, not read from this machine.
        #expect(iommu["interrupt_remapping"] is NSNull)
        #expect(text.contains("interrupts: cannot tell whether they are remapped"))
        #expect(text.contains("no \(machine.root)/proc/sys/kernel/osrelease: cannot tell built-in from missing modules"))
        #expect(text.contains("boot log: cannot read the kernel log"))

        let host = earlybind.Host(root: InstallRoot(machine.root)!, sysfsRoot: machine.tree.root)
        #expect(host.cmdline.isEmpty)
        #expect(host.cpuVendor == nil)
        #expect(host.kernelRelease == nil)
        #expect(host.modulesDirectory == nil)
        #expect(host.procRoot == machine.root + "/proc")
        #expect(host.kernelLogPath == machine.root + "/dev/kmsg")
    }

    @Test func theRootsKernelReleaseAndLog() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio, config: "03:00.0\n")
        try machine.markInstalled()
        try machine.write("/proc/sys/kernel/osrelease", "6.1.0-staged\n")
        try machine.write("/dev/kmsg", """
            6,1,0,-;Linux version 6.1.0-staged
            5,2,1,-;earlybind: 0000:03:00.0 [10de:1b02]: not bound: vfio-pci did not take it; back on nouveau

            """)
        let host = earlybind.Host(root: InstallRoot(machine.root)!, sysfsRoot: machine.tree.root)
        #expect(host.kernelRelease == "6.1.0-staged")
        #expect(host.modulesDirectory == machine.root + "/lib/modules/6.1.0-staged")

        let json = try machine.run(["status", "--json"]).json()
        #expect(json["kernel_log"] as? [String] == ["earlybind: 0000:03:00.0 [10de:1b02]: not bound: vfio-pci did not take it; back on nouveau"])
        let device = try #require((json["devices"] as? [[String: Any]])?.first)
        #expect(device["problem"] as? String == "bind_failed")
        #expect(words(try machine.run(["status"]).output).contains("no \(machine.root)/lib/modules/6.1.0-staged: cannot tell built-in from missing modules"))
    }

    /// An empty module directory of the root: libkmod finds nothing there, whatever this machine has loaded.
    @Test func modulesAreLookedUpInTheRootAlone() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio)
        try machine.write("/proc/sys/kernel/osrelease", "6.1.0-staged\n")
        try FileManager.default.createDirectory(atPath: machine.root + "/lib/modules/6.1.0-staged", withIntermediateDirectories: true)
        let modules = try #require(try machine.run(["status", "--json"]).json()["modules"] as? [[String: String]])
        #expect(modules.map { $0["state"] } == ["missing", "missing", "missing", "missing"])
    }

    @Test func theSystemRootIsThisMachine() {
        let host = earlybind.Host(root: InstallRoot("/")!, sysfsRoot: "/sys")
        #expect(host.procRoot == "/proc")
        #expect(host.kernelLogPath == "/dev/kmsg")
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #expect(host.kernelRelease == release)
        #expect(host.modulesDirectory == "/lib/modules/" + release)
        if let cmdline = try? String(contentsOfFile: "/proc/cmdline", encoding: .utf8) {
            #expect(host.cmdline == cmdline.split(whereSeparator: \.isWhitespace).map(String.init))
        }
    }

    /// --pci-ids names devices from that file; a missing one means numbers, as with lspci.
    @Test func namesFromTheGivenPCIIDs() throws {
        let machine = try FakeMachine(Fixtures.gpuWithAudio)
        let ids = machine.root + "/pci.ids"
        try machine.write("/pci.ids", "10de  Some Vendor\n\t1b02  Some GPU\nC 03  Display controller\n\t00  VGA thing\n")
        let gpu = { (result: CLIResult) throws -> [String: Any] in
            let groups = try #require(try result.json()["groups"] as? [[String: Any]])
            let devices = groups.flatMap { $0["devices"] as? [[String: Any]] ?? [] }
            return try #require(devices.first { $0["address"] as? String == "0000:03:00.0" })
        }
        let named = try gpu(try machine.run(["groups", "--json", "--pci-ids", ids]))
        #expect(named["product"] as? String == "Some Vendor Some GPU")
        #expect(named["class_name"] as? String == "VGA thing")
        let numbers = try gpu(try machine.run(["groups", "--json", "--pci-ids", machine.root + "/none"]))
        #expect(numbers["product"] as? String == "Device 10de:1b02")
        #expect(numbers["class_name"] as? String == "Class 0300")
    }
}
