"""Tests of the release tooling: hack/release_tool.py, hack/chart_readme.py and the generated
chart metadata. Run by hack/release-check.sh with the .venv/helm python:

    .venv/helm/bin/python -m pytest -q hack/test_release_tool.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chart_readme  # noqa: E402
import release_tool as rt  # noqa: E402

ROOT = rt.ROOT
FILES = ("Cargo.toml", "Cargo.lock", "README.md", "docs/install.md", "Dockerfile", "CHANGELOG.md", "cliff.toml",
         "charts/aliyun-backup-operator/Chart.yaml", "charts/aliyun-backup-operator/values.yaml")
VERSION = rt.workspace_version()


def meta(version: str = VERSION, *, publish=(), bins=("aliyun-backup-operator",)) -> dict:
    """A `cargo metadata --no-deps` of the workspace's shape."""
    pkgs = [
        {"id": "op", "name": "aliyun-backup-operator", "version": version, "publish": list(publish) if publish is not None else None,
         "manifest_path": "Cargo.toml", "targets": [{"name": b, "kind": ["bin"]} for b in bins] + [{"name": "x", "kind": ["lib"]}]},
        {"id": "emu", "name": "aliyun-emulator", "version": version, "publish": [], "manifest_path": "crates/aliyun-emulator/Cargo.toml",
         "targets": [{"name": "aliyun-emulator", "kind": ["bin"]}]},
        {"id": "ks", "name": "kube-sandbox", "version": version, "publish": [], "manifest_path": "crates/kube-sandbox/Cargo.toml",
         "targets": [{"name": "kube-sandbox", "kind": ["bin"]}]},
    ]
    return {"packages": pkgs, "workspace_members": [p["id"] for p in pkgs]}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A copy of the versioned files; release_tool works on it instead of the repository."""
    for rel in FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, tmp_path / rel)
    for d in ("crds", "examples"):
        shutil.copytree(ROOT / d, tmp_path / d)
    monkeypatch.setattr(rt, "ROOT", tmp_path)
    monkeypatch.setattr(rt, "CHART", tmp_path / "charts" / "aliyun-backup-operator")
    monkeypatch.setattr(rt, "CHANGELOG", tmp_path / "CHANGELOG.md")
    monkeypatch.setattr(rt, "cargo_metadata", lambda: meta(rt.workspace_version()))
    return tmp_path


# ---------------------------------------------------------------- versions


def test_the_repository_has_one_version():
    assert rt.check_versions(meta()) == []


@pytest.mark.parametrize("rel, old, new, expect", [
    ("charts/aliyun-backup-operator/Chart.yaml", f'appVersion: "{VERSION}"', 'appVersion: "9.9.9"', "appVersion"),
    ("charts/aliyun-backup-operator/Chart.yaml", f"\nversion: {VERSION}", "\nversion: 9.9.9", "Chart.yaml: version"),
    ("docs/install.md", f"VERSION={VERSION}", "VERSION=9.9.9", "docs/install.md: VERSION=9.9.9"),
    ("README.md", f"VERSION={VERSION}", "VERSION=9.9.9", "README.md: VERSION=9.9.9"),
    ("Dockerfile", f"aliyun-backup-operator:{VERSION}", "aliyun-backup-operator:9.9.9", "Dockerfile"),
    ("CHANGELOG.md", f"## [{VERSION}]", "## [0.0.1]", "CHANGELOG.md"),
])
def test_a_version_that_differs_is_found(tree, rel, old, new, expect):
    p = tree / rel
    assert old in p.read_text()
    p.write_text(p.read_text().replace(old, new, 1))
    problems = rt.check_versions(meta())
    assert any(expect in x for x in problems), problems


def test_a_crate_with_its_own_version_is_found(tree):
    m = meta()
    m["packages"][1]["version"] = "9.9.9"
    assert any("aliyun-emulator has version 9.9.9" in x for x in rt.check_versions(m))


def test_bump_sets_every_version_and_writes_the_changelog_section(tree):
    cliff = tree / "fake-git-cliff"
    cliff.write_text(
        "#!/bin/sh\n"
        "cat <<'EOF'\n"
        "## [1.2.3](https://example.invalid/v1.2.3) - 2000-01-01\n\n"
        "### Added\n\n- chart: something new\n\n### Fixed\n\n- a bug\n"
        "EOF\n"
    )
    cliff.chmod(0o755)
    rt.bump("1.2.3", "2030-02-03", str(cliff))
    assert rt.workspace_version() == "1.2.3"
    assert rt.check_versions(meta("1.2.3")) == []
    text = (tree / "CHANGELOG.md").read_text()
    assert "## [1.2.3](https://example.invalid/v1.2.3) - 2030-02-03" in text
    assert text.index("[1.2.3]") < text.index(f"[{VERSION}]")
    chart = yaml.safe_load((tree / "charts/aliyun-backup-operator/Chart.yaml").read_text())
    assert chart["version"] == "1.2.3" and chart["appVersion"] == "1.2.3"
    assert yaml.safe_load(chart["annotations"]["artifacthub.io/changes"]) == [
        {"kind": "added", "description": "chart: something new"}, {"kind": "fixed", "description": "a bug"}]
    lock = (tree / "Cargo.lock").read_text()
    assert 'name = "kube-sandbox"\nversion = "1.2.3"' in lock
    # Again with the same version: the section is replaced, not repeated.
    rt.bump("1.2.3", "2030-02-04", str(cliff))
    assert (tree / "CHANGELOG.md").read_text().count("## [1.2.3]") == 1
    with pytest.raises(rt.Failure):
        rt.bump("1.2", "2030-02-04", str(cliff))


# ---------------------------------------------------------------- changelog and annotations


def test_changelog_section_and_changes():
    text = "# Changelog\n\n## [2.0.0](x) - d\n\n### Added\n\n- one\n  more\n\n### Security\n\n- two\n\n## [1.0.0] - d\n\n### Fixed\n\n- old\n"
    assert rt.changelog_section(text, "2.0.0").startswith("### Added")
    assert "old" not in rt.changelog_section(text, "2.0.0")
    assert rt.changes(rt.changelog_section(text, "2.0.0")) == [
        {"kind": "added", "description": "one more"}, {"kind": "security", "description": "two"}]
    with pytest.raises(rt.Failure):
        rt.changelog_section(text, "3.0.0")
    with pytest.raises(rt.Failure):
        rt.changes("### Documentation\n\n- x\n")


def test_artifacthub_annotations_describe_the_release():
    chart = yaml.safe_load((rt.CHART / "Chart.yaml").read_text())
    a = chart["annotations"]
    assert a["artifacthub.io/license"] == "Apache-2.0"
    images = yaml.safe_load(a["artifacthub.io/images"])
    values = yaml.safe_load((rt.CHART / "values.yaml").read_text())
    assert images == [{"name": "aliyun-backup-operator",
                       "image": f"{values['image']['repository']}:{chart['appVersion']}",
                       "platforms": ["linux/amd64", "linux/arm64"]}]
    crds = yaml.safe_load(a["artifacthub.io/crds"])
    names = sorted(yaml.safe_load(p.read_text())["metadata"]["name"] for p in (ROOT / "crds").glob("*.yaml"))
    assert sorted(c["name"] for c in crds) == names
    assert all(c["description"] and c["version"] == "v1alpha1" for c in crds)
    assert {e["kind"] for e in yaml.safe_load(a["artifacthub.io/crdsExamples"])} == {c["kind"] for c in crds}
    changes = yaml.safe_load(a["artifacthub.io/changes"])
    assert changes and {c["kind"] for c in changes} <= set(rt.CHANGE_KINDS.values())
    assert {link["name"] for link in yaml.safe_load(a["artifacthub.io/links"])} == {"source", "documentation", "changelog"}
    assert chart["maintainers"] and chart["icon"].endswith("docs/images/icon.svg")
    assert (ROOT / "docs/images/icon.svg").exists()
    assert chart["keywords"]


# ---------------------------------------------------------------- crates, binaries, tag


def test_publish_flags():
    assert rt.check_publish(meta()) == []
    problems = rt.check_publish(meta(publish=None))
    assert len(problems) == 1 and "publish = false" in problems[0]


def test_a_published_crate_must_package(monkeypatch):
    monkeypatch.setattr(rt, "PUBLISHED_CRATES", frozenset({"aliyun-backup-operator"}))
    calls = []

    class Result:
        returncode, stderr = 101, "all dependencies must have a version"

    def run(cmd, **_):
        calls.append(cmd)
        return Result()

    problems = rt.check_publish(meta(publish=None), run=run)
    assert calls and calls[0][:2] == ["cargo", "package"] and "--list" in calls[0]
    assert len(problems) == 1 and "cargo package --list failed" in problems[0]
    assert "publish = false" in rt.check_publish(meta(), run=run)[0]


def test_release_binaries(monkeypatch):
    # The kubectl plugin exists (crates/kubectl-aliyun-backup): a workspace without it fails.
    found, problems, notes = rt.release_artifacts(meta(), require=False)
    assert found == [("aliyun-backup-operator", "aliyun-backup-operator", "--no-default-features")]
    assert notes == [] and "kubectl-aliyun-backup" in problems[0]
    # A binary declared as pending is only noted until a release requires it.
    monkeypatch.setattr(rt, "PENDING_BINARIES", frozenset({"kubectl-aliyun-backup"}))
    found, problems, notes = rt.release_artifacts(meta(), require=False)
    assert problems == [] and "kubectl-aliyun-backup" in notes[0]
    assert rt.release_artifacts(meta(), require=True)[1]
    both = meta(bins=("aliyun-backup-operator", "kubectl-aliyun-backup"))
    found, problems, _ = rt.release_artifacts(both, require=True)
    assert problems == [] and [b for _, b, _ in found] == ["aliyun-backup-operator", "kubectl-aliyun-backup"]
    # The operator is never pending.
    assert rt.release_artifacts(meta(bins=("kubectl-aliyun-backup",)), require=False)[1]


def test_check_tag(tree):
    outputs, problems = rt.check_tag(f"v{VERSION}", "Aliyun-Backup-Operator/aliyun-backup-operator")
    assert problems == []
    assert outputs["image"] == "ghcr.io/aliyun-backup-operator/aliyun-backup-operator"
    assert outputs["chart-remote"] == "oci://ghcr.io/aliyun-backup-operator/charts"
    assert rt.check_tag("v9.9.9", "aliyun-backup-operator/aliyun-backup-operator")[1]
    # A fork publishes elsewhere: the chart's default image would not be what it publishes.
    assert any("image.repository" in p for p in rt.check_tag(f"v{VERSION}", "someone/aliyun-backup-operator")[1])


# ---------------------------------------------------------------- workflows


def test_the_workflows_are_pinned():
    files = sorted((ROOT / ".github/workflows").glob("*.yml"))
    assert {"ci.yml", "release.yml"} <= {f.name for f in files}
    assert rt.check_workflows(files) == []


@pytest.mark.parametrize("uses, expect", [
    ("actions/checkout@v5", "not pinned"),
    ("actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8", "comment"),
    ("actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5", "comment"),
    ("actions/checkout@0000000000000000000000000000000000000000 # v5.0.1", "elsewhere"),
])
def test_workflow_pin_problems(tmp_path, monkeypatch, uses, expect):
    monkeypatch.setattr(rt, "ROOT", tmp_path)
    shutil.copyfile(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    a = tmp_path / "a.yml"
    a.write_text("steps:\n  - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0\n")
    b = tmp_path / "b.yml"
    b.write_text(f"env:\n  RUST_VERSION: \"1.0\"\nsteps:\n  - uses: {uses}\n")
    problems = rt.check_workflows([a, b])
    assert any(expect in p for p in problems), problems
    assert any("RUST_VERSION 1.0" in p for p in problems)


# ---------------------------------------------------------------- chart README


def test_values_comments():
    text = (
        "# -- a\n# more\nalpha: 1\n"
        "# plain comment\n"
        "group:\n  # -- b\n  beta: [x]\n"
        "# -- the whole map\nmap:\n  # -- not listed: part of map's default\n  inner: true\n"
    )
    docs = chart_readme.parse_comments(text)
    assert [(".".join(d.path), d.description) for d in docs] == [("alpha", "a more"), ("group.beta", "b"), ("map", "the whole map")]
    table = chart_readme.values_table(text)
    assert '| `map` | object | `{"inner":true}` | the whole map |' in table
    with pytest.raises(SystemExit, match="gamma"):
        chart_readme.values_table(text + "gamma: 2\n")


def test_chart_readme_is_generated():
    assert chart_readme.main(["--check"]) == 0
