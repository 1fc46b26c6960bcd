import EarlybindCore

/// What the machine shows about its IOMMU: the ACPI table the firmware describes it in,
/// the groups the kernel made, and whether interrupts are remapped. The kind of IOMMU
/// comes from the table; the CPU vendor is only the fallback when no table is visible.
struct IOMMUEvidence {
    enum Kind: String {
        case intel, amd
    }

    /// How interrupt remapping was seen.
    enum RemappingSource: String {
        /// `IR-PCI-MSI` / `IR-IO-APIC` chips in /proc/interrupts (readable by anyone).
        case procInterrupts = "proc_interrupts"
        /// The kernel's `Enabled IRQ remapping` / `Interrupt remapping enabled` line.
        case kernelLog = "kernel_log"
    }

    /// DMAR (Intel VT-d) or IVRS (AMD-Vi); nil when the firmware describes neither.
    let firmwareTable: String?
    let groups: Int
    let cpuVendor: String?
    /// The words of this boot's command line about the IOMMU (and earlybind=off).
    let kernelFlags: [String]
    /// Those that turn an IOMMU off.
    let disablingFlags: [String]
    /// nil when neither /proc/interrupts nor the kernel log tells.
    let interruptRemapping: Bool?
    let remappingSource: RemappingSource?
    /// vfio_iommu_type1's allow_unsafe_interrupts: attach without remapping.
    let unsafeInterruptsAllowed: Bool
    /// Whether this boot's command line has intel_iommu=on, the one flag `neededFlag` can be.
    let neededFlagPresent: Bool

    /// The ACPI table that describes the IOMMU, if the firmware has one. A staged root
    /// with this machine's /sys has no firmware of its own to read: unknown.
    static func firmwareTable(of host: Host) -> String? {
        guard host.root.isSystemRoot || host.sysfs.root != "/sys" else { return nil }
        return ["DMAR", "IVRS"].first { host.sysfsExists("firmware/acpi/tables/" + $0) }
    }

    /// The machine's IOMMU, for the flags install writes.
    static func kind(of host: Host) -> Kind? {
        kind(table: firmwareTable(of: host), cpuVendor: host.cpuVendor)
    }

    private static func kind(table: String?, cpuVendor: String?) -> Kind? {
        switch table {
        case "DMAR": return .intel
        case "IVRS": return .amd
        default: return cpuVendor == "GenuineIntel" ? .intel : cpuVendor == "AuthenticAMD" ? .amd : nil
        }
    }

    init(host: Host, groups: Int, kernelLog: [String]?) {
        firmwareTable = IOMMUEvidence.firmwareTable(of: host)
        self.groups = groups
        cpuVendor = host.cpuVendor
        let cmdline = host.cmdline
        kernelFlags = cmdline.filter {
            $0.hasPrefix("intel_iommu=") || $0.hasPrefix("amd_iommu=") || $0.hasPrefix("iommu=") || $0 == "earlybind=off"
        }
        disablingFlags = cmdline.filter { ["intel_iommu=off", "amd_iommu=off", "iommu=off"].contains($0) }

        let interrupts = host.procMatchesSysfs ? host.procFile("/proc/interrupts").map { String(decoding: $0, as: UTF8.self) } : nil
        // arm64's GICv3 ITS isolates MSIs as remapping does on x86 (vfio_iommu_type1 accepts both).
        let remappedChip = interrupts.map { $0.contains("IR-PCI-MSI") || $0.contains("IR-IO-APIC") || $0.contains("ITS-") } ?? false
        let logSaysRemapped = kernelLog?.contains { $0.contains("Enabled IRQ remapping") || $0.contains("Interrupt remapping enabled") } ?? false
        if remappedChip {
            (interruptRemapping, remappingSource) = (true, .procInterrupts)
        } else if logSaysRemapped {
            (interruptRemapping, remappingSource) = (true, .kernelLog)
        } else if let interrupts, interrupts.contains("PCI-MSI") || interrupts.contains("IO-APIC") {
            // Interrupts go through the plain chips: nothing remaps them.
            (interruptRemapping, remappingSource) = (false, .procInterrupts)
        } else {
            (interruptRemapping, remappingSource) = (nil, nil)
        }
        let parameter = host.sysfsFile("module/vfio_iommu_type1/parameters/allow_unsafe_interrupts")?.trimmingNewlines()
        // The kernel takes intel_iommu= words in order: the last one decides.
        let intel = "intel_iommu="
        neededFlagPresent = cmdline.last { $0.hasPrefix(intel) }.map { $0.dropFirst(intel.count).split(separator: ",").contains("on") } ?? false
        // The kernel's bool parameters take y/Y/1 and on/true (kstrtobool).
        let isTrue = { (value: String) in ["y", "1", "on", "true"].contains(value.lowercased()) }
        let option = "vfio_iommu_type1.allow_unsafe_interrupts="
        unsafeInterruptsAllowed = parameter.map(isTrue) ?? false
            || cmdline.contains { $0.hasPrefix(option) && isTrue(String($0.dropFirst(option.count))) }
    }

    var enabled: Bool { groups > 0 }

    /// From the firmware table; from the CPU vendor only when no table is visible.
    var kind: Kind? { IOMMUEvidence.kind(table: firmwareTable, cpuVendor: cpuVendor) }

    /// The flag this IOMMU needs: Intel's VT-d is off unless asked for, AMD-Vi is on by default.
    var neededFlag: String? { kind == .intel ? "intel_iommu=on" : nil }

    private var vendorName: String {
        switch kind {
        case .intel: return "Intel VT-d"
        case .amd: return "AMD-Vi"
        case nil: return "the IOMMU"
        }
    }

    private var tableSentence: String {
        firmwareTable.map { "the firmware describes \(vendorName) (ACPI \($0) table)" }
            ?? "the firmware describes no IOMMU (no ACPI DMAR or IVRS table)"
    }

    /// What keeps the VM from attaching any device, as errors; warnings for what is allowed but unsafe.
    var checks: [StatusCheck] {
        if !enabled { return [offCheck] }
        switch interruptRemapping {
        case true?:
            return []
        case false? where unsafeInterruptsAllowed:
            return [.warning("unsafe_interrupts", nil,
                             "interrupts are not remapped and vfio_iommu_type1's allow_unsafe_interrupts is set: a VM can send the host interrupts it does not own (MSI spoofing), so a guest can disturb or attack the host",
                             fix: "enable interrupt remapping in the firmware setup (VT-d / AMD-Vi with interrupt remapping, x2APIC) and drop allow_unsafe_interrupts")]
        case false?:
            return [.error("interrupt_remapping_off", nil,
                           "the IOMMU is on but interrupts are not remapped (no IR-PCI-MSI or IR-IO-APIC in /proc/interrupts): vfio_iommu_type1 refuses to attach a device",
                           fix: "enable interrupt remapping in the firmware setup (with VT-d / AMD-Vi), and make sure intremap=off is not on the kernel command line")]
        case nil:
            return [.warning("interrupt_remapping_unknown", nil,
                             "cannot tell whether interrupts are remapped: /proc/interrupts shows no MSI or IO-APIC chip and the kernel log says nothing",
                             fix: "run 'earlybind status' as root on the host itself")]
        }
    }

    private var offCheck: StatusCheck {
        var message = "no IOMMU groups, so no device can be passed through: "
        var steps: [String] = []
        if !disablingFlags.isEmpty {
            message += disablingFlags.joined(separator: " ") + " is on this boot's kernel command line, and " + tableSentence
            if firmwareTable == nil { steps.append("enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the firmware setup") }
            steps.append("remove " + disablingFlags.joined(separator: " ") + " from the boot loader's command line")
        } else if firmwareTable == nil {
            message += tableSentence
            steps.append("enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the firmware setup")
        } else if let neededFlag, !neededFlagPresent {
            message += tableSentence + " but the kernel has it off (\(neededFlag) is not on this boot's command line)"
        } else {
            message += tableSentence + " but the kernel made no groups (see the kernel log: dmesg | grep -i -e DMAR -e AMD-Vi)"
        }
        if let neededFlag, !neededFlagPresent { steps.append("add \(neededFlag) to the kernel command line ('earlybind install' does)") }
        steps.append("reboot")
        return .error("iommu_off", nil, message, fix: steps.joined(separator: ", then "))
    }

    var json: JSON {
        .object([
            ("enabled", .bool(enabled)),
            ("groups", .int(groups)),
            ("firmware_table", .optional(firmwareTable)),
            ("kind", .optional(kind?.rawValue)),
            ("cpu_vendor", .optional(cpuVendor)),
            ("needed_flag", .optional(neededFlag)),
            ("needed_flag_present", .bool(neededFlag == nil || neededFlagPresent)),
            ("kernel_flags", .array(kernelFlags.map(JSON.string))),
            ("disabling_flags", .array(disablingFlags.map(JSON.string))),
            ("interrupt_remapping", interruptRemapping.map(JSON.bool) ?? .null),
            ("interrupt_remapping_source", .optional(remappingSource?.rawValue)),
            ("allow_unsafe_interrupts", .bool(unsafeInterruptsAllowed)),
        ])
    }
}
