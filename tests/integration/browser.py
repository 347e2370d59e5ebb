"""browser.py — writes the page test_browser.sh loads in Chromium: index.html with the test's
configuration (presigned URLs from boto3, the payload) and harness.js beside it.

Usage: browser.py DIR BUCKET NOCORS_BUCKET KEY PAYLOAD_FILE PNG_FILE PNG_KEY STEP...
PNG_FILE is uploaded by the page through a POST form (boto3's generate_presigned_post) with
acl=public-read and by a presigned PUT with x-amz-acl public-read (as PNG_KEY.put), then shown
from their share links: the plain URLs, no signature.
Reads S3_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment.
"""
import base64
import json
import os
import shutil
import sys
import urllib.parse

import boto3
import botocore.config

URL = os.environ["S3_URL"]
CONTENT_TYPE = "application/x-tgs3-test"  # not CORS-safelisted: a preflight in any case

s3 = boto3.client("s3", endpoint_url=URL, region_name="us-east-1",
                  config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def presign(op, bucket, key, **extra):
    return s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": key, **extra}, ExpiresIn=900)


def main():
    out, bucket, nocors, key, payload_file, png_file, png_key, *steps = sys.argv[1:]
    with open(payload_file, "rb") as f:
        payload = f.read()
    with open(png_file, "rb") as f:
        png = f.read()
    # The form: policy and signature from boto3; the page adds the file last.
    post = s3.generate_presigned_post(
        bucket, png_key,
        Fields={"acl": "public-read", "success_action_status": "201", "Content-Type": "image/png"},
        Conditions=[{"acl": "public-read"}, {"success_action_status": "201"}, {"Content-Type": "image/png"},
                    ["content-length-range", 1, 1048576]],
        ExpiresIn=900)
    cfg = {
        "steps": steps,
        "content_type": CONTENT_TYPE,
        "payload_b64": base64.b64encode(payload).decode(),
        "put_url": presign("put_object", bucket, key, ContentType=CONTENT_TYPE),
        "get_url": presign("get_object", bucket, key),
        "nocors_put_url": presign("put_object", nocors, key, ContentType=CONTENT_TYPE),
        "nocors_get_url": presign("get_object", nocors, "there"),
        "png_b64": base64.b64encode(png).decode(),
        "post_url": post["url"],
        "post_fields": post["fields"],
        # Share links: the plain URLs, no signature (the PNG is public-read, KEY is private).
        # The same PNG by a presigned PUT with x-amz-acl public-read (a signed header the page sends).
        "put_public_url": presign("put_object", bucket, png_key + ".put", ContentType="image/png", ACL="public-read"),
        "share_urls": {"form": f"{URL}/{bucket}/{urllib.parse.quote(png_key)}",
                       "put": f"{URL}/{bucket}/{urllib.parse.quote(png_key + '.put')}"},
        "private_url": f"{URL}/{bucket}/{urllib.parse.quote(key)}",
    }
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser")
    shutil.copy(os.path.join(here, "harness.js"), os.path.join(out, "harness.js"))
    # "</" cannot end the script element early: JSON from json.dumps holds no "<" unescaped.
    text = json.dumps(cfg).replace("<", "\\u003c")
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write("<!doctype html>\n<html><head><meta charset=utf-8><title>tgs3 browser test</title></head>\n"
                f"<body><pre id=out></pre>\n<script id=cfg type=application/json>{text}</script>\n"
                "<script src=harness.js></script></body></html>\n")


if __name__ == "__main__":
    main()
