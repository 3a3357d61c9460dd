#!/usr/bin/env bash
# What a user meets first: a demo daemon with the web UI on 127.0.0.1. It makes a local
# repository and a config with one plan backing up DIRECTORY (default /etc) every hour under
# ./demo/, runs the plan once, then starts `cairn daemon` in the foreground, which prints the
# one-time setup link of the UI. Ctrl-C stops it; run it again to carry on.
# Usage: scripts/demo.sh [DIRECTORY]   (CAIRN_DEMO_DIR, CAIRN_DEMO_LISTEN to change places)
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=$(realpath "${1:-/etc}")
work=$(realpath -m "${CAIRN_DEMO_DIR:-$PWD/demo}")
listen=${CAIRN_DEMO_LISTEN:-127.0.0.1:8470}
cairn=${CAIRN_BIN:-./target/release/cairn}
[ -x "$cairn" ] || cargo build --release

mkdir -p "$work"
chmod 700 "$work"
password_file="$work/password"
if [ ! -f "$password_file" ]; then
  (umask 077; head -c 24 /dev/urandom | base64 > "$password_file")
fi
config="$work/cairn.toml"
cat > "$config" <<TOML
# The demo's config: edit it here or in the web UI (Plans), which keeps your comments.
state_dir = "$work/state"

[repositories.demo]
location = "$work/repo"
password_file = "$password_file"

[plans.demo]
repository = "demo"
sources = ["$source_dir"]
schedule = "@hourly"
retention = { keep_hourly = 24, keep_daily = 7 }

[server]
listen = "$listen"
TOML
export CAIRN_CONFIG="$config"
[ -f "$work/repo/config" ] || CAIRN_PASSWORD_FILE="$password_file" "$cairn" -r "$work/repo" init
"$cairn" run demo
echo "demo: the daemon now runs the plan every hour; the web UI is on http://$listen"
exec "$cairn" daemon
