"""HBR 2017-09-08 through alibabacloud_hbr20170908."""
import time

from alibabacloud_hbr20170908 import models as m
from alibabacloud_hbr20170908.client import Client

from conftest import admin, advance


def find(c, source_type, job_id):
    r = c.describe_backup_jobs_2(m.DescribeBackupJobs2Request(
        source_type=source_type,
        filters=[m.DescribeBackupJobs2RequestFilters(key="JobId", operator="IN", values=[job_id])]))
    assert r.body.success is True and r.body.code == "200" and r.body.total_count == 1
    return r.body.backup_jobs.backup_job[0]


def test_udm_job_and_snapshot(cfg):
    c = Client(cfg)
    r = c.create_backup_job(m.CreateBackupJobRequest(
        source_type="UDM_ECS", instance_id="i-demo01", backup_type="COMPLETE", retention=7,
        job_name="conformance job", detail={"doCopy": False, "diskIdList": []}))
    assert r.body.success is True and r.body.message == "successful"
    job_id = r.body.job_id
    assert job_id.startswith("job-")

    seen, progress = [], []
    for _ in range(14):
        j = find(c, "UDM_ECS", job_id)
        progress.append(j.progress)
        if not seen or seen[-1] != j.status:
            seen.append(j.status)
        assert 0 <= j.bytes_done <= j.bytes_total
        advance(0.5)
    assert seen == ["CREATED", "RUNNING", "COMPLETE"], seen
    assert progress == sorted(progress) and progress[-1] == 10000 and len(set(progress)) > 4
    j = find(c, "UDM_ECS", job_id)
    assert j.job_name == "conformance job" and j.instance_id == "i-demo01"
    assert isinstance(j.created_time, int) and isinstance(j.complete_time, int)
    assert j.detail.native_snapshot_id

    now = int(admin("GET", "state")["clock"]["now_ms"] / 1000)
    s = c.describe_udm_snapshots(m.DescribeUdmSnapshotsRequest(
        source_type="UDM_ECS", udm_region_id="cn-hangzhou", start_time=0, end_time=now, job_id=job_id))
    assert s.body.total_count == 1
    snap = s.body.snapshots[0]
    assert snap.status == "COMPLETE" and snap.job_id == job_id and snap.snapshot_id
    by_id = c.describe_udm_snapshots(m.DescribeUdmSnapshotsRequest(
        source_type="UDM_ECS", udm_region_id="cn-hangzhou", start_time=0, end_time=now,
        snapshot_ids=[snap.snapshot_id]))
    assert by_id.body.total_count == 1
    d = c.delete_snapshot(m.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id, source_type="UDM_ECS"))
    assert d.body.success is True


def test_filters_paging_cancel(cfg):
    c = Client(cfg)
    created = []
    for i in range(3):
        created.append(c.create_backup_job(m.CreateBackupJobRequest(
            source_type="UDM_ECS", instance_id="i-demo01", backup_type="COMPLETE", retention=7,
            job_name=f"job {i}")).body.job_id)
    r = c.describe_backup_jobs_2(m.DescribeBackupJobs2Request(
        source_type="UDM_ECS", page_number=2, page_size=2, sort_direction="ASCEND",
        filters=[m.DescribeBackupJobs2RequestFilters(key="CreatedTime", operator="GREATER_THAN_OR_EQUAL",
                                                     values=[str(int(time.time()) - 3600)]),
                 m.DescribeBackupJobs2RequestFilters(key="Status", operator="IN", values=["CREATED", "RUNNING"])]))
    assert r.body.total_count == 3 and r.body.page_number == 2 and r.body.page_size == 2
    assert [j.job_id for j in r.body.backup_jobs.backup_job] == [created[2]]

    cancel = c.cancel_backup_job(m.CancelBackupJobRequest(job_id=created[0]))
    assert cancel.body.success is True and cancel.body.code == "200"
    assert find(c, "UDM_ECS", created[0]).status == "CANCELED"
    again = c.cancel_backup_job(m.CancelBackupJobRequest(job_id=created[0]))
    assert again.body.success is False and again.body.code == "JobStatusNotAllowCancel"


def test_file_and_container_jobs(cfg):
    c = Client(cfg)
    f = c.create_backup_job(m.CreateBackupJobRequest(
        source_type="ECS_FILE", instance_id="i-demo01", vault_id="v-000emulator", retention=7,
        include='["/data"]', exclude='["/proc"]', speed_limit="0:24:1024", options='{"UseVSS":false}'))
    assert f.body.success is True
    j = find(c, "ECS_FILE", f.body.job_id)
    assert j.include == '["/data"]' and j.vault_id == "v-000emulator"
    k = c.create_backup_job(m.CreateBackupJobRequest(
        source_type="CONTAINER", vault_id="v-000emulator", retention=7, container_cluster_id="cc-000emulator",
        container_resources='[{"resourceType":"PV","backupMethod":"FILE"}]'))
    assert k.body.success is True and k.body.job_id


def test_file_snapshot_search_and_delete(cfg):
    """SearchHistoricalSnapshots finds the snapshot of an ECS_FILE job by vault, instance and
    completion time; DeleteSnapshot removes it (the operator's deletionPolicy Delete path)."""
    c = Client(cfg)
    job_id = c.create_backup_job(m.CreateBackupJobRequest(
        source_type="ECS_FILE", instance_id="i-demo01", vault_id="v-000emulator", retention=7,
        include='["/data"]')).body.job_id
    query = [{"field": "VaultId", "value": "v-000emulator", "operation": "MATCH_TERM"},
             {"field": "InstanceId", "value": "i-demo01", "operation": "MATCH_TERM"},
             {"field": "CompleteTime", "value": str(int(time.time()) - 3600),
              "operation": "GREATER_THAN_OR_EQUAL"}]
    r = c.search_historical_snapshots(m.SearchHistoricalSnapshotsRequest(
        source_type="ECS_FILE", query=query, limit=100))
    assert r.body.success is True and r.body.total_count == 0 and not r.body.next_token
    advance(6)
    r = c.search_historical_snapshots(m.SearchHistoricalSnapshotsRequest(
        source_type="ECS_FILE", query=query, limit=100))
    assert r.body.success is True and r.body.code == "200" and r.body.total_count == 1
    snap = r.body.snapshots.snapshot[0]
    assert snap.job_id == job_id and snap.status == "COMPLETE" and snap.source_type == "ECS_FILE"
    assert snap.vault_id == "v-000emulator" and snap.instance_id == "i-demo01"
    assert isinstance(snap.complete_time, int) and snap.paths.path == ["/data"]

    # NextToken paging with a second snapshot in the vault.
    c.create_backup_job(m.CreateBackupJobRequest(
        source_type="ECS_FILE", instance_id="i-demo01", vault_id="v-000emulator", retention=7,
        include='["/home"]'))
    advance(6)
    first = c.search_historical_snapshots(m.SearchHistoricalSnapshotsRequest(
        source_type="ECS_FILE", query=query, limit=1))
    assert first.body.total_count == 2 and len(first.body.snapshots.snapshot) == 1
    assert first.body.next_token
    second = c.search_historical_snapshots(m.SearchHistoricalSnapshotsRequest(
        source_type="ECS_FILE", query=query, limit=1, next_token=first.body.next_token))
    assert second.body.snapshots.snapshot[0].snapshot_id != first.body.snapshots.snapshot[0].snapshot_id
    assert not second.body.next_token

    d = c.delete_snapshot(m.DeleteSnapshotRequest(
        snapshot_id=snap.snapshot_id, source_type="ECS_FILE", vault_id="v-000emulator",
        instance_id="i-demo01"))
    assert d.body.success is True
    r = c.search_historical_snapshots(m.SearchHistoricalSnapshotsRequest(
        source_type="ECS_FILE", query=query, limit=100))
    assert [s.snapshot_id for s in r.body.snapshots.snapshot] == [second.body.snapshots.snapshot[0].snapshot_id]
    again = c.delete_snapshot(m.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
    assert again.body.success is False and again.body.code == "SnapshotNotExist"


def test_injected_outcomes(cfg):
    admin("POST", "scenarios", {"kind": "hbr_job_outcome", "outcome": "PARTIAL_COMPLETE", "message": "3 files skipped"})
    c = Client(cfg)
    job_id = c.create_backup_job(m.CreateBackupJobRequest(
        source_type="UDM_ECS", instance_id="i-demo01", backup_type="COMPLETE", retention=7)).body.job_id
    advance(6)
    j = find(c, "UDM_ECS", job_id)
    assert j.status == "PARTIAL_COMPLETE" and j.error_message == "3 files skipped"
