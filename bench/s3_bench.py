#!/usr/bin/env python3
"""Repository-on-S3 benchmark: cairn against restic 0.14, both with their metadata caches.

usage: bench/s3_bench.py [--scale 1.0] [--rounds 3] [--tools cairn,restic]
                         [--out docs/benchmarks-s3.md]

Each round starts a fresh moto server (scripts/s3-test-server.py, on 127.0.0.1) and, for each
tool in turn (order rotated per round), on a fresh copy of the shared dataset
(../shared/bench/gen_dataset.py) and with a fresh cache directory:
  1. init and initial backup into s3:…/BUCKET/TOOL-ROUND (recorded, not a target);
  2. `snapshots` twice: the second run is the measure (the first may fill the cache);
  3. `ls latest` (the trees the backup wrote, read through the cache);
  4. no-change backup;
  5. day-2 backup after ../shared/bench/mutate_day2.py.
Both tools open the repository (key derivation with the parameters their own `init` chose) on
every command, as a user's commands do. moto keeps data in memory and is slow: its figures
rank the tools against each other, not against a real object store. Writes a markdown table of
medians (min–max) with cairn/restic ratios to docs/benchmarks-s3.md.
"""

import argparse, os, shutil, statistics, subprocess, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import dir_size, machine, versions  # noqa: E402
from mirror_bench import KEY_ID, SECRET, start_moto  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "cairn-bench"
PASSWORD = "bench-password"
MEASURES = [
    ("initial backup", "initial"),
    ("2nd `snapshots`", "snapshots"),
    ("`ls latest`", "ls"),
    ("no-change backup", "nochange"),
    ("day-2 backup", "day2"),
]
TARGETS = {"snapshots", "ls", "nochange", "day2"}


def run(cmd, env):
    """Runs cmd; returns its wall time. Fails loudly on a non-zero exit."""
    started = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                 f"{proc.stderr.decode(errors='replace')}")
    return elapsed


def tool_commands(name, cairn, url):
    """The commands of one tool against repository `url`: init, backup, snapshots, ls."""
    if name == "cairn":
        base = [cairn, "-q", "-r", url]
        return {"init": base + ["init"], "backup": base + ["backup"],
                "snapshots": base + ["snapshots"], "ls": base + ["ls", "latest"]}
    base = ["restic", "-q", "-r", url]
    return {"init": base + ["init", "--repository-version", "2"],
            "backup": base + ["backup", "--compression", "auto"],
            "snapshots": base + ["snapshots"], "ls": base + ["ls", "latest"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tools", default="cairn,restic")
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/cairn-bench"))
    ap.add_argument("--generator", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-s3.md")
    args = ap.parse_args()
    tools = args.tools.split(",")
    if "restic" in tools and not shutil.which("restic"):
        sys.exit("restic not found: apt-get install -y restic")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cairn"], cwd=ROOT, check=True)
    cairn = ROOT / "target" / "release" / "cairn"

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    dataset = work / f"dataset-{args.scale}"
    if not dataset.exists():
        tmp = dataset.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([sys.executable, args.generator / "gen_dataset.py", tmp,
                        "--scale", str(args.scale)], check=True)
        tmp.rename(dataset)
    data_bytes = dir_size(dataset)
    files = sum(len(f) for _, _, f in os.walk(dataset))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "CAIRN_"))}
    env.update({"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_DEFAULT_REGION": "us-east-1", "RESTIC_PASSWORD": PASSWORD,
                "CAIRN_PASSWORD": PASSWORD})
    results = {t: {key: [] for _, key in MEASURES} for t in tools}
    for rnd in range(args.rounds):
        server, endpoint = start_moto(BUCKET)
        try:
            order = tools[rnd % len(tools):] + tools[:rnd % len(tools)]
            for name in order:
                cache = work / f"{name}-cache"
                shutil.rmtree(cache, ignore_errors=True)
                tool_env = dict(env, RESTIC_CACHE_DIR=str(cache), CAIRN_CACHE_DIR=str(cache))
                src = work / "src"
                shutil.rmtree(src, ignore_errors=True)
                subprocess.run(["cp", "-a", dataset, src], check=True)
                commands = tool_commands(name, cairn, f"s3:{endpoint}/{BUCKET}/{name}-{rnd}")
                run(commands["init"], tool_env)
                os.sync()
                measured = results[name]
                measured["initial"].append(run(commands["backup"] + [src], tool_env))
                run(commands["snapshots"], tool_env)
                measured["snapshots"].append(run(commands["snapshots"], tool_env))
                measured["ls"].append(run(commands["ls"], tool_env))
                measured["nochange"].append(run(commands["backup"] + [src], tool_env))
                subprocess.run([sys.executable, args.generator / "mutate_day2.py", src],
                               check=True, stdout=subprocess.DEVNULL)
                os.sync()
                measured["day2"].append(run(commands["backup"] + [src], tool_env))
                print(f"round {rnd + 1} {name}: " + ", ".join(
                    f"{key} {measured[key][-1]:.2f} s" for _, key in MEASURES), flush=True)
        finally:
            server.kill()
            server.wait()

    def cell(values):
        return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"

    peers = [t for t in tools if t != "cairn"]
    lines = [
        "# Benchmarks: repositories on S3", "",
        f"Generated by `{' '.join(['bench/s3_bench.py'] + sys.argv[1:])}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
        f"- Machine: {machine()}",
        "- Server: moto on 127.0.0.1 (in memory, Python; slow), a fresh one per round",
        f"- Data: `gen_dataset.py --scale {args.scale}`: {data_bytes / 2**20:.0f} MiB in "
        f"{files} files; day 2 by `mutate_day2.py`",
        "- Tools: " + "; ".join(f"{k}: `{v}`" for k, v in versions(cairn).items() if k in tools),
        "- Both tools use their metadata cache (a fresh one per round, filled by the initial "
        "backup as each tool fills it); every command opens the repository (key derivation).",
        f"- {args.rounds} rounds, tools interleaved; wall time, median (min–max); ratio "
        "cairn/peer (lower is better).", "",
        "| measure | " + " | ".join(tools) + " | "
        + " | ".join(f"cairn/{p}" for p in peers) + " | target |",
        "|---|" + "---|" * (len(tools) + len(peers) + 1),
    ]
    for label, key in MEASURES:
        ratios = [f"{statistics.median(results['cairn'][key]) / statistics.median(results[p][key]):.2f}"
                  for p in peers if "cairn" in tools]
        target = "≤ 0.50" if key in TARGETS else ""
        lines.append(f"| {label} | " + " | ".join(cell(results[t][key]) for t in tools)
                     + " | " + " | ".join(ratios) + f" | {target} |")
    report = "\n".join(lines) + "\n"
    print(report)
    args.out.write_text(report)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
