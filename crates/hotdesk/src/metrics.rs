//! `GET /metrics`: what the operator's monitoring reads (README "Metrics").
//!
//! Three kinds of figures, each from where it is true:
//! - counted by this node as requests are answered (`hotdesk_em_requests_total`, the
//!   durations, `hotdesk_phone_requests_total`, `hotdesk_busy_total`);
//! - counted from the outbox as events commit ([`Metrics::observe`], fed by
//!   `domain/feed.rs`): `hotdesk_auto_logouts_total`, `hotdesk_pin_lockouts_total`. These see
//!   every node's events, so on a cluster each node reports the database's count;
//! - read at each scrape: the gauges from the store (one statement), and the counters other
//!   parts already keep (group commit, writes in flight, argon2 runs).
//!
//! Names and labels are a contract: dashboards and alerts are built on them.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::{EmService, Event, EventKind, Gauges, Store, secrets};

/// The content type of the exposition (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationCode {
    operation: &'static str,
    /// The EM error code; 0 for a success.
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Operation {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodCode {
    method: &'static str,
    /// The admin API's error code; 0 for a success.
    code: u32,
}

/// One node's metrics. Each server has its own (tests run several in one process).
pub struct Metrics {
    registry: Registry,
    em_requests: Family<OperationCode, Counter>,
    em_duration: Family<Operation, Histogram>,
    phone_requests: Family<Code, Counter>,
    admin_requests: Family<MethodCode, Counter>,
    busy: Counter,
    auto_logouts: Counter,
    pin_lockouts: Counter,
    logged_in: Gauge,
    pending_deadlines: Gauge,
    admin_sessions: Gauge,
    event_backlog: Gauge,
    /// Serializes scrapes: the gauges are set, then encoded.
    scrape: tokio::sync::Mutex<()>,
}

/// EM request durations: 0.5 ms to about 4 s.
fn duration_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

impl Metrics {
    pub fn new(em: Arc<EmService>, store: Arc<dyn Store>) -> Metrics {
        let mut registry = Registry::default();
        let em_requests = Family::<OperationCode, Counter>::default();
        let em_duration =
            Family::<Operation, Histogram>::new_with_constructor(duration_buckets as fn() -> _);
        let phone_requests = Family::<Code, Counter>::default();
        let admin_requests = Family::<MethodCode, Counter>::default();
        let (busy, auto_logouts, pin_lockouts) = Default::default();
        let (logged_in, pending_deadlines, admin_sessions, event_backlog) = Default::default();
        // A counter's name is given without `_total`: the encoder appends it.
        registry.register(
            "hotdesk_em_requests",
            "EM API requests answered, by operation and EM code (0: success)",
            em_requests.clone(),
        );
        registry.register(
            "hotdesk_em_request_duration_seconds",
            "Time to answer an EM API request, by operation",
            em_duration.clone(),
        );
        registry.register(
            "hotdesk_phone_requests",
            "Phone service requests answered, by EM code (0: success)",
            phone_requests.clone(),
        );
        registry.register(
            "hotdesk_admin_requests",
            "Admin API methods answered, by method and error code (0: success)",
            admin_requests.clone(),
        );
        registry.register(
            "hotdesk_busy",
            "EM and phone writes refused with code 26 because too many were in flight",
            Counter::clone(&busy),
        );
        registry.register(
            "hotdesk_auto_logouts",
            "Logins ended by their deadline (from the outbox: the whole database's)",
            Counter::clone(&auto_logouts),
        );
        registry.register(
            "hotdesk_pin_lockouts",
            "Users locked out at the phone after too many wrong PINs (from the outbox)",
            Counter::clone(&pin_lockouts),
        );
        registry.register(
            "hotdesk_logged_in",
            "Devices with a login now",
            Gauge::clone(&logged_in),
        );
        registry.register(
            "hotdesk_pending_deadlines",
            "Logins with a deadline still to come",
            Gauge::clone(&pending_deadlines),
        );
        registry.register(
            "hotdesk_admin_sessions",
            "Admin API sessions open now",
            Gauge::clone(&admin_sessions),
        );
        registry.register(
            "hotdesk_event_backlog",
            "Events not yet delivered to the subscriber furthest behind",
            Gauge::clone(&event_backlog),
        );
        registry.register_collector(Box::new(Live { em, store }));
        Metrics {
            registry,
            em_requests,
            em_duration,
            phone_requests,
            admin_requests,
            busy,
            auto_logouts,
            pin_lockouts,
            logged_in,
            pending_deadlines,
            admin_sessions,
            event_backlog,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// An EM request was answered with `code` (0: success) after `seconds`.
    pub fn em_request(&self, operation: &'static str, code: u16, seconds: f64) {
        self.em_requests
            .get_or_create(&OperationCode { operation, code })
            .inc();
        self.em_duration
            .get_or_create(&Operation { operation })
            .observe(seconds);
        if code == hotdesk_proto::ErrorCode::Busy.code() {
            self.busy.inc();
        }
    }

    /// A phone service request was answered with `code` (0: success).
    pub fn phone_request(&self, code: u16) {
        self.phone_requests.get_or_create(&Code { code }).inc();
        if code == hotdesk_proto::ErrorCode::Busy.code() {
            self.busy.inc();
        }
    }

    /// An admin API method was answered with `code` (0: success).
    pub fn admin_request(&self, method: &'static str, code: u32) {
        self.admin_requests
            .get_or_create(&MethodCode { method, code })
            .inc();
    }

    /// An event committed (the outbox feed shows each once).
    pub fn observe(&self, event: &Event) {
        match event.event.kind {
            EventKind::AutoLogout => self.auto_logouts.inc(),
            EventKind::PinLockout => self.pin_lockouts.inc(),
            _ => 0,
        };
    }

    /// The exposition, with the gauges as `gauges` gives them.
    pub async fn render(&self, gauges: Gauges) -> String {
        let _one_at_a_time = self.scrape.lock().await;
        let set = |g: &Gauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        set(&self.logged_in, gauges.logged_in);
        set(&self.pending_deadlines, gauges.pending_deadlines);
        set(&self.admin_sessions, gauges.admin_sessions);
        set(&self.event_backlog, gauges.event_backlog);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// What other parts count already, read as it is at each scrape.
struct Live {
    em: Arc<EmService>,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut counter = |name: &str, help: &str, value: u64| {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        counter(
            "hotdesk_argon2_runs",
            "argon2 hashes made or checked by this process (each ~19 MiB, tens of ms)",
            secrets::argon2_runs(),
        )?;
        if let Some(stats) = self.store.writer_stats() {
            counter(
                "hotdesk_store_batches",
                "Write transactions committed by the one writer (group commit)",
                stats.batches,
            )?;
            counter(
                "hotdesk_store_batched_writes",
                "Write jobs committed by the one writer; divided by batches, writes per fsync",
                stats.jobs,
            )?;
            counter(
                "hotdesk_store_failed_batches",
                "Write transactions that could not begin or commit",
                stats.failed_batches,
            )?;
        }
        let in_flight = ConstGauge::new(i64::from(self.em.in_flight()));
        in_flight.encode(encoder.encode_descriptor(
            "hotdesk_em_writes_in_flight",
            "EM writes being processed now (code 26 past the policy's limit)",
            None,
            in_flight.metric_type(),
        )?)
    }
}
