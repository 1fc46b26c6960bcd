#!/bin/bash
# Test-only dracut module (never installed by earlybind): adds the drivers of QEMU's
# bochs-display and ich9-intel-hda, and the report script as an emergency hook: with
# no root device the test boot always ends in dracut's emergency shell, after udev.

check() {
    return 0
}

depends() {
    return 0
}

# shellcheck disable=SC2154 # moddir is set by dracut
install() {
    hostonly='' instmods bochs snd-hda-intel
    inst_multiple cat
    inst_hook emergency 00 "$moddir/report.sh"
}
