#!/usr/bin/env python3
"""Outside check: the PyPI `pyexotel` SDK (1.0.3) places a call against the exorec simulator and reads it back.

pyexotel builds its endpoint as https://{domain}/v1/Accounts/{sid}/Calls, with no way to choose http or a
port, so the script points the SDK's `call_ep` attribute at the simulator after construction; everything
else (Basic header from key and secret, the form it posts, the .json paths) is the SDK's own code.

Prints one JSON line {"placed": <Call>, "details": <Call>} and exits 0; exits 1 with a message otherwise.
The SDK swallows HTTP errors (prints them and returns None), so a None answer is a failure here.
"""
import argparse
import json
import sys

from pyexotel import Exotel


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the simulator, e.g. http://127.0.0.1:8090")
    parser.add_argument("--sid", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--from-number", default="+919900000001")
    parser.add_argument("--to-number", default="+919900000002")
    parser.add_argument("--caller-id", default="08030752400")
    parser.add_argument("--time-limit", type=int, default=14400)
    args = parser.parse_args()

    client = Exotel(args.key, args.token, args.sid)
    expected = f"https://api.exotel.com/v1/Accounts/{args.sid}/Calls"
    if client.call_ep != expected:
        print(f"pyexotel's endpoint layout changed: {client.call_ep!r}, expected {expected!r}", file=sys.stderr)
        return 1
    client.call_ep = f"{args.base_url.rstrip('/')}/v1/Accounts/{args.sid}/Calls"

    placed = client.call(args.from_number, args.to_number, args.caller_id, record=True, time_limit=args.time_limit)
    if not placed or "Call" not in placed:
        print(f"pyexotel could not place the call: {placed!r}", file=sys.stderr)
        return 1
    details = client.get_call_info(placed["Call"]["Sid"])
    if not details or "Call" not in details:
        print(f"pyexotel could not read the call: {details!r}", file=sys.stderr)
        return 1
    print(json.dumps({"placed": placed["Call"], "details": details["Call"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
