import ArgumentParser
import EarlybindCore

/// One or more selectors on the command line, each checked before the command runs.
struct SelectorArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("PCI addresses (03:00.0) or vendor:device IDs (10de:1b02).", valueName: "selector"))
    var selectors: [String]

    func validate() throws {
        for selector in selectors { _ = try Selection.parse(selector) }
    }
}

/// Selectors that may be left out, meaning the configured devices.
struct OptionalSelectorArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("PCI addresses or vendor:device IDs (default: the configured devices).", valueName: "selector"))
    var selectors: [String] = []

    func validate() throws {
        for selector in selectors { _ = try Selection.parse(selector) }
    }
}
