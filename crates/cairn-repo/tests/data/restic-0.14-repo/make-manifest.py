"""Prints expected.json: `make-manifest.py SNAPSHOTS_JSON RESTORE_DIR`.

SNAPSHOTS_JSON is `restic snapshots --json`; RESTORE_DIR/<snapshot id> holds what
`restic restore` wrote for each snapshot. Paths are relative to the snapshot root, written
`/a/b` as cairn's tree walk names them.
"""

import hashlib
import json
import os
import sys


def describe(root):
    files, symlinks, dirs = {}, {}, []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(path, root)
            if os.path.islink(path):
                symlinks[rel] = os.readlink(path)
            elif os.path.isdir(path):
                dirs.append(rel)
            else:
                with open(path, "rb") as f:
                    data = f.read()
                st = os.stat(path)
                files[rel] = {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "mode": f"{st.st_mode & 0o7777:04o}",
                    "mtime": st.st_mtime_ns // 1_000_000_000,
                }
    return files, symlinks, sorted(dirs)


def main():
    with open(sys.argv[1]) as f:
        snapshots = sorted(json.load(f), key=lambda s: s["time"])
    out = []
    for s in snapshots:
        files, symlinks, dirs = describe(os.path.join(sys.argv[2], s["id"]))
        out.append({
            "id": s["id"],
            "tree": s["tree"],
            "parent": s.get("parent"),
            "time": s["time"],
            "hostname": s["hostname"],
            "paths": s["paths"],
            "files": dict(sorted(files.items())),
            "symlinks": dict(sorted(symlinks.items())),
            "dirs": dirs,
        })
    json.dump({"password": os.environ["RESTIC_PASSWORD"], "snapshots": out}, sys.stdout,
              indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
