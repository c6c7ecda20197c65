"""RDS 2014-08-15 through alibabacloud_rds20140815."""
import pytest
from alibabacloud_rds20140815 import models as m
from alibabacloud_rds20140815.client import Client

from conftest import advance


def test_backup_lifecycle(cfg):
    c = Client(cfg)
    r = c.create_backup(m.CreateBackupRequest(dbinstance_id="rm-demo01", backup_method="Physical"))
    assert r.status_code == 200
    assert isinstance(r.body, m.CreateBackupResponseBody)
    job = r.body.backup_job_id
    assert job and r.body.request_id

    statuses = []
    for _ in range(12):
        t = c.describe_backup_tasks(m.DescribeBackupTasksRequest(dbinstance_id="rm-demo01", backup_job_id=int(job)))
        items = t.body.items.backup_job
        assert len(items) == 1
        j = items[0]
        assert j.backup_job_id == job and j.job_mode == "Manual" and j.task_action == "TempBackupTask"
        assert 0 <= int(j.process) <= 100
        if not statuses or statuses[-1] != j.backup_status:
            statuses.append(j.backup_status)
        if j.backup_status == "Finished":
            backup_id = j.backup_id
            break
        advance(0.6)
    assert statuses[0] == "NoStart" and statuses[-1] == "Finished" and len(statuses) >= 4, statuses
    assert backup_id

    b = c.describe_backups(m.DescribeBackupsRequest(dbinstance_id="rm-demo01", backup_id=backup_id))
    assert b.body.total_record_count == "1" and b.body.page_number == "1" and b.body.page_record_count == "1"
    item = b.body.items.backup[0]
    assert item.backup_status == "Success" and item.store_status == "Enabled" and item.meta_status == "OK"
    assert item.backup_size > 0 and item.backup_start_time.endswith("Z") and item.backup_method == "Physical"

    d = c.delete_backup(m.DeleteBackupRequest(dbinstance_id="rm-demo01", backup_id=backup_id))
    assert d.body.request_id
    b = c.describe_backups(m.DescribeBackupsRequest(dbinstance_id="rm-demo01"))
    assert b.body.total_record_count == "0"


def test_errors_are_client_exceptions(cfg):
    c = Client(cfg)
    c.create_backup(m.CreateBackupRequest(dbinstance_id="rm-demo01"))
    with pytest.raises(Exception) as e:
        c.create_backup(m.CreateBackupRequest(dbinstance_id="rm-demo01"))
    assert e.value.code == "BackupJobExists"
    assert e.value.status_code == 400
    with pytest.raises(Exception) as e:
        c.create_backup(m.CreateBackupRequest(dbinstance_id="rm-demo01", backup_method="Magic"))
    assert e.value.code == "InvalidBackupMethod.ValueNotSupport"
    with pytest.raises(Exception) as e:
        c.describe_backup_tasks(m.DescribeBackupTasksRequest(dbinstance_id="rm-nope"))
    assert e.value.code == "InvalidDBInstanceId.NotFound"


def test_logical_db_backup(cfg):
    c = Client(cfg)
    r = c.create_backup(m.CreateBackupRequest(dbinstance_id="rm-demo01", backup_method="Logical",
                                              backup_strategy="db", dbname="app_db,orders"))
    assert r.body.backup_job_id
    t = c.describe_backup_tasks(m.DescribeBackupTasksRequest(dbinstance_id="rm-demo01", backup_job_status="NoStart"))
    assert len(t.body.items.backup_job) == 1
