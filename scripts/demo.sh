#!/usr/bin/env bash
# cairn's main job on a fresh machine: back up a directory into a local repository, list the
# snapshot, restore it and verify every byte. Usage: scripts/demo.sh [DIRECTORY] (default /etc).
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=${1:-/etc}
work=${CAIRN_DEMO_DIR:-$PWD/demo}
cairn=./target/release/cairn
[ -x "$cairn" ] || cargo build --release

mkdir -p "$work"
password_file="$work/password"
[ -f "$password_file" ] || head -c 24 /dev/urandom | base64 > "$password_file"
export CAIRN_REPOSITORY="$work/repo" CAIRN_PASSWORD_FILE="$password_file"

[ -f "$work/repo/config" ] || "$cairn" init
"$cairn" backup "$source_dir"
"$cairn" snapshots
rm -rf "$work/restore"
"$cairn" restore latest --target "$work/restore" --verify
"$cairn" check --read-data
echo "restored $source_dir into $work/restore$source_dir"
