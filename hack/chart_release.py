"""Package and publish the Helm chart as an OCI artifact, with the real Helm engine
(helm-python-sdk, Helm v4 Go SDK). Run with the .venv/helm python (hack/helm-venv.sh).

    python hack/chart_release.py package <out-dir> [--version V]   # prints the .tgz path
    python hack/chart_release.py push <chart.tgz> <oci://host/path>
    python hack/chart_release.py check [--registry <docker-registry binary>]

`package` sets the chart's version and appVersion to V (default: Chart.yaml's). `push` logs
in with $REGISTRY_USERNAME / $REGISTRY_PASSWORD when set, pushes, and prints the manifest
digest (also `digest=...` into $GITHUB_OUTPUT when set): .github/workflows/release.yml signs
that digest with cosign.

`check` (make release-check) packages the chart, reads the archive back with `helm show chart`
and `helm show values` and compares them with the sources, then, with a docker-registry binary
(Debian's package, fetched by hack/oci-registry.sh), runs a registry with basic auth on
127.0.0.1 and makes the round trip a release makes: login, push, resolve the tag, pull, and
`helm show chart` of the oci:// reference; the pulled archive must be byte-identical.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import bcrypt
import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "aliyun-backup-operator"
NAME = "aliyun-backup-operator"


def chart_meta() -> dict[str, Any]:
    return yaml.safe_load((CHART / "Chart.yaml").read_text())


def package(out: Path, version: str | None = None) -> Path:
    """`helm package` with version and appVersion set to `version` (default: Chart.yaml's)."""
    version = version or chart_meta()["version"]
    out.mkdir(parents=True, exist_ok=True)
    return Path(helm.package(str(CHART), destination=str(out), version=version, app_version=version))


def push(tgz: Path, remote: str, *, plain_http: bool = False) -> str:
    """Pushes a packaged chart to an oci:// repository root; returns the manifest digest."""
    host = urlparse(remote).netloc
    meta = yaml.safe_load(helm.show(str(tgz), output_format="chart"))
    ref = f"{remote.rstrip('/')}/{meta['name']}:{meta['version']}"
    with helm.RegistryClient(plain_http=plain_http, credentials_file=os.environ.get("HELM_REGISTRY_CONFIG")) as client:
        user, password = os.environ.get("REGISTRY_USERNAME"), os.environ.get("REGISTRY_PASSWORD")
        if user and password:
            client.login(host, user, password, plain_http=plain_http)
        client.push(str(tgz), remote, plain_http=plain_http)
        digest = client.resolve(ref)["digest"]
    if not digest.startswith("sha256:"):
        raise SystemExit(f"push {ref}: unexpected digest {digest!r}")
    return digest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_archive(tgz: Path, version: str) -> list[str]:
    """What is wrong with a packaged chart: metadata, values, files."""
    problems: list[str] = []
    meta = yaml.safe_load(helm.show(str(tgz), output_format="chart"))
    source = chart_meta()
    if meta.get("version") != version or meta.get("appVersion") != version:
        problems.append(f"packaged version/appVersion {meta.get('version')}/{meta.get('appVersion')} != {version}")
    for key in ("name", "kubeVersion", "home", "icon", "sources", "keywords", "maintainers", "annotations"):
        if meta.get(key) != source.get(key):
            problems.append(f"helm show chart: {key} differs from Chart.yaml")
    values = yaml.safe_load(helm.show(str(tgz), output_format="values"))
    if values != yaml.safe_load((CHART / "values.yaml").read_text()):
        problems.append("helm show values: differs from values.yaml")
    readme = helm.show(str(tgz), output_format="readme")
    if readme.strip() != (CHART / "README.md").read_text().strip():
        problems.append("helm show readme: differs from the chart's README.md")
    with tarfile.open(tgz) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    want = {"Chart.yaml", "values.yaml", "values.schema.json", "README.md"}
    want |= {f"crds/{p.name}" for p in (CHART / "crds").glob("*.yaml")}
    want |= {f"templates/{p.name}" for p in (CHART / "templates").iterdir()}
    if missing := sorted(want - names):
        problems.append(f"archive lacks {missing}")
    return problems


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd entry (the registry's basic auth accepts bcrypt only)."""
    return f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()}"


def roundtrip(tgz: Path, registry_bin: Path, work: Path) -> list[str]:
    """Push to and pull from a local docker-registry with basic auth, as release.yml does."""
    port = free_port()
    host = f"127.0.0.1:{port}"
    user, password = "release", "roundtrip-" + hashlib.sha256(os.urandom(16)).hexdigest()[:16]
    (work / "htpasswd").write_text(htpasswd_line(user, password) + "\n")
    (work / "config.yml").write_text(yaml.safe_dump({
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(work / "storage")}},
        "http": {"addr": host},
        "auth": {"htpasswd": {"realm": "roundtrip", "path": str(work / "htpasswd")}},
    }))
    log = (work / "registry.log").open("w")
    proc = subprocess.Popen([str(registry_bin), "serve", str(work / "config.yml")], stdout=log, stderr=subprocess.STDOUT)
    problems: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"docker-registry did not start: {(work / 'registry.log').read_text()}")
                time.sleep(0.1)
        remote = f"oci://{host}/charts"
        version = yaml.safe_load(helm.show(str(tgz), output_format="chart"))["version"]
        ref = f"{remote}/{NAME}"
        creds = str(work / "registry-config.json")

        # Without credentials the registry refuses the push (the auth is real).
        with helm.RegistryClient(plain_http=True, credentials_file=str(work / "none.json")) as anonymous:
            try:
                anonymous.push(str(tgz), remote, plain_http=True)
                problems.append("push without login was accepted")
            except helm.HelmError as e:
                if not any(w in str(e).lower() for w in ("401", "unauthorized", "credential")):
                    problems.append(f"push without login failed, but not for want of credentials: {e}")

        os.environ["REGISTRY_USERNAME"], os.environ["REGISTRY_PASSWORD"] = user, password
        os.environ["HELM_REGISTRY_CONFIG"] = creds
        try:
            digest = push(tgz, remote, plain_http=True)
        finally:
            for k in ("REGISTRY_USERNAME", "REGISTRY_PASSWORD", "HELM_REGISTRY_CONFIG"):
                os.environ.pop(k, None)
        print(f"pushed {ref}:{version} {digest}")

        with helm.RegistryClient(plain_http=True, credentials_file=creds) as client:
            if client.tags(ref) != [version]:
                problems.append(f"tags of {ref}: {client.tags(ref)} != [{version}]")
            if client.resolve(f"{ref}:{version}")["digest"] != digest:
                problems.append("resolve after push gives another digest")
            pulled = work / "pulled"
            pulled.mkdir()
            client.pull(f"{ref}", version=version, destination=str(pulled), plain_http=True)
            got = pulled / tgz.name
            if not got.exists():
                problems.append(f"pull wrote {sorted(p.name for p in pulled.iterdir())}, not {tgz.name}")
            elif sha256(got) != sha256(tgz):
                problems.append("pulled archive differs from the pushed one")
            shown = yaml.safe_load(client.show(f"{ref}:{version}", output_format="chart", plain_http=True))
            if shown.get("version") != version or shown.get("name") != NAME:
                problems.append(f"helm show chart {ref}: {shown.get('name')} {shown.get('version')}")
        print(f"pulled {ref}:{version} back: {'identical' if not problems else 'PROBLEMS'}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return problems


def check(registry_bin: Path | None) -> int:
    version = chart_meta()["version"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tgz = package(work / "dist", version)
        print(f"packaged {tgz.name} ({tgz.stat().st_size} bytes)")
        problems = check_archive(tgz, version)
        # A release packages with the tag's version: the archive says so.
        other = package(work / "other", "9.8.7")
        if yaml.safe_load(helm.show(str(other), output_format="chart"))["appVersion"] != "9.8.7":
            problems.append("package --version does not set appVersion")
        if registry_bin is not None:
            problems += roundtrip(tgz, registry_bin, work)
    for p in problems:
        print(f"chart package: {p}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if len(argv) in (2, 4) and argv[0] == "package":
        version = argv[3] if len(argv) == 4 and argv[2] == "--version" else None
        print(package(Path(argv[1]), version))
        return 0
    if len(argv) == 3 and argv[0] == "push":
        digest = push(Path(argv[1]), argv[2])
        print(digest)
        if out := os.environ.get("GITHUB_OUTPUT"):
            with open(out, "a") as f:
                f.write(f"digest={digest}\n")
        return 0
    if argv[:1] == ["check"]:
        registry = Path(argv[2]) if len(argv) == 3 and argv[1] == "--registry" else None
        return check(registry)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
