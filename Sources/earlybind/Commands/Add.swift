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

        @Flag(name: .long, help: "Print the result as JSON on standard output ({\"changed\", \"dry_run\", \"config\", \"entries\", \"devices\"}); the text goes to standard error.")
        var json = false

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
            var report: [String] = []
            var written: [String] = []
            var views: [DeviceView] = []
            for device in selection.devices {
                let existing = entries.first { entry in
                    if case .address(device.address, _) = entry.selector { return true }
                    return false
                }
                let view = DeviceView(device, names: names, configured: existing != nil)
                views.append(view)
                report += view.lines()
                let forced = needsForce.contains(device.address)
                let entry = device.address.description + " " + device.id.description + (forced ? " force" : "")
                guard let existing else {
                    editor.append(entry + "  # " + view.className + ": " + view.product)
                    written.append(entry)
                    continue
                }
                // An entry that expects other hardware, or lacks the force now asked for, is brought up to date.
                var stale = false
                if case .address(_, let expected?) = existing.selector, expected != device.id { stale = true }
                if forced && !existing.force { stale = true }
                if stale {
                    editor.replaceEntry(line: existing.line, with: entry)
                    report.append("    line \(existing.line) updated: \(entry)")
                    written.append(entry)
                } else {
                    report.append("    already configured (line \(existing.line))")
                }
            }
            if !written.isEmpty && !dryRun {
                try Privileges.requireRoot("add writes \(host.configPath)", onRealSystem: host.root.isSystemRoot, dryRun: false,
                                           alternatives: "--dry-run shows what it would write")
                try ConfigFile.write(editor.text, host: host)
            }
            // Only once the outcome is known: nothing is announced that then fails or does not happen.
            let say: (String) -> Void = json ? { printError($0) } : { print($0) }
            if written.isEmpty {
                say("already configured in \(host.configPath):")
                report.forEach(say)
                say("nothing to change: every device is already configured")
            } else if dryRun {
                say("would add to \(host.configPath):")
                report.forEach(say)
                say("dry run: \(host.configPath) was not changed")
            } else {
                say("added to \(host.configPath):")
                report.forEach(say)
                say("wrote \(written.count) entr\(written.count == 1 ? "y" : "ies") to \(host.configPath)")
                say("next: run 'earlybind install' to rebuild the initramfs, then reboot")
            }
            if json {
                let change = ConfigChange(changed: !written.isEmpty, dryRun: dryRun, entries: written,
                                          extra: [("devices", .array(views.map(\.json)))])
                print(change.json(config: host.configPath).rendered())
            }
        }
    }
}
