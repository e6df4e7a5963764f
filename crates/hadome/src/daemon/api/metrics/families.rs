//! The metrics computed at scrape time, as values ([`Families`]), and their encoding through
//! `prometheus-client`'s [`Collector`]: gathering them (`gather.rs`) reads the journal and the
//! snapshot, and encoding them is pure, so the two are tested apart.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

/// A sample's labels, in order: `cluster`, `pg_instance`, … (names of the estate, rule ids and
/// fixed words only: never an LSN, an error or a path, so their number stays bounded).
///
/// A PostgreSQL instance is `pg_instance`, not `instance`: Prometheus gives every scraped series
/// an `instance` label of its own (the scraped address), and would rename hadome's to
/// `exported_instance`, so alert rules on `instance` would silently match the daemon instead.
pub(super) type Labels = Vec<(&'static str, String)>;

/// A metric family's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Gauge,
    /// Encoded with `_total` after the name.
    Counter,
}

/// One metric family and its samples.
#[derive(Debug)]
pub(super) struct Family {
    /// After `hadome_`, before the unit (and before `_total` for a counter).
    pub(super) name: &'static str,
    /// One sentence, ending with a full stop.
    pub(super) help: &'static str,
    pub(super) unit: Option<Unit>,
    pub(super) kind: Kind,
    pub(super) samples: Vec<(Labels, f64)>,
}

/// The families of one scrape, in the order they are written.
#[derive(Debug, Default)]
pub(super) struct Families {
    pub(super) list: Vec<Family>,
}

impl Families {
    /// Starts a family; its samples follow with [`Families::sample`]. A family with no sample is
    /// still written (its `HELP` and `TYPE`), so a scrape always lists what hadome can report.
    pub(super) fn family(
        &mut self,
        name: &'static str,
        kind: Kind,
        unit: Option<Unit>,
        help: &'static str,
    ) {
        debug_assert!(
            self.list.iter().all(|family| family.name != name
                || family.unit.as_ref().map(Unit::as_str) != unit.as_ref().map(Unit::as_str)),
            "metric family `{name}` started twice"
        );
        self.list.push(Family {
            name,
            help,
            unit,
            kind,
            samples: Vec::new(),
        });
    }

    /// A sample of the family started last.
    pub(super) fn sample(&mut self, labels: Labels, value: f64) {
        if let Some(family) = self.list.last_mut() {
            family.samples.push((labels, value));
        }
    }
}

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.list {
            let metric_type = match family.kind {
                Kind::Gauge => MetricType::Gauge,
                Kind::Counter => MetricType::Counter,
            };
            let mut metric = encoder.encode_descriptor(
                family.name,
                family.help,
                family.unit.as_ref(),
                metric_type,
            )?;
            for (labels, value) in &family.samples {
                let mut sample = metric.encode_family(labels)?;
                match family.kind {
                    // A whole number is written as one (`1`, not `1.0`): flags and counts read
                    // as such; i64 holds every whole f64 below 2^63 exactly enough for these.
                    Kind::Gauge if value.fract() == 0.0 && value.abs() < 9.0e15 => {
                        sample.encode_gauge(&(*value as i64))?
                    }
                    Kind::Gauge => sample.encode_gauge(value)?,
                    // Counts from the journal: whole numbers, written as such.
                    Kind::Counter => {
                        sample.encode_counter::<NoLabelSet, u64, u64>(&(*value as u64), None)?
                    }
                }
            }
        }
        Ok(())
    }
}
