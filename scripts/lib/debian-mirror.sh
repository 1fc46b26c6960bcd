# shellcheck shell=bash
# The Debian mirror this machine's apt already uses, for scripts/deb-test's debootstrap:
# read at run time, so no mirror URL is written into the tree. scripts/mirror-test
# runs it against fake apt directories.

# debian_mirror SUITE [APT_DIR]: prints the URI of the first enabled "deb" source whose
# suite is SUITE itself (bookworm; bookworm-security and bookworm-updates do not count, as
# debootstrap needs the release's own mirror), reading APT_DIR/sources.list (one-line
# format), then APT_DIR/sources.list.d/*.list (one-line) and *.sources (deb822) in the
# order apt reads them. APT_DIR defaults to /etc/apt. Only http, https, ftp and file URIs
# count; a trailing / is dropped. With none, it says on stderr which files it read and
# returns 1.
debian_mirror() {
    local suite=$1 dir=${2:-/etc/apt} file uri
    local -a files=()
    [ -f "$dir/sources.list" ] && files+=("$dir/sources.list")
    for file in "$dir"/sources.list.d/*; do
        case $file in *.list | *.sources) [ -f "$file" ] && files+=("$file") ;; esac
    done
    for file in "${files[@]}"; do
        case $file in
        *.sources) uri=$(_debian_mirror_deb822 "$suite" <"$file") ;;
        *) uri=$(_debian_mirror_one_line "$suite" <"$file") ;;
        esac
        if [ -n "$uri" ]; then
            echo "${uri%/}"
            return 0
        fi
    done
    if [ ${#files[@]} = 0 ]; then
        echo "no Debian mirror for $suite: no apt sources in $dir/sources.list or $dir/sources.list.d/*.list, *.sources" >&2
    else
        echo "no Debian mirror for $suite: none of ${files[*]} has an enabled 'deb' source with suite $suite" \
            "($suite-security and $suite-updates do not count)" >&2
    fi
    return 1
}

# One-line format: "deb [OPTIONS] URI SUITE COMPONENT...", # starts a comment.
_debian_mirror_one_line() {
    awk -v suite="$1" '
        { sub(/#.*/, "") }
        $1 != "deb" { next }
        {
            line = $0
            sub(/^[ \t]*deb[ \t]+/, "", line)
            if (line ~ /^\[/ && !sub(/^\[[^]]*\][ \t]*/, "", line)) next
            if (split(line, field, /[ \t]+/) >= 2 && field[2] == suite && field[1] ~ /^(https?|ftp|file):/) {
                print field[1]
                exit
            }
        }'
}

# deb822: stanzas apart by blank lines; Types, URIs, Suites and Enabled fields (names in
# any case, values on continuation lines too); comment lines start with #.
_debian_mirror_deb822() {
    awk -v suite="$1" '
        function has(list, word,    count, words, index_) {
            count = split(list, words, /[ \t]+/)
            for (index_ = 1; index_ <= count; index_++) if (words[index_] == word) return 1
            return 0
        }
        function flush(    count, uris, index_) {
            if (!found && has(value["types"], "deb") && has(value["suites"], suite) && tolower(value["enabled"]) !~ /^[ \t]*no[ \t]*$/) {
                count = split(value["uris"], uris, /[ \t]+/)
                for (index_ = 1; index_ <= count; index_++) if (uris[index_] ~ /^(https?|ftp|file):/) {
                    print uris[index_]
                    found = 1
                    break
                }
            }
            delete value
            name = ""
        }
        /^#/ { next }
        /^[ \t]*$/ { flush(); if (found) exit; next }
        /^[ \t]/ { if (name != "") value[name] = value[name] " " $0; next }
        index($0, ":") > 0 {
            name = tolower(substr($0, 1, index($0, ":") - 1))
            value[name] = substr($0, index($0, ":") + 1)
        }
        END { flush() }'
}
