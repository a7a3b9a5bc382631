#!/usr/bin/env bash
# Builds (once) a Debian root with a real GIMP 3 for the plug-in tests.
# Usage: build_root.sh DIR [SUITE]   -- SUITE: trixie (GIMP 3.0.4, the default), forky or sid (GIMP 3.2).
# Leaves DIR/.ready when done; rebuilds a half-built DIR.
set -euo pipefail
root=${1:?usage: build_root.sh DIR [SUITE]}
suite=${2:-trixie}
[ -f "$root/.ready" ] && exit 0
[ "$(id -u)" = 0 ] || { echo "building the GIMP 3 root needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
# The mirror apt already uses on this machine (deb822 or one-line sources).
mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
         | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
# An older debootstrap has no script for a newer suite: sid's works for every suite after trixie.
script=()
scripts=/usr/share/debootstrap/scripts
[ -e "$scripts/$suite" ] || script=("$scripts/sid")
rm -rf "$root"; mkdir -p "$(dirname "$root")"
debootstrap --variant=minbase "$suite" "$root" "$mirror" "${script[@]}"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# Testing and unstable Release files on a mirror can be past their Valid-Until date.
echo 'Acquire::Check-Valid-Until "false";' > "$root/etc/apt/apt.conf.d/99no-valid-until"
mount_fs() { mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"; }
mount_fs
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    gimp gir1.2-gimp-3.0 python3-gi gimp-python3 2>/dev/null \
  || chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    gimp gir1.2-gimp-3.0 python3-gi
chroot "$root" apt-get clean
touch "$root/.ready"
