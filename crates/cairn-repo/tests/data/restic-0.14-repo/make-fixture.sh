#!/usr/bin/env bash
# Rebuilds the golden repository in ./repo and its manifest ./expected.json with restic 0.14.
#
# The source tree is deterministic (seeded content, fixed mtimes), but restic draws the master
# key, salts, IVs, the repository id and the chunker polynomial at random: a rebuild gives a
# different repository with the same files. Run it from anywhere; it needs restic, python3.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

export TZ=UTC
export RESTIC_PASSWORD=cairn-golden
export RESTIC_REPOSITORY="$here/repo"
# The source is backed up from a fixed absolute path, so the snapshot's `paths` and the tree
# ids do not depend on where this script runs.
src=/tmp/cairn-golden-src
rm -rf "$src" "$RESTIC_REPOSITORY"

python3 "$here/make-tree.py" "$src" 1
restic init --repository-version 2
(cd "$src" && restic backup --host cairn-golden --time "2022-08-05 10:00:00" .)

python3 "$here/make-tree.py" "$src" 2
(cd "$src" && restic backup --host cairn-golden --time "2022-08-06 10:00:00" .)

# big.txt must span two chunks (it does for most polynomials; rerun if not): 6 data blobs for
# the five non-empty files of the first backup plus the new notes.txt of the second.
if [ "$(restic list blobs | grep -c '^data ')" -lt 7 ]; then
    echo "big.txt fit in one chunk with this repository's polynomial; run again" >&2
    exit 1
fi

# restic leaves empty directories (data/00..ff, locks) that git does not keep anyway.
find "$RESTIC_REPOSITORY" -type d -empty -delete
# restic writes its files read-only; a test that damages a copy needs them writable.
chmod -R u+w,go+r "$RESTIC_REPOSITORY"

# The manifest is taken from what restic itself restores, not from the source tree.
for id in $(restic snapshots --json | python3 -c 'import json,sys; print(" ".join(s["id"] for s in json.load(sys.stdin)))'); do
    restic restore "$id" --target "$work/restore/$id" >/dev/null
done
restic snapshots --json >"$work/snapshots.json"
python3 "$here/make-manifest.py" "$work/snapshots.json" "$work/restore" >"$here/expected.json"
rm -rf "$src"
restic check --read-data
