#!/usr/bin/env python3
"""Signs requests with botocore's S3 signer, for the Swift signer's test (Tests/ObjectStoreTests).

Reads one JSON document on stdin:
  {"access_key": …, "secret_key": …, "session_token": null, "region": …, "epoch": 1764921600,
   "requests": [{"method": "PUT", "url_base": "http://127.0.0.1:9000", "path": "/bucket/a b.wav",
                 "query": [["uploadId", "x"]], "headers": [["x-amz-meta-a", "v"]],
                 "body_base64": "…", "unsigned": false}]}
and prints, for each request, {"canonical_request": …, "authorization": …}. The path is given unencoded
and encoded as botocore's serializer encodes S3 keys (quote(safe='/~')); the date is fixed by patching
botocore.auth's clock.
"""
import base64
import datetime
import json
import sys
import types
from urllib.parse import quote

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class RecordingSigner(botocore.auth.S3SigV4Auth):
    """botocore's S3 signer, keeping the canonical request it signed."""

    def canonical_request(self, request):
        self.signed_canonical_request = super().canonical_request(request)
        return self.signed_canonical_request


def main():
    doc = json.load(sys.stdin)
    when = datetime.datetime.fromtimestamp(doc["epoch"], tz=datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda: when
    credentials = Credentials(doc["access_key"], doc["secret_key"], doc.get("session_token"))
    out = []
    for r in doc["requests"]:
        body = base64.b64decode(r.get("body_base64") or "")
        request = AWSRequest(
            method=r["method"],
            url=r["url_base"] + quote(r["path"], safe="/~"),
            headers=dict(r["headers"]),
            data=body,
            params=[tuple(pair) for pair in r["query"]],
        )
        if r.get("unsigned"):
            # As a client configured with s3={"payload_signing_enabled": False} asks.
            request.context["client_config"] = types.SimpleNamespace(s3={"payload_signing_enabled": False})
        signer = RecordingSigner(credentials, "s3", doc["region"])
        signer.add_auth(request)
        out.append({
            "canonical_request": signer.signed_canonical_request,
            "authorization": request.headers["Authorization"],
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
