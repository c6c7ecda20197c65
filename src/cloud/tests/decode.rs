//! Envelope decoding per product, error classification, and malformed bodies.

use proptest::prelude::*;
use serde::de::DeserializeOwned;

use crate::cloud::Product;
use crate::cloud::api::*;
use crate::cloud::client::decode;
use crate::cloud::error::{CloudError, ErrorClass, ErrorKind};

fn ok<T: DeserializeOwned>(product: Product, body: &str) -> T {
    decode::<T>(product, "Test", 200, None, None, body.as_bytes()).unwrap()
}

fn err<T: DeserializeOwned + std::fmt::Debug>(
    product: Product,
    status: u16,
    body: &str,
) -> CloudError {
    decode::<T>(product, "Test", status, None, None, body.as_bytes()).unwrap_err()
}

#[test]
fn dbs_success_and_failure_in_http_200() {
    let r: CreateAndStartBackupPlanResponse = ok(
        Product::Dbs,
        r#"{"Success":true,"HttpStatusCode":200,"RequestId":"r1","BackupPlanId":"dbs1","OrderId":"o1","CreateBackupSet":true,"Extra":1}"#,
    );
    assert_eq!(r.backup_plan_id, "dbs1");
    assert_eq!(r.order_id.as_deref(), Some("o1"));
    assert_eq!(r.create_backup_set, Some(true));
    assert_eq!(r.request_id, "r1");

    let e = err::<ReleaseBackupPlanResponse>(
        Product::Dbs,
        200,
        r#"{"Success":false,"ErrCode":"InvalidJobId","ErrMessage":"The specified job id is invalid.","HttpStatusCode":404,"RequestId":"r2"}"#,
    );
    assert_eq!(e.kind, ErrorKind::Api);
    assert_eq!(e.code(), Some("InvalidJobId"));
    assert_eq!(e.http_status(), Some(404));
    assert_eq!(e.request_id(), Some("r2"));
    assert_eq!(e.class(), ErrorClass::NotFound);
    assert_eq!(e.name(), "CloudNotFound");
    let text = e.to_string();
    assert!(
        text.contains("InvalidJobId") && text.contains("r2") && text.contains("Test"),
        "{text}"
    );

    // "Success" as a string.
    let e = err::<StartBackupPlanResponse>(
        Product::Dbs,
        200,
        r#"{"Success":"false","ErrCode":"Throttling.User"}"#,
    );
    assert_eq!(e.class(), ErrorClass::Retryable);
    assert!(e.is_throttling());
}

#[test]
fn dbs_plan_list_and_full_backups() {
    let r: DescribeBackupPlanListResponse = ok(
        Product::Dbs,
        r#"{"Success":true,"RequestId":"r","PageNum":0,"PageSize":30,"TotalElements":1,"TotalPages":1,
            "Items":{"BackupPlanDetail":[{"BackupPlanId":"dbs1","BackupPlanStatus":"running","BackupRetentionPeriod":730,
            "SourceEndpointInstanceID":"rm-1","OSSBucketName":"b","EnableBackupLog":"true","BackupPlanCreateTime":1700000000000}]}}"#,
    );
    assert_eq!(r.items.len(), 1);
    let p = &r.items[0];
    assert_eq!(p.backup_plan_status.as_deref(), Some("running"));
    assert_eq!(p.source_endpoint_instance_id.as_deref(), Some("rm-1"));
    assert_eq!(p.oss_bucket_name.as_deref(), Some("b"));
    assert_eq!(p.enable_backup_log, Some(true));
    assert_eq!(p.backup_retention_period, Some(730));
    assert_eq!(r.total_elements, 1);

    let r: DescribeFullBackupListResponse = ok(
        Product::Dbs,
        r#"{"Success":true,"Items":{"FullBackupFile":[{"BackupSetId":"s1","BackupStatus":"finish","BackupSize":1024,"FinishTime":5}]},"TotalElements":"1"}"#,
    );
    assert_eq!(r.items[0].backup_status.as_deref(), Some("finish"));
    assert_eq!(r.items[0].backup_size, Some(1024));
    assert_eq!(r.total_elements, 1);

    // Empty list shapes.
    let r: DescribeBackupPlanListResponse = ok(
        Product::Dbs,
        r#"{"Success":true,"Items":{"BackupPlanDetail":[]}}"#,
    );
    assert!(r.items.is_empty());
    let r: DescribeBackupPlanListResponse = ok(Product::Dbs, r#"{"Success":true,"Items":{}}"#);
    assert!(r.items.is_empty());
}

#[test]
fn rds_success_string_paging_and_http_errors() {
    let r: CreateBackupResponse = ok(Product::Rds, r#"{"RequestId":"r","BackupJobId":"12345"}"#);
    assert_eq!(r.backup_job_id, "12345");
    let r: CreateBackupResponse = ok(Product::Rds, r#"{"RequestId":"r","BackupJobId":12345}"#);
    assert_eq!(r.backup_job_id, "12345");

    let r: DescribeBackupsResponse = ok(
        Product::Rds,
        r#"{"RequestId":"r","PageNumber":"1","PageRecordCount":"1","TotalRecordCount":"7","TotalEcsSnapshotSize":0,
            "Items":{"Backup":[{"BackupId":"b1","BackupStatus":"Success","StoreStatus":"Enabled","MetaStatus":"OK",
            "BackupSize":2048,"ConsistentTime":1700000000,"BackupDownloadURL":"https://x","BackupDBNames":"db1"}]}}"#,
    );
    assert_eq!(
        (r.page_number, r.page_record_count, r.total_record_count),
        (1, 1, 7)
    );
    assert_eq!(r.items[0].store_status.as_deref(), Some("Enabled"));
    assert_eq!(r.items[0].backup_download_url.as_deref(), Some("https://x"));
    assert_eq!(r.items[0].backup_db_names.as_deref(), Some("db1"));

    let r: DescribeBackupTasksResponse = ok(
        Product::Rds,
        r#"{"RequestId":"r","Items":{"BackupJob":[{"BackupJobId":"1","BackupStatus":"Finished","BackupId":"b1","Process":"100","TaskAction":"TempBackupTask"}]}}"#,
    );
    assert_eq!(r.items[0].process, Some(100));
    assert_eq!(r.items[0].backup_id.as_deref(), Some("b1"));

    let e = err::<CreateBackupResponse>(
        Product::Rds,
        400,
        r#"{"RequestId":"r9","Code":"BackupJobExists","Message":"A backup job already exists.","HostId":"rds.aliyuncs.com"}"#,
    );
    assert_eq!(e.class(), ErrorClass::Conflict);
    assert_eq!(e.code(), Some("BackupJobExists"));
    assert_eq!(e.request_id(), Some("r9"));

    let e = err::<DescribeBackupsResponse>(
        Product::Rds,
        404,
        r#"{"Code":"InvalidDBInstanceId.NotFound","Message":"x"}"#,
    );
    assert_eq!(e.class(), ErrorClass::NotFound);

    let e = err::<DescribeBackupsResponse>(Product::Rds, 503, r#"{"Code":"ServiceUnavailable"}"#);
    assert_eq!(e.class(), ErrorClass::Retryable);

    // Lower-case error keys (as the SDK also accepts).
    let e = err::<DescribeBackupsResponse>(
        Product::Rds,
        400,
        r#"{"code":"InvalidParameter","message":"bad","requestId":"q"}"#,
    );
    assert_eq!(e.code(), Some("InvalidParameter"));
    assert_eq!(e.request_id(), Some("q"));
    assert_eq!(e.class(), ErrorClass::Terminal);
}

#[test]
fn hbr_envelope() {
    let r: CreateBackupJobResponse = ok(
        Product::Hbr,
        r#"{"Success":true,"Code":"200","Message":"successful","RequestId":"r","JobId":"job-1"}"#,
    );
    assert_eq!(r.job_id, "job-1");

    let e = err::<CreateBackupJobResponse>(
        Product::Hbr,
        200,
        r#"{"Success":false,"Code":"InvalidParameter","Message":"bad retention","RequestId":"r3"}"#,
    );
    assert_eq!(e.code(), Some("InvalidParameter"));
    assert_eq!(e.class(), ErrorClass::Terminal);

    // No Success, non-OK code → failure (Terraform's rule).
    let e = err::<CancelBackupJobResponse>(
        Product::Hbr,
        200,
        r#"{"Code":"Throttling","RequestId":"r"}"#,
    );
    assert_eq!(e.class(), ErrorClass::Retryable);

    let r: DescribeBackupJobs2Response = ok(
        Product::Hbr,
        r#"{"Success":true,"Code":"200","TotalCount":1,"PageNumber":1,"PageSize":10,
            "BackupJobs":{"BackupJob":[{"JobId":"job-1","Status":"RUNNING","Progress":2500,"BytesDone":"10",
            "CreatedTime":1700000000,"Detail":"{\"doCopy\":false}","ErrorMessage":""}]}}"#,
    );
    let j = &r.backup_jobs[0];
    assert_eq!(j.progress, Some(2500));
    assert_eq!(j.bytes_done, Some(10));
    assert_eq!(j.detail, Some(serde_json::json!({"doCopy": false})));
    assert_eq!(r.total_count, 1);

    let r: DescribeUdmSnapshotsResponse = ok(
        Product::Hbr,
        r#"{"Success":true,"TotalCount":1,"Snapshots":[{"SnapshotId":"s-1","JobId":"job-1","Status":"COMPLETE","NativeSnapshotId":"sg-1"}]}"#,
    );
    assert_eq!(r.snapshots[0].snapshot_id, "s-1");
    let r: DescribeUdmSnapshotsResponse = ok(
        Product::Hbr,
        r#"{"Success":true,"Snapshots":{"Snapshot":[{"SnapshotId":"s-2"}]}}"#,
    );
    assert_eq!(r.snapshots[0].snapshot_id, "s-2");
}

#[test]
fn search_historical_snapshots_pages_and_errors() {
    // The sample of the API reference (SearchHistoricalSnapshots), trimmed.
    let r: SearchHistoricalSnapshotsResponse = ok(
        Product::Hbr,
        r#"{"NextToken":"BE","RequestId":"473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E","Success":true,
            "Limit":10,"Code":"200","Message":"successful","TotalCount":20,
            "Snapshots":{"Snapshot":[{"Status":"COMPLETE","SnapshotHash":"f2fe...",
              "VaultId":"v-0003rf9m17pap3ltpqx5","ActualItems":6,"BackupType":"COMPLETE",
              "CreateTime":1607436917,"ActualBytes":600,"SourceType":"ECS_FILE",
              "ClientId":"c-0001","BytesTotal":1000,"CompleteTime":1554347313,"Retention":7,
              "CreatedTime":1554347313,"JobId":"job-0001","SnapshotId":"s-0001",
              "InstanceId":"i-0001","Paths":{"Path":["/data"]}}]}}"#,
    );
    assert_eq!(r.next_token.as_deref(), Some("BE"));
    assert_eq!((r.total_count, r.limit), (20, 10));
    let snap = &r.snapshots[0];
    assert_eq!(snap.snapshot_id, "s-0001");
    assert_eq!(snap.job_id.as_deref(), Some("job-0001"));
    assert_eq!(snap.status.as_deref(), Some("COMPLETE"));
    assert_eq!(snap.vault_id.as_deref(), Some("v-0003rf9m17pap3ltpqx5"));
    assert_eq!(snap.complete_time, Some(1_554_347_313));
    assert_eq!(snap.actual_bytes, Some(600));
    // Last page: no token, no snapshots (an empty wrapper or none at all).
    let r: SearchHistoricalSnapshotsResponse = ok(
        Product::Hbr,
        r#"{"Success":true,"Code":"200","NextToken":"","TotalCount":0,"Snapshots":{"Snapshot":[]}}"#,
    );
    assert!(r.snapshots.is_empty());
    assert_eq!(r.next_token.as_deref(), Some(""));
    let r: SearchHistoricalSnapshotsResponse = ok(Product::Hbr, r#"{"Success":true,"Code":"200"}"#);
    assert!(r.snapshots.is_empty() && r.next_token.is_none());
    // A refusal in an HTTP 200 body.
    let e = err::<SearchHistoricalSnapshotsResponse>(
        Product::Hbr,
        200,
        r#"{"Success":false,"Code":"InvalidParameter","Message":"VaultId is required","RequestId":"r9"}"#,
    );
    assert_eq!(e.code(), Some("InvalidParameter"));
    assert_eq!(e.request_id(), Some("r9"));
    assert_eq!(e.class(), ErrorClass::Terminal);
}

#[test]
fn malformed_bodies_are_typed_errors() {
    for body in ["", "not json", "[1,2]", "{\"RequestId\":", "null", "\"x\""] {
        let e = err::<CreateBackupResponse>(Product::Rds, 200, body);
        assert_eq!(e.kind, ErrorKind::Decode, "{body}");
        assert_eq!(e.class(), ErrorClass::Terminal);
    }
    // Wrong types inside an otherwise valid envelope.
    let e = err::<DescribeBackupsResponse>(Product::Rds, 200, r#"{"PageNumber":"one"}"#);
    assert_eq!(e.kind, ErrorKind::Decode);
    let e = err::<DescribeBackupJobs2Response>(
        Product::Hbr,
        200,
        r#"{"Success":true,"BackupJobs":{"BackupJob":"x"}}"#,
    );
    assert_eq!(e.kind, ErrorKind::Decode);
    // A non-JSON 5xx page stays retryable; a non-JSON 4xx is terminal.
    let e = err::<CreateBackupResponse>(Product::Rds, 502, "<html>bad gateway</html>");
    assert_eq!(e.class(), ErrorClass::Retryable);
    let e = err::<CreateBackupResponse>(Product::Rds, 403, "<html>denied</html>");
    assert_eq!(e.class(), ErrorClass::Terminal);
}

#[test]
fn classification_table() {
    let c = |status: u16, code: &str| {
        CloudError::api(
            Product::Rds,
            "X",
            status,
            Some(code.to_string()),
            None,
            None,
        )
        .class()
    };
    for code in [
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "Throttling.Resource",
        "Rejected.Throttling",
    ] {
        assert_eq!(c(400, code), ErrorClass::Retryable, "{code}");
    }
    assert_eq!(c(503, "ServiceUnavailable"), ErrorClass::Retryable);
    assert_eq!(c(500, "InternalError"), ErrorClass::Retryable);
    assert_eq!(c(500, "SomethingElse"), ErrorClass::Retryable);
    assert_eq!(c(400, "InvalidJobId"), ErrorClass::NotFound);
    let describe = CloudError::api(
        Product::Dbs,
        "DescribeBackupPlanList",
        400,
        Some("InvalidParameterValid".into()),
        None,
        None,
    );
    assert_eq!(describe.class(), ErrorClass::NotFound);
    assert_eq!(
        c(400, "Param.NotFound"),
        ErrorClass::Terminal,
        "a missing parameter"
    );
    assert_eq!(c(200, "JobStatusNotAllowCancel"), ErrorClass::Conflict);
    let create = CloudError::api(
        Product::Dbs,
        "CreateAndStartBackupPlan",
        400,
        Some("InvalidParameterValid".into()),
        None,
        None,
    );
    assert_eq!(
        create.class(),
        ErrorClass::Terminal,
        "a bad create parameter is not a missing resource"
    );
    assert_eq!(c(404, "InvalidBackupId.NotFound"), ErrorClass::NotFound);
    assert_eq!(c(403, "Forbidden.InstanceNotFound"), ErrorClass::NotFound);
    assert_eq!(c(400, "BackupJobExists"), ErrorClass::Conflict);
    assert_eq!(c(400, "OperationDenied.DBStatus"), ErrorClass::Conflict);
    assert_eq!(
        c(400, "OperationDenied.DBInstanceStatus"),
        ErrorClass::Conflict
    );
    assert_eq!(c(400, "IncorrectDBInstanceState"), ErrorClass::Conflict);
    assert_eq!(c(400, "InvalidParameter"), ErrorClass::Terminal);
    assert_eq!(c(400, "SignatureDoesNotMatch"), ErrorClass::Terminal);
    assert_eq!(c(404, "InvalidAccessKeyId.NotFound"), ErrorClass::Terminal);
    assert_eq!(c(404, "InvalidApi.NotFound"), ErrorClass::Terminal);
    assert_eq!(c(403, "Forbidden.RAM"), ErrorClass::Terminal);
    assert_eq!(c(400, "InvalidTimeStamp.Expired"), ErrorClass::Terminal);

    let api = |status: u16, code: &str| {
        CloudError::api(
            Product::Rds,
            "X",
            status,
            Some(code.to_string()),
            None,
            None,
        )
    };
    assert_eq!(api(400, "Throttling.User").name(), "CloudThrottled");
    assert_eq!(
        api(400, "SignatureDoesNotMatch").name(),
        "CloudSignatureError"
    );
    assert_eq!(api(403, "Forbidden.RAM").name(), "CloudForbidden");
    assert_eq!(api(403, "NoPermission").name(), "CloudForbidden");
    // The STS token codes of the error center, whichever the gateway picks.
    for code in [
        "InvalidSecurityToken.Malformed",
        "InvalidSecurityToken.MismatchWithAccessKey",
        "InvalidSecurityToken.Expired",
        "MissingSecurityToken",
    ] {
        assert_eq!(api(400, code).name(), "CloudForbidden", "{code}");
        assert_eq!(api(400, code).class(), ErrorClass::Terminal, "{code}");
        assert!(api(400, code).proves_not_executed(), "{code}");
    }
    assert_eq!(api(403, "").name(), "CloudForbidden");
    // A 403 about the resource, not the caller (CreateBackup's documented 403 codes).
    assert_eq!(
        api(403, "Exceeded.BackupTimes").name(),
        "CloudRequestRejected"
    );
    assert_eq!(
        api(403, "Exceeded.BackupTimes").class(),
        ErrorClass::Terminal
    );
    assert_eq!(api(403, "IncorrectDBInstanceState").name(), "CloudConflict");
    assert_eq!(api(500, "InternalError").name(), "CloudServiceError");
    assert_eq!(api(400, "BackupJobExists").name(), "CloudConflict");
    assert_eq!(api(400, "InvalidParameter").name(), "CloudRequestRejected");

    // What proves a mutating call did not run.
    assert!(api(400, "Throttling.User").proves_not_executed());
    assert!(api(400, "SignatureDoesNotMatch").proves_not_executed());
    assert!(!api(500, "InternalError").proves_not_executed());
    assert!(!api(503, "ServiceUnavailable").proves_not_executed());
    let timeout = CloudError::new(Product::Hbr, "CreateBackupJob", ErrorKind::Timeout, "t");
    assert_eq!(timeout.class(), ErrorClass::Retryable);
    assert!(!timeout.proves_not_executed());
}

fn all_decoders(product: Product, status: u16, body: &[u8]) -> Vec<Result<(), CloudError>> {
    fn d<T: DeserializeOwned>(
        product: Product,
        status: u16,
        body: &[u8],
    ) -> Result<(), CloudError> {
        decode::<T>(product, "Fuzz", status, None, None, body).map(|_| ())
    }
    vec![
        d::<CreateAndStartBackupPlanResponse>(product, status, body),
        d::<StartBackupPlanResponse>(product, status, body),
        d::<StopBackupPlanResponse>(product, status, body),
        d::<DescribeBackupPlanListResponse>(product, status, body),
        d::<DescribeFullBackupListResponse>(product, status, body),
        d::<CreateBackupResponse>(product, status, body),
        d::<DescribeBackupTasksResponse>(product, status, body),
        d::<DescribeBackupsResponse>(product, status, body),
        d::<DeleteBackupResponse>(product, status, body),
        d::<CreateBackupJobResponse>(product, status, body),
        d::<DescribeBackupJobs2Response>(product, status, body),
        d::<CancelBackupJobResponse>(product, status, body),
        d::<DescribeUdmSnapshotsResponse>(product, status, body),
        d::<SearchHistoricalSnapshotsResponse>(product, status, body),
    ]
}

const SAMPLES: &[&str] = &[
    r#"{"Success":true,"RequestId":"r","BackupPlanId":"p","Items":{"BackupPlanDetail":[{"BackupPlanId":"p","BackupPlanStatus":"running"}]},"PageNum":0}"#,
    r#"{"RequestId":"r","PageNumber":"1","TotalRecordCount":"3","Items":{"Backup":[{"BackupId":"b","BackupSize":"12"}]}}"#,
    r#"{"Success":true,"Code":"200","BackupJobs":{"BackupJob":[{"JobId":"j","Progress":10000}]},"Snapshots":[{"SnapshotId":"s"}]}"#,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random bytes never panic any decoder; a non-JSON-object 2xx body is a Decode error.
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256), status in prop_oneof![Just(200u16), Just(400u16), Just(503u16)]) {
        for product in [Product::Dbs, Product::Rds, Product::Hbr] {
            for r in all_decoders(product, status, &body) {
                if let Err(e) = r {
                    let _ = (e.class(), e.name(), e.to_string());
                    if status == 200 && serde_json::from_slice::<serde_json::Value>(&body).map(|v| !v.is_object()).unwrap_or(true) {
                        prop_assert_eq!(e.kind, ErrorKind::Decode);
                    }
                }
            }
        }
    }

    /// Truncations of realistic bodies never panic and are typed errors.
    #[test]
    fn truncated_bodies_are_errors(sample in 0usize..3, cut in 0usize..400) {
        let full = SAMPLES[sample].as_bytes();
        let cut = cut.min(full.len().saturating_sub(1));
        for product in [Product::Dbs, Product::Rds, Product::Hbr] {
            for r in all_decoders(product, 200, &full[..cut]) {
                let e = r.expect_err("a truncated body cannot decode");
                prop_assert_eq!(e.kind, ErrorKind::Decode);
            }
        }
    }

    /// Byte flips inside a valid body never panic.
    #[test]
    fn mutated_bodies_never_panic(sample in 0usize..3, pos in 0usize..400, byte in any::<u8>()) {
        let mut body = SAMPLES[sample].as_bytes().to_vec();
        let pos = pos % body.len();
        body[pos] = byte;
        for product in [Product::Dbs, Product::Rds, Product::Hbr] {
            for r in all_decoders(product, 200, &body) {
                if let Err(e) = r { let _ = e.to_string(); }
            }
        }
    }
}

#[test]
fn samples_decode_whole() {
    for s in SAMPLES {
        for product in [Product::Dbs, Product::Rds, Product::Hbr] {
            for r in all_decoders(product, 200, s.as_bytes()) {
                r.unwrap();
            }
        }
    }
}
