#!/usr/bin/env bash
# Builds a relay-like tree in a temporary directory and runs the three jobs of the compiled
# binary on it: fsreport, expire-inactive (dry run) and quota-expire on one oversized mailbox.
set -euo pipefail

cd "$(dirname "$0")/.."
case "$(uname -m)" in
  aarch64 | arm64) binary=dist/chatmail-maildir-linux-arm64 ;;
  *) binary=dist/chatmail-maildir-linux-x64 ;;
esac

tree=$(mktemp -d "${TMPDIR:-/tmp}/chatmail-demo.XXXXXX")
trap 'rm -rf "$tree"' EXIT

echo "== Generating a demo relay in $tree (3000 mailboxes, sparse files)"
node_modules/.bin/bun scripts/make-relay-tree.ts "$tree" --mailboxes 3000 --messages 10 --big-mailbox 2000
"$binary" --version

echo
echo "== chatmail-maildir fsreport $tree/chatmail.ini"
"$binary" fsreport "$tree/chatmail.ini"

echo
echo "== chatmail-maildir expire-inactive $tree/chatmail.ini (dry run)"
"$binary" expire-inactive "$tree/chatmail.ini"

echo
echo "== chatmail-maildir quota-expire 100 $tree/mail/example.org/big@example.org"
"$binary" quota-expire 100 "$tree/mail/example.org/big@example.org"
