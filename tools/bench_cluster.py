"""Several nodes, for tools/bench.py (docs/SCALING.md, docs/PERFORMANCE.md):

  multinode  N real-time streams through HAProxy onto two `exorec serve` nodes that share one storage
             root and one catalog; every sample verified; the CPU of each node and of the balancer.
  feed       how soon a consumer sees an event another node wrote (a long poll on node B, streams on
             node A) against one on the node that wrote it
  callbacks  status callback store latency (the platform door answers once the callback is stored) at a
             steady rate, on the SQLite catalog and on PostgreSQL, side by side in one run.

PostgreSQL: --catalog-url, or a throwaway server from tools/pg-test-server (started with durable commits,
as the SQLite catalog's synchronous=FULL; stopped at the end).
"""
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALLBACK_TOKEN = "bench-callback-token-0123456789"
API_TOKEN = "bench-api-token-0123456789abcdef"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_line(proc, text, log_path, timeout=60):
    """Copies the process's stdout to log_path until `text` appears (then in the background)."""
    found = threading.Event()
    log = open(log_path, "w")

    def pump():
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if text in line:
                found.set()
    threading.Thread(target=pump, daemon=True).start()
    if not found.wait(timeout):
        proc.kill()
        raise RuntimeError(f"{log_path}: '{text}' did not appear: {Path(log_path).read_text()[-500:]}")


def start_node(exorec, node_id, storage, config_dir, cpu, catalog_url=None, user="bench", password="bench-secret"):
    ports = {"stream": free_port(), "platform": free_port(), "api": free_port()}
    config = Path(config_dir) / f"{node_id}.yaml"
    catalog = f"catalog:\n  url: {catalog_url}\n" if catalog_url else ""
    config.write_text(f"""storage: {storage}
node:
  id: {node_id}
ingest:
  host: 127.0.0.1
  port: {ports['stream']}
  auth:
    credentials:
      - username: {user}
        password: {password}
callbacks:
  host: 127.0.0.1
  port: {ports['platform']}
  token: {CALLBACK_TOKEN}
api:
  host: 127.0.0.1
  port: {ports['api']}
  token: {API_TOKEN}
{catalog}""")
    proc = subprocess.Popen(["taskset", "-c", str(cpu), str(exorec), "serve", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=open(Path(config_dir) / f"{node_id}.err", "w"),
                            text=True, start_new_session=True)
    wait_for_line(proc, "listening on", Path(config_dir) / f"{node_id}.out")
    return proc, ports


def stop(proc, timeout=60):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- PostgreSQL

class PostgresServer:
    """--catalog-url as given, or tools/pg-test-server with durable commits (fsync on)."""

    def __init__(self, url=None):
        self.url, self.started = url, False

    def __enter__(self):
        if self.url:
            return self
        script = ROOT / "tools" / "pg-test-server"
        if not script.exists():
            return self
        env = dict(os.environ, EXOREC_PG_TEST_DURABLE="1",
                   EXOREC_PG_TEST_STATE=str(Path(tempfile.gettempdir()) / f"exorec-pg-bench-{os.getuid()}.state"))
        self.env = env
        result = subprocess.run([str(script), "start"], capture_output=True, text=True, env=env)
        if result.returncode == 0 and result.stdout.strip():
            self.url, self.started = result.stdout.strip().splitlines()[-1], True
        else:
            self.error = result.stderr.strip()[-300:]
        return self

    def __exit__(self, *exc):
        if self.started:
            subprocess.run([str(ROOT / "tools" / "pg-test-server"), "stop"], capture_output=True, env=self.env)


# ---------------------------------------------------------------- multinode

def multinode(args, exorec, log):
    """Returns (markdown section, json) of one round."""
    haproxy = shutil.which("haproxy")
    if not haproxy:
        return "## Several nodes\n\nskipped: haproxy is missing (make deps installs it)\n", {}
    work = Path(tempfile.mkdtemp(prefix="bench-nodes-", dir=args.out))
    storage = work / "storage"
    procs = []
    try:
        with PostgresServer(args.catalog_url) as pg:
            catalog = "PostgreSQL" if pg.url else "SQLite (one file, nodes on one machine)"
            nodes = {}
            for node_id in ["node-a", "node-b"]:
                proc, ports = start_node(exorec, node_id, storage, work, args.server_cpu, pg.url)
                procs.append(proc)
                nodes[node_id] = (proc, ports)
            public = free_port()
            servers = "\n".join(f"    server {n} 127.0.0.1:{p['stream']} check inter 1s" for n, (_, p) in nodes.items())
            # HAProxy sizes its descriptor limit from maxconn (two sockets a stream): no more than the streams need.
            (work / "haproxy.cfg").write_text(f"""global
    maxconn {args.realtime_streams + 256}
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend public
    bind 127.0.0.1:{public}
    default_backend stream_doors
backend stream_doors
    balance leastconn
    option httpchk GET /healthz
{servers}
""")
            balancer = subprocess.Popen(["taskset", "-c", str(args.loadgen_cpu), haproxy, "-f", str(work / "haproxy.cfg"), "-db"],
                                        stdout=subprocess.DEVNULL, stderr=open(work / "haproxy.err", "w"),
                                        start_new_session=True)
            procs.append(balancer)
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", public, timeout=2)
                    c.request("GET", "/healthz")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    pass
                if balancer.poll() is not None:
                    raise RuntimeError(f"haproxy exited: {(work / 'haproxy.err').read_text()[-500:]}")
                time.sleep(0.2)
            watched = {n: p.pid for n, (p, _) in nodes.items()}
            watched["haproxy"] = balancer.pid
            before = {n: cpu_seconds(pid) for n, pid in watched.items()}
            log(f"[multinode] {args.realtime_streams} streams through HAProxy onto 2 nodes ({catalog}) ...")
            started = time.time()
            result = subprocess.run(
                ["taskset", "-c", str(args.loadgen_cpu), str(exorec), "loadgen",
                 f"ws://bench:bench-secret@127.0.0.1:{public}/v1/streams", "--streams", str(args.realtime_streams),
                 "--frames", str(args.realtime_seconds * 10), "--pace", "realtime", "--verify", str(storage), "--json"],
                capture_output=True, text=True)
            wall = time.time() - started
            cpu = {n: cpu_seconds(pid) - before[n] for n, pid in watched.items()}
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    if not result.stdout.strip():
        log(f"[multinode] loadgen said nothing on stdout (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    verification = report.get("verification") or {}
    loaded = report.get("connectSeconds", 0) + report.get("streamSeconds", 0) or wall
    per_node = {}
    lines = ["| process | CPU (share of a core) | CPU per frame |", "|---|---|---|"]
    frames = report.get("mediaMessages", 0) or 1
    for name, seconds in cpu.items():
        per_node[name] = {"cpu_share": seconds / loaded, "cpu_us_per_frame": seconds / frames * 1e6}
        lines.append(f"| {name} | {seconds / loaded * 100:.1f} % | {seconds / frames * 1e6:.2f} µs |")
    exact = verification.get("streamsExact") == args.realtime_streams and not verification.get("problems")
    if not exact:
        log("[multinode] not exact: " + " ".join(result.stdout.split())[:900] + " " + result.stderr.strip()[-300:])
    text = (f"## Several nodes: {args.realtime_streams} real-time streams through HAProxy onto two nodes, "
            f"{args.realtime_seconds} s, 8 kHz mono\n\nCatalog: {catalog}. Both nodes on CPU {args.server_cpu}, "
            f"HAProxy and the load generator on CPU {args.loadgen_cpu}. "
            f"{report.get('mediaMessagesPerSecond', 0):,.0f} frames/s ({args.realtime_streams * 10:,} offered); "
            f"{'every sample verified, ' + format(verification.get('samplesVerified', 0), ',') + ' samples' if exact else 'NOT exact: ' + str((verification.get('problems') or [])[:2]) + ' ' + result.stderr[-300:]}.\n\n"
            + "\n".join(lines) + "\n")
    return text, {"catalog": catalog, "processes": per_node, "exact": exact,
                  "frames_per_s": report.get("mediaMessagesPerSecond")}


# ---------------------------------------------------------------- callbacks

def post_callbacks(port, rate, seconds, prefix):
    """Posts `rate` distinct status callbacks a second for `seconds`; returns the latencies in ms."""
    latencies = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    interval = 1.0 / rate
    next_at = time.perf_counter()
    for i in range(int(rate * seconds)):
        now = time.perf_counter()
        if now < next_at:
            time.sleep(next_at - now)
        next_at += interval
        body = json.dumps({"CallSid": f"{prefix}{i:06d}", "Status": "completed", "EventType": "terminal",
                           "DateUpdated": "2026-12-05 10:00:00", "RecordingUrl": ""})
        started = time.perf_counter()
        try:
            connection.request("POST", f"/v1/callbacks/status?token={CALLBACK_TOKEN}", body=body,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            ok = False
        if ok:
            latencies.append((time.perf_counter() - started) * 1000)
    connection.close()
    return latencies


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


def callback_latency(args, exorec, log, rate=50, seconds=20):
    rows, results = [], {}
    with PostgresServer(args.catalog_url) as pg:
        backends = [("SQLite", None)] + ([("PostgreSQL", pg.url)] if pg.url else [])
        for name, url in backends:
            work = Path(tempfile.mkdtemp(prefix="bench-callbacks-", dir=args.out))
            proc = None
            try:
                proc, ports = start_node(exorec, "bench", work / "storage", work, args.server_cpu, url)
                log(f"[callbacks] {rate}/s for {seconds} s, {name} ...")
                latencies = post_callbacks(ports["platform"], rate, seconds, f"CAbench{name[:2]}")
            finally:
                if proc:
                    stop(proc)
                shutil.rmtree(work, ignore_errors=True)
            stored = len(latencies)
            results[name] = {"stored": stored, "median_ms": statistics.median(latencies) if latencies else None,
                             "p99_ms": percentile(latencies, 0.99)}
            rows.append(f"| {name} | {stored} / {rate * seconds} | {results[name]['median_ms']:.2f} ms | "
                        f"{results[name]['p99_ms']:.2f} ms |" if latencies else f"| {name} | 0 | n/a | n/a |")
    skipped = "" if len(results) > 1 else "\n\nPostgreSQL skipped: no --catalog-url and no tools/pg-test-server.\n"
    text = (f"## Status callback store latency: {rate} callbacks/s for {seconds} s, each a new call\n\n"
            "From the request to the platform door's 200 (sent once the callback is committed), on one "
            "connection; SQLite with synchronous=FULL, PostgreSQL with its default durable commits.\n\n"
            "| catalog | stored | median | p99 |\n|---|---|---|---|\n" + "\n".join(rows) + "\n" + skipped)
    return text, results


# ---------------------------------------------------------------- feed

def parse_time(text):
    """An event's `at` (ISO 8601 UTC with milliseconds) as seconds since the epoch."""
    from datetime import datetime
    return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def follow(port, after, until, seen):
    """Long polls /v1/events on one node until `until`, noting when each stream.started event arrived."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=40)
    while time.time() < until:
        connection.request("GET", f"/v1/events?after={after}&wait=5&types=stream.started",
                           headers={"Authorization": f"Bearer {API_TOKEN}"})
        response = connection.getresponse()
        page = json.loads(response.read())
        received = time.time()
        for event in page.get("events", []):
            seen[event["id"]] = received - parse_time(event["at"])
            after = max(after, event["id"])


def feed_latency(args, exorec, log, streams=40):
    rows, results = [], {}
    with PostgresServer(args.catalog_url) as pg:
        backends = [("SQLite", None)] + ([("PostgreSQL", pg.url)] if pg.url else [])
        for name, url in backends:
            work = Path(tempfile.mkdtemp(prefix="bench-feed-", dir=args.out))
            procs = []
            try:
                writer, ports_a = start_node(exorec, "node-a", work / "storage", work, args.server_cpu, url)
                procs.append(writer)
                reader, ports_b = start_node(exorec, "node-b", work / "storage", work, args.server_cpu, url)
                procs.append(reader)
                connection = http.client.HTTPConnection("127.0.0.1", ports_a["api"], timeout=10)
                connection.request("GET", "/v1/events?after=latest&wait=0",
                                   headers={"Authorization": f"Bearer {API_TOKEN}"})
                latest = json.loads(connection.getresponse().read()).get("last_id", 0)
                seen_a, seen_b = {}, {}
                until = time.time() + 12
                threads = [threading.Thread(target=follow, args=(ports_a["api"], latest, until, seen_a)),
                           threading.Thread(target=follow, args=(ports_b["api"], latest, until, seen_b))]
                for thread in threads:
                    thread.start()
                log(f"[feed] {streams} streams on node A, consumers on A and B, {name} ...")
                time.sleep(0.5)
                for _ in range(streams):
                    subprocess.run(["taskset", "-c", str(args.loadgen_cpu), str(exorec), "loadgen",
                                    f"ws://bench:bench-secret@127.0.0.1:{ports_a['stream']}/v1/streams",
                                    "--streams", "1", "--frames", "2", "--pace", "flood"], capture_output=True)
                    time.sleep(0.1)
                for thread in threads:
                    thread.join()
            finally:
                for proc in reversed(procs):
                    stop(proc)
                shutil.rmtree(work, ignore_errors=True)
            for consumer, seen in (("on node A (the writer)", seen_a), ("on node B", seen_b)):
                values = [v * 1000 for v in seen.values()]
                key = f"{name}, {consumer}"
                results[key] = {"events": len(values), "median_ms": statistics.median(values) if values else None,
                                "p99_ms": percentile(values, 0.99)}
                rows.append(f"| {name} | {consumer} | {len(values)} | "
                            + (f"{statistics.median(values):.0f} ms | {percentile(values, 0.99):.0f} ms |" if values else "n/a | n/a |"))
    text = ("## The events feed across nodes\n\nA stream starts on node A; consumers long-poll `/v1/events` on A and "
            "on B. Latency: from the event's `at` (the catalog write) to the consumer's receipt. A node is woken at "
            "once by its own writes and re-reads the catalog every second for other nodes' (a polled cursor).\n\n"
            "| catalog | consumer | events | median | p99 |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    return text, results
