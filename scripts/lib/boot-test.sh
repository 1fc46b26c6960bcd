# shellcheck shell=bash disable=SC2154
# The checks of scripts/boot-test, shared by its scenarios (scripts/boot-test.d/scenarios/*):
# each check prints "  ok: ..." or "  FAIL: ..." and counts in $passed or $failed.
# Needs scripts/lib/vm.sh; the caller sets (hence SC2154 off): bin, work, as for vm.sh.

passed=0
failed=0
fail() {
    echo "  FAIL: $*"
    failed=$((failed + 1))
}
pass() {
    echo "  ok: $*"
    passed=$((passed + 1))
}

# check_image NAME: earlybind's files are inside and its init-top script runs before udev.
check_image() {
    local name=$1 listing order
    listing=$(lsinitramfs "$work/$name.img")
    for path in usr/lib/earlybind/earlybind-boot etc/earlybind.conf scripts/init-top/earlybind; do
        if grep -qx "$path" <<<"$listing"; then pass "$name image holds $path"; else fail "$name image lacks $path"; fi
    done
    if grep -q '/vfio-pci\.ko' <<<"$listing" || grep -q '/vfio_pci\.ko' <<<"$listing"; then
        pass "$name image holds the vfio-pci module"
    else
        fail "$name image lacks the vfio-pci module"
    fi
    unmkinitramfs "$work/$name.img" "$work/$name.unpacked"
    order=$(cat "$work/$name.unpacked"/main/scripts/init-top/ORDER 2>/dev/null || cat "$work/$name.unpacked"/scripts/init-top/ORDER)
    local ours udev
    ours=$(grep -n '/scripts/init-top/earlybind ' <<<"$order" | cut -d: -f1 || true)
    udev=$(grep -n '/scripts/init-top/udev ' <<<"$order" | cut -d: -f1 || true)
    if [ -n "$ours" ] && [ -n "$udev" ] && [ "$ours" -lt "$udev" ]; then
        pass "$name: init-top/earlybind runs before init-top/udev (ORDER lines $ours < $udev)"
    else
        fail "$name: init-top ORDER does not run earlybind before udev: $(tr '\n' ' ' <<<"$order")"
    fi
}

# debug_image NAME CONFIG: vm_build_image with the debug build, whose binder honours
# EARLYBIND_TEST_FAULT (EARLYBIND_DEBUG_BIN, default .build/debug).
debug_image() {
    local saved=$bin
    bin=${EARLYBIND_DEBUG_BIN:-.build/debug}
    vm_build_image "$1" "$2"
    bin=$saved
}

# shared_image NAME CONFIG [check] [debug]: $work/NAME.img for several scenarios, built
# once per run by the first that asks: with vm_build_image, or debug_image with "debug";
# with "check", check_image runs on it once. Every scenario sharing NAME must ask for
# it with the same arguments, or the run stops.
shared_image() {
    local name=$1 config=$2 option check=0 debug=0 wanted
    shift 2
    wanted=$(printf '%s\n' "$config" "$@")
    if [ -e "$work/$name.img" ]; then
        if [ "$wanted" != "$(cat "$work/$name.shared")" ]; then
            echo "boot-test: shared image $name asked for with other arguments than it was built with" >&2
            exit 2
        fi
        return 0
    fi
    for option; do
        case $option in
        check) check=1 ;;
        debug) debug=1 ;;
        *) echo "boot-test: shared_image $name: unknown option '$option'" >&2; exit 2 ;;
        esac
    done
    if [ "$debug" = 1 ]; then debug_image "$name" "$config"; else vm_build_image "$name" "$config"; fi
    printf '%s\n' "$wanted" >"$work/$name.shared"
    if [ "$check" = 1 ]; then check_image "$name"; fi
}

# boot NAME IMAGE EXTRA_CMDLINE: vm_boot; when the VM does not reach the report script,
# one failure with the console's tail.
boot() {
    if vm_boot "$@"; then return 0; fi
    fail "$1: the VM did not reach the report script; console tail:"
    tail -n 40 "$work/$1.console" | sed 's/^/    /'
    return 1
}

expect_driver() { # NAME ADDRESS vfio|host
    local driver
    driver=$(vm_driver "$1" "$2")
    case "$3" in
    vfio)
        if [ "$driver" = vfio-pci ]; then pass "$1: $2 on vfio-pci"; else
            fail "$1: $2 on '${driver:-?}', expected vfio-pci"
        fi
        ;;
    host)
        if [ -n "$driver" ] && [ "$driver" != - ] && [ "$driver" != vfio-pci ]; then
            pass "$1: $2 kept its host driver ($driver)"
        else
            fail "$1: $2 on '${driver:-?}', expected its host driver"
        fi
        ;;
    esac
}

expect_log() { # NAME TEXT
    if vm_log "$1" | grep -qF "earlybind: $2"; then pass "$1: logged '$2'"; else
        fail "$1: no log line '$2'; earlybind lines:"
        vm_log "$1" | sed 's/^/    /'
    fi
}

# expect_report NAME KEY VALUE: KEY of the boot report is VALUE (Python's spelling: None for null).
# KEY is a top-level key, or ADDRESS.FIELD of one device.
expect_report() {
    local got
    got=$(vm_report "$1" | python3 -c '
import json, sys
report, key = json.load(sys.stdin), sys.argv[1]
if key.startswith("0000:"):
    address, field = key.rsplit(".", 1)
    print(next((d[field] for d in report["devices"] if d["address"] == address), "(no such device)"))
else:
    print(report[key])' "$2" 2>/dev/null) || got="(no report)"
    if [ "$got" = "$3" ]; then pass "$1: boot report $2 is $3"; else fail "$1: boot report $2 is '$got', expected '$3'"; fi
}

expect_log_count() { # NAME TEXT COUNT
    local count
    count=$(vm_log "$1" | grep -cF "$2" || true)
    if [ "$count" = "$3" ]; then pass "$1: '$2' logged $3 time(s)"; else fail "$1: '$2' logged $count time(s), expected $3"; fi
}

expect_no_vfio() { # NAME
    if grep -q '^EBTEST device .* vfio-pci' "$work/$1.console"; then fail "$1: a device is on vfio-pci"; else pass "$1: no device on vfio-pci"; fi
}
