//! In-memory Kubernetes API server (filled by issue 4).
