"""The compliance console's call list, for tools/bench.py --only console (docs/PERFORMANCE.md):

  console  10,000 calls (each with a stream file row) in a SQLite catalog; `exorec serve` with the console
           on; the call list's time as the client on loopback sees it (server time plus a loopback round
           trip): the first page, a deep page (after 100 pages of 50, by its keyset link), a number search
           (the number typed with spaces; 1 call in 10 matches, so the page fills after ~500 rows) and a
           search no call matches (every row read); median and p99 over repeated requests; and the
           console's assets' total size.

The calls are written straight into the catalog that `exorec serve` migrated (sqlite3), which is quicker
than placing them and exercises the same tables.
"""
import http.client
import sqlite3
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import bench_cluster

CALLS = 10_000


def fill(db_path, calls):
    db = sqlite3.connect(db_path)

    def columns(table):
        return [(row[1], row[2].upper(), row[3], row[4]) for row in db.execute(f"PRAGMA table_info({table})")]

    def row(table, given):
        values = {}
        for name, kind, notnull, default in columns(table):
            if name in given:
                values[name] = given[name]
            elif notnull and default is None:
                values[name] = 0 if ("INT" in kind or "BOOL" in kind or "DOUBLE" in kind) else ""
        return values

    t0 = 1_780_000_000_000
    calls_rows, media_rows = [], []
    for i in range(calls):
        sid = f"CAbench{i:06d}"
        number = "09876543210" if i % 10 == 0 else f"0912{i:07d}"
        calls_rows.append(row("calls", {
            "call_sid": sid, "account_sid": "acct1", "placed_at": t0 + i * 1000, "origin": "exorec",
            "from_number": number, "to_number": "09123456789", "caller_id": "08047112233",
            "status": "completed", "platform_call_json": "{}", "updated_at": t0 + i * 1000,
            "parameters_json": "{}", "terminal_at": t0 + i * 1000 + 60_000, "conversation_duration": 60,
        }))
        media_rows.append(row("media_files", {
            "call_sid": sid, "kind": "stream", "path": f"media/acct1/2026/06/01/{sid}/stream-ST{sid}.wav",
            "media_id": f"m{i:010d}", "format": "wav", "sample_rate": 8000, "channels": 2,
            "duration_seconds": 60.0, "bytes": 1_920_044, "sha256": "0" * 64, "state": "complete",
            "created_at": t0 + i * 1000, "updated_at": t0 + i * 1000,
        }))
    for table, rows in (("calls", calls_rows), ("media_files", media_rows)):
        names = list(rows[0].keys())
        db.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                       [tuple(r[n] for n in names) for r in rows])
    db.commit()
    db.close()


class Client:
    def __init__(self, port):
        self.port, self.cookies = port, {}

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://127.0.0.1:{self.port}"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
        conn.close()
        return response.status, data

    def sign_in(self, name, password):
        _, page = self.request("GET", "/console/sign-in")
        csrf = page.decode().split('name="csrf" value="')[1].split('"')[0]
        status, _ = self.request("POST", "/console/sign-in",
                                 urllib.parse.urlencode({"csrf": csrf, "name": name, "password": password}))
        if status != 303:
            raise RuntimeError(f"sign-in answered {status}")


def timed(client, path, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        status, body = client.request("GET", path)
        times.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:200]!r}")
    return times, body


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def console_latency(args, exorec, log, repeats=100):
    work = Path(tempfile.mkdtemp(prefix="bench-console-"))
    storage = work / "storage"
    password = "bench-console-password"
    hashed = subprocess.run([str(exorec), "console", "hash-password", "--cost", "10"], input=password,
                            capture_output=True, text=True, check=True).stdout.strip()
    config = work / "exorec.yaml"
    api = bench_cluster.free_port()
    config.write_text(f"""storage: {storage}
ingest:
  host: 127.0.0.1
  port: {bench_cluster.free_port()}
  auth:
    credentials:
      - username: bench
        password: bench-secret
callbacks:
  port: {bench_cluster.free_port()}
api:
  host: 127.0.0.1
  port: {api}
console:
  users:
    - name: bench
      role: auditor
      password_hash: "{hashed}"
""")

    def serve():
        proc = subprocess.Popen(["taskset", "-c", str(args.server_cpu), str(exorec), "serve", "--config", str(config)],
                                stdout=subprocess.PIPE, stderr=open(work / "serve.err", "w"), text=True,
                                start_new_session=True)
        bench_cluster.wait_for_line(proc, "internal door on", work / "serve.out")
        return proc

    log(f"[console] migrating a catalog and writing {CALLS:,} calls ...")
    proc = serve()
    bench_cluster.stop(proc)
    fill(storage / "catalog.sqlite", CALLS)
    proc = serve()
    try:
        client = Client(api)
        client.sign_in("bench", password)
        # The deep page: follow the keyset links 100 pages down.
        path = "/console/calls"
        for _ in range(100):
            _, page = client.request("GET", path)
            link = page.decode().split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
            path = link.replace("&amp;", "&")
        deep = path
        cases = [
            ("first page (50 calls)", "/console/calls"),
            ("page 101 (keyset link)", deep),
            ("number search '+91 98765 43210' (1 call in 10)", "/console/calls?number=%2B91+98765+43210"),
            ("number search matching nothing (every row read)", "/console/calls?number=%2B91+90000+00000"),
            ("JSON API, first page", "/console/api/calls"),
        ]
        rows, data = [], {}
        for label, target in cases:
            timed(client, target, 5)  # warm-up
            times, _ = timed(client, target, repeats)
            median, p99 = statistics.median(times), percentile(times, 0.99)
            rows.append(f"| {label} | {median:.1f} | {p99:.1f} |")
            data[label] = {"median_ms": median, "p99_ms": p99, "requests": repeats}
            log(f"  {label}: median {median:.1f} ms, p99 {p99:.1f} ms")
        sizes = {}
        for name in ("console.css", "console.js"):
            _, body = client.request("GET", f"/console/assets/{name}")
            sizes[name] = len(body)
        data["assets_bytes"] = sizes
    finally:
        bench_cluster.stop(proc)
    total = sum(sizes.values())
    text = (f"## Console: the call list with {CALLS:,} calls (SQLite catalog)\n\n"
            f"Client time on loopback (server time plus one loopback round trip), {repeats} requests each, "
            f"after 5 warm-up requests; server on CPU {args.server_cpu}.\n\n"
            "| request | median ms | p99 ms |\n|---|---:|---:|\n" + "\n".join(rows) + "\n\n"
            f"Assets: {', '.join(f'{k} {v:,} B' for k, v in sizes.items())}; total {total:,} B (budget 200 KB)\n")
    return text, data
