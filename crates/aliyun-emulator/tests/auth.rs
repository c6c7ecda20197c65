//! Gateway behaviour: signatures, time window, nonces, routing, throttling, faults, admin.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

mod common;

use std::time::Duration;

use aliyun_emulator::Fault;
use common::*;
use serde_json::Value;

const TASKS: &[(&str, &str)] = &[("DBInstanceId", "rm-demo01")];

#[tokio::test]
async fn v3_and_v1_signatures_are_accepted() {
    let emu = start().await;
    let c = Client::new(&emu);
    c.v3(RDS, "DescribeBackupTasks", TASKS).await.ok();
    c.v1(RDS, "DescribeBackupTasks", TASKS).await.ok();
    // A value with spaces, `*` and `~` must survive decode → re-encode.
    c.v3(
        RDS,
        "DescribeBackupTasks",
        &[("DBInstanceId", "rm-demo01"), ("ClientToken", "a b*c~d+e")],
    )
    .await
    .ok();
    let calls = emu.calls();
    assert_eq!(calls.count_code("DescribeBackupTasks", "OK"), 3);
    assert_eq!(calls.log[0].signature, "V3");
    assert_eq!(calls.log[1].signature, "V1");
    assert_eq!(calls.log[1].access_key_id.as_deref(), Some("testid"));
}

#[tokio::test]
async fn plus_in_query_is_a_space() {
    // Python SDK style: the wire query uses `+` for a space, the signature `%20`.
    let emu = start().await;
    let c = Client::new(&emu);
    let r = c
        .v3(
            RDS,
            "DescribeBackupTasks",
            &[("DBInstanceId", "rm-demo01"), ("ClientToken", "x y")],
        )
        .await;
    assert_eq!(r.status, 200);
    // Now with '+' on the wire, as the Python SDK sends it.
    let mut c = c;
    c.plus = true;
    let r = c
        .v3(
            RDS,
            "DescribeBackupTasks",
            &[("DBInstanceId", "rm-demo01"), ("ClientToken", "x y")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        emu.calls().log[1]
            .params
            .get("ClientToken")
            .map(String::as_str),
        Some("x y")
    );
}

#[tokio::test]
async fn wrong_secret_is_signature_does_not_match() {
    let emu = start().await;
    let c = Client::new(&emu);
    let r = c
        .v3_custom(
            RDS,
            "DescribeBackupTasks",
            TASKS,
            &now_iso(),
            &nonce(),
            Some("nope"),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "SignatureDoesNotMatch"));
    let r = c
        .v1_custom(
            RDS,
            "DescribeBackupTasks",
            TASKS,
            &now_iso(),
            &nonce(),
            Some("nope"),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "SignatureDoesNotMatch"));
    assert!(r.body["HostId"].is_string());
    assert!(r.s("/Message").contains("string to sign"));
}

#[tokio::test]
async fn unknown_key_is_not_found() {
    let emu = start().await;
    let c = Client::new(&emu).with_key("nobody", "x");
    let r = c.v3(RDS, "DescribeBackupTasks", TASKS).await;
    assert_eq!((r.status, r.code()), (404, "InvalidAccessKeyId.NotFound"));
    let r = c.v1(RDS, "DescribeBackupTasks", TASKS).await;
    assert_eq!((r.status, r.code()), (404, "InvalidAccessKeyId.NotFound"));
}

#[tokio::test]
async fn stale_timestamp_is_expired_even_after_advancing_the_clock() {
    let emu = start().await;
    let c = Client::new(&emu);
    let old = (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(16))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let r = c
        .v3_custom(RDS, "DescribeBackupTasks", TASKS, &old, &nonce(), None)
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidTimeStamp.Expired"));
    let r = c
        .v1_custom(RDS, "DescribeBackupTasks", TASKS, &old, &nonce(), None)
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidTimeStamp.Expired"));
    let future = (jiff::Timestamp::now() + jiff::SignedDuration::from_mins(16))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let r = c
        .v3_custom(RDS, "DescribeBackupTasks", TASKS, &future, &nonce(), None)
        .await;
    assert_eq!(r.code(), "InvalidTimeStamp.Expired");
    // The window uses the real clock: advancing the emulator clock changes nothing.
    emu.advance_time(Duration::from_secs(3600));
    c.v3(RDS, "DescribeBackupTasks", TASKS).await.ok();
    let r = c
        .v3_custom(
            RDS,
            "DescribeBackupTasks",
            TASKS,
            "yesterday",
            &nonce(),
            None,
        )
        .await;
    assert_eq!(r.code(), "InvalidTimeStamp.Format");
}

#[tokio::test]
async fn replayed_nonce_is_refused() {
    let emu = start().await;
    let c = Client::new(&emu);
    let n = nonce();
    let date = now_iso();
    c.v3_custom(RDS, "DescribeBackupTasks", TASKS, &date, &n, None)
        .await
        .ok();
    let r = c
        .v3_custom(RDS, "DescribeBackupTasks", TASKS, &date, &n, None)
        .await;
    assert_eq!((r.status, r.code()), (400, "SignatureNonceUsed"));
    let n = nonce();
    c.v1_custom(RDS, "DescribeBackupTasks", TASKS, &date, &n, None)
        .await
        .ok();
    let r = c
        .v1_custom(RDS, "DescribeBackupTasks", TASKS, &date, &n, None)
        .await;
    assert_eq!(r.code(), "SignatureNonceUsed");
    // A bad signature does not burn the nonce.
    let n = nonce();
    let r = c
        .v3_custom(RDS, "DescribeBackupTasks", TASKS, &date, &n, Some("bad"))
        .await;
    assert_eq!(r.code(), "SignatureDoesNotMatch");
    c.v3_custom(RDS, "DescribeBackupTasks", TASKS, &date, &n, None)
        .await
        .ok();
}

#[tokio::test]
async fn incomplete_and_missing() {
    let emu = start().await;
    let http = reqwest::Client::new();
    // Authorization without Signature.
    let r = http
        .post(format!("{}/", emu.url()))
        .header("x-acs-action", "DescribeBackupTasks")
        .header("x-acs-version", RDS)
        .header(
            "authorization",
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Code"], "IncompleteSignature");
    // x-acs headers not covered by the signature.
    let r = http
        .post(format!("{}/", emu.url()))
        .header("x-acs-action", "DescribeBackupTasks")
        .header("x-acs-version", RDS)
        .header("x-acs-date", now_iso())
        .header(
            "authorization",
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action,Signature=00",
        )
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Code"], "IncompleteSignature");
    // No Authorization at all on a V3-style request.
    let r = http
        .post(format!("{}/", emu.url()))
        .header("x-acs-action", "DescribeBackupTasks")
        .header("x-acs-version", RDS)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Code"], "IncompleteSignature");
    // V1 without Signature.
    let r = http
        .get(format!(
            "{}/?Action=DescribeBackupTasks&Version={RDS}&DBInstanceId=rm-demo01",
            emu.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Code"], "MissingParameter");
    // No Action.
    let r = http
        .get(format!("{}/?Version={RDS}", emu.url()))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["Code"], "MissingParameter");
    // Required business parameter missing.
    let c = Client::new(&emu);
    let r = c.v3(RDS, "DescribeBackupTasks", &[]).await;
    assert_eq!((r.status, r.code()), (400, "MissingParameter"));
    assert!(r.s("/Message").contains("DBInstanceId"));
}

#[tokio::test]
async fn unknown_api_is_not_found() {
    let emu = start().await;
    let c = Client::new(&emu);
    let r = c.v3(RDS, "DescribeNothing", &[]).await;
    assert_eq!((r.status, r.code()), (404, "InvalidApi.NotFound"));
    let r = c.v1("1999-01-01", "CreateBackup", &[]).await;
    assert_eq!((r.status, r.code()), (404, "InvalidApi.NotFound"));
}

#[tokio::test]
async fn get_with_query_v1_works() {
    let emu = start().await;
    let c = Client::new(&emu);
    // Build a GET V1 request by hand.
    let ts = now_iso();
    let n = nonce();
    let mut all = vec![
        ("AccessKeyId", "testid"),
        ("Action", "DescribeBackupTasks"),
        ("DBInstanceId", "rm-demo01"),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", n.as_str()),
        ("SignatureVersion", "1.0"),
        ("Timestamp", ts.as_str()),
        ("Version", RDS),
    ];
    all.sort();
    let canon: Vec<String> = all
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    let canon = canon.join("&");
    let sts = format!("GET&%2F&{}", enc(&canon));
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"testsecret&").unwrap();
    mac.update(sts.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let r = c
        .http
        .get(format!("{}/?{canon}&Signature={}", emu.url(), enc(&sig)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn qps_limit_answers_throttling_user() {
    let emu = start_with(
        EmulatorConfig::default()
            .with_qps(2)
            .with_credential("other", "s2"),
    )
    .await;
    let c = Client::new(&emu);
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(
            c.v3(RDS, "DescribeBackupTasks", TASKS)
                .await
                .code()
                .to_owned(),
        );
    }
    assert!(codes.iter().any(|c| c == "Throttling.User"), "{codes:?}");
    // Another key has its own budget.
    let other = Client::new(&emu).with_key("other", "s2");
    other.v3(RDS, "DescribeBackupTasks", TASKS).await.ok();
    assert!(
        emu.calls()
            .count_code("DescribeBackupTasks", "Throttling.User")
            >= 1
    );
}

#[tokio::test]
async fn faults_by_count_then_expire() {
    let emu = start().await;
    let c = Client::new(&emu);
    emu.inject_fault(Fault::error(Some("DescribeBackupTasks"), "ServiceUnavailable", 503).times(2));
    for _ in 0..2 {
        let r = c.v3(RDS, "DescribeBackupTasks", TASKS).await;
        assert_eq!((r.status, r.code()), (503, "ServiceUnavailable"));
    }
    c.v3(RDS, "DescribeBackupTasks", TASKS).await.ok();
    emu.inject_fault(
        Fault::error(None, "InternalError", 500)
            .for_product("RDS")
            .times(1),
    );
    let r = c.v3(RDS, "DescribeBackups", TASKS).await;
    assert_eq!((r.status, r.code()), (500, "InternalError"));
    // Rate 0 never fires.
    emu.inject_fault(Fault::error(None, "InternalError", 500).with_rate(0.0));
    c.v3(RDS, "DescribeBackups", TASKS).await.ok();
    assert_eq!(
        emu.calls()
            .count_code("DescribeBackupTasks", "ServiceUnavailable"),
        2
    );
}

#[tokio::test]
async fn fault_after_apply_executes_the_action() {
    let emu = start().await;
    let c = Client::new(&emu);
    emu.inject_fault(
        Fault::error(Some("CreateBackup"), "ServiceUnavailable", 503)
            .times(1)
            .after_apply(),
    );
    let r = c.v3(RDS, "CreateBackup", TASKS).await;
    assert_eq!(r.code(), "ServiceUnavailable");
    // The task exists although the caller saw an error.
    let r = c.v3(RDS, "DescribeBackupTasks", TASKS).await.ok();
    assert_eq!(r.body["Items"]["BackupJob"].as_array().unwrap().len(), 1);
    let r = c.v3(RDS, "CreateBackup", TASKS).await;
    assert_eq!(r.code(), "BackupJobExists");
}

#[tokio::test]
async fn latency_and_timeout_faults() {
    let emu =
        start_with(EmulatorConfig::default().with_timeout_hold(Duration::from_millis(50))).await;
    let c = Client::new(&emu);
    emu.inject_fault(Fault::latency(Some("DescribeBackups"), Duration::from_millis(10)).times(1));
    c.v3(RDS, "DescribeBackups", TASKS).await.ok();
    emu.inject_fault(Fault::timeout(Some("DescribeBackups")).times(1));
    let r = c.v3(RDS, "DescribeBackups", TASKS).await;
    assert_eq!((r.status, r.code()), (504, "GatewayTimeout"));
}

#[tokio::test]
async fn admin_http_api() {
    let emu = start().await;
    let c = Client::new(&emu);
    let http = reqwest::Client::new();
    c.v3(RDS, "CreateBackup", TASKS).await.ok();
    let state: Value = http
        .get(format!("{}/_emulator/state", emu.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["rds"]["tasks"].as_array().unwrap().len(), 1);
    let calls: Value = http
        .get(format!("{}/_emulator/calls", emu.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["counts"]["RDS/CreateBackup/OK"], 1);
    assert_eq!(calls["log"][0]["params"]["DBInstanceId"], "rm-demo01");
    let r = http
        .post(format!("{}/_emulator/faults", emu.url()))
        .body(r#"{"action":"DescribeBackups","type":"error","code":"ServiceUnavailable","http_status":503,"count":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        c.v3(RDS, "DescribeBackups", TASKS).await.code(),
        "ServiceUnavailable"
    );
    let before = emu.now_ms();
    let r = http
        .post(format!("{}/_emulator/time/advance", emu.url()))
        .body(r#"{"seconds": 3600}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(emu.now_ms() - before >= 3_600_000);
    let r = http
        .post(format!("{}/_emulator/time/advance", emu.url()))
        .body(r#"{"duration": "2m"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http
        .post(format!("{}/_emulator/time/advance", emu.url()))
        .body(r#"{"x": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = http
        .post(format!("{}/_emulator/scenarios", emu.url()))
        .body(r#"{"kind":"rds_instance_status","instance_id":"rm-demo01","status":"Restarting"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        emu.state()["rds"]["instances"]["rm-demo01"]["status"],
        "Restarting"
    );
    let r = http
        .post(format!("{}/_emulator/reset", emu.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(emu.calls().log.len(), 0);
    assert_eq!(emu.state()["rds"]["tasks"].as_array().unwrap().len(), 0);
    assert_eq!(
        emu.state()["rds"]["instances"]["rm-demo01"]["status"],
        "Running"
    );
    let r = http
        .get(format!("{}/_emulator/nope", emu.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn state_file_round_trip() {
    let dir = std::env::temp_dir().join(format!("emu-state-{}", nonce()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let emu = start_with(EmulatorConfig::default().with_state_file(&path)).await;
    Client::new(&emu).v3(RDS, "CreateBackup", TASKS).await.ok();
    emu.shutdown().await;
    let emu = start_with(EmulatorConfig::default().with_state_file(&path)).await;
    assert_eq!(emu.state()["rds"]["tasks"].as_array().unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn v3_form_body_is_verified() {
    let emu = start().await;
    let c = Client::new(&emu);
    c.v3_form(RDS, "DescribeBackupTasks", TASKS, true, false)
        .await
        .ok();
    let r = c
        .v3_form(RDS, "DescribeBackupTasks", TASKS, false, false)
        .await;
    assert_eq!((r.status, r.code()), (400, "IncompleteSignature"));
    let r = c
        .v3_form(RDS, "DescribeBackupTasks", TASKS, true, true)
        .await;
    assert_eq!((r.status, r.code()), (400, "SignatureDoesNotMatch"));
}

#[tokio::test]
async fn shutdown_releases_held_requests() {
    let emu = start().await;
    emu.inject_fault(Fault::timeout(None));
    let c = Client::new(&emu);
    let held = tokio::spawn(async move { c.v3(RDS, "DescribeBackups", TASKS).await.status });
    // Poll until the emulator holds the request, then shut down.
    let mut polls = 0;
    while emu.state()["held_requests"] != 1 {
        polls += 1;
        assert!(polls < 100_000, "the request never arrived");
        tokio::task::yield_now().await;
    }
    emu.shutdown().await;
    let status = tokio::time::timeout(Duration::from_secs(30), held).await;
    assert_eq!(status.unwrap().unwrap(), 504);
}

/// Starts `CreateBackup` on rm-demo01 in the background (the answer's code and status).
fn spawn_create(emu: &aliyun_emulator::EmulatorHandle) -> tokio::task::JoinHandle<(u16, String)> {
    let c = Client::new(emu);
    tokio::spawn(async move {
        let r = c.v3(RDS, "CreateBackup", TASKS).await;
        (r.status, r.code().to_owned())
    })
}

fn task_count(emu: &aliyun_emulator::EmulatorHandle) -> usize {
    emu.state()["rds"]["tasks"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn hold_keeps_a_call_until_released_then_ends_as_told() {
    use aliyun_emulator::Release;
    let emu = start().await;
    let within = Duration::from_secs(30);

    // LoseAnswer: nothing happens while held; on release the action runs, the answer is lost.
    emu.inject_fault(Fault::hold(Some("CreateBackup"), "lose").times(1));
    let call = spawn_create(&emu);
    let held = tokio::time::timeout(within, emu.wait_held("lose"))
        .await
        .unwrap();
    assert_eq!(
        (held.product.as_str(), held.action.as_str()),
        ("RDS", "CreateBackup")
    );
    assert_eq!(emu.held_calls().len(), 1);
    assert_eq!(emu.state()["held_calls"][0]["hold"], "lose");
    assert_eq!(task_count(&emu), 0, "a held call has not run yet");
    emu.release(
        "lose",
        Release::LoseAnswer {
            code: "InternalError".into(),
            http_status: 500,
        },
    );
    let (status, code) = tokio::time::timeout(within, call).await.unwrap().unwrap();
    assert_eq!((status, code.as_str()), (500, "InternalError"));
    assert_eq!(task_count(&emu), 1, "the action ran");
    assert!(emu.held_calls().is_empty());
    // The rule is gone with the release: the next call is not held.
    let r = spawn_create(&emu).await.unwrap();
    assert_eq!(r.1, "BackupJobExists");

    // Fail: the action does not run.
    emu.reset();
    emu.inject_fault(Fault::hold(Some("CreateBackup"), "fail"));
    let call = spawn_create(&emu);
    tokio::time::timeout(within, emu.wait_held("fail"))
        .await
        .unwrap();
    emu.release(
        "fail",
        Release::Fail {
            code: "ServiceUnavailable".into(),
            http_status: 503,
        },
    );
    let (status, code) = call.await.unwrap();
    assert_eq!((status, code.as_str()), (503, "ServiceUnavailable"));
    assert_eq!(task_count(&emu), 0);

    // Proceed, through the admin API.
    emu.reset();
    emu.inject_fault(Fault::hold(Some("CreateBackup"), "go").times(1));
    let call = spawn_create(&emu);
    tokio::time::timeout(within, emu.wait_held("go"))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let holds: Value = http
        .get(format!("{}/_emulator/holds", emu.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(holds["held"][0]["action"], "CreateBackup");
    let r = http
        .post(format!("{}/_emulator/holds/go/release", emu.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, code) = call.await.unwrap();
    assert_eq!((status, code.as_str()), (200, ""));
    assert_eq!(task_count(&emu), 1);
    // A bad release body is refused.
    let r = http
        .post(format!("{}/_emulator/holds/go/release", emu.url()))
        .body(r#"{"type":"explode"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
