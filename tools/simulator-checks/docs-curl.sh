#!/usr/bin/env bash
# The platform docs' curl requests, pointed at a running simulator (`exorec simulate`), for a manual check.
# Usage: tools/simulator-checks/docs-curl.sh [BASE_URL] [ACCOUNT_SID] [API_KEY] [API_TOKEN]
# Defaults are `exorec simulate`'s: http://127.0.0.1:8090 exorec-sim sim-key sim-token.
# Exits non-zero at the first request the simulator does not accept.
set -euo pipefail
base=${1:-http://127.0.0.1:8090}
sid=${2:-exorec-sim}
key=${3:-sim-key}
token=${4:-sim-token}
# Credentials in the URL's user-info, as the docs write them.
api="${base/:\/\//://$key:$token@}/v1/Accounts/$sid"

echo "== connect two numbers (urlencoded -d, XML answer)"
curl -sS -f -X POST "$api/Calls/connect" \
  -d From=0XXXXX30240 -d To=0XXXXX38847 -d CallerId=0XXXXXX4890 -d CallType=trans -d Record=true
echo
echo "== Connect Voice AI (multipart -F, JSON answer)"
answer=$(curl -sS -f -X POST "$api/Calls/connect.json" \
  -F From=09900000001 -F CallerId=08030752400 -F StreamType=bidirectional \
  -F "StreamUrl=wss://bot.example.com/media?sample-rate=8000" -F 'StatusCallbackEvents[]=terminal')
echo "$answer"
call_sid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Call"]["Sid"])' <<<"$answer")
echo "== Call Details of $call_sid"
curl -sS -f "$api/Calls/$call_sid.json?details=true"
echo
