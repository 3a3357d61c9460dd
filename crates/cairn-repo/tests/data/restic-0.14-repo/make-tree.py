"""Writes the deterministic source tree of the golden repository: `make-tree.py DIR STATE`.

State 1 is the first backup; state 2 changes `notes.txt` only. Content comes from a seeded
PRNG, so every run writes the same bytes; mtimes are fixed so the trees restic writes differ
between runs only in what the machine decides (inode, device, owner).
"""

import os
import random
import shutil
import sys

WORDS = (
    "cairn stone path ridge summit marker trail fog moss granite heather wind valley river "
    "shepherd compass lantern north south east west dawn dusk cloud rain snow frost sun moon "
    "star glacier boulder scree cliff ledge gully bothy cairnfield lochan burn corrie bealach "
    "bracken birch rowan pine larch alder willow hazel oak ash elm yew holly juniper thistle"
).split()

MTIME = 1_659_693_600  # 2022-08-05T10:00:00Z


def words(rng, size):
    """Text of about `size` bytes: compressible (zstd keeps about a quarter) yet varied enough
    for the Rabin chunker to cut it."""
    out = []
    length = 0
    while length < size:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))) + "\n"
        out.append(line)
        length += len(line)
    return "".join(out)[:size].encode()


def write(path, data, mtime=MTIME):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    os.utime(path, (mtime, mtime))


def main():
    root, state = sys.argv[1], int(sys.argv[2])
    rng = random.Random(20220805)
    if state == 1:
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        # Several chunks (restic cuts at 512 KiB at the earliest), stored compressed.
        write(f"{root}/data/big.txt", words(rng, 1_500_000))
        # Random bytes do not compress: stored as an uncompressed blob.
        write(f"{root}/data/random.bin", rng.randbytes(6_000))
        write(f"{root}/empty.txt", b"")
        write(f"{root}/nested/a/b/deep.txt", words(rng, 3_000))
        write(f"{root}/\u00fcn\u00efc\u00f8d\u00e9 \u65e5\u672c\u8a9e \u0444\u0430\u0439\u043b.txt",
              "h\u00e9llo, w\u00f6rld \u2014 \u3053\u3093\u306b\u3061\u306f\n".encode())
        write(f"{root}/notes.txt", words(rng, 4_000))
        os.makedirs(f"{root}/empty-dir")
        for target, name in [("data/big.txt", "link-to-big"), ("../nowhere/target", "dangling-link")]:
            os.symlink(target, f"{root}/{name}")
            os.utime(f"{root}/{name}", (MTIME, MTIME), follow_symlinks=False)
    else:
        rng.seed(2)
        write(f"{root}/notes.txt", words(rng, 5_000), MTIME + 86_400)
    for dirpath, dirnames, _ in os.walk(root, topdown=False):
        for name in dirnames:
            os.utime(os.path.join(dirpath, name), (MTIME, MTIME))
    os.utime(root, (MTIME, MTIME))


if __name__ == "__main__":
    main()
