"""DBS 2019-03-06 through alibabacloud_dbs20190306."""
import uuid

from alibabacloud_dbs20190306 import models as m
from alibabacloud_dbs20190306.client import Client

from conftest import advance


def plan_request(**kw):
    args = dict(
        backup_method="logical", backup_plan_name="conformance", database_type="MySQL",
        instance_class="micro", source_endpoint_instance_type="RDS", source_endpoint_region="cn-hangzhou",
        source_endpoint_instance_id="rm-demo01", source_endpoint_user_name="backup",
        source_endpoint_password="pw with space", backup_period="Monday,Thursday",
        backup_start_time="14:22", backup_retention_period=30, region="cn-hangzhou",
        client_token=uuid.uuid4().hex,
    )
    args.update(kw)
    return m.CreateAndStartBackupPlanRequest(**args)


def describe(c, plan_id):
    r = c.describe_backup_plan_list(m.DescribeBackupPlanListRequest(backup_plan_id=plan_id))
    assert r.body.success is True and r.body.http_status_code == 200
    return r.body.items.backup_plan_detail[0]


def test_plan_lifecycle(cfg):
    c = Client(cfg)
    req = plan_request()
    r = c.create_and_start_backup_plan(req)
    assert r.body.success is True and r.body.request_id
    plan_id = r.body.backup_plan_id
    assert plan_id.startswith("dbs") and r.body.order_id and r.body.create_backup_set is True
    # Same ClientToken + same parameters → same plan.
    again = c.create_and_start_backup_plan(req)
    assert again.body.backup_plan_id == plan_id

    seen = []
    for _ in range(12):
        d = describe(c, plan_id)
        if not seen or seen[-1] != d.backup_plan_status:
            seen.append(d.backup_plan_status)
        advance(0.5)
    assert seen == ["init", "check_pass", "running"], seen
    d = describe(c, plan_id)
    assert d.backup_plan_name == "conformance" and d.backup_retention_period == 30
    assert d.source_endpoint_instance_id == "rm-demo01" and d.database_type == "MySQL"
    assert isinstance(d.backup_plan_create_time, int)

    advance(5)
    sets = c.describe_full_backup_list(m.DescribeFullBackupListRequest(backup_plan_id=plan_id))
    assert sets.body.total_elements == 1 and sets.body.page_num == 0
    s = sets.body.items.full_backup_file[0]
    assert s.backup_status == "finish" and s.backup_size > 0 and isinstance(s.finish_time, int) and s.backup_set_id

    st = c.stop_backup_plan(m.StopBackupPlanRequest(backup_plan_id=plan_id, stop_method="ALL"))
    assert st.body.backup_plan_id == plan_id
    assert describe(c, plan_id).backup_plan_status == "pause"
    sb = c.start_backup_plan(m.StartBackupPlanRequest(backup_plan_id=plan_id))
    assert sb.body.created_full_backupset_id and sb.body.backup_plan_id == plan_id
    assert describe(c, plan_id).backup_plan_status == "running"

    c.modify_backup_plan_name(m.ModifyBackupPlanNameRequest(backup_plan_id=plan_id, backup_plan_name="renamed"))
    assert describe(c, plan_id).backup_plan_name == "renamed"
    cf = c.configure_backup_plan(m.ConfigureBackupPlanRequest(
        backup_plan_id=plan_id, backup_plan_name="configured", source_endpoint_instance_type="RDS",
        source_endpoint_region="cn-hangzhou", source_endpoint_instance_id="rm-demo01",
        source_endpoint_user_name="backup", source_endpoint_password="pw", backup_retention_period=60))
    assert cf.body.success is True
    assert describe(c, plan_id).backup_retention_period == 60

    rl = c.release_backup_plan(m.ReleaseBackupPlanRequest(backup_plan_id=plan_id))
    assert rl.body.success is True
    gone = c.release_backup_plan(m.ReleaseBackupPlanRequest(backup_plan_id=plan_id))
    assert gone.body.success is False and gone.body.err_code == "InvalidJobId"
    lst = c.describe_backup_plan_list(m.DescribeBackupPlanListRequest(backup_plan_id=plan_id))
    assert lst.body.total_elements == 0


def test_idempotency_mismatch_and_validation(cfg):
    c = Client(cfg)
    token = uuid.uuid4().hex
    c.create_and_start_backup_plan(plan_request(client_token=token))
    r = c.create_and_start_backup_plan(plan_request(client_token=token, backup_plan_name="other"))
    assert r.body.success is False and r.body.err_code == "IdempotentParameterMismatch"
    r = c.create_and_start_backup_plan(plan_request(backup_retention_period=1826))
    assert r.body.success is False and r.body.err_code == "InvalidParameterValid" and r.body.err_message


def test_create_backup_plan_and_paging(cfg):
    c = Client(cfg)
    r = c.create_backup_plan(m.CreateBackupPlanRequest(backup_method="logical", database_type="MySQL",
                                                       instance_class="small", region="cn-hangzhou"))
    assert r.body.backup_plan_id and r.body.order_id
    for i in range(3):
        c.create_and_start_backup_plan(plan_request(backup_plan_name=f"p{i}"))
    lst = c.describe_backup_plan_list(m.DescribeBackupPlanListRequest(page_num=1, page_size=3))
    assert lst.body.total_elements == 4 and lst.body.total_pages == 2 and lst.body.page_num == 1
    assert len(lst.body.items.backup_plan_detail) == 1


def test_precheck_failure(cfg):
    from conftest import admin
    admin("POST", "scenarios", {"kind": "dbs_precheck_failure", "err_message": "cannot connect"})
    c = Client(cfg)
    plan_id = c.create_and_start_backup_plan(plan_request()).body.backup_plan_id
    advance(2)
    d = describe(c, plan_id)
    assert d.backup_plan_status == "stop" and d.err_message == "cannot connect"
