/// Fake machines, one per scenario, named after what they test.
public enum Fixtures {
    static let hostBridge = FakeDevice("0000:00:00.0", id: "8086:29c0", class: "060000", group: 0)
    static let bootVGA = FakeDevice("0000:00:01.0", id: "1234:1111", class: "030000", group: 1, driver: "bochs-drm", bootVGA: true)
    static let hostAudio = FakeDevice("0000:00:02.0", id: "8086:293e", class: "040300", group: 2, driver: "snd_hda_intel")

    /// An Nvidia card, VGA plus HDMI audio in one group, on a root port, beside the host's boot GPU.
    public static var gpuWithAudio: [FakeDevice] {
        [
            hostBridge, bootVGA, hostAudio,
            FakeDevice("0000:00:01.1", id: "8086:1901", class: "060400", group: 3, driver: "pcieport", headerType: 0x01),
            FakeDevice("0000:03:00.0", id: "10de:1b02", class: "030000", group: 3, driver: "nouveau", bootVGA: false),
            FakeDevice("0000:03:00.1", id: "10de:10ef", class: "040300", group: 3, driver: "snd_hda_intel"),
        ]
    }

    /// Two identical GPUs in their own groups; the second has an audio function.
    public static var identicalGPUs: [FakeDevice] {
        [
            hostBridge, bootVGA, hostAudio,
            FakeDevice("0000:00:03.0", id: "1234:1111", class: "038000", group: 3, driver: "bochs-drm"),
            FakeDevice("0000:00:05.0", id: "1234:1111", class: "038000", group: 5, driver: "bochs-drm"),
            FakeDevice("0000:00:05.1", id: "8086:293e", class: "040300", group: 5, driver: "snd_hda_intel"),
        ]
    }

    /// A GPU that shares its group with a SATA controller.
    public static var groupWithSATA: [FakeDevice] {
        [
            hostBridge, bootVGA,
            FakeDevice("0000:00:1f.0", id: "8086:2918", class: "060100", group: 7, driver: "lpc_ich"),
            FakeDevice("0000:00:1f.2", id: "8086:2922", class: "010601", group: 7, driver: "ahci"),
            FakeDevice("0000:00:1f.4", id: "10de:1b02", class: "030000", group: 7, driver: "nouveau"),
        ]
    }

    /// The chipset group of many Intel boards: LPC bridge, audio, SMBus.
    public static var chipsetGroup: [FakeDevice] {
        [
            hostBridge, bootVGA,
            FakeDevice("0000:00:1f.0", id: "8086:a305", class: "060100", group: 8, driver: "lpc_ich", headerType: 0x80),
            FakeDevice("0000:00:1f.3", id: "8086:a348", class: "040300", group: 8, driver: "snd_hda_intel"),
            FakeDevice("0000:00:1f.4", id: "8086:a323", class: "0c0500", group: 8, driver: "i801_smbus"),
        ]
    }

    /// IOMMU off: no device has a group.
    public static var noIOMMU: [FakeDevice] {
        [
            FakeDevice("0000:00:00.0", id: "8086:29c0", class: "060000", group: nil),
            FakeDevice("0000:00:01.0", id: "1234:1111", class: "030000", group: nil, driver: "bochs-drm", bootVGA: true),
            FakeDevice("0000:03:00.0", id: "10de:1b02", class: "030000", group: nil, driver: "nouveau"),
        ]
    }
}
