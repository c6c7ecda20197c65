#!/usr/bin/env bash
# Prints the path of a docker-registry binary (the CNCF Distribution registry, Debian's package
# `docker-registry`) for the chart's OCI push/pull round trip (hack/chart_release.py check).
# Fetched once with `apt-get download` and unpacked into .venv/oci-registry; nothing is installed
# system-wide and no service is started. Needs a Debian/Ubuntu machine with apt (the project's
# machines and CI are Debian 12); runs `apt-get update` first when the package lists lack it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.venv/oci-registry"
bin="$dir/usr/bin/docker-registry"

if [[ ! -x "$bin" ]]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "oci-registry: apt-get not found: the OCI round trip needs Debian's docker-registry package" >&2
    exit 1
  fi
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  chmod 0755 "$tmp"
  fetch() { (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root docker-registry) >&2; }
  if ! fetch; then
    echo "oci-registry: refreshing the package lists (apt-get update)" >&2
    apt-get update -q >&2
    fetch
  fi
  mkdir -p "$dir"
  dpkg-deb -x "$tmp"/docker-registry_*.deb "$dir"
fi
"$bin" --version >&2
echo "$bin"
