"""Refusals through the SDK: wrong secret, stale timestamp, replayed nonce; faults and throttling."""
import datetime

import pytest
from alibabacloud_rds20140815 import models as m
from alibabacloud_rds20140815.client import Client
from alibabacloud_tea_openapi.utils import Utils

from conftest import AK, admin, assume_role_with_oidc, config


def call(cfg):
    return Client(cfg).describe_backup_tasks(m.DescribeBackupTasksRequest(dbinstance_id="rm-demo01"))


@pytest.mark.parametrize("sig", ["v3", "v1"])
def test_wrong_secret(sig):
    with pytest.raises(Exception) as e:
        call(config(sig, AK, "wrong-secret"))
    assert e.value.code == "SignatureDoesNotMatch" and e.value.status_code == 400


@pytest.mark.parametrize("sig", ["v3", "v1"])
def test_unknown_key(sig):
    with pytest.raises(Exception) as e:
        call(config(sig, "nobody", "x"))
    assert e.value.code == "InvalidAccessKeyId.NotFound"


@pytest.mark.parametrize("sig", ["v3", "v1"])
def test_stale_timestamp(sig, monkeypatch):
    stale = (datetime.datetime.utcnow() - datetime.timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setattr(Utils, "get_timestamp", staticmethod(lambda: stale))
    with pytest.raises(Exception) as e:
        call(config(sig))
    assert e.value.code == "InvalidTimeStamp.Expired"


@pytest.mark.parametrize("sig", ["v3", "v1"])
def test_replayed_nonce(sig, monkeypatch):
    nonce = f"fixed-nonce-{sig}-" + datetime.datetime.utcnow().strftime("%H%M%S%f")
    monkeypatch.setattr(Utils, "get_nonce", staticmethod(lambda: nonce))
    call(config(sig))
    with pytest.raises(Exception) as e:
        call(config(sig))
    assert e.value.code == "SignatureNonceUsed"


def test_sts_token_mismatch():
    creds = assume_role_with_oidc()["Credentials"]
    assert creds["Expiration"].endswith("Z")
    call(config("v1", creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"]))
    with pytest.raises(Exception) as e:
        call(config("v3", creds["AccessKeyId"], creds["AccessKeySecret"], "CAISforged"))
    assert e.value.code == "InvalidSecurityToken.MismatchWithAccessKey"


def test_injected_fault_is_server_exception():
    admin("POST", "faults", {"action": "DescribeBackupTasks", "type": "error", "code": "ServiceUnavailable",
                             "http_status": 503, "count": 1})
    with pytest.raises(Exception) as e:
        call(config("v3"))
    assert e.value.code == "ServiceUnavailable" and e.value.status_code == 503
    call(config("v3"))
    calls = admin("GET", "calls")
    assert calls["counts"]["RDS/DescribeBackupTasks/ServiceUnavailable"] == 1
    assert calls["counts"]["RDS/DescribeBackupTasks/OK"] == 1


def test_each_signing_path_reaches_the_emulator():
    call(config("v3"))
    call(config("v1"))
    creds = assume_role_with_oidc()["Credentials"]
    call(config("v3", creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"]))
    call(config("v1", creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"]))
    log = [c for c in admin("GET", "calls")["log"] if c["action"] == "DescribeBackupTasks"]
    assert [(c["signature"], c["code"]) for c in log] == [("V3", "OK"), ("V1", "OK"), ("V3", "OK"), ("V1", "OK")]
    assert log[0]["access_key_id"] == AK and log[2]["access_key_id"].startswith("STS.")
    sts = [c for c in admin("GET", "calls")["log"] if c["action"] == "AssumeRoleWithOIDC"]
    assert sts[0]["signature"] == "none" and sts[0]["params"]["OIDCToken"] == "***"
