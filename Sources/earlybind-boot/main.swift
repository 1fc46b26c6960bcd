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

    switch options.log {
    case .kmsg:
        var program = BootProgram(options: options, io: PosixIO(), loader: KmodLoader(), log: KernelLog())
        program.run()
    case .stderr:
        var program = BootProgram(options: options, io: PosixIO(), loader: KmodLoader(), log: StandardErrorLog())
        program.run()
    }
    return 0
}
