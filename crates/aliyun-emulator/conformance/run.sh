#!/usr/bin/env bash
# SDK conformance: drive aliyun-emulator with Alibaba's official Python SDK packages.
# Usage (from anywhere): bash crates/aliyun-emulator/conformance/run.sh [pytest args]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="$root/.venv/conformance"
python="${PYTHON:-python3}"
cd "$root"

# Project-local virtualenv, reused when the requirements did not change.
stamp="$venv/.installed"
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
if [[ ! -f "$stamp" ]] || ! cmp -s "$here/requirements.txt" "$stamp"; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi

cargo build --quiet -p aliyun-emulator --bin aliyun-emulator
bin="${CARGO_TARGET_DIR:-$root/target}/debug/aliyun-emulator"

out="$(mktemp)"
"$bin" --listen 127.0.0.1:0 --credential testid:testsecret --rds-instance rm-demo01 \
    --ecs-instance i-demo01 --job-duration 5s >"$out" 2>"$out.err" &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$out" "$out.err"
}
trap cleanup EXIT

endpoint=""
for _ in $(seq 1 100); do
    endpoint="$(head -n1 "$out" 2>/dev/null || true)"
    [[ -n "$endpoint" ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "aliyun-emulator exited early:" >&2
        cat "$out.err" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$endpoint" ]]; then
    echo "aliyun-emulator did not print its address" >&2
    exit 1
fi

export EMULATOR_ENDPOINT="$endpoint"
cd "$here"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
