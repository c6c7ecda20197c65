#!/usr/bin/env bash
# Chart checks with the real Helm engine (helm-python-sdk, Helm v4 Go SDK), for `make test`:
#   1. helm lint --strict with default and non-default values (hack/chart-values/*.yaml)
#   2. pytest hack/test_chart.py: renders and asserts the security context, probes, RBAC,
#      args, credentials wiring, monitoring objects, GitOps files
#   3. drift: charts/aliyun-backup-operator/crds/ == crds/, deploy/ == a fresh render,
#      docs/gitops/argocd-cm-patch.yaml == files/argocd-health.lua; kubectl kustomize deploy/
# Exits non-zero on any failure. Fix drift with hack/render-deploy.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
py="$("$root/hack/helm-venv.sh")"
status=0

echo "== helm lint"
"$py" hack/chart_tool.py lint hack/chart-values/*.yaml || status=1

echo "== chart tests"
"$py" -m pytest -q -p no:cacheprovider hack/test_chart.py || status=1

echo "== drift"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" hack/chart_tool.py sync-crds "${CRDS_DIR:-crds}" "$tmp/chart-crds"
if ! diff -r "$tmp/chart-crds" charts/aliyun-backup-operator/crds; then
  echo "charts/aliyun-backup-operator/crds/ differs from crds/: run hack/render-deploy.sh" >&2
  status=1
fi
"$py" hack/chart_tool.py render-deploy "$tmp/deploy"
if ! diff -r "$tmp/deploy" deploy; then
  echo "deploy/ differs from a fresh render of the chart: run hack/render-deploy.sh" >&2
  status=1
fi
"$py" hack/chart_tool.py argocd-patch "$tmp/argocd-cm-patch.yaml"
if ! diff "$tmp/argocd-cm-patch.yaml" docs/gitops/argocd-cm-patch.yaml; then
  echo "docs/gitops/argocd-cm-patch.yaml differs from files/argocd-health.lua: run hack/render-deploy.sh" >&2
  status=1
fi
if command -v kubectl >/dev/null 2>&1; then
  # kubectl's built-in kustomize builds deploy/ offline, as `kubectl apply -k deploy/` would.
  if ! kubectl kustomize deploy > "$tmp/kustomized.yaml"; then
    echo "kubectl kustomize deploy/ failed" >&2
    status=1
  fi
fi

if [[ $status -ne 0 ]]; then
  echo "chart checks FAILED" >&2
else
  echo "chart checks passed"
fi
exit $status
