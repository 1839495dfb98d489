#!/usr/bin/env python3
"""The archive's bucket as boto3 sees it: the outside check of exorec's object archive in the tests.

Reads the store from EXOREC_TEST_S3_ENDPOINT, EXOREC_TEST_S3_ACCESS_KEY, EXOREC_TEST_S3_SECRET_KEY
(tools/s3-test-server sets them) and prints JSON on stdout.

  s3_outside.py create-bucket BUCKET              a bucket with Object Lock enabled
  s3_outside.py versions BUCKET PREFIX            [{key, version_id, is_latest, size, delete_marker}]
  s3_outside.py head BUCKET KEY VERSION           {size, checksum_sha256, lock_mode, retain_until, legal_hold, sha256}
                                                  sha256: of the bytes GetObject returns
  s3_outside.py delete BUCKET KEY VERSION [--bypass]   {"deleted": true} or {"refused": "<error code>"}
  s3_outside.py overwrite BUCKET KEY              PutObject of other bytes: a new version; {"version_id": …}
  s3_outside.py open-multipart BUCKET KEY        a multipart upload with one part, left open (a killed uploader)
  s3_outside.py open-uploads BUCKET PREFIX        [{key, upload_id}] still open
"""
import hashlib
import json
import os
import sys

import boto3
import botocore.config
import botocore.exceptions


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["EXOREC_TEST_S3_ENDPOINT"],
        aws_access_key_id=os.environ["EXOREC_TEST_S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["EXOREC_TEST_S3_SECRET_KEY"],
        region_name=os.environ.get("EXOREC_TEST_S3_REGION", "us-east-1"),
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )


def main(argv):
    s3 = client()
    command = argv[0]
    if command == "create-bucket":
        s3.create_bucket(Bucket=argv[1], ObjectLockEnabledForBucket=True)
        out = {"created": argv[1]}
    elif command == "versions":
        out = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=argv[1], Prefix=argv[2]):
            for v in page.get("Versions", []):
                out.append({"key": v["Key"], "version_id": v["VersionId"], "is_latest": v["IsLatest"],
                            "size": v["Size"], "delete_marker": False})
            for v in page.get("DeleteMarkers", []):
                out.append({"key": v["Key"], "version_id": v["VersionId"], "is_latest": v["IsLatest"],
                            "size": 0, "delete_marker": True})
    elif command == "head":
        bucket, key, version = argv[1:4]
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=version, ChecksumMode="ENABLED")
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()
        try:
            hold = s3.get_object_legal_hold(Bucket=bucket, Key=key, VersionId=version)["LegalHold"]["Status"]
        except botocore.exceptions.ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchObjectLegalHold":
                raise
            hold = "OFF"  # never set
        retention = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
        out = {"size": head["ContentLength"], "checksum_sha256": head.get("ChecksumSHA256"),
               "lock_mode": retention["Mode"], "retain_until": retention["RetainUntilDate"].timestamp(),
               "legal_hold": hold == "ON", "sha256": hashlib.sha256(body).hexdigest()}
    elif command == "delete":
        bucket, key, version = argv[1:4]
        try:
            s3.delete_object(Bucket=bucket, Key=key, VersionId=version,
                             BypassGovernanceRetention="--bypass" in argv)
            out = {"deleted": True}
        except botocore.exceptions.ClientError as error:
            out = {"refused": error.response["Error"]["Code"]}
    elif command == "overwrite":
        r = s3.put_object(Bucket=argv[1], Key=argv[2], Body=b"changed behind exorec's back")
        out = {"version_id": r["VersionId"]}
    elif command == "legal-hold-off":
        s3.put_object_legal_hold(Bucket=argv[1], Key=argv[2], VersionId=argv[3], LegalHold={"Status": "OFF"})
        out = {"ok": True}
    elif command == "open-multipart":
        upload = s3.create_multipart_upload(Bucket=argv[1], Key=argv[2])
        s3.upload_part(Bucket=argv[1], Key=argv[2], UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 5242880)
        out = {"upload_id": upload["UploadId"]}
    elif command == "open-uploads":
        r = s3.list_multipart_uploads(Bucket=argv[1], Prefix=argv[2])
        out = [{"key": u["Key"], "upload_id": u["UploadId"]} for u in r.get("Uploads", [])]
    else:
        sys.exit(f"unknown command {command}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
