"""Writes the chart's README.md from Chart.yaml and the `# --` comments of values.yaml.

    python hack/chart_readme.py            # rewrite charts/aliyun-backup-operator/README.md
    python hack/chart_readme.py --check    # exit 1 if README.md differs (make release-check)

values.yaml documents a key with a comment that starts with `# --` right above it (more `#`
lines continue it), as helm-docs reads them. A documented key is listed with its type, its
default and the comment; the keys below a documented mapping are part of its default. Every
other mapping is walked into, and a value that no `# --` comment covers is an error: each
value a user can set has a description.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "aliyun-backup-operator"
REPO = "https://github.com/aliyun-backup-operator/aliyun-backup-operator"
CHART_OCI = "oci://ghcr.io/aliyun-backup-operator/charts/aliyun-backup-operator"

KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+|\"[^\"]+\"):(?:\s|$)")


@dataclass
class Doc:
    path: tuple[str, ...]
    description: str
    line: int


def parse_comments(text: str) -> list[Doc]:
    """The keys of a values.yaml text that carry a `# --` comment, in file order."""
    docs: list[Doc] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing mappings
    pending: list[str] | None = None  # the `# --` comment being read
    skip_below: int | None = None  # indent of a documented key whose children are its default
    for n, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped:
            pending = None
            continue
        indent = len(line) - len(line.lstrip(" "))
        if skip_below is not None and indent > skip_below:
            continue
        skip_below = None
        if stripped.startswith("#"):
            body = stripped[1:]
            if body.startswith(" --") or body == " --" or body.startswith("--"):
                pending = [body.lstrip()[2:].strip()]
            elif pending is not None:
                pending.append(body.strip())
            continue
        m = KEY.match(line)
        if not m:
            # A list item or a continued scalar: part of the value above.
            pending = None
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = m.group("key").strip('"')
        path = tuple(k for _, k in stack) + (key,)
        if pending is not None:
            description = " ".join(p for p in pending if p).strip()
            if not description:
                raise SystemExit(f"values.yaml:{n}: `# --` comment of {'.'.join(path)} is empty")
            docs.append(Doc(path, description, n))
            skip_below = indent
        else:
            stack.append((indent, key))
        pending = None
    return docs


def lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        node = node[key]
    return node


def undocumented(values: Any, docs: list[Doc], prefix: tuple[str, ...] = ()) -> list[str]:
    """Values that no `# --` comment covers (itself or a documented mapping above it)."""
    documented = {d.path for d in docs}
    if prefix in documented:
        return []
    if isinstance(values, dict) and values:
        out: list[str] = []
        for key, value in values.items():
            out += undocumented(value, docs, prefix + (str(key),))
        return out
    return [".".join(prefix)]


def type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def cell(text: str) -> str:
    """Text for one Markdown table cell."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def values_table(text: str) -> str:
    values = yaml.safe_load(text) or {}
    docs = parse_comments(text)
    for d in docs:
        try:
            lookup(values, d.path)
        except (KeyError, TypeError):
            raise SystemExit(f"values.yaml:{d.line}: documented key {'.'.join(d.path)} is not in the values") from None
    missing = undocumented(values, docs)
    if missing:
        raise SystemExit(
            "values.yaml: no `# --` description for: " + ", ".join(missing)
            + " (document each value with a `# --` comment above it, or above its parent mapping)"
        )
    rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for d in docs:
        value = lookup(values, d.path)
        default = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        rows.append(f"| `{'.'.join(d.path)}` | {type_of(value)} | `{cell(default)}` | {cell(d.description)} |")
    return "\n".join(rows) + "\n"


def render() -> str:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values_text = (CHART / "values.yaml").read_text()
    version = chart["version"]
    return f"""# {chart["name"]}

<!-- Generated by hack/chart_readme.py from Chart.yaml and the `# --` comments of values.yaml.
     Do not edit: `make test` fails when this file differs from a fresh generation. -->

{chart["description"]}.

| Chart version | App (operator) version | Kubernetes | License |
|---|---|---|---|
| `{version}` | `{chart["appVersion"]}` | `{chart["kubeVersion"]}` | {chart["annotations"]["artifacthub.io/license"]} |

Source, documentation and changelog: <{REPO}>.

## Install

```sh
helm install aliyun-backup-operator {CHART_OCI} \\
  --version {version} --namespace aliyun-backup-operator --create-namespace
```

The chart and the image `ghcr.io/aliyun-backup-operator/aliyun-backup-operator:{chart["appVersion"]}`
(linux/amd64, linux/arm64) are signed with cosign (keyless, by the release workflow); how to
verify them, the SBOM and the provenance is in
[docs/install.md]({REPO}/blob/v{version}/docs/install.md#verify-what-you-install).

## Upgrade

Helm installs the CRDs of `crds/` on the first install only and never upgrades them. Apply the
CRDs of the new version first, then upgrade the release:

```sh
helm pull {CHART_OCI} --version {version} --untar --untardir /tmp/abo
kubectl apply --server-side --force-conflicts -f /tmp/abo/aliyun-backup-operator/crds/
helm upgrade aliyun-backup-operator {CHART_OCI} --version {version} \\
  --namespace aliyun-backup-operator --reset-then-reuse-values
```

(`--reset-then-reuse-values`, Helm 3.14 or newer: your values over the new chart's defaults.)

## Values

`values.schema.json` rejects unknown keys and wrong types; contradictory values fail the render
with a message saying what to change. The image tag defaults to the chart's appVersion; a
digest (`image.digest`) wins over the tag.

{values_table(values_text)}"""


def main(argv: list[str]) -> int:
    out = CHART / "README.md"
    text = render()
    if argv == ["--check"]:
        if not out.exists() or out.read_text() != text:
            print(f"{out.relative_to(ROOT)} differs from values.yaml/Chart.yaml: run python hack/chart_readme.py", file=sys.stderr)
            return 1
        print("chart README.md: up to date")
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
