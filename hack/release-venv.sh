#!/usr/bin/env bash
# Creates (or reuses) the project-local virtualenv .venv/release with the pinned tools of
# hack/requirements-release.txt (check-jsonschema, zizmor, git-cliff). Idempotent: reinstalls
# only when the requirements change. Prints the venv's bin directory on stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv/release"
req="$root/hack/requirements-release.txt"
python="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv" >&2
fi
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin"
