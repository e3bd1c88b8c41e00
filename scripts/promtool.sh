#!/usr/bin/env bash
# Prints the path of a promtool binary, fetching it first when needed.
#
# promtool is Prometheus' own checker of the text exposition format; the tests run it on the
# textfile that fsreport writes. Order of lookup: $PROMTOOL, promtool on PATH, the copy cached
# under .cache/promtool/, else the Debian `prometheus` package is downloaded with
# `apt-get download` and only usr/bin/promtool is extracted from it. Installing the package
# would also start a Prometheus server on some systems, which the tests do not want.
#
# Exits 1 with a message on stderr when no promtool can be found or fetched.
set -euo pipefail

repo_root="$(cd "$(dirname "$0")/.." && pwd)"
cache_dir="$repo_root/.cache/promtool"
cached="$cache_dir/promtool"

if [ -n "${PROMTOOL:-}" ]; then
  echo "$PROMTOOL"
  exit 0
fi
if command -v promtool >/dev/null 2>&1; then
  command -v promtool
  exit 0
fi
if [ -x "$cached" ]; then
  echo "$cached"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  echo "promtool.sh: promtool not found and apt-get/dpkg are missing to fetch it" >&2
  exit 1
fi

work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

# apt-get download writes into the current directory and needs no root.
if ! (cd "$work_dir" && apt-get download prometheus >"$work_dir/apt.log" 2>&1); then
  echo "promtool.sh: apt-get download prometheus failed (run apt-get update first?):" >&2
  tail -n 3 "$work_dir/apt.log" >&2
  exit 1
fi

dpkg -x "$work_dir"/prometheus_*.deb "$work_dir/root"
if [ ! -x "$work_dir/root/usr/bin/promtool" ]; then
  echo "promtool.sh: the prometheus package contains no usr/bin/promtool" >&2
  exit 1
fi

mkdir -p "$cache_dir"
# Rename into place so that a concurrent run never sees a half-copied binary.
cp "$work_dir/root/usr/bin/promtool" "$cache_dir/promtool.partial.$$"
mv "$cache_dir/promtool.partial.$$" "$cached"
echo "$cached"
