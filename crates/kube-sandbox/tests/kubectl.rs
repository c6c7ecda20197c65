//! Runs the `kube-sandbox` binary and drives it with a real `kubectl` (skipped, with a
//! message, when there is no `kubectl` on `PATH`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.demo.example.com
spec:
  group: demo.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#;

const CR: &str =
    "apiVersion: demo.example.com/v1\nkind: Gadget\nmetadata:\n  name: g1\nspec:\n  size: 3\n";
const BAD: &str =
    "apiVersion: demo.example.com/v1\nkind: Gadget\nmetadata:\n  name: g2\nspec:\n  size: 0\n";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kubectl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .args(args)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .output()
        .expect("run kubectl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn kubectl_apply_get_describe_delete() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("kubectl not found; skipping");
        return;
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("kube-sandbox-kubectl-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-sandbox"))
        .args(["--listen", "127.0.0.1:0", "--kubeconfig-out"])
        .arg(dir.join("kubeconfig"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    assert!(first.trim().starts_with("http://127.0.0.1:"), "{first}");
    std::fs::write(dir.join("crd.yaml"), CRD).unwrap();
    std::fs::write(dir.join("cr.yaml"), CR).unwrap();
    std::fs::write(dir.join("bad.yaml"), BAD).unwrap();
    let f = |n: &str| dir.join(n).to_string_lossy().to_string();

    let (ok, out) = kubectl(&dir, &["apply", "-f", &f("crd.yaml")]);
    assert!(ok && out.contains("created"), "{out}");
    let (ok, out) = kubectl(
        &dir,
        &[
            "wait",
            "--for=condition=Established",
            "crd/gadgets.demo.example.com",
            "--timeout=30s",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = kubectl(&dir, &["apply", "-f", &f("cr.yaml")]);
    assert!(
        ok && out.contains("gadget.demo.example.com/g1 created"),
        "{out}"
    );
    let (ok, out) = kubectl(&dir, &["apply", "-f", &f("bad.yaml")]);
    assert!(
        !ok && out.contains("Invalid") && out.contains("spec.size"),
        "{out}"
    );

    let (ok, out) = kubectl(&dir, &["get", "gadgets"]);
    assert!(ok, "{out}");
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, vec!["NAME", "SIZE", "READY", "AGE"], "{out}");
    assert!(
        out.lines().nth(1).unwrap_or_default().starts_with("g1 "),
        "{out}"
    );
    let (ok, out) = kubectl(&dir, &["get", "gd", "g1", "-o", "jsonpath={.spec.size}"]);
    assert!(ok && out == "3", "{out}");

    let (ok, out) = kubectl(&dir, &["describe", "gadget", "g1"]);
    assert!(
        ok && out.contains("Name:") && out.contains("g1") && out.contains("Size:"),
        "{out}"
    );

    let (ok, out) = kubectl(&dir, &["apply", "--server-side", "-f", &f("cr.yaml")]);
    assert!(ok, "{out}");

    // kubectl's typed create commands send protobuf.
    let (ok, out) = kubectl(&dir, &["create", "namespace", "team-a"]);
    assert!(ok && out.contains("namespace/team-a created"), "{out}");
    let (ok, out) = kubectl(
        &dir,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "team-a",
            "--from-literal=accessKeyId=abc",
        ],
    );
    assert!(ok && out.contains("secret/creds created"), "{out}");
    let (ok, out) = kubectl(
        &dir,
        &[
            "get",
            "secret",
            "creds",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.type} {.data.accessKeyId}",
        ],
    );
    assert!(ok && out == "Opaque YWJj", "{out}");
    let (ok, out) = kubectl(
        &dir,
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "--from-literal=mode=fast",
        ],
    );
    assert!(ok && out.contains("configmap/settings created"), "{out}");
    let (ok, out) = kubectl(
        &dir,
        &[
            "get",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.mode}",
        ],
    );
    assert!(ok && out == "fast", "{out}");

    let (ok, out) = kubectl(&dir, &["delete", "gadget", "g1"]);
    assert!(ok && out.contains("deleted"), "{out}");
    let (ok, out) = kubectl(&dir, &["get", "gadgets"]);
    assert!(ok && out.contains("No resources found"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
