"""Fixtures for the SDK conformance suite.

`run.sh` starts the emulator and exports EMULATOR_ENDPOINT=127.0.0.1:PORT; the emulator runs with
the credential testid/testsecret, RDS instance rm-demo01 and ECS instance i-demo01.
"""
import base64
import json
import os
import time
import urllib.parse
import urllib.request

import pytest
from alibabacloud_tea_openapi.utils_models import Config

ENDPOINT = os.environ.get("EMULATOR_ENDPOINT", "")
AK, SK = "testid", "testsecret"


def admin(method, path, body=None):
    """Calls the emulator's admin API (no signature)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{ENDPOINT}/_emulator/{path}", data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def advance(seconds):
    admin("POST", "time/advance", {"seconds": seconds})


def config(sig="v3", ak=AK, sk=SK, token=None):
    c = Config(
        access_key_id=ak,
        access_key_secret=sk,
        security_token=token,
        endpoint=ENDPOINT,
        protocol="http",
        region_id="cn-hangzhou",
    )
    if sig == "v1":
        c.signature_algorithm = "v2"
    return c


def fake_jwt():
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    claims = {"sub": "system:serviceaccount:backup:operator", "iss": "https://oidc.emulator.local",
              "aud": ["sts.aliyuncs.com"], "exp": int(time.time()) + 3600}
    return f"{enc({'alg': 'RS256'})}.{enc(claims)}.{enc({'sig': 1})}"


def assume_role_with_oidc():
    """The request the RRSA credentials provider sends: an unsigned GET (PY-CRED provider/oidc.py)."""
    q = {
        "Action": "AssumeRoleWithOIDC",
        "Format": "JSON",
        "Version": "2015-04-01",
        "DurationSeconds": "3600",
        "RoleArn": "acs:ram::1234567890123456:role/backup-operator",
        "OIDCProviderArn": "acs:ram::1234567890123456:oidc-provider/ack-rrsa",
        "OIDCToken": fake_jwt(),
        "RoleSessionName": "conformance",
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    url = f"http://{ENDPOINT}/?{urllib.parse.urlencode(q)}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(autouse=True)
def fresh_emulator():
    assert ENDPOINT, "EMULATOR_ENDPOINT is not set (run via run.sh)"
    admin("POST", "reset")
    yield


@pytest.fixture(params=["v3", "v1", "sts"])
def cfg(request):
    """A client Config for each way of signing: V3, V1 (signature_algorithm='v2'), STS (V3)."""
    if request.param == "sts":
        creds = assume_role_with_oidc()["Credentials"]
        return config("v3", creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"])
    return config(request.param)
