import EarlybindCore

/// What the kernel command line needs for the IOMMU, and what to tell the admin when it is off.
enum IOMMUAdvice {
    /// What to do when the kernel shows no IOMMU groups.
    static func off(host: Host, inventory: Inventory) -> String {
        var lines = wrapped("IOMMU is off: \(host.sysfs.root)/kernel/iommu_groups is empty, so no device can be passed through. To turn it on:",
                            indent: "", continuation: "")
        lines += wrapped("1. enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the firmware setup;", indent: "  ", continuation: "     ")
        lines += wrapped("2. " + commandLineStep(IOMMUEvidence.kind(of: host)) + ";", indent: "  ", continuation: "     ")
        lines += wrapped("3. reboot and run 'earlybind groups' again.", indent: "  ", continuation: "     ")
        lines.append("\(inventory.devices.count) PCI devices were found.")
        return lines.joined(separator: "\n")
    }

    /// The kernel command line step for the IOMMU the firmware describes (`IOMMUEvidence.kind`).
    static func commandLineStep(_ kind: IOMMUEvidence.Kind?) -> String {
        switch kind {
        case .amd:
            return "AMD: the kernel turns AMD-Vi on by itself; make sure amd_iommu=off is not on the kernel command line"
        case .intel:
            return "Intel: boot with intel_iommu=on ('earlybind install' adds it through a GRUB drop-in)"
        case nil:
            return "on Intel, boot with intel_iommu=on; on AMD the kernel turns AMD-Vi on by itself"
        }
    }
}
