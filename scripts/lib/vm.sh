# shellcheck shell=bash disable=SC2154
# Shared by scripts/boot-test and scripts/demo: builds initramfs images from what
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

# vm_build_image NAME CONFIG_TEXT [preload]: stages a root from /etc/initramfs-tools,
# installs earlybind into it with CONFIG_TEXT as its config, adds the test-only files
# (with "preload", also an init-top script that loads the host drivers before
# earlybind runs) and builds $work/NAME.img.
vm_build_image() {
    local name=$1 config=$2 preload=${3:-} root=$work/$1
    mkdir -p "$root/etc"
    cp -a /etc/initramfs-tools "$root/etc/"
    # A host that has earlybind installed must not leak its copy into the test.
    rm -f "$root/etc/initramfs-tools/hooks/earlybind" "$root/etc/initramfs-tools/scripts/init-top/earlybind"
    printf '%s\n' "$config" >"$root/etc/earlybind.conf"
    "$bin/earlybind" install --root "$root" --no-grub --no-initramfs >"$work/$name.install.log"
    install -m 755 "$vm_testfiles/hook-test-drivers" "$root/etc/initramfs-tools/hooks/earlybind-test-drivers"
    if [ "$preload" = preload ]; then
        mkdir -p "$root/etc/initramfs-tools/scripts/init-top"
        install -m 755 "$vm_testfiles/init-top-preload" "$root/etc/initramfs-tools/scripts/init-top/aa-earlybind-test-preload"
    fi
    mkdir -p "$root/etc/initramfs-tools/scripts/init-premount"
    install -m 755 "$vm_testfiles/init-premount-report" \
        "$root/etc/initramfs-tools/scripts/init-premount/earlybind-test-report"
    if ! mkinitramfs -d "$root/etc/initramfs-tools" -o "$work/$name.img" "$KVER" 2>"$work/$name.mkinitramfs.log"; then
        cat "$work/$name.mkinitramfs.log" >&2
        return 1
    fi
}

# vm_boot NAME IMAGE EXTRA_CMDLINE: boots the test machine; the console goes to
# $work/NAME.console. Fails when the report script did not run.
vm_boot() {
    local name=$1 image=$2 extra=$3
    # 00:01.0 is QEMU's standard VGA (1234:1111, the boot VGA); 03.0 and 05.0 are two
    # identical GPUs (bochs-display, also 1234:1111); 05.1 is the HDMI-audio function
    # of the card at 05.0 (same IOMMU group); 02.0 is the host's own audio.
    timeout 300 qemu-system-x86_64 \
        -machine q35,kernel-irqchip=split -accel tcg -m 1024 \
        -device intel-iommu,intremap=on \
        -device ich9-intel-hda,addr=02.0 \
        -device bochs-display,addr=03.0 \
        -device bochs-display,addr=05.0,multifunction=on \
        -device ich9-intel-hda,addr=05.1 \
        -kernel "/boot/vmlinuz-$KVER" -initrd "$image" \
        -append "intel_iommu=on console=ttyS0 panic=-1 $extra" \
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
