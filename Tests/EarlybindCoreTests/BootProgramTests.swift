import EarlybindCore
import EarlybindTestSupport
import Foundation
import Testing

@Suite struct BootProgramTests {
    /// Runs the boot job on a fake machine and returns its log lines, the kernel and the loader.
    func boot(
        _ devices: [FakeDevice], config: String?, cmdline: String = "BOOT_IMAGE=/vmlinuz intel_iommu=on",
        vfioModule: ModuleLoadResult = .inserted, drivers: [String] = [], vfioRefuses: Set<String> = [],
        faults: [String: [Fault]] = [:]
    ) throws -> (lines: [String], kernel: SimulatedKernel, loader: FakeModuleLoader, report: BootReport) {
        let tree = try FakeSysfs(devices, drivers: drivers)
        var options = BootOptions()
        options.sysfs = tree.root
        options.config = tree.root + "/earlybind.conf"
        options.cmdline = tree.root + "/cmdline"
        try tree.write(options.cmdline, cmdline + "\n")
        if let config { try tree.write(options.config, config) }
        let kernel = SimulatedKernel(tree)
        kernel.vfioRefuses = vfioRefuses
        kernel.faults = faults
        var loader = FakeModuleLoader(onLoad: { _ in try? tree.addDriver("vfio-pci") })
        loader.results["vfio-pci"] = vfioModule
        var program = BootProgram(options: options, io: kernel, loader: loader, log: MemoryLog())
        program.run()
        let lines = program.log.lines.map { $0.replacingOccurrences(of: tree.root, with: "ROOT") }
        return (lines, kernel, program.loader, program.report)
    }

    @Test func bindsTheGroupAndLogsOneLinePerDevice() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "03:00.0 10de:1b02\n")
        #expect(run.lines == [
            "earlybind: vfio-pci: inserted",
            "earlybind: 0000:03:00.0 [10de:1b02]: bound to vfio-pci (was nouveau)",
            "earlybind: 0000:03:00.1 [10de:10ef]: bound to vfio-pci (was snd_hda_intel)",
            "earlybind: done: 2 on vfio-pci, 0 left alone, 0 failed",
        ])
        #expect(run.loader.requested == ["vfio-pci ids="])
    }

    @Test func switchedOffOnTheCommandLine() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "03:00.0\n", cmdline: "quiet earlybind=off splash")
        #expect(run.lines == ["earlybind: skipped: earlybind=off"])
        #expect(run.kernel.writes.isEmpty)
        #expect(run.loader.requested.isEmpty)
    }

    @Test func similarWordsDoNotSwitchItOff() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "03:00.0\n", cmdline: "earlybind=offline xearlybind=off")
        #expect(run.lines.last == "earlybind: done: 2 on vfio-pci, 0 left alone, 0 failed")
    }

    @Test func configWithErrorsBindsNothing() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "03:00.0\n03:00.9\nnvidia\n")
        #expect(run.lines == [
            "earlybind: ROOT/earlybind.conf:2: bad PCI address '03:00.9': the function number goes up to 7",
            "earlybind: ROOT/earlybind.conf:3: 'nvidia' is neither a PCI address ([DOMAIN:]BB:DD.F) nor an ID (vvvv:dddd)",
            "earlybind: ROOT/earlybind.conf has 2 bad line(s): nothing bound",
        ])
        #expect(run.kernel.writes.isEmpty)
        #expect(run.loader.requested.isEmpty)
    }

    @Test func missingConfigDoesNothing() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: nil)
        #expect(run.lines == ["earlybind: no config at ROOT/earlybind.conf: nothing to do"])
    }

    @Test func nothingToBindLoadsNoModule() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "00:01.0\n")
        #expect(run.loader.requested.isEmpty)
        #expect(run.kernel.writes.isEmpty)
        #expect(run.lines == [
            "earlybind: 0000:00:01.0 [1234:1111]: left alone: boot VGA (add force to take it)",
            "earlybind: done: 0 on vfio-pci, 1 left alone, 0 failed",
        ])
    }

    @Test func withoutVFIONoOverrideIsWritten() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "03:00.0\n", vfioModule: .failed("module 'vfio-pci' not found"))
        #expect(run.kernel.writes.isEmpty)
        #expect(run.lines[0] == "earlybind: vfio-pci: module 'vfio-pci' not found")
        #expect(run.lines[1] == "earlybind: 0000:03:00.0 [10de:1b02]: left alone: vfio-pci is not available: vfio-pci: module 'vfio-pci' not found")
    }

    @Test func registeredVFIOIsUsedWithoutLoading() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "03:00.0\n", drivers: ["vfio-pci"])
        #expect(run.loader.requested.isEmpty)
        #expect(run.lines.last == "earlybind: done: 2 on vfio-pci, 0 left alone, 0 failed")
    }

    @Test func builtInVFIOCounts() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "03:00.0\n", vfioModule: .builtIn)
        #expect(run.lines.first == "earlybind: vfio-pci: built in")
        #expect(run.lines.last == "earlybind: done: 2 on vfio-pci, 0 left alone, 0 failed")
    }

    @Test func eachDeviceLogsEvenWhenManyAreBound() throws {
        let devices = (0..<12).map {
            FakeDevice(String(format: "0000:%02x:00.0", $0 + 1), id: "10de:1b02", class: "030000", group: 10 + $0, driver: "nouveau")
        }
        let run = try boot(devices, config: "10de:1b02\n")
        #expect(run.lines.filter { $0.contains("bound to vfio-pci (was nouveau)") }.count == 12)
    }

    @Test func aGroupIsBoundWholeOrGivenBack() throws {
        let run = try boot(Fixtures.gpuWithAudio, config: "03:00.0\n", vfioRefuses: ["0000:03:00.1"])
        #expect(run.lines == [
            "earlybind: vfio-pci: inserted",
            "earlybind: 0000:03:00.0 [10de:1b02]: bound to vfio-pci (was nouveau)",
            "earlybind: 0000:03:00.1 [10de:10ef]: not bound: vfio-pci did not take it; back on snd_hda_intel",
            "earlybind: 0000:03:00.0 [10de:1b02]: given back: 0000:03:00.1 of IOMMU group 3 was not bound; back on nouveau",
            "earlybind: done: 0 on vfio-pci, 0 left alone, 2 failed",
        ])
        #expect(run.kernel.tree.driver(of: "0000:03:00.0") == "nouveau")
        #expect(run.kernel.override(of: "0000:03:00.0") == nil)
        #expect(run.kernel.writes.suffix(3).map(\.description) == [
            "bus/pci/devices/0000:03:00.0/driver_override <- \"\\n\"",
            "bus/pci/drivers/vfio-pci/unbind <- \"0000:03:00.0\"",
            "bus/pci/drivers_probe <- \"0000:03:00.0\"",
        ])
    }

    @Test func otherGroupsStillBindWhenOneFails() throws {
        let run = try boot(Fixtures.identicalGPUs, config: "1234:1111\n", vfioRefuses: ["0000:00:03.0"])
        #expect(run.lines.contains("earlybind: 0000:00:05.0 [1234:1111]: bound to vfio-pci (was bochs-drm)"))
        #expect(run.lines.last == "earlybind: done: 2 on vfio-pci, 1 left alone, 1 failed")
        #expect(run.kernel.tree.driver(of: "0000:00:03.0") == "bochs-drm")
    }

    static let faultyWrites = [
        "bus/pci/devices/0000:00:03.0/driver_override",
        "bus/pci/drivers/bochs-drm/unbind",
        "bus/pci/drivers_probe",
        "bus/pci/devices/0000:00:05.1/driver_override",
        "bus/pci/drivers/snd_hda_intel/unbind",
    ]

    /// Any sysfs write may fail with any of these: the failure is reported exactly, the
    /// other group is still bound, and every device ends on vfio-pci or back on the
    /// driver it had, its group never split, no override left behind.
    @Test(arguments: faultyWrites, [Fault.errno(EBUSY), .errno(EINVAL), .errno(ENODEV), .errno(EACCES), .shortWrite])
    func everyWriteMayFail(path: String, fault: Fault) throws {
        let run = try boot(Fixtures.identicalGPUs, config: "1234:1111\n", faults: [path: [fault]])
        let tree = run.kernel.tree
        let original = ["0000:00:03.0": "bochs-drm", "0000:00:05.0": "bochs-drm", "0000:00:05.1": "snd_hda_intel"]
        for (address, driver) in original {
            let now = tree.driver(of: address)
            #expect(now == "vfio-pci" || now == driver, "\(address) on \(now ?? "nothing")")
            if now != "vfio-pci" { #expect(run.kernel.override(of: address) == nil, "\(address) keeps an override") }
        }
        #expect((tree.driver(of: "0000:00:05.0") == "vfio-pci") == (tree.driver(of: "0000:00:05.1") == "vfio-pci"))
        let cause: String
        switch fault {
        case .errno(let code): cause = String(cString: strerror(code))
        case .shortWrite: cause = "short write"
        case .none: cause = ""
        }
        let report = "could not write 'ROOT/\(path)': \(cause)"
        #expect(run.lines.contains { $0.contains(report) }, "no line reports \(report): \(run.lines)")
        let failedGroupFive = path.contains("05.1") || path.contains("snd_hda_intel")
        #expect(tree.driver(of: failedGroupFive ? "0000:00:03.0" : "0000:00:05.0") == "vfio-pci")
        #expect(run.lines.last?.hasPrefix("earlybind: done: ") == true)
    }

    /// When even the give-back fails (the override cannot be cleared), both failures are
    /// logged, so the admin learns the device needs attention.
    @Test func aFailedGiveBackIsReported() throws {
        let path = "bus/pci/devices/0000:00:03.0/driver_override"
        let run = try boot(Fixtures.identicalGPUs, config: "0000:00:03.0\n", vfioRefuses: ["0000:00:03.0"],
                           faults: [path: [.none, .errno(EIO)]])
        #expect(run.lines.contains(
            "earlybind: 0000:00:03.0 [1234:1111]: not bound: vfio-pci did not take it; could not write 'ROOT/\(path)': Input/output error; no driver took it back"))
    }
}
