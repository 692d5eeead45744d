//! Metrics in the Prometheus text format, served at `/metrics`. Labels are bounded: message
//! type, profile, party, outcome and the kind of writer holding SQLite's write lock, never
//! a person or a message id.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntakeLabels {
    pub r#type: String,
    pub profile: String,
    /// accepted, rejected or duplicate.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProfileLabel {
    pub profile: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub party: String,
    /// delivered, retry or dead.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartyLabel {
    pub party: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// For pulled records: accepted, duplicate or quarantined; for runs: succeeded or failed.
    pub outcome: String,
}

fn latency() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    pub received: Family<IntakeLabels, Counter>,
    pub intake_seconds: Family<ProfileLabel, Histogram, fn() -> Histogram>,
    pub attempts: Family<DeliveryLabels, Counter>,
    pub delivery_seconds: Family<PartyLabel, Histogram, fn() -> Histogram>,
    pub queue_depth: Family<PartyLabel, Gauge>,
    /// INPS records pulled or imported, by outcome.
    pub inps_records: Family<OutcomeLabel, Counter>,
    /// INPS pull runs, by how they ended.
    pub inps_runs: Family<OutcomeLabel, Counter>,
    /// The INPS cursor: `ts_comunicazione` of the last record taken, Unix seconds.
    pub inps_cursor: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let received = Family::<IntakeLabels, Counter>::default();
        let intake_seconds =
            Family::<ProfileLabel, Histogram, fn() -> Histogram>::new_with_constructor(latency as fn() -> Histogram);
        let attempts = Family::<DeliveryLabels, Counter>::default();
        let delivery_seconds =
            Family::<PartyLabel, Histogram, fn() -> Histogram>::new_with_constructor(latency as fn() -> Histogram);
        let queue_depth = Family::<PartyLabel, Gauge>::default();
        let inps_records = Family::<OutcomeLabel, Counter>::default();
        let inps_runs = Family::<OutcomeLabel, Counter>::default();
        let inps_cursor = Gauge::default();
        registry.register(
            "raccordo_messages_received",
            "Messages received, by type, profile and outcome",
            received.clone(),
        );
        registry.register("raccordo_intake_seconds", "Time to answer a POST /v1/messages", intake_seconds.clone());
        registry.register(
            "raccordo_delivery_attempts",
            "Delivery attempts, by recipient and outcome",
            attempts.clone(),
        );
        registry.register("raccordo_delivery_seconds", "Time of one delivery attempt", delivery_seconds.clone());
        registry.register("raccordo_queue_depth", "Deliveries pending or in flight, by recipient", queue_depth.clone());
        registry.register("raccordo_inps_records", "INPS records pulled or imported, by outcome", inps_records.clone());
        registry.register("raccordo_inps_runs", "INPS pull runs, by how they ended", inps_runs.clone());
        registry.register(
            "raccordo_inps_cursor_seconds",
            "Time of the last INPS record taken (Unix seconds)",
            inps_cursor.clone(),
        );
        Metrics {
            registry,
            received,
            intake_seconds,
            attempts,
            delivery_seconds,
            queue_depth,
            inps_records,
            inps_runs,
            inps_cursor,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TurnLabel {
    /// intake, outcomes, claims, pull or other.
    turn: &'static str,
}

/// Reads SQLite's write lock: for each kind of writer, its label, the seconds it has held
/// the lock and the times it has taken it.
pub type WriteLockReader = Box<dyn Fn() -> Vec<(&'static str, f64, u64)> + Send + Sync>;

/// SQLite's write lock, read at each scrape.
struct WriteLockCollector(WriteLockReader);

impl std::fmt::Debug for WriteLockCollector {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("WriteLockCollector")
    }
}

impl Collector for WriteLockCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let reading = (self.0)();
        let mut family = encoder.encode_descriptor(
            "raccordo_store_write_lock_seconds",
            "Time SQLite's write lock was held, by the kind of writer holding it",
            None,
            ConstCounter::new(0.0).metric_type(),
        )?;
        for (turn, seconds, _) in &reading {
            ConstCounter::new(*seconds).encode(family.encode_family(&TurnLabel { turn })?)?;
        }
        let mut family = encoder.encode_descriptor(
            "raccordo_store_write_lock_turns",
            "Times SQLite's write lock was taken, by the kind of writer taking it",
            None,
            ConstCounter::new(0u64).metric_type(),
        )?;
        for (turn, _, turns) in &reading {
            ConstCounter::new(*turns).encode(family.encode_family(&TurnLabel { turn })?)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// The metrics, with SQLite's write lock read through `write_lock` when the store has
    /// one.
    pub fn with_write_lock(write_lock: Option<WriteLockReader>) -> Metrics {
        let mut metrics = Metrics::default();
        if let Some(reader) = write_lock {
            metrics.registry.register_collector(Box::new(WriteLockCollector(reader)));
        }
        metrics
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}
