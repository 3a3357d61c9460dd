#!/usr/bin/env python3
"""An S3 server for cairn's tests: moto on 127.0.0.1 with SigV4 checking on.

Plain `moto_server` accepts any credentials, which would make every credential test pass
whatever cairn sends. This wrapper turns request authentication on from the first request
(INITIAL_NO_AUTH_ACTION_COUNT=0), creates IAM users whose key pairs the caller chooses, and
creates the buckets the tests use. One process is one independent server (moto's state is
per process), so a test wanting a primary and an offsite store starts two.

usage: s3-test-server.py --port P --user ID:SECRET[:POLICY] ... --bucket NAME ...
                         [--locked-bucket NAME ...]

POLICY is `full` (s3:*, the default) or `no-delete` (everything but s3:DeleteObject), the
second for tests of `mirror test`'s permission probe. A `--locked-bucket` is created as
`aws s3api create-bucket --object-lock-enabled-for-bucket` creates one: versioning Enabled and
Object Lock enabled, with no default retention. It prints `ready` on stdout once the
server answers and runs until killed. Data lives in memory and is gone when it stops.

Unlike moto, the server verifies Content-MD5 as AWS S3 does (moto stores whatever arrives):
a PUT (PutObject, UploadPart) whose body does not match the header is refused with 400
BadDigest, a malformed header with 400 InvalidDigest, and nothing is stored. Bodies in AWS's
streaming-signature encoding (`aws-chunked`) are passed to moto unchecked.
"""

import argparse
import base64
import binascii
import hashlib
import io
import json
import logging
import os
import sys
import time
import urllib.parse
import urllib.request

# moto reads this when it is imported: authentication from the very first request.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.iam import access_control  # noqa: E402
from moto.iam.models import iam_backends  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402
from moto.s3.models import s3_backends  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

POLICIES = {
    "full": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    "no-delete": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
    ],
}


def canonical_query_signatures():
    """Makes moto check signatures over the query as clients sign it.

    moto 5.2 rebuilds the request for its signature check from a path and query that arrive
    partly decoded, so `prefix=keys/` is hashed where the client hashed `prefix=keys%2F`
    (and `+` in a key where the client hashed `%2B`): every listing with a prefix fails with
    SignatureDoesNotMatch. SigV4's canonical form for S3 encodes the path once (slashes
    kept) and each query key and value (RFC 3986 unreserved characters left as they are);
    the check is rebuilt on that form. A wrong key or secret is still refused.
    """
    original = access_control.IAMRequestBase._create_aws_request

    def encode(text, safe):
        return urllib.parse.quote(urllib.parse.unquote(text), safe=safe)

    def create_aws_request(self):
        path, sep, query = self._path.partition("?")
        self._path = encode(path, "/-_.~")
        if sep:
            pairs = []
            for pair in query.split("&"):
                key, eq, value = pair.partition("=")
                pairs.append(encode(key, "-_.~") + eq + encode(value, "-_.~"))
            self._path += "?" + "&".join(pairs)
        return original(self)

    access_control.IAMRequestBase._create_aws_request = create_aws_request


def verify_content_md5():
    """Refuses PUT bodies that do not match their Content-MD5, before moto sees them."""
    original = DomainDispatcherApplication.__call__

    def refuse(start_response, code, message):
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>").encode()
        start_response("400 Bad Request", [("Content-Type", "application/xml"),
                                           ("Content-Length", str(len(body)))])
        return [body]

    def call(self, environ, start_response):
        expected = environ.get("HTTP_CONTENT_MD5")
        streaming = environ.get("HTTP_X_AMZ_CONTENT_SHA256", "").startswith("STREAMING-")
        if environ["REQUEST_METHOD"] != "PUT" or expected is None or streaming:
            return original(self, environ, start_response)
        length = environ.get("CONTENT_LENGTH")
        body = environ["wsgi.input"].read(int(length) if length else -1)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        try:
            digest = base64.b64decode(expected, validate=True)
        except binascii.Error:
            digest = b""
        if len(digest) != 16:
            return refuse(start_response, "InvalidDigest",
                          "The Content-MD5 you specified was invalid.")
        if hashlib.md5(body).digest() != digest:
            return refuse(start_response, "BadDigest",
                          "The Content-MD5 you specified did not match what we received.")
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = call


def add_user(iam, index, spec):
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        sys.exit(f"--user wants ID:SECRET[:POLICY], got {spec!r}")
    key_id, secret = parts[0], parts[1]
    policy = parts[2] if len(parts) == 3 else "full"
    if policy not in POLICIES:
        sys.exit(f"unknown policy {policy!r}; use one of {', '.join(POLICIES)}")
    name = f"cairn-test-{index}"
    iam.create_user(region_name="us-east-1", user_name=name)
    key = iam.create_access_key(name)
    # moto generates its own key pair; the tests need theirs.
    del iam.access_keys[key.access_key_id]
    key.access_key_id = key_id
    key.secret_access_key = secret
    iam.access_keys[key_id] = key
    document = {"Version": "2012-10-17", "Statement": POLICIES[policy]}
    iam.put_user_policy(name, "cairn-test", json.dumps(document))


def wait_ready(port):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"moto did not answer on 127.0.0.1:{port} within 30 s")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", action="append", default=[], required=True)
    ap.add_argument("--bucket", action="append", default=[])
    ap.add_argument("--locked-bucket", action="append", default=[])
    args = ap.parse_args()

    canonical_query_signatures()
    verify_content_md5()
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for index, spec in enumerate(args.user):
        add_user(iam, index, spec)
    s3 = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for bucket in args.bucket:
        s3.create_bucket(bucket, "us-east-1")
    for bucket in args.locked_bucket:
        s3.create_bucket(bucket, "us-east-1")
        # As S3 does for ObjectLockEnabledForBucket=true: versioning comes with the lock.
        s3.put_bucket_versioning(bucket, "Enabled")
        s3.put_object_lock_configuration(bucket, lock_enabled=True)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    wait_ready(args.port)
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
