# syntax=docker/dockerfile:1
# Container image of the operator: the release binary without the `sandbox` feature
# (no kube-sandbox, no aliyun-emulator), on distroless, as a non-root user.
#
#   docker build -t ghcr.io/aliyun-backup-operator/aliyun-backup-operator:0.1.0 .

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# The whole workspace: cargo needs every member's manifest, and Cargo.lock pins all versions.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features \
        --package aliyun-backup-operator --bin aliyun-backup-operator \
 && install -D -m 0755 target/release/aliyun-backup-operator /out/aliyun-backup-operator

# glibc + libgcc + CA certificates, no shell; user 65532 (nonroot).
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="aliyun-backup-operator" \
      org.opencontainers.image.description="Kubernetes operator for Alibaba Cloud DBS, RDS and HBR backups" \
      org.opencontainers.image.source="https://github.com/aliyun-backup-operator/aliyun-backup-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/aliyun-backup-operator /usr/local/bin/aliyun-backup-operator
COPY LICENSE NOTICE /usr/share/doc/aliyun-backup-operator/
USER 65532:65532
# metrics, health
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/aliyun-backup-operator"]
CMD ["run"]
