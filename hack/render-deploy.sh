#!/usr/bin/env bash
# Regenerates what is derived from the chart and from crds/:
#   charts/aliyun-backup-operator/crds/  <- crds/ (exact copy)
#   deploy/                              <- the chart rendered with default values + crds/
#   docs/gitops/argocd-cm-patch.yaml     <- files/argocd-health.lua for every kind (chart_tool.GITOPS_KINDS)
# with the real Helm engine (helm-python-sdk in .venv/helm).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="$("$root/hack/helm-venv.sh")"
"$py" "$root/hack/chart_tool.py" sync-crds "${CRDS_DIR:-$root/crds}" "$root/charts/aliyun-backup-operator/crds"
"$py" "$root/hack/chart_tool.py" render-deploy "$root/deploy"
"$py" "$root/hack/chart_tool.py" argocd-patch "$root/docs/gitops/argocd-cm-patch.yaml"
echo "regenerated charts/aliyun-backup-operator/crds/, deploy/ and docs/gitops/argocd-cm-patch.yaml"
