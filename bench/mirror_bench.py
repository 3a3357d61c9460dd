#!/usr/bin/env python3
"""Offsite mirror benchmark: `cairn mirror sync` vs `rclone sync` vs raw parallel PUTs.

usage: bench/mirror_bench.py [--scale 1.0] [--rounds 3] [--transfers 8]
                             [--endpoint URL --bucket B]   (default: a local moto server)

Backs the shared dataset (../shared/bench/gen_dataset.py) up into a local cairn repository,
then, each round and each into a fresh prefix of the same bucket with the same parallelism:
  - raw: every repository file PUT by a plain S3 client (boto3) with N threads: the server's
    ingest rate for these objects, the ceiling a sync tool can reach;
  - rclone: `rclone sync REPO remote:BUCKET/PREFIX --transfers N --checkers N`, then again
    with nothing changed;
  - cairn: `cairn mirror sync s3:…/BUCKET/PREFIX --transfers N`, then again.
Prints a markdown table of medians (min–max) with ratios and writes it to
docs/benchmarks-mirror.md. With no --endpoint, moto is started on 127.0.0.1 through
scripts/s3-test-server.py: moto keeps data in memory and is slow, so its figures compare the
tools with each other, not with real object stores. For an external server (Garage, MinIO)
pass --endpoint and --bucket and export AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
"""

import argparse, os, platform, shutil, socket, statistics, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY_ID, SECRET = "AKIACAIRNBENCHKEY001", "cairn-bench-secret"


def sh(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(bucket):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, ROOT / "scripts" / "s3-test-server.py", "--port", str(port),
         "--user", f"{KEY_ID}:{SECRET}", "--bucket", bucket],
        stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        sys.exit("the moto server did not start: pip install 'moto[server]'")
    return proc, f"http://127.0.0.1:{port}"


def timed(cmd, env):
    started = time.perf_counter()
    sh(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def raw_put(endpoint, bucket, prefix, repo, transfers):
    import boto3
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    files = [p for p in repo.rglob("*") if p.is_file() and "locks" not in p.parts]

    def put(path):
        client.put_object(Bucket=bucket, Key=f"{prefix}/{path.relative_to(repo)}",
                          Body=path.read_bytes())

    started = time.perf_counter()
    with ThreadPoolExecutor(transfers) as pool:
        list(pool.map(put, files))
    return time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--transfers", type=int, default=8)
    ap.add_argument("--endpoint")
    ap.add_argument("--bucket", default="cairn-bench")
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/cairn-bench"))
    ap.add_argument("--generator", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-mirror.md")
    args = ap.parse_args()
    for exe in ["rclone"]:
        if not shutil.which(exe):
            sys.exit(f"{exe} not found: apt-get install -y rclone")

    sh(["cargo", "build", "--release", "-q", "-p", "cairn"], cwd=ROOT)
    cairn = ROOT / "target" / "release" / "cairn"
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    dataset = work / f"dataset-{args.scale}"
    if not dataset.exists():
        tmp = dataset.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        sh([sys.executable, args.generator / "gen_dataset.py", tmp, "--scale", args.scale])
        tmp.rename(dataset)

    env = dict(os.environ)
    server = None
    if args.endpoint:
        endpoint = args.endpoint
    else:
        server, endpoint = start_moto(args.bucket)
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = KEY_ID, SECRET
    env["AWS_DEFAULT_REGION"] = env.get("AWS_DEFAULT_REGION", "us-east-1")
    env["CAIRN_PASSWORD"] = "bench"
    os.environ.update({k: env[k] for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                           "AWS_DEFAULT_REGION"]})
    # rclone through environment-defined remote "mb"; Debian's rclone 1.60 fails on http
    # endpoints while AWS_CA_BUNDLE is set.
    rclone_env = dict(env)
    rclone_env.pop("AWS_CA_BUNDLE", None)
    rclone_env.update({
        "RCLONE_CONFIG_MB_TYPE": "s3", "RCLONE_CONFIG_MB_PROVIDER": "Other",
        "RCLONE_CONFIG_MB_ENDPOINT": endpoint, "RCLONE_CONFIG_MB_REGION": "us-east-1",
        "RCLONE_CONFIG_MB_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
        "RCLONE_CONFIG_MB_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
        "RCLONE_CONFIG_MB_FORCE_PATH_STYLE": "true",
    })

    repo = work / f"mirror-repo-{args.scale}"
    if not (repo / "config").exists():
        shutil.rmtree(repo, ignore_errors=True)
        sh([cairn, "-r", repo, "init"], env=env, stdout=subprocess.DEVNULL)
        sh([cairn, "-r", repo, "backup", "-q", dataset], env=env)
    files = [p for p in repo.rglob("*") if p.is_file() and "locks" not in p.parts]
    repo_bytes = sum(p.stat().st_size for p in files)

    results = {k: [] for k in ["raw", "rclone", "rclone_nochange", "cairn", "cairn_nochange"]}
    try:
        for rnd in range(args.rounds):
            stamp = f"r{rnd}-{int(time.time())}"
            results["raw"].append(raw_put(endpoint, args.bucket, f"raw-{stamp}", repo,
                                          args.transfers))
            dest = f"mb:{args.bucket}/rclone-{stamp}"
            rclone = ["rclone", "sync", repo, dest, "--transfers", args.transfers,
                      "--checkers", args.transfers, "--exclude", "locks/**"]
            results["rclone"].append(timed(rclone, rclone_env))
            results["rclone_nochange"].append(timed(rclone, rclone_env))
            url = f"s3:{endpoint}/{args.bucket}/cairn-{stamp}"
            sync = [cairn, "-q", "-r", repo, "mirror", "sync", url, "--transfers", args.transfers]
            results["cairn"].append(timed(sync, env))
            results["cairn_nochange"].append(timed(sync, env))
            print(f"round {rnd + 1}: raw {results['raw'][-1]:.2f} s, rclone "
                  f"{results['rclone'][-1]:.2f} s / {results['rclone_nochange'][-1]:.2f} s, "
                  f"cairn {results['cairn'][-1]:.2f} s / {results['cairn_nochange'][-1]:.2f} s",
                  flush=True)
    finally:
        if server:
            server.kill()

    def cell(values, rate=False):
        if rate:
            values = [repo_bytes / v / 1e6 for v in values]
            return f"{statistics.median(values):.1f} MB/s ({min(values):.1f}–{max(values):.1f})"
        return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"

    med = {k: statistics.median(v) for k, v in results.items()}
    lines = [
        "# Mirror benchmark", "",
        f"Generated by `bench/mirror_bench.py --scale {args.scale} --rounds {args.rounds} "
        f"--transfers {args.transfers}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"- Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        f"- Server: {'moto (in memory, Python; slow)' if server else endpoint}",
        f"- Repository: {len(files)} files, {repo_bytes / 2**20:.0f} MiB "
        f"(`cairn backup` of `gen_dataset.py --scale {args.scale}`)",
        f"- Tools: `{subprocess.run(['rclone', 'version'], capture_output=True, text=True).stdout.splitlines()[0]}`",
        f"- {args.rounds} rounds; median (min–max); each run into a fresh prefix; same "
        f"parallelism ({args.transfers}) for all.", "",
        "| measure | raw parallel PUT | rclone sync | cairn mirror sync | cairn/rclone | cairn/raw |",
        "|---|---|---|---|---|---|",
        f"| initial sync | {cell(results['raw'], True)} | {cell(results['rclone'], True)} | "
        f"{cell(results['cairn'], True)} | {med['rclone'] / med['cairn']:.2f}× speed | "
        f"{med['raw'] / med['cairn']:.2f}× speed |",
        f"| no-change sync | | {cell(results['rclone_nochange'])} | "
        f"{cell(results['cairn_nochange'])} | {med['cairn_nochange'] / med['rclone_nochange']:.2f}× time | |",
        "",
        "Targets: initial sync ≥ rclone's speed and within 10% of the raw PUT rate (cairn/raw "
        "≥ 0.90× speed); no-change sync ≤ 0.2× rclone's time.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
