//! Reconcile metrics (prometheus-client), exported on `/metrics`.
//!
//! * `aliyun_backup_reconcile_total{kind}` — reconcile runs
//! * `aliyun_backup_reconcile_errors_total{kind,error}` — failed runs by fixed error name
//! * `aliyun_backup_reconcile_duration_seconds{kind}` — run duration histogram
//!
//! Labels are low-cardinality: `kind` is the CR kind, `error` is `Error::name()`.

use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label set `{kind}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// CR kind, e.g. `RdsBackup`.
    pub kind: String,
}

/// Label set `{kind, error}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// CR kind, e.g. `RdsBackup`.
    pub kind: String,
    /// Fixed error name, e.g. `CloudThrottled`.
    pub error: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The operator's metrics and the registry they live in.
pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Family<KindLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: Family<KindLabels, Histogram, fn() -> Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics in a fresh registry. The registry has no prefix (other components
    /// register fully named metrics in it); ours are named `aliyun_backup_reconcile*`.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<KindLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let duration = Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register(
            "aliyun_backup_reconcile",
            "Reconcile runs",
            reconciles.clone(),
        );
        registry.register(
            "aliyun_backup_reconcile_errors",
            "Failed reconcile runs by error name",
            errors.clone(),
        );
        registry.register(
            "aliyun_backup_reconcile_duration_seconds",
            "Reconcile duration in seconds",
            duration.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            reconciles,
            errors,
            duration,
        }
    }

    /// Lets another component (the cloud client) register its metrics in the same registry.
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> Option<R> {
        self.registry.lock().ok().map(|mut r| f(&mut r))
    }

    /// Starts measuring one reconcile of `kind`; the run is counted now and timed until the
    /// returned guard is dropped.
    pub fn reconcile_started(&self, kind: &str) -> ReconcileTimer<'_> {
        let labels = KindLabels {
            kind: kind.to_string(),
        };
        self.reconciles.get_or_create(&labels).inc();
        ReconcileTimer {
            metrics: self,
            labels,
            start: Instant::now(),
        }
    }

    /// Counts one failed reconcile of `kind` with error name `error`.
    pub fn reconcile_failed(&self, kind: &str, error: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                kind: kind.to_string(),
                error: error.to_string(),
            })
            .inc();
    }

    /// Number of reconcile runs of `kind` so far.
    pub fn reconcile_count(&self, kind: &str) -> u64 {
        self.reconciles
            .get(&KindLabels {
                kind: kind.to_string(),
            })
            .map(|c| c.get())
            .unwrap_or(0)
    }

    /// Number of failed runs of `kind` with error name `error` so far.
    pub fn error_count(&self, kind: &str, error: &str) -> u64 {
        self.errors
            .get(&ErrorLabels {
                kind: kind.to_string(),
                error: error.to_string(),
            })
            .map(|c| c.get())
            .unwrap_or(0)
    }

    /// The registry in the Prometheus text exposition format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        match self.registry.lock() {
            Ok(registry) => prometheus_client::encoding::text::encode(&mut out, &registry)?,
            Err(_) => return Err(std::fmt::Error),
        }
        Ok(out)
    }
}

/// Times one reconcile; records the duration when dropped.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    labels: KindLabels,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .get_or_create(&self.labels)
            .observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_encodes() {
        let m = Metrics::new();
        {
            let _t = m.reconcile_started("RdsBackup");
        }
        m.reconcile_failed("RdsBackup", "CloudThrottled");
        assert_eq!(m.reconcile_count("RdsBackup"), 1);
        assert_eq!(m.error_count("RdsBackup", "CloudThrottled"), 1);
        let text = m.encode().unwrap();
        assert!(
            text.contains("aliyun_backup_reconcile_total{kind=\"RdsBackup\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "aliyun_backup_reconcile_errors_total{kind=\"RdsBackup\",error=\"CloudThrottled\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("aliyun_backup_reconcile_duration_seconds_count{kind=\"RdsBackup\"} 1"),
            "{text}"
        );
    }
}
