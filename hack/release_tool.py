"""One version everywhere, the changelog, the chart's Artifact Hub annotations and the release
artifacts: the checks of `make release-check` and the steps of .github/workflows/release.yml.

    python hack/release_tool.py versions              # the version is the same everywhere
    python hack/release_tool.py chart-annotations [--check]
    python hack/release_tool.py publish               # no workspace crate goes to crates.io by accident
    python hack/release_tool.py artifacts [--require] # the release binaries: "<package> <bin> <cargo flags>"
    python hack/release_tool.py workflows             # actions pinned by commit SHA; the Dockerfile's Rust
    python hack/release_tool.py check-tag <tag> <owner/repo>   # release.yml: tag == version; outputs
    python hack/release_tool.py changelog-section <version>    # the CHANGELOG.md section's text
    python hack/release_tool.py bump <version> [--date YYYY-MM-DD] [--git-cliff PATH]

The version is `[workspace.package] version` of Cargo.toml. It must also be the version of every
workspace crate (Cargo.toml and Cargo.lock), the chart's `version` and `appVersion`, the image
tag in Chart.yaml's `artifacthub.io/images` and in the Dockerfile's example, the `VERSION=`
lines of README.md and docs/install.md, and a section of CHANGELOG.md. `bump` (run by
hack/bump-version.sh) sets all of them.

`artifacts` and `changelog-section` use only the standard library (no PyYAML, no tomllib), so
release.yml runs them with the runners' python3.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "aliyun-backup-operator"
CHANGELOG = ROOT / "CHANGELOG.md"
REPO_URL = "https://github.com/aliyun-backup-operator/aliyun-backup-operator"
IMAGE_NAME = "aliyun-backup-operator"
PLATFORMS = ("linux/amd64", "linux/arm64")
# Files whose `VERSION=x.y.z` lines are the release to install.
VERSION_LINE_FILES = ("README.md", "docs/install.md")
VERSION_LINE = re.compile(r"^(\s*VERSION=)(\S+)", re.M)
DOCKERFILE_TAG = re.compile(r"(ghcr\.io/[a-z0-9-]+/aliyun-backup-operator:)([0-9][^\s]*)")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")
SECTION = re.compile(r"^## \[(?P<version>[^\]]+)\]", re.M)

# The binaries a release ships for Linux and macOS (amd64, arm64): (bin target, cargo flags).
# The operator is built like the image (without the `sandbox` feature); the kubectl plugin with
# its package's default features.
RELEASE_BINARIES: tuple[tuple[str, str], ...] = (
    ("aliyun-backup-operator", "--no-default-features"),
    ("kubectl-aliyun-backup", ""),
)
# Declared but not written yet: `artifacts` notes their absence, `artifacts --require` (the
# release) fails on it.
PENDING_BINARIES: frozenset[str] = frozenset()
# Workspace crates published to crates.io (each then must pass `cargo package --list`). None:
# the operator ships as an image and binaries, the emulator and kube-sandbox are test tools.
PUBLISHED_CRATES: frozenset[str] = frozenset()


class Failure(Exception):
    """A check failed; the message says what to change."""


# ---------------------------------------------------------------- sources


def toml(text: str) -> dict[str, Any]:
    import tomllib  # Python 3.11+; `artifacts` and `changelog-section` work without it

    return tomllib.loads(text)


def workspace_version() -> str:
    return toml((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]


def cargo_metadata() -> dict[str, Any]:
    out = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def workspace_packages(meta: dict[str, Any]) -> list[dict[str, Any]]:
    members = set(meta["workspace_members"])
    return [p for p in meta["packages"] if p["id"] in members]


def yaml_module():
    import yaml  # the .venv/helm python has it (hack/helm-venv.sh)

    return yaml


def chart_yaml() -> dict[str, Any]:
    return yaml_module().safe_load((CHART / "Chart.yaml").read_text())


def changelog_sections(text: str) -> list[str]:
    return [m.group("version") for m in SECTION.finditer(text)]


def changelog_section(text: str, version: str) -> str:
    """The body of the `## [version]` section (its heading left out)."""
    matches = list(SECTION.finditer(text))
    for i, m in enumerate(matches):
        if m.group("version") == version:
            start = text.index("\n", m.start()) + 1
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            return text[start:end].strip() + "\n"
    raise Failure(f"CHANGELOG.md has no section `## [{version}]`: run hack/bump-version.sh {version}")


# ---------------------------------------------------------------- versions


def check_versions(meta: dict[str, Any] | None = None) -> list[str]:
    """Every place that names the version, compared with Cargo.toml's workspace version."""
    version = workspace_version()
    problems: list[str] = []
    if not SEMVER.match(version):
        problems.append(f"Cargo.toml: workspace version {version!r} is not semver X.Y.Z")
    meta = meta if meta is not None else cargo_metadata()
    names = set()
    for p in workspace_packages(meta):
        names.add(p["name"])
        if p["version"] != version:
            problems.append(f"{p['manifest_path']}: {p['name']} has version {p['version']} (use version.workspace = true)")
    lock = toml((ROOT / "Cargo.lock").read_text())
    for p in lock.get("package", []):
        if p["name"] in names and "source" not in p and p["version"] != version:
            problems.append(f"Cargo.lock: {p['name']} {p['version']} (run cargo update --workspace --offline)")
    chart = chart_yaml()
    for key in ("version", "appVersion"):
        if str(chart.get(key)) != version:
            problems.append(f"charts/aliyun-backup-operator/Chart.yaml: {key} {chart.get(key)} != {version}")
    for rel in VERSION_LINE_FILES:
        found = VERSION_LINE.findall((ROOT / rel).read_text())
        if not found:
            problems.append(f"{rel}: no `VERSION=` line")
        problems += [f"{rel}: VERSION={v} != {version}" for _, v in found if v != version]
    tags = DOCKERFILE_TAG.findall((ROOT / "Dockerfile").read_text())
    problems += [f"Dockerfile: example tag {t} != {version}" for _, t in tags if t != version]
    sections = changelog_sections(CHANGELOG.read_text())
    released = [s for s in sections if s.lower() != "unreleased"]
    if not released or released[0] != version:
        problems.append(f"CHANGELOG.md: the newest section is {released[:1]}, not [{version}] (hack/bump-version.sh {version})")
    return problems


# ---------------------------------------------------------------- chart annotations

ANNOTATIONS_MARKER = "annotations:\n"
ANNOTATIONS_HEADER = (
    "  # Generated by `hack/release_tool.py chart-annotations` from the version, CHANGELOG.md,\n"
    "  # crds/ and examples/; `make test` fails when they differ.\n"
)
CHANGE_KINDS = {"Added": "added", "Changed": "changed", "Deprecated": "deprecated",
                "Removed": "removed", "Fixed": "fixed", "Security": "security"}


def changes(section: str) -> list[dict[str, str]]:
    """Artifact Hub `changes` from a Keep a Changelog section (one per `- ` item)."""
    out: list[dict[str, str]] = []
    kind = None
    for line in section.split("\n"):
        if line.startswith("### "):
            name = line[4:].strip()
            if name not in CHANGE_KINDS:
                raise Failure(f"CHANGELOG.md: group `### {name}` is not one of {', '.join(CHANGE_KINDS)}")
            kind = CHANGE_KINDS[name]
        elif line.startswith("- "):
            if kind is None:
                raise Failure(f"CHANGELOG.md: item outside a group: {line}")
            out.append({"kind": kind, "description": line[2:].strip()})
        elif line.startswith("  ") and out:
            out[-1]["description"] += " " + line.strip()
    return out


def crds() -> list[dict[str, str]]:
    yaml = yaml_module()
    out = []
    for f in sorted((ROOT / "crds").glob("*.yaml")):
        crd = yaml.safe_load(f.read_text())
        for v in crd["spec"]["versions"]:
            if not v.get("served"):
                continue
            out.append({
                "kind": crd["spec"]["names"]["kind"],
                "version": v["name"],
                "name": crd["metadata"]["name"],
                "displayName": crd["spec"]["names"]["kind"],
                "description": " ".join(v["schema"]["openAPIV3Schema"].get("description", "").split()),
            })
    return out


def crd_examples(kinds: list[str]) -> list[dict[str, Any]]:
    """The first object of each kind in examples/ (files in name order)."""
    yaml = yaml_module()
    found: dict[str, dict[str, Any]] = {}
    for f in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc and doc.get("kind") in kinds and doc["kind"] not in found:
                found[doc["kind"]] = doc
    return [found[k] for k in kinds if k in found]


def block(key: str, value: Any) -> str:
    """`  key: |` with the YAML of value indented below it."""
    text = yaml_module().safe_dump(value, sort_keys=False, width=1000, allow_unicode=True)
    return f"  {key}: |\n" + "".join(f"    {line}\n" if line else "\n" for line in text.rstrip("\n").split("\n"))


def annotations(version: str) -> str:
    """The generated `annotations:` block of Chart.yaml."""
    owner = REPO_URL.split("/")[-2]
    crd_list = crds()
    section = changelog_section(CHANGELOG.read_text(), version)
    out = ANNOTATIONS_MARKER + ANNOTATIONS_HEADER
    out += "  artifacthub.io/license: Apache-2.0\n"
    out += "  artifacthub.io/operator: \"true\"\n"
    out += f"  artifacthub.io/prerelease: \"{'true' if '-' in version else 'false'}\"\n"
    out += block("artifacthub.io/images", [{
        "name": IMAGE_NAME,
        "image": f"ghcr.io/{owner}/{IMAGE_NAME}:{version}",
        "platforms": list(PLATFORMS),
    }])
    out += block("artifacthub.io/links", [
        {"name": "source", "url": REPO_URL},
        {"name": "documentation", "url": f"{REPO_URL}/blob/v{version}/docs/install.md"},
        {"name": "changelog", "url": f"{REPO_URL}/blob/v{version}/CHANGELOG.md"},
    ])
    out += block("artifacthub.io/crds", crd_list)
    out += block("artifacthub.io/crdsExamples", crd_examples([c["kind"] for c in crd_list]))
    out += block("artifacthub.io/changes", changes(section))
    return out


def chart_with_annotations(text: str, version: str) -> str:
    i = text.find("\n" + ANNOTATIONS_MARKER)
    if i < 0:
        raise Failure("Chart.yaml: no top-level `annotations:` block (it must be the last key)")
    return text[: i + 1] + annotations(version)


# ---------------------------------------------------------------- crates and binaries


def check_publish(meta: dict[str, Any], run=subprocess.run) -> list[str]:
    """Crates not in PUBLISHED_CRATES must say `publish = false`; the others must package."""
    problems = []
    for p in workspace_packages(meta):
        publishable = p.get("publish") != []
        if p["name"] in PUBLISHED_CRATES:
            if not publishable:
                problems.append(f"{p['name']}: in PUBLISHED_CRATES but `publish = false`")
                continue
            res = run(["cargo", "package", "--locked", "--offline", "--no-verify", "--list", "-p", p["name"]],
                      cwd=ROOT, capture_output=True, text=True)
            if res.returncode != 0:
                problems.append(f"{p['name']}: cargo package --list failed:\n{res.stderr}")
        elif publishable:
            problems.append(
                f"{p['manifest_path']}: {p['name']} could be published to crates.io by accident: "
                "set `publish = false`, or add it to PUBLISHED_CRATES in hack/release_tool.py"
            )
    return problems


def release_artifacts(meta: dict[str, Any], require: bool) -> tuple[list[tuple[str, str, str]], list[str], list[str]]:
    """(package, bin, flags) of each release binary found; problems; notes."""
    bins = {}
    for p in workspace_packages(meta):
        for t in p["targets"]:
            if "bin" in t["kind"]:
                bins[t["name"]] = p["name"]
    found, problems, notes = [], [], []
    for name, flags in RELEASE_BINARIES:
        if name in bins:
            found.append((bins[name], name, flags))
        elif require or name not in PENDING_BINARIES:
            problems.append(f"release binary `{name}` is declared (hack/release_tool.py RELEASE_BINARIES) "
                            "but no workspace crate has a [[bin]] of that name")
        else:
            notes.append(f"note: release binary `{name}` is not in the workspace yet; a release fails until it is")
    return found, problems, notes


USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)(?:\s*#\s*(?P<comment>\S+))?", re.M)
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+$")


RUST_VERSION_ENV = re.compile(r'^\s*RUST_VERSION:\s*"?([0-9.]+)"?\s*$', re.M)
RUST_VERSION_ARG = re.compile(r"^ARG RUST_VERSION=([0-9.]+)\s*$", re.M)


def check_workflows(files: list[Path]) -> list[str]:
    """Every `uses:` is a full commit SHA with a `# vX.Y.Z` comment, one action has one SHA, and
    the workflows build with the Dockerfile's Rust toolchain."""
    problems, seen = [], {}
    docker = RUST_VERSION_ARG.findall((ROOT / "Dockerfile").read_text())
    if len(docker) != 1:
        problems.append("Dockerfile: expected one `ARG RUST_VERSION=x.y`")
    for f in files:
        for v in RUST_VERSION_ENV.findall(f.read_text()):
            if docker and v != docker[0]:
                problems.append(f"{f.relative_to(ROOT)}: RUST_VERSION {v} != the Dockerfile's {docker[0]}")
        for m in USES.finditer(f.read_text()):
            ref, comment = m.group("ref"), m.group("comment")
            where = f"{f.relative_to(ROOT)}: uses: {ref}"
            if ref.startswith("./"):
                continue
            if not PINNED.match(ref):
                problems.append(f"{where}: not pinned by a full commit SHA")
                continue
            if not comment or not VERSION_COMMENT.match(comment):
                problems.append(f"{where}: needs a `# vX.Y.Z` comment naming the release the SHA is")
            repo = "/".join(ref.split("@")[0].split("/")[:2])
            pin = (ref.split("@")[1], comment)
            if seen.setdefault(repo, pin) != pin:
                problems.append(f"{where}: {repo} is pinned to {seen[repo]} elsewhere")
    return problems


# ---------------------------------------------------------------- release


def check_tag(tag: str, repository: str) -> tuple[dict[str, str], list[str]]:
    """release.yml's first job: the tag is v<version>, the sources agree, what to publish where."""
    version = workspace_version()
    problems = []
    if tag != f"v{version}":
        problems.append(f"tag {tag} is not v{version}, the version of the sources (hack/bump-version.sh)")
    owner = repository.split("/")[0].lower()
    image = f"ghcr.io/{owner}/{IMAGE_NAME}"
    problems += check_versions()
    values = yaml_module().safe_load((CHART / "values.yaml").read_text())
    if values["image"]["repository"] != image:
        problems.append(f"values.yaml image.repository {values['image']['repository']} != {image}, "
                        "the image this repository publishes")
    outputs = {
        "version": version,
        "image": image,
        "chart-remote": f"oci://ghcr.io/{owner}/charts",
        "prerelease": "true" if "-" in version else "false",
    }
    return outputs, problems


def bump(version: str, day: str, git_cliff: str) -> None:
    """Sets the version everywhere and writes its CHANGELOG.md section from the commits."""
    if not SEMVER.match(version):
        raise Failure(f"{version!r} is not a semver version X.Y.Z")
    old = workspace_version()
    cargo = (ROOT / "Cargo.toml").read_text()
    start = cargo.index("[workspace.package]")
    end = cargo.index("\n[", start + 1)
    section = re.sub(r'(?m)^version = "[^"]*"', f'version = "{version}"', cargo[start:end], count=1)
    (ROOT / "Cargo.toml").write_text(cargo[:start] + section + cargo[end:])

    names = {p["name"] for p in workspace_packages(cargo_metadata())}
    lock = (ROOT / "Cargo.lock").read_text()
    for name in names:
        lock = re.sub(rf'(\[\[package\]\]\nname = "{re.escape(name)}"\nversion = )"[^"]*"\n(?!source)',
                      rf'\1"{version}"\n', lock)
    (ROOT / "Cargo.lock").write_text(lock)

    chart = (CHART / "Chart.yaml").read_text()
    chart = re.sub(r"(?m)^version: .*$", f"version: {version}", chart, count=1)
    chart = re.sub(r"(?m)^appVersion: .*$", f'appVersion: "{version}"', chart, count=1)
    (CHART / "Chart.yaml").write_text(chart)
    for rel in VERSION_LINE_FILES:
        p = ROOT / rel
        p.write_text(VERSION_LINE.sub(lambda m: m.group(1) + version, p.read_text()))
    docker = ROOT / "Dockerfile"
    docker.write_text(DOCKERFILE_TAG.sub(lambda m: m.group(1) + version, docker.read_text()))

    # The section: the commits since the last release tag, by cliff.toml.
    res = subprocess.run(
        [git_cliff, "--config", "cliff.toml", "--unreleased", "--tag", f"v{version}", "--strip", "all"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    body = res.stdout.strip()
    body = re.sub(r"(?m)^(## \[[^\]]+\]\([^)]*\)) - \d{4}-\d{2}-\d{2}$", rf"\1 - {day}", body, count=1)
    text = CHANGELOG.read_text()
    matches = list(SECTION.finditer(text))
    same = [m for m in matches if m.group("version") in (version, "Unreleased")]
    if same:  # replace the section of this version (or Unreleased) and keep the rest
        m = same[0]
        nxt = [n for n in matches if n.start() > m.start()]
        end = nxt[0].start() if nxt else len(text)
        text = text[: m.start()] + body + "\n\n" + text[end:]
    elif matches:
        text = text[: matches[0].start()] + body + "\n\n" + text[matches[0].start():]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    CHANGELOG.write_text(text.rstrip("\n") + "\n")

    (CHART / "Chart.yaml").write_text(chart_with_annotations((CHART / "Chart.yaml").read_text(), version))
    print(f"version {old} -> {version}: Cargo.toml, Cargo.lock, Chart.yaml (+ annotations), "
          f"{', '.join(VERSION_LINE_FILES)}, Dockerfile, CHANGELOG.md")


# ---------------------------------------------------------------- main


def report(problems: list[str], ok: str) -> int:
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    if not problems:
        print(ok)
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    cmd, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if cmd == "versions" and not args:
            return report(check_versions(), f"version {workspace_version()}: the same everywhere")
        if cmd == "chart-annotations" and args in ([], ["--check"]):
            path = CHART / "Chart.yaml"
            want = chart_with_annotations(path.read_text(), workspace_version())
            if args:
                return report([] if path.read_text() == want else
                              ["Chart.yaml annotations differ from CHANGELOG.md/crds/examples/version: "
                               "run python hack/release_tool.py chart-annotations"], "Chart.yaml annotations: up to date")
            path.write_text(want)
            return 0
        if cmd == "publish" and not args:
            return report(check_publish(cargo_metadata()), "crates: none publishable by accident (publish = false)")
        if cmd == "artifacts" and args in ([], ["--require"]):
            found, problems, notes = release_artifacts(cargo_metadata(), require=bool(args))
            for n in notes:
                print(n, file=sys.stderr)
            for row in found:
                print(" ".join(row).rstrip())
            return report(problems, "") if problems else 0
        if cmd == "workflows" and not args:
            files = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
            if not files:
                return report(["no workflows in .github/workflows"], "")
            return report(check_workflows(files), f"workflows: every action pinned by SHA, Rust {RUST_VERSION_ARG.findall((ROOT / 'Dockerfile').read_text())} ({len(files)} files)")
        if cmd == "check-tag" and len(args) == 2:
            outputs, problems = check_tag(args[0], args[1])
            if problems:
                return report(problems, "")
            for k, v in outputs.items():
                print(f"{k}={v}")
            return 0
        if cmd == "changelog-section" and len(args) == 1:
            sys.stdout.write(changelog_section(CHANGELOG.read_text(), args[0]))
            return 0
        if cmd == "bump" and args:
            version, day, cliff = args[0], date.today().isoformat(), os.environ.get("GIT_CLIFF", "git-cliff")
            rest = args[1:]
            while rest:
                if rest[0] == "--date" and len(rest) > 1:
                    day, rest = rest[1], rest[2:]
                elif rest[0] == "--git-cliff" and len(rest) > 1:
                    cliff, rest = rest[1], rest[2:]
                else:
                    raise Failure(f"unknown argument {rest[0]}")
            bump(version, day, cliff)
            return 0
    except Failure as e:
        return report([str(e)], "")
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
