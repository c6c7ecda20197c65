"""Restore operations of RDS, HBR and DBS through the official SDKs."""
import time
import uuid

import pytest
from alibabacloud_dbs20190306 import models as dm
from alibabacloud_dbs20190306.client import Client as DbsClient
from alibabacloud_hbr20170908 import models as hm
from alibabacloud_hbr20170908.client import Client as HbrClient
from alibabacloud_rds20140815 import models as rm
from alibabacloud_rds20140815.client import Client as RdsClient

from conftest import admin, advance


def now_ms():
    return admin("GET", "state")["clock"]["now_ms"]


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def rds_backup(c):
    job = c.create_backup(rm.CreateBackupRequest(dbinstance_id="rm-demo01")).body.backup_job_id
    advance(6)
    t = c.describe_backup_tasks(rm.DescribeBackupTasksRequest(dbinstance_id="rm-demo01", backup_job_id=int(job)))
    return t.body.items.backup_job[0].backup_id


def test_rds_clone_and_table_restore(cfg):
    c = RdsClient(cfg)
    backup_id = rds_backup(c)
    req = rm.CloneDBInstanceRequest(
        dbinstance_id="rm-demo01", pay_type="Postpaid", backup_id=backup_id, client_token="uid-1",
        dbinstance_description="orders-clone",
        tag=[rm.CloneDBInstanceRequestTag(key="k8s-uid", value="uid-1")])
    r = c.clone_dbinstance(req)
    new_id = r.body.dbinstance_id
    assert new_id.startswith("rm-") and new_id != "rm-demo01" and r.body.order_id
    assert c.clone_dbinstance(req).body.dbinstance_id == new_id
    a = c.describe_dbinstance_attribute(rm.DescribeDBInstanceAttributeRequest(dbinstance_id=new_id))
    assert a.body.items.dbinstance_attribute[0].dbinstance_status == "Creating"
    advance(5)
    a = c.describe_dbinstance_attribute(rm.DescribeDBInstanceAttributeRequest(dbinstance_id=new_id))
    attr = a.body.items.dbinstance_attribute[0]
    assert attr.dbinstance_status == "Running" and attr.dbinstance_description == "orders-clone"
    l = c.describe_dbinstances(rm.DescribeDBInstancesRequest(region_id="cn-hangzhou", tags='{"k8s-uid":"uid-1"}'))
    assert [i.dbinstance_id for i in l.body.items.dbinstance] == [new_id]

    w = c.describe_local_available_recovery_time(
        rm.DescribeLocalAvailableRecoveryTimeRequest(dbinstance_id="rm-demo01"))
    assert w.body.recovery_begin_time.endswith("Z") and w.body.recovery_begin_time <= w.body.recovery_end_time
    with pytest.raises(Exception) as e:
        c.clone_dbinstance(rm.CloneDBInstanceRequest(dbinstance_id="rm-demo01", pay_type="Postpaid"))
    assert e.value.code == "InvalidParameter"
    with pytest.raises(Exception) as e:
        c.clone_dbinstance(rm.CloneDBInstanceRequest(
            dbinstance_id="rm-demo01", pay_type="Postpaid", restore_time=iso(now_ms() - 86_400_000)))
    assert e.value.code == "InvalidRestoreTime"

    start = now_ms()
    t = c.restore_table(rm.RestoreTableRequest(
        dbinstance_id="rm-demo01", backup_id=backup_id, client_token="rt-1",
        table_meta='[{"type":"db","name":"orders","newname":"orders_r"}]'))
    assert t.body.request_id
    h = c.describe_history_tasks(rm.DescribeHistoryTasksRequest(
        instance_id="rm-demo01", from_start_time=iso(start - 60_000), to_start_time=iso(now_ms() + 60_000)))
    assert h.body.total_count == 1
    assert h.body.items[0].status == "Scheduled" and h.body.items[0].task_type == "RestoreTable"
    advance(5)
    h = c.describe_history_tasks(rm.DescribeHistoryTasksRequest(
        instance_id="rm-demo01", from_start_time=iso(start - 60_000), to_start_time=iso(now_ms() + 60_000)))
    assert h.body.items[0].status == "Succeed" and h.body.items[0].progress == 100


def hbr_file_snapshot(c):
    job = c.create_backup_job(hm.CreateBackupJobRequest(
        source_type="ECS_FILE", instance_id="i-demo01", vault_id="v-1", retention=7,
        include='["/data"]')).body.job_id
    advance(6)
    s = admin("GET", "state")["hbr"]["snapshots"]
    return next(x for x in s if x["JobId"] == job)


def test_hbr_restore_job(cfg):
    c = HbrClient(cfg)
    snap = hbr_file_snapshot(c)
    r = c.create_restore_job(hm.CreateRestoreJobRequest(
        restore_type="ECS_FILE", source_type="ECS_FILE", snapshot_id=snap["SnapshotId"],
        snapshot_hash=snap["SnapshotHash"], vault_id="v-1", target_instance_id="i-demo01",
        target_path="/restore", include='["/data"]'))
    assert r.body.success is True and r.body.restore_id.startswith("r-")
    rid = r.body.restore_id

    def find(key, value):
        return c.describe_restore_jobs_2(hm.DescribeRestoreJobs2Request(
            restore_type="ECS_FILE",
            filters=[hm.DescribeRestoreJobs2RequestFilters(key=key, operator="IN", values=[value])])).body

    b = find("VaultId", "v-1")
    assert b.total_count == 1
    j = b.restore_jobs.restore_job[0]
    assert j.restore_id == rid and j.status == "CREATED" and j.snapshot_hash == snap["SnapshotHash"]
    assert j.target_instance_id == "i-demo01" and j.target_path == "/restore"
    assert find("restoreId", rid).total_count == 1
    advance(1)
    x = c.cancel_restore_job(hm.CancelRestoreJobRequest(restore_id=rid))
    assert x.body.success is True
    assert find("restoreId", rid).restore_jobs.restore_job[0].status == "CANCELING"
    advance(1)
    assert find("restoreId", rid).restore_jobs.restore_job[0].status == "CANCELED"
    bad = c.create_restore_job(hm.CreateRestoreJobRequest(
        restore_type="ECS_FILE", source_type="ECS_FILE", snapshot_id="s-nope", snapshot_hash="h",
        vault_id="v-1", target_instance_id="i-demo01", target_path="/r"))
    assert bad.body.success is False and bad.body.code == "ResourceNotFound"


def test_dbs_restore_task(cfg):
    c = DbsClient(cfg)
    plan = c.create_and_start_backup_plan(dm.CreateAndStartBackupPlanRequest(
        backup_method="logical", backup_plan_name="conformance", database_type="MySQL",
        instance_class="micro", source_endpoint_instance_type="RDS", source_endpoint_region="cn-hangzhou",
        source_endpoint_instance_id="rm-demo01", source_endpoint_user_name="backup",
        source_endpoint_password="pw", region="cn-hangzhou")).body.backup_plan_id
    advance(8)
    sets = c.describe_full_backup_list(dm.DescribeFullBackupListRequest(backup_plan_id=plan))
    set_id = sets.body.items.full_backup_file[0].backup_set_id
    rng = c.describe_restore_range_info(dm.DescribeRestoreRangeInfoRequest(
        backup_plan_id=plan, begin_timestamp_for_restore=0, end_timestamp_for_restore=now_ms() + 1000))
    assert len(rng.body.items.dbsrecover_range) == 1
    token = uuid.uuid4().hex
    req = dm.CreateRestoreTaskRequest(
        backup_plan_id=plan, backup_set_id=set_id, restore_task_name="restore-uid-1",
        destination_endpoint_instance_type="RDS", destination_endpoint_region="cn-hangzhou",
        destination_endpoint_instance_id="rm-demo01", destination_endpoint_user_name="u",
        destination_endpoint_password="pw with space",
        restore_objects='[{"DBName":"orders","NewDBName":"orders_r"}]', client_token=token)
    r = c.create_restore_task(req)
    assert r.body.success is True
    tid = r.body.restore_task_id
    assert c.create_restore_task(req).body.restore_task_id == tid

    def status():
        l = c.describe_restore_task_list(dm.DescribeRestoreTaskListRequest(restore_task_id=tid))
        assert l.body.success is True and l.body.total_elements == 1
        return l.body.items.restore_task_detail[0]

    assert status().restore_status == "init"
    s = c.start_restore_task(dm.StartRestoreTaskRequest(restore_task_id=tid, client_token=uuid.uuid4().hex))
    assert s.body.restore_task_id == tid
    advance(5)
    d = status()
    assert d.restore_status == "finish" and d.restore_task_name == "restore-uid-1"
    assert d.restore_task_finish_time > d.restore_task_create_time
    l = c.describe_restore_task_list(dm.DescribeRestoreTaskListRequest(backup_plan_id=plan))
    assert l.body.total_elements == 1 and l.body.page_num == 0
    bad = c.describe_restore_task_list(dm.DescribeRestoreTaskListRequest(backup_plan_id=plan, restore_task_id=tid))
    assert bad.body.success is False and bad.body.err_code == "InvalidParameterValid"
