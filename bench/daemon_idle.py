#!/usr/bin/env python3
"""Daemon idle benchmark: CPU and memory of `cairn daemon` with 20 plans between runs.

usage: bench/daemon_idle.py [--plans 20] [--seconds 120] [--binary target/release/cairn]
                            [--out docs/benchmarks-daemon.md]

Writes a config with N plans (each its own source directory, all on one local repository,
daily schedules at 03:00, stale_after 2 days, a weekly drill) and one notification channel,
starts the daemon, lets it settle for 10 s, then samples /proc/PID for the measured window:
CPU time used (utime + stime) as a share of one core, and resident memory (VmRSS, VmHWM).
The target (issue 11): under 1 % CPU and under 30 MiB RSS. Nothing runs during the window
(no schedule is due), which is what "idle" means: the scheduler, the staleness watcher, the
dispatcher and the API server waiting.
"""

import argparse, os, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat; after the command name they are 11, 12.
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kib(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plans", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--binary", default=str(ROOT / "target/release/cairn"))
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks-daemon.md"))
    args = parser.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        subprocess.run(["cargo", "build", "--release", "-p", "cairn"], cwd=ROOT, check=True)

    work = Path(tempfile.mkdtemp(prefix="cairn-daemon-bench-"))
    try:
        password = work / "password"
        password.write_text("bench-password\n")
        password.chmod(0o600)
        repo = work / "repo"
        env = dict(os.environ, CAIRN_PASSWORD_FILE=str(password))
        subprocess.run([str(binary), "-r", str(repo), "--password-file", str(password), "init"],
                       check=True, stdout=subprocess.DEVNULL, env=env)
        lines = [
            f'state_dir = "{work / "state"}"',
            "",
            "[[notify]]",
            'name = "ops"',
            'kind = "webhook"',
            'url = "http://127.0.0.1:9/never-called"',
            "",
            "[repositories.main]",
            f'location = "{repo}"',
            f'password_file = "{password}"',
        ]
        for n in range(args.plans):
            source = work / f"src-{n}"
            source.mkdir()
            (source / "file.txt").write_text(f"plan {n}\n")
            lines += [
                "",
                f"[plans.p{n:02}]",
                'repository = "main"',
                f'sources = ["{source}"]',
                'schedule = "0 3 * * *"',
                'stale_after = "2d"',
                "retention = { keep_daily = 7 }",
                f"[plans.p{n:02}.drill]",
                'schedule = "0 5 * * 0"',
            ]
        config = work / "cairn.toml"
        config.write_text("\n".join(lines) + "\n")
        daemon = subprocess.Popen([str(binary), "--config", str(config), "daemon"],
                                  stdout=subprocess.DEVNULL, stderr=open(work / "daemon.log", "w"))
        try:
            socket = work / "state" / "cairn.sock"
            deadline = time.time() + 30
            while not socket.exists():
                if time.time() > deadline or daemon.poll() is not None:
                    sys.exit("the daemon did not start:\n" + (work / "daemon.log").read_text())
                time.sleep(0.1)
            time.sleep(10)
            # A first start-up may queue catch-up runs; none is due with these schedules, but
            # check so a busy daemon is never measured as an idle one.
            cpu_before, wall_before = cpu_seconds(daemon.pid), time.monotonic()
            rss_samples = []
            while time.monotonic() - wall_before < args.seconds:
                rss_samples.append(memory_kib(daemon.pid, "VmRSS"))
                time.sleep(1)
            cpu = cpu_seconds(daemon.pid) - cpu_before
            wall = time.monotonic() - wall_before
            hwm = memory_kib(daemon.pid, "VmHWM")
            jobs = subprocess.run([str(binary), "--config", str(config), "jobs", "--json"],
                                  capture_output=True, text=True, check=True).stdout
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    share = 100 * cpu / wall
    rss = max(rss_samples) / 1024
    ran = jobs.strip() not in ("[]", "")
    rows = [
        ("CPU, share of one core", f"{share:.3f} %", "< 1 %", share < 1.0),
        ("RSS, highest sample", f"{rss:.1f} MiB", "< 30 MiB", rss < 30),
        ("RSS, high-water mark since start", f"{hwm / 1024:.1f} MiB", "", None),
    ]
    out = [
        "# Daemon at idle",
        "",
        f"`python3 bench/daemon_idle.py --plans {args.plans} --seconds {args.seconds}` on "
        f"{time.strftime('%Y-%m-%d')}: `cairn daemon` (release build) with {args.plans} plans "
        "(daily schedules, staleness watch, weekly drills) and one notification channel, "
        f"measured over {wall:.0f} s after 10 s of settling.",
        "",
        "| measure | value | target | met |",
        "|---|---|---|---|",
    ]
    for name, value, target, met in rows:
        out.append(f"| {name} | {value} | {target} | {'' if met is None else ('yes' if met else 'NO')} |")
    if ran:
        out += ["", "Note: jobs ran during the run (not idle): " + jobs.strip()[:200]]
    text = "\n".join(out) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
