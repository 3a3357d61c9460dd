#!/usr/bin/env python3
"""Backup benchmark: cairn against restic 0.14 and borg 1.2 on the same data, in the same run.

usage: bench/bench.py [--scale 1.0] [--rounds 5] [--tools cairn,restic,borg-zstd3,borg-lz4]
                      [--work /var/tmp/cairn-bench] [--out docs/benchmarks.md] [--no-cold]
                      [--only restore] [--cairn-bin PATH]

For each round and each tool (interleaved, order rotated per round), on a fresh copy of the
dataset made by ../shared/bench/gen_dataset.py:
  1. initial backup with a cold page cache (caches dropped; needs root), into a fresh repository;
  2. initial backup with a hot cache, into another fresh repository;
  3. no-change backup;
  4. day-2 backup after ../shared/bench/mutate_day2.py;
  5. full restore of the day-2 snapshot with a cold cache, verified by a full compare;
and records wall time, peak RSS of the tool process (getrusage), and repository size.
Prints and writes a markdown table of medians (min-max) with ratios cairn/peer.

With --only restore, each tool backs the dataset up once (untimed) into a repository of its
own, kept for all rounds (deleted after its restore when there is one round); each round then
times step 5 alone (restoring that snapshot).
--cairn-bin measures another cairn binary (e.g. one built from an older commit) instead of
building this tree's.
"""
import argparse, hashlib, os, platform, shutil, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password"


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd, env=None, cwd=None):
    """Runs cmd; returns (seconds, peak RSS in MiB). Fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({code}):\n{err}")
    return elapsed, usage.ru_maxrss / 1024


def drop_caches():
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def warm(path):
    for dirpath, _, files in os.walk(path):
        for name in files:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                with open(p, "rb") as f:
                    while f.read(1 << 20):
                        pass


def dir_size(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def tree_digest(path):
    """Content and layout digest of a tree (names, sizes, bytes), for the restore check."""
    h = hashlib.sha256()
    for dirpath, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        rel = os.path.relpath(dirpath, path)
        for name in sorted(files):
            p = os.path.join(dirpath, name)
            h.update(f"{rel}/{name}:{os.lstat(p).st_size}\n".encode())
            with open(p, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
    return h.hexdigest()


class Tool:
    def __init__(self, name, work, cairn_bin):
        self.name, self.work, self.cairn = name, work, cairn_bin
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith(("RESTIC_", "BORG_", "CAIRN_")):
                del self.env[k]
        self.env.update({
            "RESTIC_PASSWORD": PASSWORD, "CAIRN_PASSWORD": PASSWORD, "BORG_PASSPHRASE": PASSWORD,
            "RESTIC_CACHE_DIR": str(work / "restic-cache"), "BORG_BASE_DIR": str(work / "borg-base"),
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes", "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
        })

    def init(self, repo):
        shutil.rmtree(repo, ignore_errors=True)
        # Only this tool's cache: another tool's repository may still be in use (--only).
        if self.name == "restic":
            shutil.rmtree(self.work / "restic-cache", ignore_errors=True)
        elif self.name.startswith("borg"):
            shutil.rmtree(self.work / "borg-base", ignore_errors=True)
        if self.name == "cairn":
            sh([self.cairn, "-r", repo, "init", "-q"], env=self.env, stdout=subprocess.DEVNULL)
        elif self.name == "restic":
            sh(["restic", "-r", repo, "init", "--repository-version", "2", "-q"], env=self.env, stdout=subprocess.DEVNULL)
        else:
            sh(["borg", "init", "--encryption", "repokey", repo], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def backup(self, repo, src, label):
        if self.name == "cairn":
            return timed([self.cairn, "-r", repo, "backup", "-q", src], self.env)
        if self.name == "restic":
            return timed(["restic", "-r", repo, "backup", "-q", "--compression", "auto", src], self.env)
        compression = "zstd,3" if self.name == "borg-zstd3" else "lz4"
        return timed(["borg", "create", "--compression", compression, f"{repo}::{label}", src], self.env)

    def restore(self, repo, target, label):
        target.mkdir(parents=True)
        if self.name == "cairn":
            return timed([self.cairn, "-r", repo, "restore", "-q", "latest", "--target", target], self.env)
        if self.name == "restic":
            return timed(["restic", "-r", repo, "restore", "-q", "latest", "--target", target], self.env)
        return timed(["borg", "extract", f"{repo}::{label}"], self.env, cwd=target)


def versions(cairn_bin):
    out = {}
    for name, cmd in [("cairn", [cairn_bin, "--version"]), ("restic", ["restic", "version"]), ("borg", ["borg", "--version"])]:
        out[name] = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    return out


def machine():
    cpu = flags = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and not cpu:
            cpu = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            have = set(line.split(":", 1)[1].split())
            flags = " ".join(f for f in ["aes", "sha_ni", "avx2", "avx512f", "bmi2"] if f in have)
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} cores, {cpu}, flags: {flags}, {mem} GiB RAM, kernel {platform.release()}"


def fmt_stat(values, unit):
    med = statistics.median(values)
    if unit == "s":
        return f"{med:.2f} s ({min(values):.2f}–{max(values):.2f})"
    if unit == "MiB":
        return f"{med:.0f} MiB ({min(values):.0f}–{max(values):.0f})"
    return f"{med:.1f} MB/s ({min(values):.1f}–{max(values):.1f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tools", default="cairn,restic,borg-zstd3,borg-lz4")
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/cairn-bench"))
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    ap.add_argument("--generator", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--no-cold", action="store_true", help="skip cold-cache runs (no root needed)")
    ap.add_argument("--only", choices=["restore"], help="run only these measures")
    ap.add_argument("--cairn-bin", type=Path, help="the cairn binary to measure (default: build this tree's)")
    ap.add_argument("--restore-dir", type=Path,
                    help="where restores go (default: WORK/restore); e.g. a tmpfs when the disk has no room for one")
    args = ap.parse_args()
    tools = args.tools.split(",")
    cold = not args.no_cold
    if cold and os.geteuid() != 0:
        sys.exit("cold-cache runs drop the page cache and need root; run as root or pass --no-cold")
    for f in ["gen_dataset.py", "mutate_day2.py"]:
        if not (args.generator / f).exists():
            sys.exit(f"{args.generator / f} not found; pass --generator DIR")
    if args.cairn_bin:
        cairn_bin = args.cairn_bin.resolve()
    else:
        cairn_bin = ROOT / "target" / "release" / "cairn"
        sh(["cargo", "build", "--release", "-q", "-p", "cairn"], cwd=ROOT)
    for t in tools:
        exe = {"cairn": str(cairn_bin), "restic": "restic"}.get(t, "borg")
        if not shutil.which(exe):
            sys.exit(f"{exe} not found: apt-get install -y restic borgbackup")

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    restore_dir = args.restore_dir or work / "restore"
    dataset = work / f"dataset-{args.scale}"
    if not dataset.exists():
        print(f"generating dataset at scale {args.scale} ...", flush=True)
        tmp = dataset.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        if args.scale <= 1:
            sh([sys.executable, args.generator / "gen_dataset.py", tmp, "--scale", str(args.scale)])
        else:
            # gen_dataset.py cannot make files above ~256 MiB (Python's randbytes limit), so a
            # larger tree is several scale-1 trees with different seeds side by side: the same
            # mix of data, all of it distinct.
            parts = int(-(-args.scale // 1))
            for part in range(parts):
                sh([sys.executable, args.generator / "gen_dataset.py", tmp / f"part-{part:02d}",
                    "--scale", str(args.scale / parts), "--seed", str(42 + part)])
        tmp.rename(dataset)
    data_bytes = dir_size(dataset)
    files = sum(len(f) for _, _, f in os.walk(dataset))

    results = {t: {k: [] for k in ["cold", "hot", "rss", "nochange", "day2", "restore", "restore_rss", "size"]} for t in tools}
    if args.only == "restore":
        restore_rounds(args, tools, work, restore_dir, dataset, data_bytes, cairn_bin, cold, results)
    for rnd in range(0 if args.only else args.rounds):
        order = tools[rnd % len(tools):] + tools[:rnd % len(tools)]
        for name in order:
            tool = Tool(name, work, cairn_bin)
            src = work / "src"
            shutil.rmtree(src, ignore_errors=True)
            sh(["cp", "-a", dataset, src])
            repo = work / "repo"
            if cold:
                tool.init(repo)
                drop_caches()  # syncs first
                secs, _ = tool.backup(repo, src, "cold")
                results[name]["cold"].append(data_bytes / secs / 1e6)
            tool.init(repo)
            warm(src)
            # Each timed run starts with no dirty pages of earlier steps (the copy, the cold
            # run) still being written back, which would otherwise throttle its writes.
            os.sync()
            secs, rss = tool.backup(repo, src, "day1")
            results[name]["hot"].append(data_bytes / secs / 1e6)
            results[name]["rss"].append(rss)
            secs, _ = tool.backup(repo, src, "day1b")
            results[name]["nochange"].append(secs)
            # A composed tree (scale > 1) gets the day-2 changes in every part.
            parts = sorted(src.glob("part-*")) or [src]
            for part in parts:
                sh([sys.executable, args.generator / "mutate_day2.py", part], stdout=subprocess.DEVNULL)
            warm(src)
            os.sync()
            secs, _ = tool.backup(repo, src, "day2")
            results[name]["day2"].append(secs)
            results[name]["size"].append(dir_size(repo) / 2**20)
            restore_once(tool, repo, src, tree_digest(src), restore_dir, data_bytes, cold, results)
            print(f"round {rnd + 1} {name}: hot {results[name]['hot'][-1]:.0f} MB/s, no-change {results[name]['nochange'][-1]:.2f} s, "
                  f"day-2 {results[name]['day2'][-1]:.2f} s, restore {results[name]['restore'][-1]:.0f} MB/s", flush=True)

    write_report(args, tools, cairn_bin, data_bytes, files, results)


def restore_once(tool, repo, source, source_digest, target, data_bytes, cold, results):
    """Step 5: a restore of the latest snapshot into `target`, timed, compared with `source`
    (whose tree_digest is `source_digest`)."""
    shutil.rmtree(target, ignore_errors=True)
    if cold:
        drop_caches()
    else:
        os.sync()
    secs, rss = tool.restore(repo, target, "day2")
    results[tool.name]["restore"].append(data_bytes / secs / 1e6)
    results[tool.name]["restore_rss"].append(rss)
    restored = target / str(source).lstrip("/")
    if tree_digest(restored) != source_digest:
        sys.exit(f"{tool.name}: the restored tree differs from the source")
    shutil.rmtree(target)


def restore_rounds(args, tools, work, restore_dir, dataset, data_bytes, cairn_bin, cold, results):
    """--only restore: one backup per tool, then rounds of restores, tools interleaved. With
    one round, each repository is made just before its restore and deleted after it, so a
    scale-10 run needs room for one repository and one restore at a time."""
    digest = tree_digest(dataset)
    repos = {}

    def repository(name):
        if name not in repos:
            tool = Tool(name, work, cairn_bin)
            repos[name] = work / f"repo-{name}"
            tool.init(repos[name])
            tool.backup(repos[name], dataset, "day2")
        return repos[name]

    for rnd in range(args.rounds):
        order = tools[rnd % len(tools):] + tools[:rnd % len(tools)]
        for name in order:
            tool = Tool(name, work, cairn_bin)
            restore_once(tool, repository(name), dataset, digest, restore_dir, data_bytes, cold, results)
            print(f"round {rnd + 1} {name}: restore {results[name]['restore'][-1]:.0f} MB/s, "
                  f"peak RSS {results[name]['restore_rss'][-1]:.0f} MiB", flush=True)
            if args.rounds == 1:
                shutil.rmtree(repos[name])
    if args.rounds > 1:
        for repo in repos.values():
            shutil.rmtree(repo)


def write_report(args, tools, cairn_bin, data_bytes, files, results):
    rows = [
        ("initial backup, hot cache", "hot", "MB/s", True),
        ("initial backup, cold cache", "cold", "MB/s", True),
        ("no-change backup", "nochange", "s", False),
        ("day-2 backup", "day2", "s", False),
        ("full restore, " + ("hot" if args.no_cold else "cold") + " cache", "restore", "MB/s", True),
        ("repository size", "size", "MiB", False),
        ("peak RSS, initial backup", "rss", "MiB", False),
        ("peak RSS, restore", "restore_rss", "MiB", False),
    ]
    peers = [t for t in tools if t != "cairn"]
    lines = [f"# Benchmarks", "",
             f"Generated by `{' '.join(['bench/bench.py'] + sys.argv[1:])}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             f"- Machine: {machine()}",
             f"- Data: `gen_dataset.py --scale {args.scale}`: {data_bytes / 2**20:.0f} MiB in {files} files; "
             + ("restores of a backup of the dataset itself" if args.only == "restore" else "day 2 by `mutate_day2.py`"),
             f"- Tools: " + "; ".join(f"{k}: `{v}`" for k, v in versions(cairn_bin).items()),
             f"- {args.rounds} rounds, tools interleaved; median (min–max). Throughput = dataset bytes / wall time.",
             "- Ratios: for throughput, cairn/peer (higher is better); for times, sizes and memory, cairn/peer (lower is better).", "",
             "| measure | " + " | ".join(tools) + " | " + " | ".join(f"cairn/{p}" for p in peers) + " |",
             "|---|" + "---|" * (len(tools) + len(peers))]
    for label, key, unit, _ in rows:
        if not all(results[t][key] for t in tools):
            continue
        cells = [fmt_stat(results[t][key], unit) for t in tools]
        ratios = []
        for p in peers:
            if "cairn" in tools:
                ratios.append(f"{statistics.median(results['cairn'][key]) / statistics.median(results[p][key]):.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    report = "\n".join(lines) + "\n"
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
