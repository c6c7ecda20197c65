#!/usr/bin/env bash
# Sets the release version everywhere and writes its CHANGELOG.md section:
#
#   hack/bump-version.sh 0.2.0 [--date YYYY-MM-DD]
#
# Cargo.toml's [workspace.package] version (every crate inherits it) and Cargo.lock, the chart's
# version and appVersion (so the default image tag), Chart.yaml's Artifact Hub annotations, the
# VERSION= lines of README.md and docs/install.md, the Dockerfile's example tag; the section of
# CHANGELOG.md from the commits since the last release tag (git-cliff with cliff.toml; run it
# again with the same version to refresh the section); then the chart README and deploy/.
# Review the diff, commit ("chore(release): v0.2.0"), push, and push the tag v0.2.0.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[[ $# -ge 1 ]] || { sed -n '2,11p' "$0" >&2; exit 2; }
py="$(hack/helm-venv.sh)"
bin="$(hack/release-venv.sh)"
"$py" hack/release_tool.py bump "$@" --git-cliff "$bin/git-cliff"
"$py" hack/chart_readme.py
hack/render-deploy.sh
"$py" hack/release_tool.py versions
