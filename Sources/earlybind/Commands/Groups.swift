import ArgumentParser
import EarlybindCore

extension Earlybind {
    struct Groups: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every IOMMU group with its devices, and whether it can be passed through.",
            discussion: """
                A VM gets a whole IOMMU group or nothing. Each group is shown in numeric \
                order with its devices: address, [vendor:device], class, driver in use, \
                and marks for the boot VGA, bridges and devices earlybind is configured \
                to bind. Names come from the system's pci.ids, as in lspci. A group that \
                holds the boot VGA, storage, network or a host bridge is marked as not \
                passable, with the reason.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() throws {
            let host = options.host
            let names = host.pciNames()
            let inventory = Inventory(host)
            try inventory.requireDevices()
            let configured = Configured(host: host)

            var groups: [(number: Int, refusal: LeaveReason?, devices: [DeviceView])] = []
            for number in inventory.groups {
                let members = inventory.members(of: number)
                let refusal = inventory.refusal(ofGroup: number)
                let views = members.map { device in
                    DeviceView(device, names: names, configured: configured.contains(device.address),
                               problem: device.staysWithHost ? nil : refusal.map { ($0.code, $0.description(of: device.address)) })
                }
                groups.append((number, refusal, views))
            }
            // With the IOMMU off no device has a group: they are listed all the same.
            let ungrouped = inventory.devices.filter { $0.iommuGroup == nil }.map { device in
                DeviceView(device, names: names, configured: configured.contains(device.address))
            }

            if json {
                print(JSON.object([
                    ("iommu_enabled", .bool(inventory.iommuEnabled)),
                    ("groups", .array(groups.map { group in
                        .object([
                            ("group", .int(group.number)),
                            ("passable", .bool(group.refusal == nil && group.devices.contains { !$0.device.staysWithHost })),
                            ("reason", .optional(group.refusal?.code ?? (group.devices.contains { !$0.device.staysWithHost } ? nil : "only_bridges"))),
                            ("caveat", .optional(group.refusal == nil ? Groups.caveat(group.devices) : nil)),
                            ("devices", .array(group.devices.map(\.json))),
                        ])
                    })),
                    ("ungrouped_devices", .array(ungrouped.map(\.json))),
                ]).rendered())
                return
            }

            guard inventory.iommuEnabled else {
                print(IOMMUAdvice.off(host: host, inventory: inventory))
                print("")
                print("devices (no IOMMU groups until the IOMMU is on):")
                print(ungrouped.flatMap { $0.lines() }.joined(separator: "\n"))
                return
            }
            var output: [String] = []
            for group in groups {
                let verdict: String
                if !group.devices.contains(where: { !$0.device.staysWithHost }) {
                    verdict = "only bridges"
                } else if let refusal = group.refusal {
                    verdict = "not passable: " + refusal.description.replacingAll(" (add force to take it)", with: "")
                        .replacingAll("IOMMU group \(group.number) also ", with: "")
                } else if let caveat = Groups.caveat(group.devices) {
                    verdict = "passable, but " + caveat
                } else {
                    verdict = "passable"
                }
                output.append("IOMMU group \(group.number): \(verdict)".cut(to: OutputWidth.columns))
                for view in group.devices { output += view.lines() }
            }
            print(output.joined(separator: "\n"))
            if !configured.problems.isEmpty {
                print("")
                configured.problems.forEach { print("warning: \($0)") }
            }
        }

        /// A passable group the host may still need (storage, a NIC): the text's "passable, but".
        static func caveat(_ devices: [DeviceView]) -> String? {
            devices.first { $0.device.hostCriticalKind != nil }
                .map { "it is \($0.device.hostCriticalKind!.description): the host must not need it" }
        }
    }
}
