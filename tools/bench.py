#!/usr/bin/env python3
"""Side-by-side ingest benchmark: exorec serve, the Python baseline and the C floor.

Each implementation receives the same load from `exorec loadgen`, pinned to its own core
(server on --server-cpu, generator on --loadgen-cpu). Load points:

  saturation  200 streams x 1000 steps of 100 ms, flood: media messages/s and server CPU per message
              (while the generator runs, and including the server's work after it left), at four loads (--points): mono8k, dual8k (inbound and outbound tracks, two messages a
              step), mono16k, mono24k
  real time   2,000 streams at 100 ms pacing for 60 s, 8 kHz mono: server CPU share, peak RSS,
              RSS per open stream
  multinode   the real-time load through HAProxy onto two exorec nodes sharing a storage root and a
              catalog: CPU of each node and of the balancer (exorec only; tools/bench_cluster.py)
  callbacks   status callback store latency at 50/s, SQLite against PostgreSQL (exorec only)
  console     the compliance console's call list with 10,000 calls: first page, deep page, searches
              (median, p99) and the assets' size (exorec only; tools/bench_console.py)
  upload      the object archive's uploads into SeaweedFS beside boto3 uploading the same files: the
              demo archive and 1,000 stream files of 60 s (tools/bench_upload.py, under tools/s3-test-server)

The C floor records mono only, at the start's media_format.sample_rate: at 16 and 24 kHz it does
the same work; at dual8k it receives, parses and decodes the same bytes but writes both tracks'
frames into one mono file (no interleaving), which cannot verify, so its dual runs are reported
"same bytes, mono file, not verified (floor has no dual)", not as failures.

Within each round the implementations run one after another, in an order that rotates from
round to round, so slow drifts of the machine hit all of them alike; the tables report medians.
Every run is verified sample by sample (`loadgen --verify`), except a mono-only peer's at dual8k.
Method: docs/PERFORMANCE.md.

Usage: python3 tools/bench.py [--rounds 5] [--realtime-rounds 3] [--realtime-seconds 60]
                              [--only saturation|realtime|multinode|feed|callbacks|console|upload] [--impls exorec,c_floor,python]
                              [--catalog-url postgres://…]
                              [--points mono8k,dual8k,mono16k,mono24k]
"""
import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import bench_cluster
import bench_console

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
USER, PASSWORD = "bench", "bench-secret"
EXOREC_CONFIG = f"""ingest:
  auth:
    credentials:
      - username: {USER}
        password: {PASSWORD}
"""
# exorec with `api.token` set: the consumer API is on, so every growing stream's progress goes into
# the catalog's events feed once a second (docs/CONSUMERS.md). Not in the default set.
EXOREC_API_CONFIG = EXOREC_CONFIG + """api:
  token: bench-api-token-0123456789
"""
NAMES = {"exorec": "exorec serve", "exorec_api": "exorec serve, consumer API on", "c_floor": "C floor", "python": "Python baseline"}
# The saturation loads: sample rate and whether both tracks are sent (two media messages a step).
SATURATION_POINTS = {
    "mono8k": {"rate": 8000, "dual": False},
    "dual8k": {"rate": 8000, "dual": True},
    "mono16k": {"rate": 16000, "dual": False},
    "mono24k": {"rate": 24000, "dual": False},
}
# Implementations that record mono only: at a dual point they get the same bytes, but their file is
# not what was sent (both tracks in one channel), so it is not verified.
MONO_ONLY = {"c_floor": "same bytes, mono file, not verified (floor has no dual)",
             "python": "same bytes, mono file, not verified (the baseline has no dual)"}


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- process measurements

def cpu_times(pid):
    """(utime, stime) of a process in seconds, from /proc/<pid>/stat (fields 14 and 15, after the comm field)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def cpu_seconds(pid):
    return sum(cpu_times(pid))


def settle_cpu(pid, limit_s=30.0):
    """The process's CPU seconds once it has gone quiet (under 2 % of a core over half a second), or after
    `limit_s`: what it still does after the load generator left (exorec's finalizer hashes, fsyncs and
    catalogues each stream after its socket closed)."""
    previous = cpu_seconds(pid)
    deadline = time.time() + limit_s
    while time.time() < deadline:
        time.sleep(0.5)
        current = cpu_seconds(pid)
        if current - previous <= 0.01:
            return current
        previous = current
    return previous


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- implementations

class Implementation:
    """How to start one server and tell when it is ready."""

    def __init__(self, key, command, ready_line=None):
        self.key, self.command, self.ready_line = key, command, ready_line
        self.unavailable = None

    def start(self, port, outdir, cpu):
        cmd = ["taskset", "-c", str(cpu)] + self.command(port, outdir)
        log_file = open(outdir.parent / f"{outdir.name}.server.log", "w")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if self.ready_line else log_file,
                                stderr=log_file, text=True, start_new_session=True)
        deadline = time.time() + 60
        if self.ready_line:
            # exorec announces readiness on stdout; a thread copies its output to the log (so the
            # pipe never fills) and flags the line, while this loop also notices an early exit.
            ready = threading.Event()

            def pump():
                for line in proc.stdout:
                    log_file.write(line)
                    log_file.flush()
                    if self.ready_line in line:
                        ready.set()
            threading.Thread(target=pump, daemon=True).start()
            while time.time() < deadline:
                if ready.wait(0.05):
                    return proc
                if proc.poll() is not None:
                    break
        else:
            while time.time() < deadline and proc.poll() is None:
                if port_open(port):
                    return proc
                time.sleep(0.05)
        stop(proc)
        log_file.close()
        tail = (outdir.parent / f"{outdir.name}.server.log").read_text()[-500:]
        raise RuntimeError(f"{NAMES[self.key]} did not become ready (exit {proc.returncode}): {tail.strip()}")


def stop(proc, timeout=60):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def implementations(args, shared):
    impls = {}
    exorec = Path(args.exorec)

    # Builds with the HTTP doors (docs/SECURITY.md) listen on two more ports; free ones are taken so a
    # run never collides with another exorec. An earlier build (compared with --exorec) has no such flags.
    try:
        serve_help = subprocess.run([str(exorec), "serve", "--help"], capture_output=True, text=True).stdout
    except OSError:
        serve_help = ""
    door_ports = ["--callbacks-port", "0", "--api-port", "0"] if "--callbacks-port" in serve_help else []

    def exorec_cmd(config_text, name):
        def command(port, outdir):
            config = outdir.parent / name
            config.write_text(config_text)
            return [str(exorec), "serve", "--host", "127.0.0.1", "--port", str(port),
                    "--storage", str(outdir), "--config", str(config)] + door_ports
        return command
    impls["exorec"] = Implementation("exorec", exorec_cmd(EXOREC_CONFIG, "exorec-bench.yaml"), ready_line="listening on")
    impls["exorec_api"] = Implementation(
        "exorec_api", exorec_cmd(EXOREC_API_CONFIG, "exorec-bench-api.yaml"), ready_line="listening on")

    floor = shared / "peers" / "c_floor"
    impls["c_floor"] = Implementation("c_floor", lambda port, outdir: [str(floor / "floor_server"), str(port), str(outdir)])
    if subprocess.run(["make", "-s", "-C", str(floor)], capture_output=True).returncode != 0:
        impls["c_floor"].unavailable = f"make -C {floor} failed (needs libwebsockets-dev, libev-dev, libsndfile1-dev)"

    receiver = shared / "peers" / "py_receiver.py"
    impls["python"] = Implementation("python", lambda port, outdir: [sys.executable, str(receiver), str(port), str(outdir)])
    if subprocess.run([sys.executable, "-c", "import websockets, soundfile"], capture_output=True).returncode != 0:
        impls["python"].unavailable = "python packages websockets and soundfile are missing (pip install websockets soundfile uvloop)"
    if not exorec.exists():
        impls["exorec"].unavailable = f"{exorec} not built (swift build -c release --product exorec)"
        impls["exorec_api"].unavailable = impls["exorec"].unavailable
    return {key: impls[key] for key in args.impls}


# ---------------------------------------------------------------- one run

def settle_io(limit_s=120):
    """Waits until the previous run's writeback is over (I/O pressure below 1 %), so that it
    does not slow the next implementation down: on a shared VM disk it otherwise takes 10-30 %."""
    os.sync()
    deadline = time.time() + limit_s
    while time.time() < deadline:
        try:
            with open("/proc/pressure/io") as f:
                some = next(line for line in f if line.startswith("some"))
            if float(some.split()[1].split("=")[1]) < 1.0:
                return
        except (OSError, StopIteration, ValueError, IndexError):
            return  # no PSI on this kernel: nothing to wait for
        time.sleep(2)


def release_space(outdir):
    """Frees a finished run's disk space but keeps its files' inodes until the whole benchmark ends.

    Deleting a run's files just before the next server starts charges the next implementation for
    them: on an ext4 without a journal (this VM's disk) the inode allocator skips every inode freed
    in the last minute, one by one, so each file the next run creates costs up to 0.2 ms more, and
    the server that creates more files (exorec: a folder, a WAV, a sidecar and a call.json per
    stream, against the floor's one WAV) pays most. Truncated files free their blocks and leave no
    recently freed inodes; the work folder goes at the end."""
    for path in sorted(outdir.rglob("*")):
        try:
            if path.is_file() and not path.is_symlink():
                os.truncate(path, 0)
        except OSError:
            pass


def run_once(args, impl, point, work):
    settle_io()
    outdir = Path(tempfile.mkdtemp(prefix=f"{impl.key}-{point['name']}-", dir=work))
    port = free_port()
    proc = impl.start(port, outdir, args.server_cpu)
    try:
        time.sleep(0.2)
        baseline_rss = status_kib(proc.pid, "VmRSS")
        user_before, system_before = cpu_times(proc.pid)
        # A mono-only peer at a dual point gets the same load, but its file cannot match: not verified.
        unverified = MONO_ONLY.get(impl.key) if point["dual"] else None
        loadgen = ["taskset", "-c", str(args.loadgen_cpu), str(args.exorec), "loadgen",
                   f"ws://{USER}:{PASSWORD}@127.0.0.1:{port}/v1/streams",
                   "--streams", str(point["streams"]), "--frames", str(point["frames"]),
                   "--rate", str(point["rate"]), "--pace", point["pace"], "--json"]
        loadgen += ["--dual"] if point["dual"] else []
        loadgen += [] if unverified else ["--verify", str(outdir)]
        started = time.time()
        result = subprocess.run(loadgen, capture_output=True, text=True)
        wall = time.time() - started
        if proc.poll() is not None:
            raise RuntimeError(f"{NAMES[impl.key]} exited with status {proc.returncode} during the run")
        user_after, system_after = cpu_times(proc.pid)
        user, system = user_after - user_before, system_after - system_before
        cpu = user + system
        peak_rss = status_kib(proc.pid, "VmHWM")
        cpu_settled = settle_cpu(proc.pid) - user_before - system_before
    finally:
        stop(proc)
    release_space(outdir)
    if result.returncode not in (0, 3):
        raise RuntimeError(f"loadgen failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    report = json.loads(result.stdout)
    verification = report.get("verification") or {}
    loaded = report["connectSeconds"] + report["streamSeconds"]
    frames = report["mediaMessages"]
    return {
        "frames_per_s": report["mediaMessagesPerSecond"],
        "cpu_us_per_frame": cpu / frames * 1e6 if frames else None,
        "settled_cpu_us_per_frame": cpu_settled / frames * 1e6 if frames else None,
        "user_us_per_frame": user / frames * 1e6 if frames else None,
        "system_us_per_frame": system / frames * 1e6 if frames else None,
        "cpu_share": cpu / loaded if loaded else None,
        "loadgen_cpu_share": report["generatorCPUSeconds"] / loaded if loaded else None,
        "peak_rss_mib": peak_rss / 1024,
        "rss_per_stream_kib": (peak_rss - baseline_rss) / point["streams"],
        "max_lag_ms": report.get("maxLagMilliseconds"),
        "samples_verified": verification.get("samplesVerified", 0),
        "exact": report["streamsFailed"] == 0 and not verification.get("problems") and
                 verification.get("streamsExact") == point["streams"],
        "unverified": unverified,
        "failures": report["failures"],
        "problems": [p["detail"] for p in (verification.get("problems") or [])[:3]],
        "problem_streams": len(verification.get("problems") or []),
        "wall_s": wall,
    }


# ---------------------------------------------------------------- tables

def median(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1, scale=1.0, suffix=""):
    if value is None:
        return "n/a"
    value *= scale
    return f"{value:,.{digits}f}{suffix}"


def ratio(results, metric, other):
    a, b = median(results.get("exorec", []), metric), median(results.get(other, []), metric)
    return f"{a / b:.2f}x" if a is not None and b else "n/a"


def outcome(run):
    """One run's verification, for the progress log."""
    failed = f" {run['failures']}" if run["failures"] else ""
    if run.get("unverified"):
        return run["unverified"] + failed
    return "exact" if run["exact"] else f"NOT EXACT{failed or ' {}'} {run['problems']}"


def verified(runs):
    unverified = {r["unverified"] for r in runs if r.get("unverified")}
    if unverified:
        failed = sum(1 for r in runs if r["failures"])
        return "; ".join(sorted(unverified)) + (f"; {failed}/{len(runs)} runs with failed streams" if failed else "")
    exact = sum(1 for r in runs if r["exact"])
    samples = sum(r["samples_verified"] for r in runs)
    text = f"{exact}/{len(runs)} runs exact, {samples:,} samples"
    failures = Counter()
    for run in runs:
        failures.update(run["failures"])
    if failures:
        text += "; failed streams: " + ", ".join(f"{n:,} × {reason}" for reason, n in failures.most_common(2))
    mismatched = sum(r["problem_streams"] for r in runs)
    if mismatched:
        text += f"; {mismatched:,} streams' files differ from what was sent"
    return text


def table(point, results, impls):
    if point["pace"] == "flood":
        columns = [("media messages/s", "frames_per_s", 0, 1, ""),
                   ("server CPU per message", "cpu_us_per_frame", 2, 1, " µs"),
                   ("of which user", "user_us_per_frame", 2, 1, " µs"),
                   ("of which kernel", "system_us_per_frame", 2, 1, " µs"),
                   ("CPU per message incl. finishing", "settled_cpu_us_per_frame", 2, 1, " µs"),
                   ("server CPU", "cpu_share", 0, 100, " %"), ("loadgen CPU", "loadgen_cpu_share", 0, 100, " %")]
    else:
        columns = [(f"frames/s ({point['streams'] * 10:,} offered)", "frames_per_s", 0, 1, ""),
                   ("server CPU", "cpu_share", 1, 100, " %"), ("server CPU per frame", "cpu_us_per_frame", 2, 1, " µs"),
                   ("peak RSS", "peak_rss_mib", 1, 1, " MiB"), ("RSS per stream", "rss_per_stream_kib", 1, 1, " KiB"),
                   ("max step lag", "max_lag_ms", 0, 1, " ms")]
    header = "| implementation | " + " | ".join(c[0] for c in columns) + " | verified |"
    lines = [header, "|" + "---|" * (len(columns) + 2)]
    for key in impls:
        runs = results.get(key, [])
        if not runs:
            lines.append(f"| {NAMES[key]} | " + " | ".join("n/a" for _ in columns) + f" | {impls[key].unavailable or 'no run'} |")
            continue
        cells = [fmt(median(runs, c[1]), c[2], c[3], c[4]) for c in columns]
        lines.append(f"| {NAMES[key]} | " + " | ".join(cells) + f" | {verified(runs)} |")
    for other in ("exorec_api", "c_floor", "python"):
        if "exorec" in impls and other in impls:
            lines.append(f"| exorec / {NAMES[other]} | " + " | ".join(ratio(results, c[1], other) for c in columns) + " | |")
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, min(hard, 65536)) if hard != resource.RLIM_INFINITY else 65536
    if target < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return
        except (ValueError, OSError):
            sys.exit(f"need {needed} file descriptors, hard limit is {hard}: raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def machine():
    model = ""
    try:
        model = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def upload_throughput(args, log):
    """The object archive's upload point: tools/bench_upload.py (which starts its own SeaweedFS) as a child."""
    log("upload: exorec archive upload beside boto3, demo archive and 1,000 streams of 60 s")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_upload.py"), "--exorec", args.exorec, "--json"],
                          stdout=subprocess.PIPE, text=True, check=True)
    rows = json.loads(done.stdout)
    lines = ["## Object archive uploads (SeaweedFS on loopback; exorec archive upload beside boto3, same files)\n",
             "| set | uploader | files | MB | seconds (median) | MB/s | files/s |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['set']} | {r['impl']} | {r['files']} | {r['mb']} | {r['seconds']} | {r['mb_per_s']} | "
              f"{r['files_per_s']} |" for r in rows]
    return "\n".join(lines) + "\n", rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="saturation rounds (default 5)")
    parser.add_argument("--realtime-rounds", type=int, default=3, help="real-time rounds (default 3)")
    parser.add_argument("--saturation-streams", type=int, default=200)
    parser.add_argument("--saturation-frames", type=int, default=1000)
    parser.add_argument("--realtime-streams", type=int, default=2000)
    parser.add_argument("--realtime-seconds", type=int, default=60)
    parser.add_argument("--only", choices=["saturation", "realtime", "multinode", "feed", "callbacks", "console", "upload"])
    parser.add_argument("--catalog-url", help="PostgreSQL for the multinode and callbacks points "
                        "(default: a throwaway server from tools/pg-test-server, if it can start)")
    parser.add_argument("--points", default=",".join(SATURATION_POINTS),
                        help="comma-separated saturation loads, from " + ", ".join(SATURATION_POINTS)
                        + " (default: all)")
    parser.add_argument("--impls", default="exorec,c_floor,python",
                        help="comma-separated subset of exorec,exorec_api (consumer API on),c_floor,python")
    parser.add_argument("--exorec", default=str(ROOT / ".build" / "release" / "exorec"),
                        help="exorec binary (server and load generator)")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared/ checkout beside the repo")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--loadgen-cpu", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench-out"))
    args = parser.parse_args()
    args.impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    unknown = set(args.impls) - set(NAMES)
    if unknown:
        parser.error(f"unknown implementation(s): {', '.join(sorted(unknown))}")
    args.points = [p.strip() for p in args.points.split(",") if p.strip()]
    unknown = set(args.points) - set(SATURATION_POINTS)
    if unknown or not args.points:
        parser.error(f"unknown saturation point(s): {', '.join(sorted(unknown)) or '(none)'}; "
                     f"choose from {', '.join(SATURATION_POINTS)}")
    if not Path(args.exorec).exists():
        sys.exit(f"{args.exorec} is missing: the load generator is `exorec loadgen`; run `make release` first")
    if shutil.which("taskset") is None:
        sys.exit("taskset is missing (util-linux)")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raise_fd_limit(args.realtime_streams + 1024)
    impls = implementations(args, Path(args.shared))
    for key, impl in impls.items():
        if impl.unavailable:
            log(f"skipping {NAMES[key]}: {impl.unavailable}")

    points = []
    if args.only in (None, "saturation"):
        for name in args.points:
            load = SATURATION_POINTS[name]
            khz = load["rate"] // 1000
            shape = "dual (inbound and outbound: two media messages a step)" if load["dual"] else "mono"
            title = (f"Saturation {name}: {args.saturation_streams} streams × {args.saturation_frames} steps of "
                     f"100 ms, {khz} kHz {shape}, flood")
            if load["dual"]:
                title += ("\n\nThe C floor (and the Python baseline) record mono only: they receive, parse and "
                          "decode the same bytes but write both tracks' frames into one mono file (no "
                          "interleaving), so their files are not verified")
            # mono8k keeps the name "saturation" in results.json, as before the other loads existed.
            points.append({"name": "saturation" if name == "mono8k" else f"saturation-{name}", "title": title,
                           "streams": args.saturation_streams, "frames": args.saturation_frames, "pace": "flood",
                           "rate": load["rate"], "dual": load["dual"], "rounds": args.rounds})
    if args.only in (None, "realtime"):
        points.append({"name": "realtime", "title": f"Real time: {args.realtime_streams} streams at 100 ms pacing "
                       f"for {args.realtime_seconds} s, 8 kHz mono",
                       "streams": args.realtime_streams, "frames": args.realtime_seconds * 10, "pace": "realtime",
                       "rate": 8000, "dual": False, "rounds": args.realtime_rounds})

    work = Path(tempfile.mkdtemp(prefix="bench-", dir=out))
    all_results = {}
    sections = [f"# exorec ingest benchmark\n\n{time.strftime('%Y-%m-%d %H:%M')} · {machine()} · "
                f"server on CPU {args.server_cpu}, loadgen on CPU {args.loadgen_cpu} · medians of the rounds shown\n"]
    try:
        for point in points:
            results = {}
            for rnd in range(point["rounds"]):
                keys = [k for k in impls if not impls[k].unavailable]
                keys = keys[rnd % len(keys):] + keys[:rnd % len(keys)] if keys else []
                for key in keys:
                    log(f"[{point['name']} round {rnd + 1}/{point['rounds']}] {NAMES[key]} ...")
                    try:
                        run = run_once(args, impls[key], point, work)
                    except RuntimeError as error:
                        log(f"  {error}")
                        if key == "exorec" and not results.get(key):
                            impls[key].unavailable = str(error).splitlines()[0][:200]
                        continue
                    results.setdefault(key, []).append(run)
                    log(f"  {run['frames_per_s']:,.0f} frames/s, {fmt(run['cpu_us_per_frame'], 2)} µs/frame, "
                        f"CPU {fmt(run['cpu_share'], 0, 100)} %, peak RSS {run['peak_rss_mib']:.0f} MiB, "
                        f"{outcome(run)}")
            all_results[point["name"]] = results
            rounds = {k: len(v) for k, v in results.items()}
            sections.append(f"## {point['title']}\n\nRounds per implementation: "
                            + ", ".join(f"{NAMES[k]} {n}" for k, n in rounds.items()) + "\n\n" + table(point, results, impls) + "\n")
        # The load points of exorec alone, no peers: several nodes and the catalog engines
        # (tools/bench_cluster.py), the console (tools/bench_console.py), the archive's uploads beside boto3.
        exorec_only = {
            "multinode": lambda: bench_cluster.multinode(args, Path(args.exorec), log),
            "feed": lambda: bench_cluster.feed_latency(args, Path(args.exorec), log),
            "callbacks": lambda: bench_cluster.callback_latency(args, Path(args.exorec), log),
            "console": lambda: bench_console.console_latency(args, Path(args.exorec), log),
            "upload": lambda: upload_throughput(args, log),
        }
        for name, measure in exorec_only.items():
            if args.only in (None, name) and "exorec" in impls and not impls["exorec"].unavailable:
                settle_io()
                text, data = measure()
                sections.append(text)
                all_results[name] = data
    finally:
        shutil.rmtree(work, ignore_errors=True)

    markdown = "\n".join(sections)
    print(markdown)
    (out / "results.md").write_text(markdown)
    (out / "results.json").write_text(json.dumps(all_results, indent=2))
    log(f"written {out / 'results.md'} and {out / 'results.json'}")
    # Only exorec's own losses fail the run: a peer that cannot keep up is a finding, not a fault.
    inexact = [k for name, res in all_results.items() if name not in ("multinode", "feed", "callbacks", "console", "upload")
               for k, runs in res.items() for r in runs if not r["exact"] and k == "exorec"]
    if "multinode" in all_results and all_results["multinode"] and not all_results["multinode"]["exact"]:
        inexact.append("multinode")
    return 3 if inexact else 0


if __name__ == "__main__":
    sys.exit(main())
