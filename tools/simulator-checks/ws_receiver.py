#!/usr/bin/env python3
"""An outside check of the simulator's stream sender: a plain Python `websockets` server (code exorec
did not write) receives one stream and checks it against the platform's protocol (exotel-platform.md §1).

usage: ws_receiver.py PORT_FILE REPORT_FILE [--user U --password P]
Writes the bound port to PORT_FILE once listening; after the first stream ends (or 60 s) writes a JSON
report to REPORT_FILE: {"ok": bool, "problems": [...], "events": {...}, "frames": n, "samples": n, ...}
and exits 0 (the caller judges the report).
"""
import argparse, asyncio, base64, binascii, json, sys

import websockets


def check_stream(messages, authorization, path, expected_auth):
    problems, counts = [], {}
    def problem(text):
        if len(problems) < 20:
            problems.append(text)
    if expected_auth and authorization != expected_auth:
        problem(f"Authorization header {authorization!r} is not the StreamUrl's user-info")
    events = []
    for index, raw in enumerate(messages):
        if not isinstance(raw, str):
            problem(f"message {index} is binary; the platform sends text frames")
            continue
        try:
            message = json.loads(raw)
        except ValueError as error:
            problem(f"message {index} is not JSON: {error}")
            continue
        event = message.get("event")
        counts[event] = counts.get(event, 0) + 1
        events.append((event, message))
    names = [e for e, _ in events]
    if not names or names[0] != "connected":
        problem(f"first event is {names[:1]}, not connected")
    if len(names) < 2 or names[1] != "start":
        problem("second event is not start")
    if not names or names[-1] != "stop":
        problem(f"last event is {names[-1:]}, not stop")
    start = next((m for e, m in events if e == "start"), {})
    body = start.get("start", {})
    for key in ("stream_sid", "call_sid", "account_sid"):
        if not body.get(key):
            problem(f"start.{key} is missing (pipecat detects Exotel by it)")
    stream_sid = start.get("stream_sid") or body.get("stream_sid")
    rate = int((body.get("media_format") or {}).get("sample_rate") or 8000)
    samples, frames, last_sequence, last_timestamp, channels = 0, 0, None, None, set()
    for event, message in events:
        if "sequence_number" in message:
            sequence = int(message["sequence_number"])
            if last_sequence is not None and sequence != last_sequence + 1:
                problem(f"sequence_number jumps from {last_sequence} to {sequence}")
            last_sequence = sequence
        if event != "media":
            continue
        frames += 1
        media = message.get("media", {})
        if message.get("stream_sid") != stream_sid:
            problem("media.stream_sid differs from start's")
        try:
            pcm = base64.b64decode(media.get("payload", ""), validate=True)
        except (binascii.Error, ValueError):
            problem(f"frame {frames}: payload is not base64")
            continue
        if len(pcm) % 2:
            problem(f"frame {frames}: odd PCM byte count {len(pcm)}")
        if len(pcm) != rate // 10 * 2:
            problem(f"frame {frames}: {len(pcm)} bytes, not 100 ms of 16-bit PCM at {rate} Hz")
        samples += len(pcm) // 2
        track = media.get("track")
        channels.add(track or "mono")
        timestamp = int(media.get("timestamp", -1))
        if track in (None, "inbound") and last_timestamp is not None and timestamp < last_timestamp:
            problem(f"frame {frames}: timestamp goes back")
        if track in (None, "inbound"):
            last_timestamp = timestamp
    stop = next((m for e, m in events if e == "stop"), {})
    reason = (stop.get("stop") or {}).get("reason")
    if not reason:
        problem("stop.reason is missing")
    return {"ok": not problems, "problems": problems, "events": counts, "frames": frames, "samples": samples,
            "sample_rate": rate, "tracks": sorted(channels), "path": path, "stop_reason": reason,
            "custom_parameters": body.get("custom_parameters")}


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port_file")
    parser.add_argument("report_file")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    expected = None
    if args.user is not None:
        expected = "Basic " + base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
    done = asyncio.get_running_loop().create_future()

    async def handler(connection):
        request = getattr(connection, "request", None)
        headers = request.headers if request is not None else connection.request_headers
        path = request.path if request is not None else connection.path
        messages = []
        try:
            async for message in connection:
                messages.append(message)
        except websockets.ConnectionClosed:
            pass
        if not done.done():
            done.set_result(check_stream(messages, headers.get("Authorization"), path, expected))

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=4 << 20) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        with open(args.port_file, "w") as f:
            f.write(str(port))
        try:
            report = await asyncio.wait_for(done, 60)
        except asyncio.TimeoutError:
            report = {"ok": False, "problems": ["no stream arrived within 60 s"]}
    with open(args.report_file, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    asyncio.run(main())
