#!/usr/bin/env bash
# Unpacks Debian's arm64 glibc (the libc6:arm64 package) into DIR, the sysroot for running the
# arm64 binary with `qemu-aarch64-static -L DIR`. Does nothing when DIR is complete already.
# apt-get needs the arm64 architecture: `dpkg --add-architecture arm64 && apt-get update`
# (.ci/run does both).
#
# Usage: scripts/arm64-sysroot.sh DIR
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
sysroot=$1

if [ -e "$sysroot/lib/ld-linux-aarch64.so.1" ]; then
  exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "error: dpkg has no arm64 architecture: run 'dpkg --add-architecture arm64 && apt-get update' as root" >&2
  exit 1
fi

download=$(mktemp -d)
trap 'rm -rf "$download" "$sysroot.partial"' EXIT

# As root, apt-get warns that it downloads unsandboxed: the private directory is not writable
# for its _apt user. That is harmless here.
(cd "$download" && apt-get download -q libc6:arm64)
package=$(find "$download" -name 'libc6_*_arm64.deb')

# Unpack next to the target and rename, so an interrupted run leaves no half sysroot behind.
rm -rf "$sysroot.partial"
mkdir -p "$sysroot.partial"
dpkg -x "$package" "$sysroot.partial"
mkdir -p "$(dirname "$sysroot")"
mv "$sysroot.partial" "$sysroot"
