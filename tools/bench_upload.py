#!/usr/bin/env python3
"""Object archive upload benchmark: exorec's uploader beside boto3, same files, same store, one run.

Two sets of files:
  demo     the archive `exorec demo` makes (5 calls: streams, recordings, sidecars, call.json)
  streams  1,000 stream files of 60 s (8 kHz mono 16-bit PCM, 960,044 bytes each, distinct noise) with their
           sidecars, catalogued with `exorec catalog rebuild`

For each set, in rounds whose order alternates:
  exorec   `exorec archive upload` into a new bucket with Object Lock: its 4 workers claim jobs from the
           catalog, HEAD the key, PutObject with x-amz-checksum-sha256 and compliance retention, record the
           version and an audit entry per file
  boto3    the same files (the keys exorec uploaded) PutObject'ed into another new bucket by boto3 from a
           pool of 4 threads, with the same checksum (computed by boto3's caller) and retention headers

Reported: wall time, MB/s (10^6 bytes of file content per second) and files/s, medians over the rounds.
The store is SeaweedFS on loopback (tools/s3-test-server), on the same machine: the figures are the
uploaders' cost plus the store's, not a network's.

Usage: python3 tools/bench_upload.py (or python3 tools/bench.py --only upload, which prints its table)
      python3 tools/bench_upload.py [--rounds 3] [--streams 1000] [--only demo|streams] [--exorec PATH]
Without EXOREC_TEST_S3_ENDPOINT set, it runs itself under tools/s3-test-server.
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def s3_client():
    import boto3
    import botocore.config

    return boto3.client(
        "s3",
        endpoint_url=os.environ["EXOREC_TEST_S3_ENDPOINT"],
        aws_access_key_id=os.environ["EXOREC_TEST_S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["EXOREC_TEST_S3_SECRET_KEY"],
        region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"}, max_pool_connections=8,
                                      retries={"max_attempts": 3}),
    )


def new_bucket(s3):
    name = "bench-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def demo_storage(exorec, directory):
    subprocess.run([exorec, "demo", "--storage", directory, "--speed", "40", "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)


def stream_storage(exorec, directory, count):
    """`count` 60 s streams with sidecars under one account, catalogued by `exorec catalog rebuild`."""
    rate, seconds = 8000, 60
    data_bytes = rate * seconds * 2
    header = (b"RIFF" + (36 + data_bytes).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
              + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
              + (rate * 2).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
              + b"data" + data_bytes.to_bytes(4, "little"))
    day = datetime.datetime.now(datetime.timezone.utc)
    for i in range(count):
        call_sid = f"CAbench{i:06d}"
        stream_sid = f"MZbench{i:06d}"
        folder = Path(directory) / "media" / "bench-account" / day.strftime("%Y/%m/%d") / call_sid
        folder.mkdir(parents=True, exist_ok=True)
        body = header + os.urandom(data_bytes)
        wav = folder / f"stream-{stream_sid}.wav"
        wav.write_bytes(body)
        os.chmod(wav, 0o440)
        started = day - datetime.timedelta(minutes=2)
        sidecar = {
            "schema": 1, "account_sid": "bench-account", "call_sid": call_sid, "stream_sid": stream_sid,
            "file": wav.name, "state": "complete", "sample_rate": rate, "channels": 1, "channel_map": ["mixed"],
            "frames": rate * seconds, "duration_seconds": seconds, "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(), "started_at": started.isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"), "ended_at": (started + datetime.timedelta(seconds=seconds))
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"), "close_reason": "stop:callended",
            "custom_parameters": {}, "query_parameters": {}, "dtmf": [], "gaps": [], "gap_ms_total": 0,
            "invalid_messages": {}, "duplicates": 0, "late_frames": 0, "reordered_frames": 0, "marks": 0,
            "media_messages": seconds * 10, "unknown_events": 0, "exorec_version": "bench", "node": "bench",
            "media_format_encoding": "audio/x-raw", "source_encoding": "pcm16",
        }
        (folder / f"stream-{stream_sid}.json").write_text(json.dumps(sidecar, indent=2))
    subprocess.run([exorec, "catalog", "rebuild", "--storage", directory, "--json"], check=True,
                   stdout=subprocess.DEVNULL)


def run_exorec(exorec, storage, bucket):
    config = Path(storage) / "bench-archive.yaml"
    config.write_text(f"""storage: {storage}
archive:
  call_json_after: 0s
  workers: 4
  s3:
    endpoint: {os.environ["EXOREC_TEST_S3_ENDPOINT"]}
    bucket: {bucket}
    retention: {{mode: compliance, period: 1d}}
""")
    # Each run starts from an empty queue and record.
    for table in ("archive_queue", "archived_objects"):
        subprocess.run(["sqlite3", f"{storage}/catalog.sqlite", f"DELETE FROM {table};"], check=True)
    environment = dict(os.environ, EXOREC_S3_ACCESS_KEY_ID=os.environ["EXOREC_TEST_S3_ACCESS_KEY"],
                       EXOREC_S3_SECRET_ACCESS_KEY=os.environ["EXOREC_TEST_S3_SECRET_KEY"])
    started = time.monotonic()
    out = subprocess.run([exorec, "archive", "upload", "--config", str(config), "--json", "-q"], check=True,
                         capture_output=True, text=True, env=environment)
    elapsed = time.monotonic() - started
    report = json.loads(out.stdout)
    assert report["failed"] == 0, report
    return elapsed, report["uploaded"], report["bytes"]


def run_boto3(s3, storage, paths, bucket):
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)

    def put(path):
        body = (Path(storage) / path).read_bytes()
        checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
        s3.put_object(Bucket=bucket, Key="exorec/" + path, Body=body, ChecksumSHA256=checksum,
                      ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
        return len(body)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        total = sum(pool.map(put, paths))
    return time.monotonic() - started, len(paths), total


def bench(name, exorec, s3, storage, rounds):
    results = {"exorec": [], "boto3": []}
    paths = None
    for round_index in range(rounds):
        order = ["exorec", "boto3"] if round_index % 2 == 0 else ["boto3", "exorec"]
        for impl in order:
            bucket = new_bucket(s3)
            if impl == "exorec":
                elapsed, files, total = run_exorec(exorec, storage, bucket)
                if paths is None:
                    listed = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                    paths = sorted(o["Key"][len("exorec/"):] for page in listed for o in page.get("Contents", []))
            else:
                if paths is None:
                    continue  # boto3 uploads what exorec uploaded: exorec's first run tells which files
                elapsed, files, total = run_boto3(s3, storage, paths, bucket)
            results[impl].append((elapsed, files, total))
            print(f"  {name} round {round_index + 1} {impl}: {files} files, {total / 1e6:.1f} MB in "
                  f"{elapsed:.2f} s", file=sys.stderr)
    rows = []
    for impl, runs in results.items():
        if not runs:
            continue
        elapsed = statistics.median(r[0] for r in runs)
        files, total = runs[0][1], runs[0][2]
        rows.append({"set": name, "impl": impl, "files": files, "mb": round(total / 1e6, 1),
                     "seconds": round(elapsed, 2), "mb_per_s": round(total / 1e6 / elapsed, 1),
                     "files_per_s": round(files / elapsed, 1), "rounds": len(runs)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--only", choices=["demo", "streams"])
    parser.add_argument("--exorec", default=str(ROOT / ".build/release/exorec"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("EXOREC_TEST_S3_ENDPOINT"):
        os.execvp(str(ROOT / "tools/s3-test-server"),
                  [str(ROOT / "tools/s3-test-server"), "run", "--", sys.executable, *sys.argv])
    exorec = args.exorec if Path(args.exorec).exists() else str(ROOT / ".build/debug/exorec")
    if exorec != args.exorec:
        print(f"note: {args.exorec} does not exist; measuring the debug build {exorec}", file=sys.stderr)
    s3 = s3_client()
    rows = []
    work = tempfile.mkdtemp(prefix="exorec-bench-upload-")
    try:
        if args.only in (None, "demo"):
            storage = f"{work}/demo"
            demo_storage(exorec, storage)
            rows += bench("demo archive", exorec, s3, storage, args.rounds)
        if args.only in (None, "streams"):
            storage = f"{work}/streams"
            stream_storage(exorec, storage, args.streams)
            rows += bench(f"{args.streams} streams of 60 s", exorec, s3, storage, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return
    print(f"exorec: {exorec}")
    print("| set | uploader | files | MB | seconds (median) | MB/s | files/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['impl']} | {r['files']} | {r['mb']} | {r['seconds']} | {r['mb_per_s']} | "
              f"{r['files_per_s']} |")


if __name__ == "__main__":
    main()
