import ArgumentParser
import EarlybindCore

extension Earlybind {
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop binding devices to vfio-pci at boot.",
            discussion: """
                Each SELECTOR is a PCI address or an ID. Since a group is passed whole, \
                removing any member removes the entries of its whole IOMMU group (and \
                of the other functions of its slot), and says so. Other lines and \
                comments are kept. Then run 'earlybind install' and reboot.
                """
        )

        @OptionGroup var options: GlobalOptions

        @OptionGroup var arguments: SelectorArguments

        @Flag(name: .long, help: "Show what would be removed, and change nothing.")
        var dryRun = false

        @Flag(name: .long, help: "Print the result as JSON on standard output ({\"changed\", \"dry_run\", \"config\", \"entries\"}); the text goes to standard error.")
        var json = false

        func run() throws {
            let host = options.host
            let say: (String) -> Void = json ? { printError($0) } : { print($0) }
            let loaded = try ConfigFile.load(host)
            let inventory = Inventory(host)
            var lines: [Int] = []
            var unmatched: [String] = []
            for text in arguments.selectors {
                let selector = try Selection.parse(text)
                let matched = loaded.map { Remove.entries(matching: selector, in: $0.config, inventory: inventory) } ?? []
                if matched.isEmpty { unmatched.append(text) }
                lines += matched.filter { !lines.contains($0) }
            }
            // As add: asking for what already holds is not an error, so scripts can repeat it.
            if !unmatched.isEmpty {
                say("not configured in \(host.configPath): \(unmatched.joined(separator: ", "))")
            }
            guard let loaded, !lines.isEmpty else {
                say("nothing to change: " + (loaded == nil ? "\(host.configPath) does not exist" : "no entry selects them"))
                if json { print(ConfigChange(changed: false, dryRun: dryRun, entries: []).json(config: host.configPath).rendered()) }
                return
            }
            var editor = ConfigEditor(loaded.text)
            var report: [String] = []
            var removed: [String] = []
            for number in lines.sorted() {
                let line = editor.display(number)
                removed.append(line)
                report.append("  line \(number): \(line)")
                // An ID entry may select devices beyond the one named: say which stop being bound.
                if let entry = loaded.config.entries.first(where: { $0.line == number }), case .id(let id) = entry.selector {
                    let selected = inventory.devices.filter { $0.id == id }.map(\.address.description)
                    if !selected.isEmpty { report.append("    it selected \(selected.joined(separator: ", "))") }
                }
            }
            editor.remove(lines: lines)
            if dryRun {
                say("would remove from \(host.configPath):")
                report.forEach(say)
                say("dry run: \(host.configPath) was not changed")
            } else {
                try Privileges.requireRoot("remove writes \(host.configPath)", onRealSystem: host.root.isSystemRoot, dryRun: false,
                                           alternatives: "--dry-run shows what it would remove")
                try ConfigFile.write(editor.text, host: host)
                say("removed from \(host.configPath):")
                report.forEach(say)
                say("next: run 'earlybind install' to rebuild the initramfs, then reboot")
            }
            if json { print(ConfigChange(changed: true, dryRun: dryRun, entries: removed).json(config: host.configPath).rendered()) }
        }

        /// Line numbers of the entries that select the device or ID, widened to whole groups and slots.
        static func entries(matching selector: Selector, in config: Config, inventory: Inventory) -> [Int] {
            var addresses: [PCIAddress] = []
            var ids: [PCIID] = []
            switch selector {
            case .address(let address, _):
                addresses = [address]
            case .id(let id):
                ids = [id]
                addresses = inventory.devices.filter { $0.id == id }.map(\.address)
            }
            for address in addresses {
                if let device = inventory.device(address) {
                    addresses += inventory.passedTogether(with: device).map(\.address)
                }
            }
            return config.entries.filter { entry in
                switch entry.selector {
                case .address(let address, let expected):
                    return addresses.contains(address) || (expected.map(ids.contains) ?? false)
                case .id(let id):
                    return ids.contains(id) || inventory.devices.contains { $0.id == id && addresses.contains($0.address) }
                }
            }.map(\.line)
        }
    }
}
