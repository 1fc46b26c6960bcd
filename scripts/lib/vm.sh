# shellcheck shell=bash disable=SC2154
# Shared by scripts/boot-test (its checks are in scripts/lib/boot-test.sh), scripts/demo,
# scripts/deb-test and scripts/initramfs-size: builds initramfs images from what
# `earlybind install --root` lays down in a staged root, and boots them in QEMU.
# The caller sets (hence SC2154 off): bin (directory of the built binaries), work (scratch directory).
# Never touches the host's boot files.

vm_testfiles=$(cd "$(dirname "${BASH_SOURCE[0]}")/../boot-test.d" && pwd)

# vm_find_kernel: sets KVER to the newest kernel with both modules and /boot/vmlinuz.
vm_find_kernel() {
    if [ -z "${KVER:-}" ]; then
        local dir
        for dir in /lib/modules/*; do
            [ -e "/boot/vmlinuz-${dir##*/}" ] && KVER=${dir##*/}
        done
    fi
    if [ -z "${KVER:-}" ]; then
        echo "no kernel with /boot/vmlinuz-* and /lib/modules (apt-get install linux-image-amd64)" >&2
        return 1
    fi
    local tool
    for tool in mkinitramfs unmkinitramfs lsinitramfs qemu-system-x86_64; do
        command -v "$tool" >/dev/null || { echo "$tool is missing (run scripts/install-deps)" >&2; return 1; }
    done
}

# vm_stage NAME: a staged root $work/NAME with a copy of /etc/initramfs-tools.
vm_stage() {
    local root=$work/$1
    mkdir -p "$root/etc"
    cp -a /etc/initramfs-tools "$root/etc/"
    # A host that has earlybind installed must not leak its copy into the test.
    rm -f "$root/etc/initramfs-tools/hooks/earlybind" "$root/etc/initramfs-tools/scripts/init-top/earlybind"
}

# vm_add_test_files NAME [preload]: the test-only hook (drivers) and report script;
# with "preload", also an init-top script that loads the host drivers before earlybind.
vm_add_test_files() {
    local conf=$work/$1/etc/initramfs-tools
    install -m 755 "$vm_testfiles/hook-test-drivers" "$conf/hooks/earlybind-test-drivers"
    if [ "${2:-}" = preload ]; then
        mkdir -p "$conf/scripts/init-top"
        install -m 755 "$vm_testfiles/init-top-preload" "$conf/scripts/init-top/aa-earlybind-test-preload"
    fi
    mkdir -p "$conf/scripts/init-premount"
    install -m 755 "$vm_testfiles/init-premount-report" "$conf/scripts/init-premount/earlybind-test-report"
}

# vm_add_vmm_files NAME [qemu]: the earlybind CLI (stripped, from $bin) in the staged
# root, the test-only hook that copies it into the image and the script that runs
# `earlybind status` in the VM (named to run before the report script, which powers
# off); with "qemu", also the hook that copies QEMU in, for ebtest.qemu=.
vm_add_vmm_files() {
    local root=$work/$1 conf=$work/$1/etc/initramfs-tools
    mkdir -p "$root/usr/sbin"
    strip --strip-unneeded -o "$root/usr/sbin/earlybind" "$bin/earlybind"
    install -m 755 "$vm_testfiles/hook-test-cli" "$conf/hooks/earlybind-test-cli"
    [ "${2:-}" != qemu ] || install -m 755 "$vm_testfiles/hook-test-qemu" "$conf/hooks/earlybind-test-qemu"
    install -m 755 "$vm_testfiles/init-premount-vmm" "$conf/scripts/init-premount/earlybind-test-checks"
}

# vm_mkinitramfs NAME: builds $work/NAME.img from the staged root's conf dir.
vm_mkinitramfs() {
    # The hook reads earlybind's files from under the staged root it names.
    if ! EARLYBIND_ROOT=$work/$1 mkinitramfs -d "$work/$1/etc/initramfs-tools" -o "$work/$1.img" "$KVER" 2>"$work/$1.mkinitramfs.log"; then
        cat "$work/$1.mkinitramfs.log" >&2
        return 1
    fi
}

# vm_guest_sysfs: $work/guest-sysfs, a fake sysfs tree of the test machine's devices.
# install reads the guest's devices from it, never this machine's /sys (where 00:03.0
# may be a real NIC).
vm_guest_sysfs() {
    [ -d "$work/guest-sysfs" ] || "$vm_testfiles/../fake-sysfs" "$work/guest-sysfs" --spec "$vm_testfiles/guest-devices"
}

# vm_build_image NAME CONFIG_TEXT [OPTION...]: stages a root, installs earlybind into it
# with CONFIG_TEXT as its config, adds the test-only files and builds $work/NAME.img.
# Options: preload (an init-top script loads the host drivers before earlybind), cli
# (the CLI and init-premount-vmm, see vm_add_vmm_files), qemu (those and QEMU),
# no-gpu-driver (the image holds snd-hda-intel but not bochs).
vm_build_image() {
    local name=$1 config=$2 option preload='' cli='' drivers=''
    shift 2
    for option; do
        case $option in
        preload) preload=preload ;;
        cli) cli=${cli:-cli} ;;
        qemu) cli=qemu ;;
        no-gpu-driver) drivers=snd-hda-intel ;;
        *) echo "vm_build_image $name: unknown option '$option'" >&2; return 2 ;;
        esac
    done
    vm_stage "$name"
    printf '%s\n' "$config" >"$work/$name/etc/earlybind.conf"
    vm_guest_sysfs
    "$bin/earlybind" install --root "$work/$name" --sysfs "$work/guest-sysfs" --no-grub --no-initramfs >"$work/$name.install.log"
    vm_add_test_files "$name" "$preload"
    [ -z "$cli" ] || vm_add_vmm_files "$name" "$cli"
    EBTEST_DRIVERS=$drivers vm_mkinitramfs "$name"
}

# vm_build_dracut_image NAME CONFIG_TEXT: the same with dracut: `earlybind install
# --root --backend dracut` lays its module down in a staged root, and dracut builds
# $work/NAME.img from a copy of /usr/lib/dracut with that module and a test-only one
# added (dracutbasedir), so the host's dracut files are never touched.
vm_build_dracut_image() {
    local root=$work/$1 base=$work/$1.dracut
    mkdir -p "$root/etc" "$root/usr/lib/dracut/modules.d"
    printf '%s\n' "$2" >"$root/etc/earlybind.conf"
    vm_guest_sysfs
    "$bin/earlybind" install --root "$root" --sysfs "$work/guest-sysfs" --backend dracut --no-grub --no-initramfs >"$work/$1.install.log"
    cp -a /usr/lib/dracut "$base"
    cp -a "$root/usr/lib/dracut/modules.d/90earlybind" "$base/modules.d/"
    mkdir -p "$base/modules.d/99earlybindtest"
    install -m 755 "$vm_testfiles/dracut-test-module-setup.sh" "$base/modules.d/99earlybindtest/module-setup.sh"
    install -m 755 "$vm_testfiles/init-premount-report" "$base/modules.d/99earlybindtest/report.sh"
    if ! EARLYBIND_ROOT=$root dracutbasedir=$base dracut --no-hostonly --conf /dev/null --confdir "$root/etc/dracut.conf.d" \
        --add earlybindtest --force "$work/$1.img" "$KVER" >"$work/$1.dracut.log" 2>&1; then
        tail -n 20 "$work/$1.dracut.log" >&2
        return 1
    fi
}

# The test machine's devices. 00:01.0 is QEMU's standard VGA (1234:1111, the boot
# VGA); 03.0 and 05.0 are two identical GPUs (bochs-display, also 1234:1111); 05.1 is
# the HDMI-audio function of the card at 05.0 (same IOMMU group); 02.0 is the host's
# own audio.
vm_fixed_devices="-device ich9-intel-hda,addr=02.0 -device bochs-display,addr=03.0 \
-device bochs-display,addr=05.0,multifunction=on -device ich9-intel-hda,addr=05.1"

# vm_boot NAME IMAGE EXTRA_CMDLINE: boots the test machine; the console goes to
# $work/NAME.console. Fails when the report script did not run. VM_IOMMU=off boots
# with intel_iommu=off (Debian's kernel turns it on by default: INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF);
# VM_FIXED_DEVICES replaces $vm_fixed_devices (another card in a slot); VM_DEVICES adds
# QEMU -device arguments; VM_FIRMWARE=uefi boots OVMF (with a copy of its variable
# store per boot, or the store VM_VARS names, kept across boots) instead of SeaBIOS.
vm_boot() {
    local name=$1 image=$2 extra=$3 iommu=intel_iommu=on
    [ "${VM_IOMMU:-on}" = off ] && iommu=intel_iommu=off
    local -a fixed devices firmware=()
    read -r -a fixed <<<"${VM_FIXED_DEVICES:-$vm_fixed_devices}"
    read -r -a devices <<<"${VM_DEVICES:-}"
    if [ "${VM_FIRMWARE:-bios}" = uefi ]; then
        local vars=${VM_VARS:-$work/$name.vars.fd}
        [ -n "${VM_VARS:-}" ] || cp /usr/share/OVMF/OVMF_VARS_4M.fd "$vars"
        firmware=(-drive "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"
            -drive "if=pflash,format=raw,file=$vars")
    fi
    timeout 300 qemu-system-x86_64 \
        -machine q35,kernel-irqchip=split -accel tcg -m 1024 \
        "${firmware[@]}" \
        -device intel-iommu,intremap=on \
        "${fixed[@]}" \
        "${devices[@]}" \
        -kernel "/boot/vmlinuz-$KVER" -initrd "$image" \
        -append "$iommu console=ttyS0 panic=-1 $extra" \
        -nographic -no-reboot -net none </dev/null >"$work/$name.console" 2>&1 || true
    grep -q '^EBTEST end' "$work/$name.console"
}

# vm_driver NAME ADDRESS: the driver the report printed for ADDRESS ('-' for none).
vm_driver() {
    sed -n "s/^EBTEST device $2 [0-9a-f:]* \([^ ]*\).*/\1/p" "$work/$1.console" | tr -d '\r'
}

# vm_devices NAME: "ADDRESS ID" of every device the report printed.
vm_devices() {
    sed -n 's/^EBTEST device \([^ ]*\) \([^ ]*\) .*/\1 \2/p' "$work/$1.console" | tr -d '\r'
}

# vm_log NAME: the earlybind kernel-log lines of that boot.
vm_log() {
    sed -n 's/^EBTEST log //p' "$work/$1.console" | tr -d '\r'
}

# vm_report NAME: the boot report (/run/earlybind/boot.json) of that boot, or nothing.
vm_report() {
    sed -n 's/^EBTEST report //p' "$work/$1.console" | tr -d '\r'
}

# vm_round NAME ROUND WHAT: the rest of the "EBTEST WHAT ROUND ..." lines that
# init-premount-vmm printed in that round (boot, or giveback).
vm_round() {
    sed -n "s/^EBTEST $3 $2 //p" "$work/$1.console" | tr -d '\r'
}

# vm_facts NAME: the rest of the "EBTEST fact ..." lines (uname, cpu, acpi-tables,
# reset_method, group, iomem, interrupts, dmesg) that init-premount-vmm printed.
vm_facts() {
    sed -n 's/^EBTEST fact //p' "$work/$1.console" | tr -d '\r'
}
