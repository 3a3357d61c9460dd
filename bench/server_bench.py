#!/usr/bin/env python3
"""Server download benchmark: a file and a directory out of a snapshot, over the HTTP API of
`cairn daemon`, against `restic dump` and `cairn dump` reading the same repository.

usage: bench/server_bench.py [--scale 0.5] [--big-mib 512] [--rounds 3]
                             [--binary target/release/cairn] [--out docs/benchmarks-server.md]

One repository (written by cairn, local) holds the seeded dataset (`../shared/bench/
gen_dataset.py`) and one large file (half random, half text). The daemon serves it on
127.0.0.1 with an API token of role operator (viewers may browse, not download).
Measured, interleaved, median of the rounds:

- one large file: `GET …/download?path=` (curl to /dev/null) vs `restic dump` vs `cairn dump`;
- the dataset directory as a zip: `GET …/archive?format=zip` vs `restic dump --archive zip`;
- the same directory as a tar.gz from the API (restic has no compressed archive; listed
  beside restic's plain tar for scale).

Every download is checked once (SHA-256 of the large file, the zip's entry count) before
timing, so a fast wrong answer cannot win. Writes a markdown table with ratios.
"""

import argparse, hashlib, json, os, shutil, socket, statistics, subprocess, sys, time, zipfile
import urllib.parse, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(command, env, stdout=subprocess.DEVNULL):
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=stdout, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def sha256_of(command, env):
    digest = hashlib.sha256()
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE) as process:
        for block in iter(lambda: process.stdout.read(1 << 20), b""):
            digest.update(block)
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed while checking its output")
    return digest.hexdigest()


def write_big_file(path, mib):
    rng = hashlib.sha256(b"cairn server bench")
    with open(path, "wb") as out:
        for i in range(mib):
            if i % 2 == 0:
                # Incompressible: a SHA-256 chain stretched to one MiB.
                block = bytearray()
                while len(block) < 1 << 20:
                    rng.update(block[-32:] or b"seed")
                    block += rng.digest() * 64
                out.write(bytes(block[: 1 << 20]))
            else:
                line = f"2026-11-29T10:{i % 60:02}:00Z host=bench level=info request={i}\n".encode()
                out.write((line * ((1 << 20) // len(line) + 1))[: 1 << 20])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--big-mib", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--binary", default=str(ROOT / "target/release/cairn"))
    parser.add_argument("--work", default="/var/tmp/cairn-server-bench")
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks-server.md"))
    args = parser.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "cairn"], cwd=ROOT, check=True)
    restic_version = subprocess.run(["restic", "version"], capture_output=True, text=True,
                                    check=True).stdout.strip()

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = work / "data"
    subprocess.run([sys.executable, str(SHARED / "gen_dataset.py"), str(data / "tree"),
                    "--scale", str(args.scale)], check=True, stdout=subprocess.DEVNULL)
    big = data / "big.bin"
    write_big_file(big, args.big_mib)
    password = work / "password"
    password.write_text("bench-password\n")
    password.chmod(0o600)
    repo = work / "repo"
    env = dict(os.environ, CAIRN_PASSWORD_FILE=str(password), RESTIC_PASSWORD_FILE=str(password),
               RESTIC_REPOSITORY=str(repo), RESTIC_CACHE_DIR=str(work / "restic-cache"))
    subprocess.run([str(binary), "-r", str(repo), "init"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([str(binary), "-r", str(repo), "backup", str(data)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    snapshot = json.loads(subprocess.run([str(binary), "-r", str(repo), "snapshots", "--json"],
                                         env=env, check=True, capture_output=True).stdout)[-1]["id"]

    port = free_port()
    config = work / "cairn.toml"
    config.write_text(f'state_dir = "{work / "state"}"\n\n[repositories.bench]\n'
                      f'location = "{repo}"\npassword_file = "{password}"\n\n'
                      f'[server]\nlisten = "127.0.0.1:{port}"\n')
    env["CAIRN_CONFIG"] = str(config)
    # With no user at all the server answers only its setup link: make the first one.
    subprocess.run([str(binary), "user", "add", "admin", "--role", "admin", "--password-file",
                    str(password)], env=env, check=True, stdout=subprocess.DEVNULL)
    token = subprocess.run([str(binary), "token", "create", "bench", "--role", "operator"],
                           env=env, check=True, capture_output=True, text=True).stdout.strip()
    daemon_log = open(work / "daemon.log", "wb")
    daemon = subprocess.Popen([str(binary), "daemon"], env=env, stdout=subprocess.DEVNULL,
                              stderr=daemon_log)
    base = f"http://127.0.0.1:{port}/api/v1/repositories/bench/snapshots/{snapshot}"
    auth = ["-H", f"Authorization: Bearer {token}"]
    try:
        deadline = time.time() + 30
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/health",
                                                 headers={"Authorization": f"Bearer {token}"})
                urllib.request.urlopen(request, timeout=2)
                break
            except OSError:
                if time.time() > deadline:
                    log = (work / "daemon.log").read_text(errors="replace")[-2000:]
                    raise SystemExit(f"the daemon did not answer within 30 s; its log:\n{log}")
                time.sleep(0.2)

        big_path = str(big)
        tree_path = str(data / "tree")
        quoted = urllib.parse.quote
        cases = {
            "large file: API download": ["curl", "-sf", *auth, "-o", "-",
                                         f"{base}/download?path={quoted(big_path)}"],
            "large file: cairn dump": [str(binary), "-r", str(repo), "dump", snapshot, big_path],
            "large file: restic dump": ["restic", "dump", snapshot, big_path],
            "directory: API zip": ["curl", "-sf", *auth, "-o", "-",
                                   f"{base}/archive?format=zip&path={quoted(tree_path)}"],
            "directory: restic dump zip": ["restic", "dump", "--archive", "zip", snapshot,
                                           tree_path],
            "directory: API tar.gz": ["curl", "-sf", *auth, "-o", "-",
                                      f"{base}/archive?format=tar.gz&path={quoted(tree_path)}"],
            "directory: restic dump tar": ["restic", "dump", snapshot, tree_path],
        }
        expected = hashlib.sha256(big.read_bytes()).hexdigest()
        for name in ("large file: API download", "large file: cairn dump",
                     "large file: restic dump"):
            got = sha256_of(cases[name], env)
            if got != expected:
                raise SystemExit(f"{name} returned different bytes ({got} != {expected})")
        files = sum(len(f) for _, _, f in os.walk(data / "tree"))
        for name in ("directory: API zip", "directory: restic dump zip"):
            out = work / "check.zip"
            with open(out, "wb") as sink:
                subprocess.run(cases[name], env=env, check=True, stdout=sink)
            entries = [i for i in zipfile.ZipFile(out).infolist() if not i.is_dir()]
            if len(entries) != files:
                raise SystemExit(f"{name}: {len(entries)} files in the zip, {files} in the tree")

        times = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, command in cases.items():
                times[name].append(timed(command, env))
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)

    median = {name: statistics.median(values) for name, values in times.items()}
    big_bytes = big.stat().st_size
    tree_bytes = sum(p.stat().st_size for p in (data / "tree").rglob("*") if p.is_file())
    rows = [
        ("large file: API download", "large file: restic dump", big_bytes),
        ("large file: cairn dump", "large file: restic dump", big_bytes),
        ("directory: API zip", "directory: restic dump zip", tree_bytes),
        ("directory: API tar.gz", "directory: restic dump tar", tree_bytes),
    ]
    lines = [
        "# Server download benchmark",
        "",
        f"`bench/server_bench.py --scale {args.scale} --big-mib {args.big_mib} "
        f"--rounds {args.rounds}`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
        f"{restic_version}. Medians of {args.rounds} interleaved rounds; the large file is "
        f"{big_bytes / 2**20:.0f} MiB, the directory {tree_bytes / 2**20:.0f} MiB in {files} "
        "files. The API is served by `cairn daemon` on 127.0.0.1 (plain HTTP, an operator token: viewers may browse but not download); "
        "everything reads the same local repository with a warm page cache.",
        "",
        "| what | cairn | s | peer | s | MiB/s (cairn) | ratio cairn/peer |",
        "|---|---|---|---|---|---|---|",
    ]
    for ours, peer, size in rows:
        lines.append(f"| {ours.split(': ')[0]} | {ours.split(': ')[1]} | {median[ours]:.2f} | "
                     f"{peer.split(': ')[1]} | {median[peer]:.2f} | "
                     f"{size / 2**20 / median[ours]:.0f} | {median[ours] / median[peer]:.2f} |")
    lines.append("")
    lines.append("The tar.gz row is not like for like: the API compresses (gzip), restic's tar "
                 "does not.")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
