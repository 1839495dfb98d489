#!/usr/bin/env python3
"""A scripted HTTP origin for exorec's process-level tests: an outside server, not exorec's code.

    scripted_origin.py HOST SCRIPT.json

SCRIPT maps a path to an answer: {"/a": {"redirect": "http://…"}, "/b": {"audio": 4096}, "/c": {"status": 500}}.
It listens on HOST and a free port, prints "listening on HOST:PORT" once, then one line per request:
"request PATH authorization=<header or ->". It stops on SIGTERM.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

host, script_path = sys.argv[1], sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        # The script is read per request, so a test can write it after learning every origin's port.
        with open(script_path) as f:
            script = json.load(f)
        print(f"request {self.path} authorization={self.headers.get('Authorization') or '-'}", flush=True)
        answer = script.get(self.path, {"status": 404})
        if "redirect" in answer:
            self.send_response(302)
            self.send_header("Location", answer["redirect"])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif "audio" in answer:
            body = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(answer["audio"])
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(answer["status"])
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer((host, 0), Handler)
print(f"listening on {host}:{server.server_address[1]}", flush=True)
server.serve_forever()
