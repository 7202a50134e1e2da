"""Prints the botocore signatures that `tests/signing.rs` expects.

Run with the project's virtualenv: `.venv/bin/python lambda/sweep_aws/tests/botocore_vectors.py`.
Each case is the request sweep_aws sends (URL, the headers it adds, body), signed by botocore's
own signer (`S3SigV4Auth` for S3, `SigV4Auth` for Lambda and Glue) with fixed credentials at
a fixed time. It also prints the URL a real botocore Lambda client builds for each function name,
which the Rust test compares with the invoker's.
"""

import contextlib
import datetime
import json
from unittest import mock
from urllib.parse import quote

import botocore.auth
import botocore.session
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

NOW = datetime.datetime(2015, 8, 30, 12, 36, 0)  # 1_440_938_160 s after the epoch
KEY_ID = "AKIDEXAMPLE"
# The AWS documentation's example key, and a made-up token.
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # noqa: S105  # pragma: allowlist secret
TOKEN = "TOKEN/abc="  # noqa: S105  # pragma: allowlist secret
INVOKE_BODY = b'{"version":1,"run_id":"r1","shards":[0,1],"attempt":0}'
GLUE_BODY = b'{"DatabaseName":"sweeps","Name":"results_mc_pi"}'
# Every printable ASCII character and some beyond, in an object key and in a query value.
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F)) + "é€😀"
AWKWARD_KEY = "pre/" + PRINTABLE.replace("/", "") + "/x"

CASES = [
    # name, service, region, token, method, url, headers, body
    (
        "s3_get_virtual",
        "s3",
        "us-east-1",
        None,
        "GET",
        "https://bkt.s3.us-east-1.amazonaws.com/pre/runs/r%201/run_id%3Dx%2By/manifest.json",
        {},
        b"",
    ),
    (
        "s3_put_path_style",
        "s3",
        "eu-west-1",
        TOKEN,
        "PUT",
        "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/pre/%C3%BC/a%26b.json",
        {"if-none-match": "*"},
        b'{"k":"v"}',
    ),
    (
        "s3_list_virtual",
        "s3",
        "us-east-1",
        TOKEN,
        "GET",
        "https://bkt.s3.us-east-1.amazonaws.com/?list-type=2&prefix=pre%2Fruns%2Fr%201%2F"
        "&continuation-token=1%2Fabc%2B%3D%3D",
        {},
        b"",
    ),
    (
        "s3_get_awkward_key",
        "s3",
        "us-east-1",
        None,
        "GET",
        "https://bkt.s3.us-east-1.amazonaws.com/" + quote(AWKWARD_KEY, safe="/"),
        {},
        b"",
    ),
    (
        "s3_list_awkward_prefix",
        "s3",
        "us-east-1",
        None,
        "GET",
        "https://bkt.s3.us-east-1.amazonaws.com/?list-type=2&prefix=" + quote(PRINTABLE, safe=""),
        {},
        b"",
    ),
    (
        "s3_list_local",
        "s3",
        "us-east-1",
        None,
        "GET",
        "http://127.0.0.1:4566/bucket?list-type=2&prefix=runs%2Fr%201%2F",
        {},
        b"",
    ),
    (
        "lambda_name",
        "lambda",
        "eu-west-1",
        TOKEN,
        "POST",
        "https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/sweep-worker/invocations",
        {"x-amz-invocation-type": "Event", "content-type": "application/json"},
        INVOKE_BODY,
    ),
    (
        "lambda_arn",
        "lambda",
        "us-east-1",
        TOKEN,
        "POST",
        "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/"
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations",
        {"x-amz-invocation-type": "Event", "content-type": "application/json"},
        INVOKE_BODY,
    ),
    (
        "lambda_alias",
        "lambda",
        "us-east-1",
        TOKEN,
        "POST",
        "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/name%3Alive/invocations",
        {"x-amz-invocation-type": "Event", "content-type": "application/json"},
        INVOKE_BODY,
    ),
    (
        "glue_get_table",
        "glue",
        "eu-west-1",
        TOKEN,
        "POST",
        "https://glue.eu-west-1.amazonaws.com/",
        {"content-type": "application/x-amz-json-1.1", "x-amz-target": "AWSGlue.GetTable"},
        GLUE_BODY,
    ),
]


def sign(service, region, token, method, url, headers, body):
    auth_class = S3SigV4Auth if service == "s3" else SigV4Auth
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=NOW):
        auth_class(Credentials(KEY_ID, SECRET, token), service, region).add_auth(request)
    return request.headers["Authorization"]


def lambda_client_url(function):
    """The URL botocore's own Lambda client sends an Event invoke of `function` to."""
    session = botocore.session.get_session()
    client = session.create_client(
        "lambda", region_name="us-east-1", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET
    )
    sent = {}

    def capture(request, **_):
        sent["url"] = request.url
        raise RuntimeError("captured")

    client.meta.events.register("before-send.lambda.Invoke", capture)
    with contextlib.suppress(RuntimeError):
        client.invoke(FunctionName=function, InvocationType="Event", Payload=b"{}")
    return sent["url"]


def main():
    out = {name: [rest[4], sign(*rest)] for name, *rest in CASES}
    for function in [
        "sweep-worker",
        "arn:aws:lambda:us-east-1:123456789012:function:f",
        "name:live",
    ]:
        out[f"url {function}"] = lambda_client_url(function)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
