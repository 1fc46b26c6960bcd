import CKmod
import EarlybindBootCore

// SwiftPM links an executable's entry point as `<module>_main`; Embedded Swift has
// no `CommandLine`, so the C arguments arrive here directly.
@_cdecl("earlybind_boot_main")
func earlybindBootMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var arguments: [String] = []
    var index = 1
    while index < Int(argc), let argument = argv[index] {
        arguments.append(String(cString: argument))
        index += 1
    }

    let options: BootOptions
    do {
        options = try BootOptions.parse(arguments)
    } catch {
        // Exit 0 even here: nothing that reaches this binary may fail a boot.
        var log = StandardErrorLog()
        log.line("earlybind-boot: " + error.description)
        log.line("Try 'earlybind-boot --help'.")
        return 0
    }
    if options.showHelp {
        let text = Array(BootOptions.usage.utf8)
        _ = text.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        return 0
    }

    #if DEBUG
    TestFault.run(options)
    #else
    runBinder(options, io: PosixIO())
    #endif
    return 0
}

func runBinder<IO: FileIO>(_ options: BootOptions, io: IO) {
    switch options.log {
    case .kmsg:
        var program = BootProgram(options: options, io: io, loader: KmodLoader(), log: KernelLog())
        program.run(trialVariables: PosixIO())
        program.saveReport()
    case .stderr:
        var program = BootProgram(options: options, io: io, loader: KmodLoader(), log: StandardErrorLog())
        program.run(trialVariables: PosixIO())
        program.saveReport()
    }
}

#if DEBUG
/// Test-only faults, in debug builds alone (the shipped release binary has none):
/// EARLYBIND_TEST_FAULT, which a test VM gets from its kernel command line, makes the
/// binder hang, crash, or see vfio-pci refuse one device, to prove the boot survives.
enum TestFault {
    static func run(_ options: BootOptions) {
        guard let fault = getenv("EARLYBIND_TEST_FAULT").map({ String(cString: $0) }) else {
            runBinder(options, io: PosixIO())
            return
        }
        var log = KernelLog()
        if fault.hasPrefixBytes("hang") {
            log.line("earlybind: test fault: hanging")
            while true { sleep(1000) }
        }
        if fault.hasPrefixBytes("crash") {
            log.line("earlybind: test fault: crashing")
            abort()
        }
        if fault.hasPrefixBytes("probe-fails=") {
            let address = Array(fault.utf8.dropFirst("probe-fails=".utf8.count))
            runBinder(options, io: RefusingProbe(refused: address))
            return
        }
        runBinder(options, io: PosixIO())
    }
}

/// Real file operations, except that probing the refused device with vfio-pci's
/// override set does nothing, as if vfio-pci's probe had failed.
struct RefusingProbe: FileIO {
    let refused: [UInt8]
    let posix = PosixIO()

    func read(_ path: String) throws(SystemError) -> [UInt8] { try posix.read(path) }
    func readLink(_ path: String) throws(SystemError) -> [UInt8] { try posix.readLink(path) }
    func list(_ path: String) throws(SystemError) -> [String] { try posix.list(path) }
    func exists(_ path: String) -> Bool { posix.exists(path) }

    func write(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        if bytes == refused && path.utf8.reversed().starts(with: "drivers_probe".utf8.reversed()) {
            let override = (try? posix.read(String(decoding: Array(path.utf8.dropLast("drivers_probe".utf8.count)), as: UTF8.self)
                + "devices/" + String(decoding: refused, as: UTF8.self) + "/driver_override")) ?? []
            if override.starts(with: "vfio-pci".utf8) { return }
        }
        try posix.write(path, bytes)
    }
}

extension String {
    func hasPrefixBytes(_ prefix: StaticString) -> Bool {
        utf8.count >= prefix.utf8CodeUnitCount && utf8.prefix(prefix.utf8CodeUnitCount).elementsEqual(
            UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount))
    }
}
#endif
