#!/usr/bin/env bash
# Install smsgw on a Debian/Ubuntu host (see docs/setup-debian.md):
#   the binary                 PREFIX/bin/smsgw
#   the example config         /etc/smsgw/smsgw.toml (never overwritten) and
#                              /etc/smsgw/smsgw.example.toml (always refreshed)
#   the udev rules             /etc/udev/rules.d/90-smsgw.rules
#   the systemd unit           /etc/systemd/system/smsgw.service
#   the docs                   PREFIX/share/doc/smsgw/
# then creates the system user "smsgw" (in group dialout) and reloads udev and
# systemd. With --destdir (or DESTDIR=) files go under that directory and the
# system is left alone (no user, no reloads): for packaging and tests.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: install.sh [--prefix DIR] [--destdir DIR] [--binary FILE] [--dry-run]

  --prefix DIR    installation prefix of the binary and docs (default /usr/local)
  --destdir DIR   stage everything under DIR; do not create users or reload
                  services (default: $DESTDIR, empty)
  --binary FILE   the smsgw binary to install (default: target/release/smsgw,
                  build it with `cargo build --release`)
  --dry-run       print what would be done, change nothing
  -h, --help      this text
USAGE
}

die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 2
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=/usr/local
destdir=${DESTDIR:-}
binary=$repo/target/release/smsgw
dry_run=0

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#*=}; shift ;;
        --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; destdir=$2; shift 2 ;;
        --destdir=*) destdir=${1#*=}; shift ;;
        --binary) [ $# -ge 2 ] || die "--binary needs a file"; binary=$2; shift 2 ;;
        --binary=*) binary=${1#*=}; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

case $prefix in
    /*) ;;
    *) die "--prefix must be an absolute path: $prefix" ;;
esac
prefix=${prefix%/}
destdir=${destdir%/}

# Run a command, or only show it with --dry-run.
run() {
    if [ "$dry_run" = 1 ]; then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

say() {
    printf '%s\n' "$*"
}

[ -f "$binary" ] || die "no binary at $binary: run \`cargo build --release\` or give --binary"
for f in scripts/90-smsgw.rules scripts/smsgw.service smsgw.example.toml; do
    [ -f "$repo/$f" ] || die "missing $repo/$f"
done
if [ -z "$destdir" ] && [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
    die "installing into the system needs root (or use --destdir / --dry-run)"
fi

etc=$destdir/etc
bindir=$destdir$prefix/bin
docdir=$destdir$prefix/share/doc/smsgw

say "smsgw: installing into ${destdir:-/} (prefix $prefix)"

run install -D -m 0755 "$binary" "$bindir/smsgw"

run install -d -m 0750 "$etc/smsgw"
run install -m 0644 "$repo/smsgw.example.toml" "$etc/smsgw/smsgw.example.toml"
if [ -e "$etc/smsgw/smsgw.toml" ]; then
    say "kept existing $etc/smsgw/smsgw.toml (the new example is smsgw.example.toml)"
else
    # The config holds the SIM PIN and API tokens: root and group smsgw only.
    run install -m 0640 "$repo/smsgw.example.toml" "$etc/smsgw/smsgw.toml"
fi

run install -D -m 0644 "$repo/scripts/90-smsgw.rules" "$etc/udev/rules.d/90-smsgw.rules"

# The unit names the binary and the docs by path: follow --prefix.
unit_tmp=$(mktemp)
trap 'rm -f "$unit_tmp"' EXIT
sed "s|/usr/local/|$prefix/|g" "$repo/scripts/smsgw.service" >"$unit_tmp"
run install -D -m 0644 "$unit_tmp" "$etc/systemd/system/smsgw.service"

for doc in setup-debian.md configuration.md hardware.md; do
    if [ -f "$repo/docs/$doc" ]; then
        run install -D -m 0644 "$repo/docs/$doc" "$docdir/$doc"
    fi
done

if [ -n "$destdir" ]; then
    say "staged under $destdir: create the user and reload udev/systemd on the target host"
    exit 0
fi

if ! getent passwd smsgw >/dev/null; then
    run useradd --system --user-group --home-dir /var/lib/smsgw --no-create-home \
        --shell /usr/sbin/nologin --comment "smsgw SMS gateway" smsgw
fi
run usermod --append --groups dialout smsgw
if getent group smsgw >/dev/null || [ "$dry_run" = 1 ]; then
    run chgrp smsgw /etc/smsgw /etc/smsgw/smsgw.toml
fi

if command -v udevadm >/dev/null; then
    run udevadm control --reload-rules
    # Apply the rules to modems already plugged in (links, ModemManager off).
    run udevadm trigger --action=change --subsystem-match=tty --subsystem-match=usb
fi
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    run systemctl daemon-reload
fi

say "done. Next: edit /etc/smsgw/smsgw.toml, then: systemctl enable --now smsgw"
