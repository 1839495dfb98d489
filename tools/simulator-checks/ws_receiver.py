#!/usr/bin/env python3
"""An outside check of the simulator's stream sender: a plain Python `websockets` server (code exorec
did not write) receives one stream and checks it against the platform's protocol (exotel-platform.md §1).

usage: ws_receiver.py PORT_FILE REPORT_FILE [--user U --password P] [--bot]
Writes the bound port to PORT_FILE once listening; after the first stream ends (or 60 s) writes a JSON
report to REPORT_FILE: {"ok": bool, "problems": [...], "events": {...}, "frames": n, "samples": n, ...}
and exits 0 (the caller judges the report).

--bot acts as a voice bot (exotel-platform.md §1.4): after `start` it sends 1 s of a 1500 Hz tone in
200 ms `media` messages, then a `mark` named "greeting-done"; when the mark comes back it hangs up
(closes the socket). The report then has "mark_echoed" and "mark_echo_after_ms" (since the mark was sent),
and no `stop` is expected.
"""
import argparse, asyncio, base64, binascii, json, math, struct, sys, time

import websockets


BOT_TONE_HZ = 1500


def tone_chunks(rate, seconds=1.0, chunk_ms=200):
    """PCM16LE chunks of a tone, each a multiple of 320 bytes as the platform asks."""
    per_chunk = rate * chunk_ms // 1000
    total = int(rate * seconds)
    samples = [int(6000 * math.sin(2 * math.pi * BOT_TONE_HZ * n / rate)) for n in range(total)]
    return [struct.pack("<%dh" % len(samples[i:i + per_chunk]), *samples[i:i + per_chunk])
            for i in range(0, total, per_chunk)]


def check_stream(messages, authorization, path, expected_auth, bot=False):
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
    if not bot and (not names or names[-1] != "stop"):
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
    if not bot and not reason:
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
    parser.add_argument("--bot", action="store_true")
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
        bot = {"mark_sent_at": None, "mark_echoed": False, "mark_echo_after_ms": None, "chunks_sent": 0}

        async def speak(stream_sid, rate):
            for chunk in tone_chunks(rate):
                await connection.send(json.dumps({"event": "media", "stream_sid": stream_sid,
                                                  "media": {"payload": base64.b64encode(chunk).decode()}}))
                bot["chunks_sent"] += 1
            bot["mark_sent_at"] = time.monotonic()
            await connection.send(json.dumps({"event": "mark", "stream_sid": stream_sid,
                                              "mark": {"name": "greeting-done"}}))

        try:
            async for message in connection:
                messages.append(message)
                if not args.bot:
                    continue
                event = json.loads(message) if isinstance(message, str) else {}
                if event.get("event") == "start":
                    body = event.get("start", {})
                    rate = int((body.get("media_format") or {}).get("sample_rate") or 8000)
                    asyncio.ensure_future(speak(event.get("stream_sid") or body.get("stream_sid"), rate))
                elif event.get("event") == "mark" and (event.get("mark") or {}).get("name") == "greeting-done":
                    bot["mark_echoed"] = True
                    bot["mark_echo_after_ms"] = round((time.monotonic() - bot["mark_sent_at"]) * 1000)
                    await connection.close()  # the bot hangs up
        except websockets.ConnectionClosed:
            pass
        if not done.done():
            report = check_stream(messages, headers.get("Authorization"), path, expected, bot=args.bot)
            if args.bot:
                report.update(bot)
                report.pop("mark_sent_at", None)
            done.set_result(report)

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
