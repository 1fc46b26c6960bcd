@testable import earlybind
import Foundation
import Testing

/// install, status and uninstall for dracut and mkinitcpio, in InstallTests' staged
/// root; the generated mkinitcpio files are run by bash with mkinitcpio's functions stubbed.
extension InstallTests {
    func bash(_ script: String) throws -> String {
        let result = try runProgram("/bin/bash", ["-euc", script])
        #expect(result.status == 0, "bash failed: \(script)\n\(result.errors)")
        return result.output
    }

    @Test func dracutIsDetectedInstalledAndUndone() throws {
        try FileManager.default.createDirectory(atPath: root + "/usr/lib/dracut/modules.d", withIntermediateDirectories: true)
        let module = Layout.dracutModuleDirectory
        let first = try installJSON(["--no-grub"])
        #expect(Set(changes(first)) == Set([Layout.bootBinaryPath, module + "/module-setup.sh", module + "/earlybind-pre-udev.sh",
                                            module + "/earlybind-run", Layout.dracutConfPath].map { $0 + " created" }))
        let setup = try read(module + "/module-setup.sh")
        #expect(setup.contains("BOOT_BINARY=\"$ROOT\"'\(Layout.bootBinaryPath)'") && setup.contains("CONFIG=\"$ROOT\"'/etc/earlybind.conf'"))
        #expect(!setup.contains(root))
        #expect(setup.contains("inst_hook pre-udev 00"))
        #expect(setup.contains("instmods vfio-pci vfio_iommu_type1 efivarfs\n"), "efivarfs, for a trial boot's EFI variable")
        #expect(try read(Layout.dracutConfPath).contains(#"add_dracutmodules+=" earlybind ""#))
        #expect(!exists(Layout.hookPath) && !exists(Layout.initTopPath))

        let status = try earlybind(["status", "--json", "--sysfs", root + "/sys"]).json()
        let installation = try #require(status["installation"] as? [String: Any])
        #expect(installation["backend"] as? String == "dracut")
        #expect(installation["hook"] as? Bool == true && installation["init_top"] as? Bool == true)

        #expect(changes(try installJSON(["--no-grub"])).isEmpty)
        #expect(try earlybind(["uninstall"]).status == 0)
        #expect(!exists(module) && !exists(Layout.dracutConfPath) && !exists(Layout.bootBinaryPath))
        #expect(exists("/etc/earlybind.conf"))
    }

    @Test func switchingBackendRemovesTheOtherOnesFiles() throws {
        try FileManager.default.createDirectory(atPath: root + "/usr/lib/dracut/modules.d", withIntermediateDirectories: true)
        #expect(try earlybind(["install", "--backend", "initramfs-tools", "--no-grub"]).status == 0)
        #expect(exists(Layout.hookPath))
        let switched = try earlybind(["install", "--backend", "dracut", "--json", "--no-grub"])
        #expect(switched.status == 0, "\(switched.errors)")
        #expect(!exists(Layout.hookPath) && !exists(Layout.initTopPath))
        #expect(exists(Layout.dracutModuleDirectory + "/module-setup.sh"))
    }

    @Test func mkinitcpioFilesPutTheHookBeforeUdevOrSystemd() throws {
        try write("/etc/mkinitcpio.conf", "HOOKS=(base udev autodetect modconf block filesystems fsck)\n")
        let result = try installJSON(["--no-grub"])
        #expect(Set(changes(result)) == Set([Layout.bootBinaryPath, Layout.runnerPath, Layout.unitPath,
                                             Layout.mkinitcpioInstallPath, Layout.mkinitcpioHookPath, Layout.mkinitcpioConfPath].map { $0 + " created" }))
        let dropIn = root + Layout.mkinitcpioConfPath
        let order = """
            HOOKS=(base udev autodetect modconf block filesystems fsck); . '\(dropIn)'; echo "${HOOKS[*]}"
            HOOKS=(base systemd autodetect modconf kms keyboard sd-vconsole block filesystems fsck); . '\(dropIn)'; . '\(dropIn)'; echo "${HOOKS[*]}"
            unset HOOKS; HOOKS="base udev autodetect block filesystems"; . '\(dropIn)'; echo "${#HOOKS[@]} ${HOOKS[*]}"
            """
        #expect(try bash(order) == """
            base earlybind udev autodetect modconf block filesystems fsck
            base earlybind systemd autodetect modconf kms keyboard sd-vconsole block filesystems fsck
            6 base earlybind udev autodetect block filesystems

            """)

        // build() with mkinitcpio's functions stubbed: what goes into the image built from
        // the staged root (EARLYBIND_ROOT), or from the target system itself, or neither.
        let stubs = """
            for f in add_binary add_file add_module add_runscript add_symlink warning error; do eval "$f() { echo $f \\"\\$@\\"; }"; done
            """
        let build = stubs + "; EARLYBIND_ROOT='\(root)'; . '\(root + Layout.mkinitcpioInstallPath)'; build"
        #expect(try bash(stubs + "; unset EARLYBIND_ROOT; . '\(root + Layout.mkinitcpioInstallPath)'; build") == "",
                "without EARLYBIND_ROOT the hook reads the target system's /etc/earlybind.conf, which this machine lacks")
        #expect(try bash(stubs + "; EARLYBIND_ROOT=relative; . '\(root + Layout.mkinitcpioInstallPath)'; build || echo $?")
            == "error earlybind: EARLYBIND_ROOT='relative' is not an absolute path\n1\n")
        #expect(try bash(build) == """
            add_binary \(root)\(Layout.bootBinaryPath) /usr/lib/earlybind/earlybind-boot
            add_file \(root)/etc/earlybind.conf /etc/earlybind.conf
            add_file \(root)\(Layout.runnerPath) /usr/lib/earlybind/earlybind-run
            add_module vfio-pci
            add_module vfio_iommu_type1
            add_module efivarfs?
            add_runscript
            add_file \(root)\(Layout.unitPath) /usr/lib/systemd/system/earlybind.service
            add_symlink /usr/lib/systemd/system/sysinit.target.wants/earlybind.service ../earlybind.service

            """)
        // The runtime hook defines run_earlyhook, and the unit runs before udev with a time box.
        #expect(try bash(". '\(root + Layout.mkinitcpioHookPath)'; declare -F run_earlyhook") == "run_earlyhook\n")
        let unit = try read(Layout.unitPath)
        #expect(unit.contains("Before=systemd-modules-load.service systemd-udevd.service") && unit.contains("TimeoutSec=10s"))
        #expect(try earlybind(["uninstall"]).status == 0)
        #expect(!exists(Layout.mkinitcpioInstallPath) && !exists(Layout.mkinitcpioConfPath) && !exists(Layout.unitPath))
    }
}
