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
            let names = PCINames()
            let inventory = Inventory(host)
            if let problem = inventory.problem { throw InstallError(description: "cannot list PCI devices: \(problem)") }
            let configured = Configured(host: host)

            var groups: [(number: Int, refusal: LeaveReason?, devices: [DeviceView])] = []
            for number in inventory.groups {
                let members = inventory.members(of: number)
                let refusal = inventory.refusal(ofGroup: number)
                let views = members.map { device in
                    DeviceView(device, names: names, configured: configured.contains(device.address),
                               problem: device.isBridge ? nil : refusal.map { ($0.code, $0.description) })
                }
                groups.append((number, refusal, views))
            }

            if json {
                print(JSON.object([
                    ("iommu_enabled", .bool(inventory.iommuEnabled)),
                    ("groups", .array(groups.map { group in
                        .object([
                            ("group", .int(group.number)),
                            ("passable", .bool(group.refusal == nil && group.devices.contains { !$0.device.isBridge })),
                            ("reason", .optional(group.refusal?.code ?? (group.devices.contains { !$0.device.isBridge } ? nil : "only_bridges"))),
                            ("devices", .array(group.devices.map(\.json))),
                        ])
                    })),
                ]).rendered())
                return
            }

            guard inventory.iommuEnabled else {
                print(IOMMUAdvice.off(host: host, inventory: inventory))
                return
            }
            var output: [String] = []
            for group in groups {
                let verdict: String
                if !group.devices.contains(where: { !$0.device.isBridge }) {
                    verdict = "only bridges"
                } else if let refusal = group.refusal {
                    verdict = "not passable: " + refusal.description.replacingAll(" (add force to take it)", with: "")
                        .replacingAll("IOMMU group \(group.number) also ", with: "")
                } else if let critical = group.devices.first(where: { $0.device.hostCriticalKind != nil }) {
                    verdict = "passable, but it is \(critical.device.hostCriticalKind!.description): the host must not need it"
                } else {
                    verdict = "passable"
                }
                output.append("IOMMU group \(group.number): \(verdict)".truncated(80))
                for view in group.devices { output += view.lines() }
            }
            print(output.joined(separator: "\n"))
            if !configured.problems.isEmpty {
                print("")
                configured.problems.forEach { print("warning: \($0)") }
            }
        }
    }
}

enum IOMMUAdvice {
    /// What to do when the kernel shows no IOMMU groups.
    static func off(host: Host, inventory: Inventory) -> String {
        var lines = wrapped("IOMMU is off: \(host.sysfs.root)/kernel/iommu_groups is empty, so no device can be passed through. To turn it on:",
                            indent: "", continuation: "")
        lines += wrapped("1. enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the firmware setup;", indent: "  ", continuation: "     ")
        lines += wrapped("2. " + commandLineStep(cpuVendor: host.cpuVendor) + ";", indent: "  ", continuation: "     ")
        lines += wrapped("3. reboot and run 'earlybind groups' again.", indent: "  ", continuation: "     ")
        lines.append("\(inventory.devices.count) PCI devices were found.")
        return lines.joined(separator: "\n")
    }

    /// The kernel flag the CPU needs: Intel's IOMMU is off unless asked for, AMD's is
    /// on by default; for another or unknown vendor earlybind does not guess.
    static func neededFlag(cpuVendor: String?) -> String? {
        cpuVendor == "GenuineIntel" ? "intel_iommu=on" : nil
    }

    /// Whether the command line turns the needed flag on (`intel_iommu=on,igfx_off` does).
    static func isPresent(_ flag: String, in cmdline: [String]) -> Bool {
        let name = String(flag.prefix { $0 != "=" })
        let value = String(flag.drop { $0 != "=" }.dropFirst())
        return cmdline.contains { word in
            word.hasPrefix(name + "=") && word.dropFirst(name.count + 1).split(separator: ",").contains { $0 == value }
        }
    }

    static func commandLineStep(cpuVendor: String?) -> String {
        switch cpuVendor {
        case "AuthenticAMD":
            return "AMD: the kernel turns AMD-Vi on by itself; make sure amd_iommu=off is not on the kernel command line"
        case "GenuineIntel":
            return "Intel: boot with intel_iommu=on ('earlybind install' adds it through a GRUB drop-in)"
        default:
            return "on Intel, boot with intel_iommu=on; on AMD the kernel turns AMD-Vi on by itself"
        }
    }
}
