# `make test` is the project's one test command; .ci/run calls it.
# Python-based checks install what they need into project-local virtualenvs under .venv/.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test fmt-check clippy test-rust conformance chart-check release-check deny deny-advisories crds deploy

test: fmt-check clippy test-rust conformance chart-check release-check

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Unit and integration tests of every crate (includes the crds/ drift test and the
# GitOps health-check tests).
test-rust:
	$(CARGO) test --workspace

# Tier 3: Alibaba's official Python SDKs drive aliyun-emulator.
conformance:
	bash crates/aliyun-emulator/conformance/run.sh

# Helm lint/render with the real Helm engine, chart assertions, crds/ and deploy/ drift.
chart-check:
	bash hack/chart-check.sh

# One version everywhere, changelog, chart README/annotations, helm package + OCI round trip,
# workflow schema/zizmor/pins, the release tools' tests, cargo-deny (hack/release-check.sh).
release-check:
	bash hack/release-check.sh

# Licenses, bans and sources of every crate in Cargo.lock (deny.toml), offline.
deny:
	bash hack/cargo-deny.sh
# RustSec advisories (fetches the advisory database; not in `make test`, run by ci.yml).
deny-advisories:
	bash hack/cargo-deny.sh advisories

# Regenerate the generated artifacts.
crds:
	UPDATE_CRDS=1 $(CARGO) test -p aliyun-backup-operator --lib crds_dir_is_up_to_date
deploy: crds
	bash hack/render-deploy.sh
