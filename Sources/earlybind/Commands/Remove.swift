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

        func run() throws {
            let host = options.host
            guard let loaded = try ConfigFile.load(host) else {
                throw ConfigFileError(description: "\(host.configPath) does not exist: nothing is configured")
            }
            let inventory = Inventory(host)
            var lines: [Int] = []
            for text in arguments.selectors {
                let matched = Remove.entries(matching: try Selection.parse(text), in: loaded.config, inventory: inventory)
                if matched.isEmpty { throw ValidationError("no entry of \(host.configPath) selects '\(text)'") }
                lines += matched.filter { !lines.contains($0) }
            }
            var editor = ConfigEditor(loaded.text)
            print(dryRun ? "would remove from \(Config.defaultPath):" : "removing from \(Config.defaultPath):")
            for number in lines.sorted() {
                print("  line \(number): \(editor.display(number))")
                // An ID entry may select devices beyond the one named: say which stop being bound.
                if let entry = loaded.config.entries.first(where: { $0.line == number }), case .id(let id) = entry.selector {
                    let selected = inventory.devices.filter { $0.id == id }.map(\.address.description)
                    if !selected.isEmpty { print("    it selected \(selected.joined(separator: ", "))") }
                }
            }
            editor.remove(lines: lines)
            if dryRun {
                print("dry run: \(host.configPath) was not changed")
                return
            }
            try ConfigFile.write(editor.text, host: host)
            print("next: run 'earlybind install' to rebuild the initramfs, then reboot")
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
