import ArgumentParser
import EarlybindCore

extension Earlybind {
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Configure devices to be bound to vfio-pci at boot.",
            discussion: """
                Each SELECTOR is a PCI address (03:00.0 or 0000:03:00.0) or an ID \
                (10de:1b02). An address brings the other endpoints of its IOMMU group \
                along (a VM gets a group whole) and, for a GPU, the audio, USB and USB-C \
                functions of its card (same vendor, same slot or below the card's own \
                switch). Each \
                device is written to /etc/earlybind.conf by address with its current ID, \
                so it is left alone if the hardware at that address changes. The \
                admin's lines and comments are kept; the file is replaced atomically.

                Refused unless --force: the boot GPU; taking the last display controller \
                from the host; a group that also holds storage, network or a host \
                bridge with a driver; a device without an IOMMU group while the IOMMU is \
                on; a device the host is using (a controller below a mounted filesystem or \
                active swap, through md, LVM or LUKS; a NIC carrying the default route or \
                an SSH session, through a bridge, bond or VLAN). The refusal says what the host would lose; with --force only the \
                refused entries are written with 'force'.

                Then run 'earlybind install' to rebuild the initramfs, and reboot.
                """
        )

        @OptionGroup var options: GlobalOptions

        @OptionGroup var arguments: SelectorArguments

        @Flag(name: .long, help: "Take the devices even where a safety rule refuses; the refused entries are recorded with 'force'.")
        var force = false

        @Flag(name: .long, help: "Show what would be added, and change nothing.")
        var dryRun = false

        func run() throws {
            let host = options.host
            let inventory = Inventory(host)
            try inventory.requireDevices()
            let loaded = try ConfigFile.gate(host, otherwise: "nothing was changed")
            let selection = try Selection(arguments.selectors, inventory: inventory, includeBootVGA: force)
            let configured = Configured(host: host)
            let inUse = HostUsage.findings(host: host, addresses: selection.devices.map(\.address))
            let refusals = AddSafety.refusals(selection, inventory: inventory, configured: configured.bound, inUse: inUse)
            if !refusals.isEmpty && !force { throw SafetyRefusal(description: AddSafety.refusalMessage(refusals)) }
            for warning in AddSafety.warnings(refusals) {
                wrapped(warning, indent: "", continuation: "  ").forEach(printError)
            }
            // Only the entries a rule refuses carry force: a forced entry is a standing exception.
            let needsForce = Set(refusals.flatMap(\.forced))
            if !inventory.iommuEnabled {
                wrapped("warning: the IOMMU is off, so group safety cannot be checked yet; run 'earlybind groups' once it is on",
                        indent: "", continuation: "  ").forEach(printError)
            }

            let names = host.pciNames()
            var editor = ConfigEditor(loaded?.text ?? Array(InstallPlan.configTemplate.utf8))
            let entries = loaded?.config.entries ?? []
            print(dryRun ? "would add to \(Config.defaultPath):" : "adding to \(Config.defaultPath):")
            var added = 0
            for device in selection.devices {
                let existing = entries.first { entry in
                    if case .address(device.address, _) = entry.selector { return true }
                    return false
                }
                let view = DeviceView(device, names: names, configured: existing != nil)
                view.lines().forEach { print($0) }
                let forced = needsForce.contains(device.address)
                let entry = device.address.description + " " + device.id.description + (forced ? " force" : "")
                guard let existing else {
                    editor.append(entry + "  # " + view.className + ": " + view.product)
                    added += 1
                    continue
                }
                // An entry that expects other hardware, or lacks the force now asked for, is brought up to date.
                var stale = false
                if case .address(_, let expected?) = existing.selector, expected != device.id { stale = true }
                if forced && !existing.force { stale = true }
                if stale {
                    editor.replaceEntry(line: existing.line, with: entry)
                    print("    line \(existing.line) updated: \(entry)")
                    added += 1
                } else {
                    print("    already configured (line \(existing.line))")
                }
            }
            if added == 0 {
                print("nothing to change: every device is already configured")
                return
            }
            if dryRun {
                print("dry run: \(host.configPath) was not changed")
                return
            }
            try ConfigFile.write(editor.text, host: host)
            print("wrote \(added) entr\(added == 1 ? "y" : "ies") to \(host.configPath)")
            print("next: run 'earlybind install' to rebuild the initramfs, then reboot")
        }
    }
}
