import ArgumentParser
import EarlybindCore

extension Earlybind {
    struct VMXML: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vm-xml",
            abstract: "Print the libvirt XML that hands the devices to a VM.",
            discussion: """
                Prints, for the configured devices (or the given selectors, widened to \
                their slots and IOMMU groups), one <hostdev> per function to put inside \
                <devices>, and the <hyperv> and <kvm> elements to put inside <features> \
                that keep Nvidia's Windows driver from stopping with code 43. Merge them \
                with 'virsh edit VM'. A device the host is using (a controller below a \
                mounted filesystem or active swap, a NIC carrying the default route or an \
                SSH session) is refused unless --force.
                """
        )

        @OptionGroup var options: GlobalOptions

        @OptionGroup var arguments: OptionalSelectorArguments

        @Flag(name: .long, help: "Print the XML even where add's safety rules refuse the devices, or the host is using them.")
        var force = false

        func run() throws {
            let host = options.host
            let inventory = Inventory(host)
            var devices: [PCIDevice]
            var refusals: [AddSafety.Refusal] = []
            if arguments.selectors.isEmpty {
                // The configured devices, from a config that passes the gate: never half a config.
                _ = try ConfigFile.gate(host, otherwise: "no XML was printed")
                let configured = Configured(host: host)
                devices = configured.plan?.decisions.compactMap { decision in
                    if case .bind = decision.action { return decision.device }
                    return decision.device?.driver == .vfioPCI ? decision.device : nil
                } ?? []
                if devices.isEmpty {
                    throw ConfigFileError(description: "no configured device can be passed through: add one with 'earlybind add ADDRESS', or name devices here")
                }
            } else {
                // Named devices face add's rules; configured ones passed them in the plan above.
                let selection = try Selection(arguments.selectors, inventory: inventory, includeBootVGA: true)
                devices = selection.devices
                refusals = AddSafety.refusals(selection, inventory: inventory, configured: Configured(host: host).bound)
            }
            refusals += AddSafety.inUseRefusals(HostUsage.findings(host: host, addresses: devices.map(\.address)))
            if !refusals.isEmpty && !force {
                throw SafetyRefusal(description: refusals.map(\.reason).joined(separator: "\n")
                    + "\nnothing was printed; --force would print it anyway, and a VM started with it takes from the host "
                    + refusals.map(\.cost).joined(separator: "; "))
            }
            for refusal in refusals {
                wrapped("warning: --force overrides: \(refusal.reason); a VM started with it takes from the host \(refusal.cost)",
                        indent: "", continuation: "  ").forEach(printError)
            }
            for device in devices where device.isBootVGA {
                printError("warning: \(device.address) is the boot VGA: the host's console is on it")
            }
            print(VMXML.snippets(for: devices.map(\.address)))
        }

        static let vendorID = "earlybind001"

        static func snippets(for addresses: [PCIAddress]) -> String {
            var lines = [
                "<!-- Merge into the VM's definition with 'virsh edit VM'. -->",
                "<!-- 1. Inside <devices>: one <hostdev> per function. -->",
            ]
            for address in addresses {
                lines += [
                    "<hostdev mode='subsystem' type='pci' managed='yes'>",
                    "  <source>",
                    "    <address domain='0x\(hexString(address.domain, width: 4))' bus='0x\(hexString(UInt32(address.bus), width: 2))' slot='0x\(hexString(UInt32(address.device), width: 2))' function='0x\(address.function)'/>",
                    "  </source>",
                    "</hostdev>",
                ]
            }
            lines += [
                "<!-- 2. Inside <features>: keeps Nvidia's Windows driver from stopping with code 43. -->",
                "<hyperv mode='custom'>",
                "  <relaxed state='on'/>",
                "  <vapic state='on'/>",
                "  <spinlocks state='on' retries='8191'/>",
                "  <vendor_id state='on' value='\(vendorID)'/>",
                "</hyperv>",
                "<kvm>",
                "  <hidden state='on'/>",
                "</kvm>",
            ]
            return lines.joined(separator: "\n")
        }
    }
}

