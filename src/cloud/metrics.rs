//! Prometheus metrics of the cloud client.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `aliyun_backup_cloud_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// `dbs`, `rds`, `hbr`, `sts`.
    pub product: String,
    /// API action.
    pub action: String,
    /// `Success`, the Alibaba error code, or a local error name (`CloudTimeout`, …).
    pub code: String,
}

/// Labels of `aliyun_backup_cloud_request_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ActionLabels {
    /// Product.
    pub product: String,
    /// API action.
    pub action: String,
}

/// Labels of `aliyun_backup_cloud_throttled_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProductLabels {
    /// Product.
    pub product: String,
}

/// Labels of the credential breaker metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CredentialLabels {
    /// The credential's non-secret label (`ak-` + 8 hex digits of SHA-256 of the AccessKey
    /// id, or `default-chain`); see `cloud::breaker::credential_label`.
    pub credential: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// Metric families of the cloud client. Cheap to clone (shared state); register once.
///
/// * `aliyun_backup_cloud_requests_total{product,action,code}` — one per HTTP attempt.
/// * `aliyun_backup_cloud_request_duration_seconds{product,action}` — per attempt.
/// * `aliyun_backup_cloud_throttled_total{product}` — throttling responses received.
/// * `aliyun_backup_cloud_credential_breaker_open{credential}` — 1 while calls with a
///   credential Alibaba Cloud refused are held back (open or half-open), else 0.
/// * `aliyun_backup_cloud_credential_breaker_rejected_total{credential}` — calls not sent
///   because of it.
#[derive(Debug, Clone)]
pub struct CloudMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<ActionLabels, Histogram, fn() -> Histogram>,
    throttled: Family<ProductLabels, Counter>,
    breaker_open: Family<CredentialLabels, Gauge>,
    breaker_rejected: Family<CredentialLabels, Counter>,
}

impl Default for CloudMetrics {
    fn default() -> Self {
        let m = CloudMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            throttled: Family::default(),
            breaker_open: Family::default(),
            breaker_rejected: Family::default(),
        };
        // A family without a series is not exported at all; the breaker families start with
        // the operator's own credentials (`default-chain`: not refused, nothing held back), so
        // that the alert's metric exists before the first refusal.
        m.set_breaker_open(super::breaker::DEFAULT_CHAIN_LABEL, 0);
        drop(m.breaker_rejected.get_or_create(&CredentialLabels {
            credential: super::breaker::DEFAULT_CHAIN_LABEL.to_string(),
        }));
        m
    }
}

impl CloudMetrics {
    /// New, unregistered metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the families in `registry` (names get the `aliyun_backup_cloud_` prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "aliyun_backup_cloud_requests",
            "Alibaba Cloud API requests by product, action and result code",
            self.requests.clone(),
        );
        registry.register(
            "aliyun_backup_cloud_request_duration_seconds",
            "Duration of Alibaba Cloud API requests",
            self.duration.clone(),
        );
        registry.register(
            "aliyun_backup_cloud_throttled",
            "Throttling responses from Alibaba Cloud APIs",
            self.throttled.clone(),
        );
        registry.register(
            "aliyun_backup_cloud_credential_breaker_open",
            "Credentials Alibaba Cloud refused, whose calls are held back (1 = breaker open)",
            self.breaker_open.clone(),
        );
        registry.register(
            "aliyun_backup_cloud_credential_breaker_rejected",
            "Calls not sent because their credentials' breaker is open",
            self.breaker_rejected.clone(),
        );
    }

    /// Sets the open-breaker gauge of a credential label (the number of refused
    /// fingerprints with that label: 0 or, rarely, more than 1).
    pub fn set_breaker_open(&self, credential: &str, open: i64) {
        self.breaker_open
            .get_or_create(&CredentialLabels {
                credential: credential.to_string(),
            })
            .set(open);
    }

    /// Records one call held back by an open breaker.
    pub fn breaker_rejected(&self, credential: &str) {
        self.breaker_rejected
            .get_or_create(&CredentialLabels {
                credential: credential.to_string(),
            })
            .inc();
    }

    /// Current value of the open-breaker gauge of a credential label.
    pub fn breaker_open(&self, credential: &str) -> i64 {
        self.breaker_open
            .get_or_create(&CredentialLabels {
                credential: credential.to_string(),
            })
            .get()
    }

    /// Calls held back so far for a credential label.
    pub fn breaker_rejected_count(&self, credential: &str) -> u64 {
        self.breaker_rejected
            .get_or_create(&CredentialLabels {
                credential: credential.to_string(),
            })
            .get()
    }

    /// Records one finished attempt.
    pub fn observe(&self, product: &str, action: &str, code: &str, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                product: product.to_string(),
                action: action.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.duration
            .get_or_create(&ActionLabels {
                product: product.to_string(),
                action: action.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records one throttling response.
    pub fn throttled(&self, product: &str) {
        self.throttled
            .get_or_create(&ProductLabels {
                product: product.to_string(),
            })
            .inc();
    }

    /// Current value of `requests_total` for the labels (for tests and diagnostics).
    pub fn requests_count(&self, product: &str, action: &str, code: &str) -> u64 {
        self.requests
            .get_or_create(&RequestLabels {
                product: product.to_string(),
                action: action.to_string(),
                code: code.to_string(),
            })
            .get()
    }

    /// Current value of `throttled_total` for the product.
    pub fn throttled_count(&self, product: &str) -> u64 {
        self.throttled
            .get_or_create(&ProductLabels {
                product: product.to_string(),
            })
            .get()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_and_labels() {
        let m = CloudMetrics::new();
        let mut registry = Registry::default();
        m.register(&mut registry);
        m.observe("rds", "CreateBackup", "Success", Duration::from_millis(30));
        m.observe(
            "rds",
            "CreateBackup",
            "Throttling.User",
            Duration::from_millis(5),
        );
        m.throttled("rds");
        m.set_breaker_open("ak-0123abcd", 1);
        m.breaker_rejected("ak-0123abcd");
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(
            out.contains(
                r#"aliyun_backup_cloud_requests_total{product="rds",action="CreateBackup",code="Success"} 1"#
            ),
            "{out}"
        );
        assert!(out.contains(
            r#"aliyun_backup_cloud_requests_total{product="rds",action="CreateBackup",code="Throttling.User"} 1"#
        ));
        assert!(out.contains(
            r#"aliyun_backup_cloud_request_duration_seconds_count{product="rds",action="CreateBackup"} 2"#
        ));
        assert!(out.contains(r#"aliyun_backup_cloud_throttled_total{product="rds"} 1"#));
        assert!(out.contains(
            r#"aliyun_backup_cloud_credential_breaker_open{credential="ak-0123abcd"} 1"#
        ));
        assert!(out.contains(
            r#"aliyun_backup_cloud_credential_breaker_rejected_total{credential="ak-0123abcd"} 1"#
        ));
        assert_eq!(m.requests_count("rds", "CreateBackup", "Success"), 1);
        assert_eq!(m.throttled_count("rds"), 1);
    }
}
