#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every check CI runs:
# formatting, lints, and the whole test suite (unit, property, restic-oracle, fault tests).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# The dump tests run the database clients against the PostgreSQL and MariaDB servers; the web
# UI tests drive headless Chromium through chromedriver.
for tool in restic borg rclone setfattr pg_dump mariadb-dump sqlite3 chromedriver; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test dependencies (${need[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq restic borgbackup rclone attr postgresql-client mariadb-client \
    sqlite3 chromium chromium-driver >/dev/null
fi
restic version
# The S3 tests start their own server: moto, through scripts/s3-test-server.py.
if ! python3 -c "import moto.server, flask" >/dev/null 2>&1; then
  echo "installing the S3 test server (moto)"
  python3 -m pip install --quiet 'moto[server]>=5.2,<5.3'
fi
# The notification tests start an SMTP sink: aiosmtpd, through scripts/smtp-test-sink.py.
if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "installing the SMTP test sink (aiosmtpd)"
  python3 -m pip install --quiet 'aiosmtpd>=1.4,<1.5'
fi

# rustic, another implementation of the restic format, for the format-compatibility test
# (crates/cairn/tests/cli/format_compat/rustic.rs). Pinned; built from crates.io only when
# missing, in its own target directory. rustic's own release profile (fat LTO, one codegen
# unit, opt-level 3) cost 703 s of CPU and a 3.5-minute single-threaded link; a test oracle
# needs none of it, so the profile is overridden (config beats the manifest): 588 s of CPU,
# no long link.
RUSTIC_VERSION=0.11.4
if ! rustic --version 2>/dev/null | grep -qx "rustic $RUSTIC_VERSION"; then
  echo "installing rustic $RUSTIC_VERSION (cargo install)"
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install rustic-rs --version "$RUSTIC_VERSION" --locked --no-default-features \
    --target-dir /var/tmp/cairn-rustic-build
fi
rustic --version

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Most CLI tests wait on other processes (restic, daemons, the S3 and SMTP servers), so four
# test threads on two cores finish the CLI suite in about 60 % of the time two threads take
# (371 s against 625 s, measured with --report-time on the same build).
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
cargo test --workspace --no-fail-fast "$@"
