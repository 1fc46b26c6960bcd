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
    if grep -q '/efivarfs\.ko' <<<"$listing"; then pass "$name image holds efivarfs, for a trial boot"; else fail "$name image lacks efivarfs"; fi
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

# shared_image NAME CONFIG [OPTION...]: $work/NAME.img for several scenarios, built
# once per run by the first that asks: with vm_build_image (given the options cli,
# qemu, no-gpu-driver), or debug_image with "debug"; with "check", check_image runs on
# it once. Every scenario sharing NAME must ask for it with the same arguments, or the
# run stops.
shared_image() {
    local name=$1 config=$2 option check=0 debug=0 wanted
    local -a build=()
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
        cli | qemu | no-gpu-driver) build+=("$option") ;;
        *) echo "boot-test: shared_image $name: unknown option '$option'" >&2; exit 2 ;;
        esac
    done
    if [ "$debug" = 1 ]; then debug_image "$name" "$config"; else vm_build_image "$name" "$config" "${build[@]}"; fi
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
    if vm_log "$1" | grep -F "earlybind: $2" >/dev/null; then pass "$1: logged '$2'"; else
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

# shared_boot NAME IMAGE EXTRA_CMDLINE: boot, once per run for the scenarios that
# read the same console (VM_* as for vm_boot); a later call with the same arguments
# returns the first one's result. Every scenario sharing NAME must ask for it with
# the same arguments, or the run stops.
shared_boot() {
    local wanted
    wanted=$(printf '%s\n' "$@" "${VM_IOMMU:-}" "${VM_FIXED_DEVICES:-}" "${VM_DEVICES:-}" "${VM_FIRMWARE:-}")
    if [ -e "$work/$1.booted" ]; then
        if [ "$wanted" != "$(sed '$d' "$work/$1.booted")" ]; then
            echo "boot-test: shared boot $1 asked for with other arguments than it was booted with" >&2
            exit 2
        fi
        [ "$(tail -n 1 "$work/$1.booted")" = 0 ]
        return
    fi
    local result=0
    boot "$@" || result=1
    printf '%s\n%s\n' "$wanted" "$result" >"$work/$1.booted"
    return "$result"
}

# The checks on what init-premount-vmm printed take NAME[:ROUND]: the boot's name and
# the round, "boot" (as booted, the default) or "giveback" (after ebtest.giveback=).
vmm_round() { # NAME[:ROUND] WHAT
    local name=${1%%:*} round=boot
    [ "$name" = "$1" ] || round=${1#*:}
    vm_round "$name" "$round" "$2"
}

# vmm_status_query NAME[:ROUND] PYTHON ARG...: runs PYTHON on that round's status JSON
# (as `status`, with sys.argv[1:] the ARGs); prints "(no status JSON)" without one.
vmm_status_query() {
    local spec=$1 code=$2
    shift 2
    vmm_round "$spec" status | python3 -c '
import json, sys
try:
    status = json.loads(sys.stdin.read())
except ValueError:
    print("(no status JSON)")
    sys.exit(0)
def show(check):
    return "%s/%s/%s" % (check.get("code"), check.get("device"), check.get("severity"))
'"$code" "$@"
}

expect_status_exit() { # NAME[:ROUND] N
    local got
    got=$(vmm_round "$1" status-exit)
    if [ "$got" = "$2" ]; then pass "$1: earlybind status exited $2"; else fail "$1: earlybind status exited '${got:-?}', expected $2"; fi
}

# expect_status NAME[:ROUND] KEY VALUE: KEY (dotted: iommu.enabled) of status's JSON is
# VALUE, in Python's spelling (True, False, None).
expect_status() {
    local got
    got=$(vmm_status_query "$1" '
value = status
for part in sys.argv[1].split("."):
    value = value.get(part, "(no such key)") if isinstance(value, dict) else "(no such key)"
print(value)' "$2")
    if [ "$got" = "$3" ]; then pass "$1: status $2 is $3"; else fail "$1: status $2 is '$got', expected '$3'"; fi
}

# expect_check NAME[:ROUND] CODE DEVICE|null SEVERITY [FIELD:TEXT...]: status's checks
# hold one with that code, device and severity whose FIELD (message, fix) holds TEXT.
expect_check() {
    local spec=$1 code=$2 device=$3 severity=$4 got
    shift 4
    got=$(vmm_status_query "$spec" '
code, device, severity, wants = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
device = None if device == "null" else device
checks = status.get("checks", [])
for check in checks:
    if check.get("code") == code and check.get("device") == device and check.get("severity") == severity:
        missing = [w for w in wants if w.split(":", 1)[1] not in (check.get(w.split(":", 1)[0]) or "")]
        print("ok" if not missing else "%s lacks %s: %s" % (show(check), missing, json.dumps(check)))
        break
else:
    print("checks are: " + (", ".join(show(c) for c in checks) or "none"))' "$code" "$device" "$severity" "$@")
    if [ "$got" = ok ]; then pass "$spec: status check $code for $device ($severity)${*:+ with $*}"; else
        fail "$spec: no status check $code for $device ($severity)${*:+ with $*}; $got"
    fi
}

expect_no_check() { # NAME[:ROUND] CODE
    local got
    got=$(vmm_status_query "$1" '
found = [show(c) for c in status.get("checks", []) if c.get("code") == sys.argv[1]]
print(", ".join(found) if found else "ok")' "$2")
    if [ "$got" = ok ]; then pass "$1: no status check $2"; else fail "$1: status check(s) $got, expected no $2"; fi
}

# expect_qemu NAME[:ROUND] attached ADDRESS... | refused TEXT: QEMU in the VM attached
# those functions (its `info pci` lists their ids) and exited 0, or it exited non-zero
# saying TEXT.
expect_qemu() {
    local spec=$1 verdict=$2 output exit address
    shift 2
    output=$(vmm_round "$spec" qemu)
    exit=$(vmm_round "$spec" qemu-exit)
    case $verdict in
    attached)
        for address; do
            if [ "$exit" = 0 ] && grep -qF "id \"vfio-${address//:/-}\"" <<<"$output"; then pass "$spec: QEMU attached $address"; else
                fail "$spec: QEMU (exit ${exit:-?}) did not attach $address; it said:"
                vmm_round "$spec" qemu | sed 's/^/    /'
            fi
        done
        ;;
    refused)
        if [ -n "$exit" ] && [ "$exit" != 0 ] && grep -qF "$1" <<<"$output"; then pass "$spec: QEMU refused: $1"; else
            fail "$spec: QEMU (exit ${exit:-?}) did not refuse with '$1'; it said:"
            vmm_round "$spec" qemu | sed 's/^/    /'
        fi
        ;;
    esac
}

# expect_resets_agree NAME[:ROUND]: the devices status warns no_reset about are those
# QEMU in the VM could not reset ("Cannot reset device ADDRESS").
expect_resets_agree() {
    local ours theirs
    ours=$(vmm_status_query "$1" '
print(" ".join(sorted(c.get("device") or "null" for c in status.get("checks", []) if c.get("code") == "no_reset")))')
    theirs=$(vmm_round "$1" qemu | sed -n 's/.*Cannot reset device \([0-9a-f:.]*\),.*/\1/p' | sort -u | tr '\n' ' ')
    theirs=${theirs% }
    if [ -n "$theirs" ] && [ "$ours" = "$theirs" ]; then pass "$1: status warns no_reset for what QEMU cannot reset ($theirs)"; else
        fail "$1: status warns no_reset for '$ours', QEMU cannot reset '$theirs'"
    fi
}

# expect_fact NAME REGEX: a fact line init-premount-vmm printed matches REGEX (grep -E).
# The facts are read whole first: grep -q in a pipe would end sed early, and pipefail
# would count that as a miss.
expect_fact() {
    local facts
    facts=$(vm_facts "$1")
    if grep -qE "$2" <<<"$facts"; then pass "$1: the VM shows '$2'"; else fail "$1: the VM shows no '$2'"; fi
}

expect_no_fact() { # NAME REGEX
    local facts
    facts=$(vm_facts "$1")
    if grep -qE "$2" <<<"$facts"; then fail "$1: the VM shows '$(grep -E "$2" <<<"$facts" | head -n 1)'"; else pass "$1: the VM shows no '$2'"; fi
}

expect_round_driver() { # NAME[:ROUND] ADDRESS DRIVER|-: ADDRESS's driver when that round began
    local got
    got=$(vmm_round "$1" driver | sed -n "s/^$2 //p")
    if [ "$got" = "$3" ]; then pass "$1: $2 on $3"; else fail "$1: $2 on '${got:-?}', expected $3"; fi
}

# expect_region_inside NAME OWNER PARENT: in the VM's /proc/iomem, a region of OWNER
# (efifb) lies inside one of PARENT (0000:00:01.0, the card's BAR).
expect_region_inside() {
    local got
    got=$(vm_facts "$1" | sed -n 's/^iomem //p' | python3 -c '
import sys
owner, parent = sys.argv[1], sys.argv[2]
regions = {}
for line in sys.stdin:
    span, _, name = line.strip().partition(" : ")
    start, _, end = span.partition("-")
    regions.setdefault(name, []).append((int(start, 16), int(end, 16)))
inside = [(a, b, c, d) for a, b in regions.get(owner, []) for c, d in regions.get(parent, []) if c <= a and b <= d]
print("%x-%x inside %x-%x" % inside[0] if inside else "none")' "$2" "$3")
    if [ "$got" != none ]; then pass "$1: /proc/iomem has $2 inside $3 ($got)"; else fail "$1: /proc/iomem has no $2 region inside $3"; fi
}

# expect_replay NAME REPLAY: QEMU in the VM, given the arguments in
# $work/NAME.replay/REPLAY (one per line), exited 0, its `info qtree` holds every
# -device that has an id, and each vfio-pci device sits with its host address on the
# bus and at the slot and function those arguments name.
expect_replay() {
    local name=$1 replay=$2 exit verdict
    exit=$(vm_round "$name" "$replay" replay-exit)
    verdict=$(vm_round "$name" "$replay" replay | python3 -c '
import json, sys

def device(value):  # a -device value, JSON or key=value: its properties
    if value.startswith("{"):
        return {k: str(v) for k, v in json.loads(value).items()}
    driver, *rest = value.split(",")
    return dict([("driver", driver)] + [tuple(part.split("=", 1)) for part in rest])

def slot(addr):  # "0x0.0x1", "00.1" or "0x2": (slot, function)
    s, _, f = addr.partition(".")
    return (int(s, 16), int(f or "0", 16))

words = open(sys.argv[1]).read().split("\n")
wanted = [device(value) for option, value in zip(words, words[1:]) if option == "-device"]
# The tree: each line belongs to the closest line above it that is less indented.
stack, devices = [], []
for line in sys.stdin:
    indent, text = len(line) - len(line.lstrip()), line.strip()
    while stack and stack[-1][0] >= indent:
        stack.pop()
    parent = stack[-1][1] if stack else None
    if text.startswith("dev: "):
        kind, _, ident = text[5:].partition(", id ")
        entry = {"driver": kind, "id": ident.strip("\""), "bus": parent and parent.get("bus")}
        devices.append(entry)
        stack.append((indent, entry))
    elif text.startswith("bus: "):
        stack.append((indent, {"bus": text[5:]}))
    elif parent is not None and "driver" in parent and " = " in text:
        key, _, value = text.partition(" = ")
        parent[key] = value.strip("\"")
problems = [] if any(w["driver"] == "vfio-pci" for w in wanted) else ["the arguments name no vfio-pci device"]
for want in wanted:
    if want["driver"] == "vfio-pci":
        got = [d for d in devices if d["driver"] == "vfio-pci" and d.get("host") == want["host"]]
        where = (want.get("bus"), slot(want["addr"]) if "addr" in want else None)
        if not got:
            problems.append("no vfio-pci for %s" % want["host"])
        elif (got[0]["bus"], slot(got[0]["addr"]) if "addr" in want else None) != where:
            problems.append("%s on %s at %s, not on %s at %s" % (want["host"], got[0]["bus"], got[0].get("addr"), *where))
    elif want.get("id") and not any(d["id"] == want["id"] for d in devices):
        problems.append("no %s with id %s" % (want["driver"], want["id"]))
vfio = ["%s on %s at %s" % (d["host"], d["bus"], d["addr"]) for d in devices if d["driver"] == "vfio-pci"]
print("; ".join(problems) if problems else "ok: %d devices, %s" % (len(wanted), ", ".join(vfio)))
' "$work/$name.replay/$replay")
    if [ "$exit" = 0 ] && [ "${verdict#ok: }" != "$verdict" ]; then
        pass "$name: QEMU given the $replay arguments holds them all: ${verdict#ok: }"
    else
        fail "$name: QEMU given the $replay arguments (exit ${exit:-?}): $verdict; it said:"
        vm_round "$name" "$replay" replay | grep -v ' = \|dev: \|bus: ' | sed 's/^/    /'
    fi
}
