#!/usr/bin/env bash
# cargo-deny for `make test`: licenses, bans and sources of every crate in Cargo.lock against
# deny.toml, without the network (`--offline`; advisories need the RustSec database, see below).
#
#   hack/cargo-deny.sh                 # check licenses bans sources (offline)
#   hack/cargo-deny.sh advisories      # check advisories (fetches the RustSec database)
#
# cargo-deny is built from crates.io once (`cargo install --locked`, pinned version) into the
# project-local tool dir .venv/cargo-tools and reused. PyPI's cargo-deny (0.14.2, 2023) cannot
# read this workspace's Cargo.lock, so it is not used. The build takes about 4 minutes of one
# core's time on the development machine (2 cores), once per clone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
version="0.20.2"
tools="$root/.venv/cargo-tools"
deny="$tools/bin/cargo-deny"

if [[ ! -x "$deny" ]] || [[ "$("$deny" --version 2>/dev/null)" != "cargo-deny $version" ]]; then
  echo "installing cargo-deny $version into .venv/cargo-tools (once)" >&2
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' EXIT
  start=$SECONDS
  # Without the crate's fat LTO and single codegen unit: the same checks, a much shorter build.
  CARGO_TARGET_DIR="$build" CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install --quiet --locked --force "cargo-deny@$version" --root "$tools"
  echo "installed cargo-deny $version in $((SECONDS - start)) s" >&2
fi

# Errors only (`--log-level error`): the duplicate-version warnings of deny.toml's `bans` are
# shown by `.venv/cargo-tools/bin/cargo-deny check bans`.
# cargo-deny reads the crate graph through `cargo metadata`, which needs every crate of
# Cargo.lock (all platforms) downloaded; a no-op when they are.
cargo fetch --locked --quiet

if [[ "${1:-}" == "advisories" ]]; then
  exec "$deny" --log-level error --locked check --hide-inclusion-graph advisories
fi
exec "$deny" --log-level error --offline --locked check --hide-inclusion-graph licenses bans sources
