//! Prometheus metrics, served by the admin listener at `/metrics`.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `islet_requests_total` | `tenant`, `outcome` | requests by how they ended |
//! | `islet_unrouted_requests_total` | | requests no route matched |
//! | `islet_cpu_seconds_total` | `tenant` | CPU time charged to requests |
//! | `islet_isolates` | `engine` | live isolates |
//! | `islet_isolate_memory_bytes` | `engine` | memory held by live isolates |
//! | `islet_evictions_total` | `reason` | isolates dropped: `memory-target`, `exceeded-memory`, `failed`, `quarantine` |
//! | `islet_cold_starts_total` | `engine` | isolates created |
//! | `islet_cold_start_seconds` | `engine` | time to create an isolate |

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::engine::EngineKind;
use crate::outcome::Outcome;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    tenant: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EngineLabels {
    engine: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Why an isolate was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionReason {
    /// The process was over `server.memory_target_mb`.
    MemoryTarget,
    /// The isolate outgrew its own `memory_mb`.
    ExceededMemory,
    /// Its state could not be trusted after a failure.
    Failed,
    /// Its tenant was moved to a quarantine thread.
    Quarantine,
}

impl EvictionReason {
    fn as_str(self) -> &'static str {
        match self {
            EvictionReason::MemoryTarget => "memory-target",
            EvictionReason::ExceededMemory => "exceeded-memory",
            EvictionReason::Failed => "failed",
            EvictionReason::Quarantine => "quarantine",
        }
    }
}

/// The host's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    unrouted: Counter,
    cpu_seconds: Family<TenantLabels, Counter<f64, AtomicU64>>,
    isolates: Family<EngineLabels, Gauge>,
    isolate_memory: Family<EngineLabels, Gauge>,
    evictions: Family<ReasonLabels, Counter>,
    cold_starts: Family<EngineLabels, Counter>,
    cold_start_seconds: Family<EngineLabels, Histogram>,
}

fn cold_start_histogram() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("islet");
        let requests = Family::default();
        registry.register(
            "requests",
            "Requests by tenant and outcome",
            requests.clone(),
        );
        let unrouted = Counter::default();
        registry.register(
            "unrouted_requests",
            "Requests no route matched",
            unrouted.clone(),
        );
        let cpu_seconds = Family::default();
        registry.register(
            "cpu_seconds",
            "CPU time charged to requests, by tenant",
            cpu_seconds.clone(),
        );
        let isolates = Family::default();
        registry.register("isolates", "Live isolates by engine", isolates.clone());
        let isolate_memory = Family::default();
        registry.register(
            "isolate_memory_bytes",
            "Memory held by live isolates, by engine",
            isolate_memory.clone(),
        );
        let evictions = Family::default();
        registry.register(
            "evictions",
            "Isolates dropped, by reason",
            evictions.clone(),
        );
        let cold_starts = Family::default();
        registry.register(
            "cold_starts",
            "Isolates created, by engine",
            cold_starts.clone(),
        );
        let cold_start_seconds = Family::<EngineLabels, Histogram>::new_with_constructor(
            cold_start_histogram as fn() -> Histogram,
        );
        registry.register(
            "cold_start_seconds",
            "Time to create an isolate, by engine",
            cold_start_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            unrouted,
            cpu_seconds,
            isolates,
            isolate_memory,
            evictions,
            cold_starts,
            cold_start_seconds,
        }
    }
}

impl Metrics {
    /// Counts a finished request.
    pub fn request(&self, tenant: Option<&str>, outcome: Outcome) {
        match tenant {
            Some(tenant) => self
                .requests
                .get_or_create(&RequestLabels {
                    tenant: tenant.to_string(),
                    outcome: outcome.as_str(),
                })
                .inc(),
            None => self.unrouted.inc(),
        };
    }

    /// Adds CPU time charged to a tenant.
    pub fn cpu(&self, tenant: &str, seconds: f64) {
        self.cpu_seconds
            .get_or_create(&TenantLabels {
                tenant: tenant.to_string(),
            })
            .inc_by(seconds);
    }

    /// Records a created isolate and how long creating it took.
    pub fn cold_start(&self, engine: EngineKind, seconds: f64) {
        let labels = EngineLabels {
            engine: engine.as_str(),
        };
        self.cold_starts.get_or_create(&labels).inc();
        self.cold_start_seconds
            .get_or_create(&labels)
            .observe(seconds);
        self.isolates.get_or_create(&labels).inc();
    }

    /// Records a dropped isolate and the memory it held.
    pub fn isolate_dropped(
        &self,
        engine: EngineKind,
        bytes: usize,
        reason: Option<EvictionReason>,
    ) {
        let labels = EngineLabels {
            engine: engine.as_str(),
        };
        self.isolates.get_or_create(&labels).dec();
        self.isolate_memory
            .get_or_create(&labels)
            .dec_by(bytes as i64);
        if let Some(reason) = reason {
            self.evictions
                .get_or_create(&ReasonLabels {
                    reason: reason.as_str(),
                })
                .inc();
        }
    }

    /// Records a change in an isolate's memory.
    pub fn memory_changed(&self, engine: EngineKind, before: usize, after: usize) {
        let gauge = self.isolate_memory.get_or_create(&EngineLabels {
            engine: engine.as_str(),
        });
        gauge.inc_by(after as i64 - before as i64);
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
