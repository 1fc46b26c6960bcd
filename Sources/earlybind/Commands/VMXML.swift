import ArgumentParser
import EarlybindCore
#if canImport(Glibc)
import Glibc
#endif

extension Earlybind {
    struct VMXML: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vm-xml",
            abstract: "Hand the devices to a VM: apply them to a libvirt VM, or print them for libvirt, Proxmox VE or QEMU.",
            discussion: """
                Works on the configured devices, or on the given selectors widened to \
                their slots and IOMMU groups. Each card (the functions of one host slot) \
                gets one guest slot, function 0 marked multifunction, as on real hardware; \
                on q35 on a pcie-root-port of its own.

                --apply VM reads the VM's persistent definition from libvirt (with its \
                secrets), adds a <hostdev> per function with the vfio driver and a fixed \
                guest address, sets relaxed, vapic, spinlocks and vendor_id in <hyperv> \
                and <hidden state='on'/> in <kvm> (against code 43 of Nvidia's Windows \
                drivers before R465; --no-hide leaves those two out), keeps everything \
                else, and defines it back after libvirt's schema check. The replaced \
                definition is saved in /var/lib/earlybind/vm/ (mode 0600). A second run \
                changes nothing. A running VM gets the devices at its next cold start.

                Without --apply: --format libvirt prints the elements to merge by hand \
                (or --merge FILE prints a whole merged definition), proxmox the \
                hostpciN: entries or, with --vmid, the 'qm set' command, qemu the -device \
                arguments.

                As root, each function's ROM is read (enabled, read, disabled; never \
                kept) and checked for a UEFI image: an OVMF guest needs one to show \
                anything on the GPU.

                The devices face add's rules: the boot GPU, the host's last display, a \
                group with storage, network or a host bridge, a device the host is using \
                (below a mounted filesystem or swap, carrying the default route or an \
                SSH session) are refused unless --force.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case libvirt, proxmox, qemu
        }

        @OptionGroup var options: GlobalOptions

        @OptionGroup var arguments: OptionalSelectorArguments

        @Option(name: .long, help: "What to print: libvirt elements, Proxmox VE hostpci entries or QEMU arguments.")
        var format: Format = .libvirt

        @Option(name: .long, help: ArgumentHelp("Merge into this libvirt VM's definition and define it.", valueName: "VM"))
        var apply: String?

        @Option(name: .long, help: ArgumentHelp("The libvirt connection for --apply.", valueName: "URI"))
        var connect = "qemu:///system"

        @Option(name: .long, help: ArgumentHelp("Merge into the libvirt definition in FILE ('-': standard input) and print the result.", valueName: "FILE"))
        var merge: String?

        @Flag(name: .long, help: "With --apply: print the change as a diff and define nothing.")
        var dryRun = false

        @Flag(name: .long, help: "With --apply: report as JSON on standard output.")
        var json = false

        @Flag(name: .long, help: "Leave out <kvm><hidden/> and vendor_id: not needed by Nvidia drivers since R465 (2021).")
        var noHide = false

        @Flag(name: .long, help: "proxmox, qemu: the GPU is the guest's main display (x-vga).")
        var primary = false

        @Option(name: .long, help: ArgumentHelp("proxmox: print 'qm set VMID ...' for this VM, after the indices its config uses.", valueName: "VMID"))
        var vmid: UInt32?

        @Flag(name: .long, help: "Hand over the devices even where add's safety rules refuse them, or the host is using them.")
        var force = false

        func validate() throws {
            if format != .libvirt && (apply != nil || merge != nil) {
                throw ValidationError("--apply and --merge take libvirt definitions: leave out --format \(format.rawValue)")
            }
            if apply != nil && merge != nil { throw ValidationError("--apply and --merge exclude each other") }
            if apply == nil && (dryRun || json) { throw ValidationError("--dry-run and --json go with --apply") }
            if vmid != nil && format != .proxmox { throw ValidationError("--vmid goes with --format proxmox") }
            if primary && format == .libvirt {
                throw ValidationError("--primary goes with --format proxmox or qemu (libvirt makes the card the primary display when the VM has no other video)")
            }
        }

        func run() throws {
            let host = options.host
            let devices = try passedDevices(host)
            let cards = PassthroughCard.cards(devices)
            let say: (String) -> Void = json ? { printError($0) } : { print($0) }
            let roms = ROMCheck(devices: devices, host: host)
            if primary && !devices.contains(where: \.isVGA) {
                printError("warning: --primary: no VGA controller (class 0300) among the devices, and x-vga needs one: nothing is marked primary")
            }
            switch format {
            case .libvirt:
                if let apply {
                    try applyToDomain(apply, cards: cards, roms: roms, host: host)
                    return
                } else if let merge {
                    try mergeFile(merge, cards: cards)
                } else {
                    say(VMXML.snippets(for: cards, hide: !noHide))
                    printError("note: 'earlybind vm-xml --apply VM' merges them into a libvirt VM itself, with guest addresses")
                }
            case .proxmox: try printProxmox(cards, host: host)
            case .qemu:
                let lines = QEMUArguments(cards: cards, primary: primary).devices
                print(lines.enumerated().map { $0.element + ($0.offset + 1 < lines.count ? " \\" : "") }.joined(separator: "\n"))
                printError("note: for -machine q35 (bus pcie.0)" + (primary ? "; with x-vga=on also give QEMU -vga none, so the card is the guest's only VGA" : ""))
            }
            roms.notes(format: format).forEach { wrapped($0, indent: "", continuation: "  ").forEach(printError) }
        }

        /// The configured devices, or the named ones widened as add widens them; add's rules apply to both.
        private func passedDevices(_ host: Host) throws -> [PCIDevice] {
            let inventory = Inventory(host)
            try inventory.requireDevices()
            var devices: [PCIDevice]
            var refusals: [AddSafety.Refusal] = []
            if arguments.selectors.isEmpty {
                // A config that passes the gate, never half of one.
                _ = try ConfigFile.gate(host, otherwise: "nothing was printed or applied")
                let configured = Configured(host: host)
                devices = configured.plan?.decisions.compactMap { decision in
                    if case .bind = decision.action { return decision.device }
                    return decision.device?.driver == .vfioPCI ? decision.device : nil
                } ?? []
                if devices.isEmpty {
                    throw ConfigFileError(description: "no configured device can be passed through: add one with 'earlybind add ADDRESS', or name devices here")
                }
            } else {
                let selection = try Selection(arguments.selectors, inventory: inventory, includeBootVGA: true)
                devices = selection.devices
                refusals = AddSafety.refusals(selection, inventory: inventory, configured: Configured(host: host).bound)
            }
            refusals += AddSafety.inUseRefusals(HostUsage.findings(host: host, addresses: devices.map(\.address)))
            if !refusals.isEmpty && !force {
                throw SafetyRefusal(description: refusals.map(\.reason).joined(separator: "\n")
                    + "\nnothing was printed or applied; --force would hand them over anyway, and a VM started with them takes from the host "
                    + refusals.map(\.cost).joined(separator: "; "))
            }
            for refusal in refusals {
                wrapped("warning: --force overrides: \(refusal.reason); a VM started with it takes from the host \(refusal.cost)",
                        indent: "", continuation: "  ").forEach(printError)
            }
            for device in devices where device.isBootVGA {
                printError("warning: \(device.address) is the boot VGA: the host's console is on it")
            }
            return devices
        }

        private func mergeFile(_ file: String, cards: [PassthroughCard]) throws {
            let text: String
            do {
                text = String(decoding: try PosixIO().read(file == "-" ? "/dev/stdin" : file), as: UTF8.self)
            } catch {
                throw LibvirtError(description: "cannot read \(file): \(errorText(error.errno))")
            }
            let document = try XMLDocument(parsing: text, source: file == "-" ? "standard input" : file)
            let changes = try DomainMerge(cards: cards, hide: !noHide).apply(to: document.root)
            print(document.rendered(), terminator: "")
            if changes.isEmpty { printError("\(file == "-" ? "the definition" : file) already has every device and feature: nothing to change") }
        }

        private func applyToDomain(_ name: String, cards: [PassthroughCard], roms: ROMCheck, host: Host) throws {
            try Privileges.requireRoot("vm-xml --apply changes a libvirt VM and keeps its old definition in \(DefinitionBackups.directory)",
                                       onRealSystem: host.root.isSystemRoot, dryRun: dryRun, alternatives: "--dry-run shows the change")
            let domain = try LibvirtDomain(name, uri: connect)
            let original = try domain.persistentDefinition()
            let document = try XMLDocument(parsing: original, source: "the definition of '\(name)'")
            let before = document.rendered()
            let changes = try DomainMerge(cards: cards, hide: !noHide).apply(to: document.root)
            let after = document.rendered()
            let say: (String) -> Void = json ? { printError($0) } : { print($0) }
            var backup: String?
            if changes.isEmpty {
                say("VM '\(name)' already has every device and feature: nothing to change")
            } else if dryRun {
                say("would change VM '\(name)' (\(connect)):")
                changes.forEach { say("  " + $0) }
                let diff = UnifiedDiff.make(old: before, new: after, path: name + ".xml")
                say(diff.hasSuffix("\n") ? String(diff.dropLast()) : diff)
            } else {
                let backups = DefinitionBackups(root: host.root)
                let staged = try backups.stage(after, as: "definition")
                defer { unlink(staged) }
                let saved = try backups.save(original, domain: name)
                do {
                    // Edited meanwhile (virt-manager, virsh edit): that edit must not be lost.
                    guard try domain.persistentDefinition() == original else {
                        throw LibvirtError(description: "VM '\(name)' was changed while earlybind merged it; nothing was changed: run vm-xml again")
                    }
                    try domain.define(staged)
                } catch {
                    unlink(saved)
                    throw error
                }
                backup = saved
                say("changed VM '\(name)' (\(connect)):")
                changes.forEach { say("  " + $0) }
                say("the previous definition is saved in \(saved)")
            }
            let active = domain.isActive()
            if active && !changes.isEmpty {
                say("the VM is running: it gets the devices when it is shut down and started again (a reboot inside the guest keeps the old ones)")
            }
            roms.notes(format: .libvirt).forEach { wrapped($0, indent: "", continuation: "  ").forEach(printError) }
            guard json else { return }
            print(JSON.object([
                ("domain", .string(name)),
                ("connect", .string(connect)),
                // As install --json: a dry run says what a real one would change.
                ("changed", .bool(!changes.isEmpty)),
                ("dry_run", .bool(dryRun)),
                ("changes", .array(changes.map(JSON.string))),
                ("backup", .optional(backup)),
                ("running", .bool(active)),
                ("devices", .array(cards.flatMap(\.functions).map { .string($0.address.description) })),
                ("roms", roms.json),
            ]).rendered())
        }

        private func printProxmox(_ cards: [PassthroughCard], host: Host) throws {
            let inventory = Inventory(host)
            let entries = ProxmoxEntries(cards: cards, primary: primary) { slot in
                inventory.devices.filter { $0.address.sameSlot(as: slot) }.count
            }
            guard let vmid else {
                for (index, card) in cards.enumerated() { print("hostpci\(index): " + entries.entry(card, pcie: true)) }
                printError("note: pcie=1 needs 'machine: q35' in the VM's config; without it leave ',pcie=1' out")
                return
            }
            let path = host.root.resolve("/etc/pve/qemu-server/\(vmid).conf")
            var config = ProxmoxEntries.VMConfig("")
            var pcie = true
            if let bytes = try? PosixIO().read(path) {
                config = ProxmoxEntries.VMConfig(String(decoding: bytes, as: UTF8.self))
                if !config.isQ35 {
                    pcie = false
                    wrapped("warning: VM \(vmid) is not q35 (machine: \(config.machine ?? "the default, i440fx")): its cards get no pcie=1; 'qm set \(vmid) --machine q35' gives them PCI Express (Windows may then need its drivers set up again)",
                            indent: "", continuation: "  ").forEach(printError)
                }
            } else {
                printError("note: cannot read \(path): hostpci0 and up are taken as free; pcie=1 needs 'machine: q35'")
            }
            var arguments: [String] = []
            var index = 0
            for card in cards {
                if config.passes(card) {
                    printError("VM \(vmid) already passes \(card.slotText)")
                    continue
                }
                while config.usedIndices.contains(index) { index += 1 }
                guard index < 16 else { throw LibvirtError(description: "VM \(vmid) has no free hostpci index (0-15) for \(card.slotText)") }
                arguments += ["--hostpci\(index)", entries.entry(card, pcie: pcie)]
                config.usedIndices.insert(index)
            }
            if arguments.isEmpty {
                printError("VM \(vmid) already has every card: nothing to change")
                return
            }
            // A ';' list of functions would end the command in a shell.
            print((["qm", "set", String(vmid)] + arguments.map { $0.contains(";") ? "'" + $0 + "'" : $0 }).joined(separator: " "))
        }

        /// The elements to merge by hand: what --apply does, less the guest addresses, which
        /// depend on the controllers the VM has.
        static func snippets(for cards: [PassthroughCard], hide: Bool) -> String {
            var lines = [
                "<!-- Merge into the VM's definition with 'virsh edit VM'. -->",
                "<!-- 1. Inside <devices>: one <hostdev> per function. -->",
            ]
            for function in cards.flatMap(\.functions) {
                let address = function.address.libvirtAttributes.map { "\($0.0)='\($0.1)'" }.joined(separator: " ")
                lines += [
                    "<hostdev mode='subsystem' type='pci' managed='yes'>",
                    "  <driver name='vfio'/>",
                    "  <source>",
                    "    <address \(address)/>",
                    "  </source>",
                    "</hostdev>",
                ]
            }
            lines += [
                "<!-- 2. Inside <features>: Hyper-V enlightenments for Windows" + (hide ? "; vendor_id and <kvm><hidden/> keep Nvidia's drivers before R465 from stopping with code 43. -->" : ". -->"),
                "<hyperv mode='custom'>",
                "  <relaxed state='on'/>",
                "  <vapic state='on'/>",
                "  <spinlocks state='on' retries='\(DomainMerge.spinlockRetries)'/>",
            ]
            if hide {
                lines += [
                    "  <vendor_id state='on' value='\(DomainMerge.vendorID)'/>",
                    "</hyperv>",
                    "<kvm>",
                    "  <hidden state='on'/>",
                    "</kvm>",
                ]
            } else {
                lines.append("</hyperv>")
            }
            return lines.joined(separator: "\n")
        }
    }
}

/// The ROM of every function handed over, read once, for the notes and the JSON.
struct ROMCheck {
    let readings: [(device: PCIDevice, reading: ExpansionROM.Reading)]

    /// Only displays: an OVMF guest needs a GPU's UEFI image. A ROM enabled while something
    /// drives the card may decode over its other BARs (PCI spec), so a function a host driver
    /// has, or whose group a process holds, is not read.
    init(devices: [PCIDevice], host: Host) {
        let displays = devices.filter(\.isDisplay)
        let groups = GroupViability(groups: Array(Set(displays.compactMap(\.iommuGroup))).sorted(), configured: [],
                                    inventory: Inventory(host), host: host, askKernel: false).groups
        readings = displays.map { device in
            if let driver = device.driver, driver != .vfioPCI {
                return (device, .unreadable("not read while \(driver) drives it; run vm-xml again once it is on vfio-pci"))
            }
            if let holder = groups.first(where: { $0.number == device.iommuGroup })?.holders.first {
                return (device, .unreadable("not read while \(holder.command) (pid \(holder.pid)) holds its group"))
            }
            return (device, ExpansionROM.read(devicePath: host.sysfs.root + "/bus/pci/devices/" + device.address.description,
                                              enabling: host.sysfs.root == "/sys"))
        }
    }

    func notes(format: Earlybind.VMXML.Format) -> [String] {
        var notes: [String] = []
        let romOption: String
        switch format {
        case .libvirt: romOption = "<rom file='/var/lib/libvirt/vbios/CARD.rom'/> in its <hostdev>"
        case .proxmox: romOption = "romfile=CARD.rom (the file in /usr/share/kvm/) in its hostpci entry"
        case .qemu: romOption = "romfile=/PATH/CARD.rom on its -device"
        }
        for (device, reading) in readings {
            switch reading {
            case .none:
                notes.append("warning: \(device.address) has no ROM: an OVMF (UEFI) guest needs a romfile with a UEFI image for it: \(romOption)")
            case .unreadable(let why):
                notes.append("note: the ROM of \(device.address) was not read (\(why)): whether it holds the UEFI image an OVMF guest needs is unknown")
            case .rom(let rom):
                let images = rom.images.isEmpty ? "no valid image" : rom.images.map(\.name).joined(separator: ", ")
                let size = "\(rom.size / 1024) KiB"
                if rom.hasUEFIImage {
                    notes.append("\(device.address): ROM \(size) (\(images)): an OVMF (UEFI) guest can use it")
                } else {
                    notes.append("warning: \(device.address): ROM \(size) (\(images)) holds no UEFI image: an OVMF (UEFI) guest shows nothing on it without a romfile that has one: get the card's ROM with a UEFI image (its maker's update, or a matching one from TechPowerUp's VGA BIOS collection) and give it as \(romOption); a SeaBIOS guest can use this ROM")
                }
            }
        }
        return notes
    }

    var json: JSON {
        .array(readings.map { device, reading in
            var members: [(String, JSON)] = [("address", .string(device.address.description))]
            switch reading {
            case .none: members += [("present", .bool(false)), ("size", .null), ("images", .array([])), ("uefi", .bool(false)), ("error", .null)]
            case .unreadable(let why): members += [("present", .bool(true)), ("size", .null), ("images", .array([])), ("uefi", .null), ("error", .string(why))]
            case .rom(let rom):
                members += [("present", .bool(true)), ("size", .int(rom.size)), ("images", .array(rom.images.map { .string($0.name) })),
                            ("uefi", .bool(rom.hasUEFIImage)), ("error", .null)]
            }
            return .object(members)
        })
    }
}
