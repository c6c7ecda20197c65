//! The kubectl plugin run in-process against a test's sandbox (shared by the plugin tests:
//! `#[path = "common/kubectl.rs"] mod kubectl;`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::path::PathBuf;

use serde_json::Value;

use super::common::{Env, NS};

/// The plugin's kubeconfig for the sandbox (kept with the env).
pub struct Kubectl {
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(env: &Env) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("sandbox.kubeconfig");
        env.sandbox.write_kubeconfig(&kubeconfig).unwrap();
        Kubectl {
            _dir: dir,
            kubeconfig,
        }
    }

    /// `kubectl aliyun-backup ARGS -n backups`: (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut argv: Vec<String> = vec![
            "kubectl-aliyun-backup".into(),
            "--kubeconfig".into(),
            self.kubeconfig.display().to_string(),
            "-n".into(),
            NS.into(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = kubectl_aliyun_backup::run(argv, &mut out, &mut err).await;
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    /// `why KIND/NAME -o json`.
    pub async fn why(&self, object: &str) -> Value {
        let (code, out, err) = self.run(&["why", object, "-o", "json"]).await;
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }
}
