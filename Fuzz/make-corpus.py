#!/usr/bin/env python3
"""Writes the seed corpus, Fuzz/Corpus/<target>/, from real-looking inputs (docs/INGEST.md and the
platform doc's examples). Small on purpose: libFuzzer grows its own working corpus from these in
.build-fuzz/corpus/ (never committed). Run again after changing a seed: python3 Fuzz/make-corpus.py
"""
import base64, os, shutil, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Corpus")
SID = "MZ8a7c3f7a1e2b4c5d6e7f8091a2b3c4d5"
CALL = "c5797dcbaaeed7678c4062a4a3ed2f8a"


def pcm(n, seed=1):
    return b"".join(struct.pack("<h", ((i * 2654435761 + seed) >> 16) % 65536 - 32768) for i in range(n))


def b64(n, seed=1):
    return base64.b64encode(pcm(n, seed)).decode()


START = ('{"event": "start", "sequence_number": "1", "stream_sid": "%s", "start": {"stream_sid": "%s", '
         '"call_sid": "%s", "account_sid": "exorec1", "from": "+919800000001", "to": "+918000000001", '
         '"custom_parameters": {"campaign": "may"}, "media_format": {"encoding": "base64", "sample_rate": "8000", '
         '"bit_rate": "128kbps"}}}' % (SID, SID, CALL))


def media(seq, chunk, ts, n=800, track=None, escaped=False):
    payload = b64(n, seq)
    if escaped:
        payload = payload.replace("/", "\\/")
    parts = []
    if chunk is not None:
        parts.append('"chunk": %s' % chunk)
    if ts is not None:
        parts.append('"timestamp": %s' % ts)
    if track:
        parts.append('"track": "%s"' % track)
    parts.append('"payload": "%s"' % payload)
    return '{"event": "media", "sequence_number": "%d", "stream_sid": "%s", "media": {%s}}' % (seq, SID, ", ".join(parts))


STREAM_MESSAGES = {
    "connected": '{"event": "connected"}',
    "start": START,
    "start-dual": START.replace('"custom_parameters"', '"tracks": ["inbound", "outbound"], "custom_parameters"'),
    "media": media(3, '"2"', '"100"'),
    "media-numbers": media(3, 2, 100),
    "media-no-position": media(4, None, None, n=160),
    "media-outbound": media(5, '"3"', '"200"', track="outbound"),
    "media-escaped": media(6, '"4"', '"300"', n=96, escaped=True),
    "media-huge-chunk": media(7, '"9223372036854775807"', None, n=1),
    "media-huge-timestamp": media(8, None, '"9223372036854775807"'),
    "dtmf": '{"event": "dtmf", "sequence_number": "7", "stream_sid": "%s", "dtmf": {"digit": "5", "duration": "100"}}' % SID,
    "mark": '{"event": "mark", "sequence_number": "15", "stream_sid": "%s", "mark": {"name": "my-label"}}' % SID,
    "stop": ('{"event": "stop", "sequence_number": "20", "stream_sid": "%s", "stop": {"call_sid": "%s", '
             '"account_sid": "exorec1", "reason": "callended"}}' % (SID, CALL)),
    "clear": '{"event": "clear", "stream_sid": "%s"}' % SID,
    # Issue 12: a thin start (top-level stream_sid only, as the platform's test client sends), none at all,
    # G.711 and refused encodings, and media_format numbers beyond Int64.
    "start-thin": '{"event": "start", "sequence_number": "1", "stream_sid": "%s"}' % SID,
    "start-no-ids": '{"event": "start", "start": {"from": "+919800000001"}}',
    "start-mulaw": START.replace('"encoding": "base64"', '"encoding": "audio/x-mulaw;rate=8000"'),
    "start-alaw": START.replace('"encoding": "base64"', '"encoding": "PCMA"'),
    "start-opus": START.replace('"encoding": "base64"', '"encoding": "audio/opus"'),
    "start-huge-rate": START.replace('"sample_rate": "8000"', '"sample_rate": "99999999999999999999"'),
    "start-huge-bit-rate": START.replace('"bit_rate": "128kbps"', '"bit_rate": 123456789012345678901234567890'),
    "camel-case": '{"event":"media","sequenceNumber":3,"streamSid":"%s","media":{"chunk":1,"timestamp":0,"payload":"AAAA"}}' % SID,
}

# FuzzStreamEvents programs (see FuzzStreamEvents.swift): 4-byte events [op, flags, p, q]; op % 10:
# 0 start, 1-4 media (flags: samples, 0x08 chunk kind p&15, 0x10 timestamp kind p>>4, 0x20 track,
# 0x40 as strings), 5 dtmf, 6 mark, 7 tick (p × 100 ms), 8 odd message p, 0xf9 stop.
def ev(*events):
    return bytes(b for e in events for b in e)


STOP = (0xf9, 0, 0, 0)
STREAM_EVENTS = {
    # start, media without chunk/timestamp, chunk 0, chunk at the Int64 limit with one sample: the reported crash.
    "reported-crash": ev((0, 0, 0, 0), (1, 0x00, 0, 7), (1, 0x48, 13, 7), (1, 0x4c, 10, 0), STOP),
    "in-order-timestamps": ev((0, 0x01, 0, 0), *[(1, 0x10, 0, 3)] * 8, (7, 0, 10, 0), STOP),
    "in-order-chunks": ev((0, 0x00, 0, 0), *[(2, 0x08, 0, 5)] * 8, (7, 0, 10, 0), STOP),
    "dual": ev((0, 0x20, 0, 0), *[(1, 0x30, 0x00, 1), (0x83, 0x30, 0x80, 0)] * 4, STOP),
    "reorder-and-gap": ev((0, 0, 0, 0), (1, 0x10, 0, 1), (1, 0x10, 0x90, 2), (1, 0x10, 0x80, 1), (1, 0x10, 0xf0, 3), (7, 0, 5, 0), STOP),
    # Frames without a position, then chunks, then timestamps: the placements the timeline mixes.
    "unplaced-then-chunks": ev((0, 0, 0, 0), (1, 0x00, 0, 1), (1, 0x00, 0, 2), *[(2, 0x0c, 0, 5)] * 3, *[(2, 0x08, 0, 5)] * 3,
                               (3, 0x10, 0, 1), (3, 0x10, 0, 1), STOP),
    "dtmf-mark-tick-odd": ev((0, 0, 0, 0), (5, 3, 0x35, 100), (6, 0, 0, 0), (7, 0, 3, 0), (1, 0x00, 0, 1), (8, 0, 6, 0), (7, 0, 3, 0), STOP),
}

CALLBACKS = {
    "json": b"\x00" + b'{"CallSid": "80bfbec2d78bbbf10fb851f4fa165211", "EventType": "terminal", "Status": "completed", '
            b'"RecordingUrl": "https://recordings.exotel.com/exotelrecordings/acct/80bf.mp3", "ConversationDuration": 320, '
            b'"Legs": [{"OnCallDuration": 335, "Status": "completed", "AnsweredBy": "NA"}, '
            b'{"OnCallDuration": 320, "Status": "completed", "AnsweredBy": "Human"}]}',
    "urlencoded": b"\x02" + b"CallSid=80bfbec2d78bbbf10fb851f4fa165211&EventType=terminal&Status=completed&ConversationDuration=320"
                  b"&Legs%5B0%5D%5BOnCallDuration%5D=335&Legs%5B0%5D%5BStatus%5D=completed&Legs[1][AnsweredBy]=Human"
                  b"&RecordingUrl=https%3A%2F%2Frecordings.exotel.com%2Fa.mp3&DialWhomNumber=+918000000001",
    "sniffed-json": b"\x03" + b' {"CallSid":"c1","Status":"busy","Legs":"[{\\"Status\\":\\"busy\\"}]"}',
    "multipart": b"\x01" + b"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW\n" + b"".join(
        b'------WebKitFormBoundary7MA4YWxkTrZu0gW\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (k, v)
        for k, v in [(b"CallSid", b"80bfbec2d78bbbf10fb851f4fa165211"), (b"Status", b"completed"),
                     (b"Legs[0][OnCallDuration]", b"335"), (b"Legs[1][AnsweredBy]", b"Human")]) +
        b"------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n",
    "multipart-quoted-boundary": b"\x01" + b'multipart/form-data; charset=utf-8; boundary="a b"\n'
                                 b'--a b\r\nContent-Disposition: form-data; name="CallSid"\r\n\r\nCA1\r\n--a b--',
}

CAMPAIGNS = {
    "csv": b"\x00" + b"id,from,to,custom_field,time_limit\n# comment\nrow1,+919800000001,+918000000001,may,600\n"
           b"row2,09800000002,08000000002,\"quoted, field\",\n\n",
    "csv-flow": b"\x00" + b"from,flow,stream_begin,recording_channels,callback_format\r\n"
                b"+919800000001,http://my.exotel.com/exorec1/exoml/start_voice/123,leg2,single,json\r\n",
    "jsonl": b"\x01" + b'{"id": "a", "from": "+919800000001", "to": "+918000000001", "wait_url": "https://example.com/w.wav"}\n'
             b'{"from": "+919800000002", "flow": "http://my.exotel.com/exorec1/exoml/start_voice/1", "time_limit": 90}\n',
}

RANGES = {name: struct.pack(">Q", length) + header for name, length, header in [
    ("simple", 1000, b"bytes=0-99"), ("open", 1000, b"bytes=500-"), ("suffix", 1000, b"bytes=-200"),
    ("beyond", 100, b"bytes=100-200"), ("multi", 1000, b"bytes=0-1,5-9"), ("spaces", 1000, b" bytes = 1 - 2 "),
    ("huge", (1 << 63) | 5000, b"bytes=9223372036854775806-"), ("empty-file", 0, b"bytes=-1"),
]}


def wav(channels=1, rate=8000, frames=100, data_size=None, riff_size=None, extra_chunk=b""):
    data = pcm(frames * channels)
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + extra_chunk + b"data" + struct.pack(
        "<I", len(data) if data_size is None else data_size) + data
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


WAVS = {
    "good": wav(), "stale-sizes": wav(data_size=0, riff_size=36), "dual": wav(channels=2, rate=16000, frames=50),
    "odd-tail": wav()[:-1], "list-chunk": wav(extra_chunk=b"LIST" + struct.pack("<I", 4) + b"INFO"),
    "header-only": wav(frames=0, data_size=0xFFFFFFFF), "truncated-header": wav()[:30], "empty": b"",
}

CONFIGS = {
    "example": open(os.path.join(os.path.dirname(ROOT), "..", "config", "exorec.example.yaml"), "rb").read(),
    "small": b"storage: /tmp/x\ningest:\n  port: 9000\n  idle_timeout: 250ms\nrecording:\n  max_gap: 1h\nlogging:\n  level: debug\n",
    "pipeline": b"exotel:\n  account_sid: exorec1\n  region: mumbai\n  recording_hosts: [a.example.com]\ncalls:\n"
                b"  public_url: https://rec.example.com\n  sample_rate: 16000\n  concurrency: 5\ndownloads:\n  give_up_after: 30m\n",
    "anchors": b"ingest: &a\n  port: 1\nrecording: *a\n",
}


def write(target, seeds):
    folder = os.path.join(ROOT, target)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name, content in seeds.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)


write("FuzzStreamMessage", STREAM_MESSAGES)
write("FuzzStreamEvents", STREAM_EVENTS)
write("FuzzCallback", CALLBACKS)
write("FuzzCampaignFile", CAMPAIGNS)
write("FuzzByteRange", RANGES)
write("FuzzWavHeaderRepair", WAVS)
write("FuzzConfig", CONFIGS)
