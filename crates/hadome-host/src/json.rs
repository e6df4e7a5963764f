//! The versioned JSON of host facts: what `hadome host-facts` prints on a host, and what hadome
//! reads back from a host's `facts_command` (`ssh HOST hadome host-facts`).
//!
//! **API Boundary** (`"version": 1`): a field is added only with a new version. Every time is
//! written twice, as RFC 3339 UTC for people (`"booted_at"`) and as milliseconds since the epoch
//! for programs (`"booted_at_ms"`); reading takes the milliseconds. Paths are strings (a name that
//! is not UTF-8 is written lossily). An infinite start-limit interval is the string `"infinity"`.
//! `gaps` says why something is absent (`"boots": null` and `gaps.boots` the reason).

use std::path::PathBuf;

use hadome_core::backup::Storage;
use hadome_core::fact::Timestamp;
use hadome_core::host::{
    BootRecord, DataPathFact, DataPathState, HostFacts, ServiceUnit, TimerUnit,
};
use serde_json::{json, Map, Value};

use crate::error::HostFactsError;
use crate::Gaps;

/// The one version this hadome writes and reads.
pub const VERSION: u64 = 1;

/// `{"version": 1, "host_facts": {…}}`, with `gaps` saying why anything is missing.
pub(crate) fn to_json_with_gaps(facts: &HostFacts, observed_at: Timestamp, gaps: &Gaps) -> Value {
    let mut host = Map::new();
    time(&mut host, "observed_at", Some(observed_at));
    host.insert("boot_id".into(), json!(facts.boot_id));
    time(&mut host, "booted_at", Some(facts.booted_at));
    host.insert(
        "uptime_seconds".into(),
        json!(observed_at.seconds_since(facts.booted_at)),
    );
    host.insert(
        "boots".into(),
        match &facts.boots {
            None => Value::Null,
            Some(boots) => boots.iter().map(boot_json).collect(),
        },
    );
    host.insert(
        "timers".into(),
        facts.timers.iter().map(timer_json).collect(),
    );
    host.insert(
        "services".into(),
        facts.services.iter().map(service_json).collect(),
    );
    host.insert("failed_units".into(), json!(facts.failed_units));
    host.insert(
        "data_paths".into(),
        facts.data_paths.iter().map(data_path_json).collect(),
    );
    host.insert(
        "gaps".into(),
        json!({
            "boots": gaps.boots,
            "failed_units": gaps.failed_units,
            "restarts": gaps.restarts,
            "units": gaps.units,
        }),
    );
    json!({ "version": VERSION, "host_facts": Value::Object(host) })
}

fn time(object: &mut Map<String, Value>, name: &str, at: Option<Timestamp>) {
    object.insert(name.to_owned(), json!(at.map(rfc3339)));
    object.insert(format!("{name}_ms"), json!(at.map(|at| at.0)));
}

fn boot_json(boot: &BootRecord) -> Value {
    let mut object = Map::new();
    object.insert("boot_id".into(), json!(boot.boot_id));
    time(&mut object, "first_entry", Some(boot.first_entry));
    time(&mut object, "last_entry", Some(boot.last_entry));
    Value::Object(object)
}

fn paths(paths: &[PathBuf]) -> Value {
    paths
        .iter()
        .map(|path| json!(path.to_string_lossy()))
        .collect()
}

fn timer_json(timer: &TimerUnit) -> Value {
    json!({
        "name": timer.name,
        "unit": timer.unit,
        "persistent": timer.persistent,
        "on_calendar": timer.on_calendar,
        "monotonic": timer.monotonic,
        "wanted_by": timer.wanted_by,
        "sources": paths(&timer.sources),
    })
}

fn service_json(service: &ServiceUnit) -> Value {
    let interval = match service.start_limit_interval_seconds {
        Some(seconds) if seconds.is_infinite() => json!("infinity"),
        other => json!(other),
    };
    json!({
        "name": service.name,
        "exec_start": service.exec_start,
        "exec_start_pre": service.exec_start_pre,
        "exec_condition": service.exec_condition,
        "restart": service.restart,
        "start_limit_interval_seconds": interval,
        "start_limit_burst": service.start_limit_burst,
        "failure_action": service.failure_action,
        "success_action": service.success_action,
        "start_limit_action": service.start_limit_action,
        "restarts": service.restarts,
        "sources": paths(&service.sources),
    })
}

fn data_path_json(fact: &DataPathFact) -> Value {
    let mut object = Map::new();
    object.insert("path".into(), json!(fact.path.to_string_lossy()));
    match &fact.outcome {
        Err(error) => {
            object.insert("error".into(), json!(error));
        }
        Ok(state) => {
            object.insert("size_bytes".into(), json!(state.size_bytes));
            object.insert("files".into(), json!(state.files));
            object.insert(
                "storage".into(),
                json!({
                    "canonical": state.storage.canonical.to_string_lossy(),
                    "device": state.storage.device,
                }),
            );
            time(&mut object, "newest_change", state.newest_change);
        }
    }
    Value::Object(object)
}

/// `2026-12-03T12:54:18.651Z` (the core's one date computation).
pub fn rfc3339(at: Timestamp) -> String {
    at.rfc3339()
}

/// A place in the JSON, named for errors (`host_facts.timers[2].persistent`).
struct At<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> At<'a> {
    fn problem(&self, problem: &str) -> HostFactsError {
        HostFactsError::Field {
            field: self.path.clone(),
            problem: problem.to_owned(),
        }
    }

    fn field(&self, name: &str) -> Result<At<'a>, HostFactsError> {
        let path = format!("{}.{name}", self.path);
        match self.value.get(name) {
            Some(value) => Ok(At { value, path }),
            None => Err(HostFactsError::Field {
                field: path,
                problem: "is missing".to_owned(),
            }),
        }
    }

    /// `None` for `null`.
    fn nullable(self) -> Option<At<'a>> {
        (!self.value.is_null()).then_some(self)
    }

    fn string(&self) -> Result<String, HostFactsError> {
        self.value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.problem("is not a string"))
    }

    fn boolean(&self) -> Result<bool, HostFactsError> {
        self.value
            .as_bool()
            .ok_or_else(|| self.problem("is not true or false"))
    }

    fn integer(&self) -> Result<i64, HostFactsError> {
        self.value
            .as_i64()
            .ok_or_else(|| self.problem("is not an integer"))
    }

    fn count(&self) -> Result<u64, HostFactsError> {
        self.value
            .as_u64()
            .ok_or_else(|| self.problem("is not a non-negative integer"))
    }

    fn items(&self) -> Result<Vec<At<'a>>, HostFactsError> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| self.problem("is not an array"))?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, value)| At {
                value,
                path: format!("{}[{index}]", self.path),
            })
            .collect())
    }

    fn strings(&self) -> Result<Vec<String>, HostFactsError> {
        self.items()?.iter().map(At::string).collect()
    }

    fn time(&self, name: &str) -> Result<Timestamp, HostFactsError> {
        Ok(Timestamp(self.field(&format!("{name}_ms"))?.integer()?))
    }
}

/// The facts and when they were read, from `hadome host-facts`'s JSON, and the gaps it gave.
pub(crate) fn from_json_with_gaps(
    text: &str,
) -> Result<(HostFacts, Timestamp, Gaps), HostFactsError> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| HostFactsError::NotJson { error })?;
    let version = value.get("version");
    if version.and_then(Value::as_u64) != Some(VERSION) {
        return Err(HostFactsError::UnsupportedVersion {
            found: version.map_or_else(|| "null (missing)".to_owned(), Value::to_string),
            supported: VERSION,
        });
    }
    let top = At {
        value: &value,
        path: String::new(),
    };
    let host = top.field("host_facts")?;
    let host = At {
        path: "host_facts".to_owned(),
        ..host
    };
    let observed_at = host.time("observed_at")?;
    let boots = match host.field("boots")?.nullable() {
        None => None,
        Some(boots) => Some(
            boots
                .items()?
                .iter()
                .map(|boot| {
                    Ok(BootRecord {
                        boot_id: boot.field("boot_id")?.string()?,
                        first_entry: boot.time("first_entry")?,
                        last_entry: boot.time("last_entry")?,
                    })
                })
                .collect::<Result<_, HostFactsError>>()?,
        ),
    };
    let facts = HostFacts {
        boot_id: host.field("boot_id")?.string()?,
        booted_at: host.time("booted_at")?,
        boots,
        timers: host
            .field("timers")?
            .items()?
            .iter()
            .map(timer_from)
            .collect::<Result<_, _>>()?,
        services: host
            .field("services")?
            .items()?
            .iter()
            .map(service_from)
            .collect::<Result<_, _>>()?,
        failed_units: host.field("failed_units")?.strings()?,
        data_paths: host
            .field("data_paths")?
            .items()?
            .iter()
            .map(data_path_from)
            .collect::<Result<_, _>>()?,
    };
    let gaps = host.field("gaps")?;
    let reason = |name: &str| -> Result<Option<String>, HostFactsError> {
        gaps.field(name)?
            .nullable()
            .map(|at| at.string())
            .transpose()
    };
    let gaps = Gaps {
        boots: reason("boots")?,
        failed_units: reason("failed_units")?,
        restarts: reason("restarts")?,
        units: gaps.field("units")?.strings()?,
    };
    Ok((facts, observed_at, gaps))
}

fn path_list(at: &At<'_>) -> Result<Vec<PathBuf>, HostFactsError> {
    Ok(at.strings()?.into_iter().map(PathBuf::from).collect())
}

fn timer_from(at: &At<'_>) -> Result<TimerUnit, HostFactsError> {
    Ok(TimerUnit {
        name: at.field("name")?.string()?,
        unit: at.field("unit")?.string()?,
        persistent: at.field("persistent")?.boolean()?,
        on_calendar: at.field("on_calendar")?.strings()?,
        monotonic: at.field("monotonic")?.strings()?,
        wanted_by: at.field("wanted_by")?.strings()?,
        sources: path_list(&at.field("sources")?)?,
    })
}

fn service_from(at: &At<'_>) -> Result<ServiceUnit, HostFactsError> {
    let interval = at.field("start_limit_interval_seconds")?;
    let start_limit_interval_seconds = match interval.value {
        Value::Null => None,
        Value::String(word) if word == "infinity" => Some(f64::INFINITY),
        Value::Number(number) => number.as_f64(),
        _ => return Err(interval.problem("is neither seconds, \"infinity\" nor null")),
    };
    let small = |name: &str| -> Result<Option<u32>, HostFactsError> {
        let field = at.field(name)?;
        match field.nullable() {
            None => Ok(None),
            Some(count) => u32::try_from(count.count()?)
                .map(Some)
                .map_err(|_| count.problem("is larger than 4294967295")),
        }
    };
    Ok(ServiceUnit {
        name: at.field("name")?.string()?,
        exec_start: at.field("exec_start")?.strings()?,
        exec_start_pre: at.field("exec_start_pre")?.strings()?,
        exec_condition: at.field("exec_condition")?.strings()?,
        restart: at.field("restart")?.string()?,
        start_limit_interval_seconds,
        start_limit_burst: small("start_limit_burst")?,
        failure_action: at.field("failure_action")?.string()?,
        success_action: at.field("success_action")?.string()?,
        start_limit_action: at.field("start_limit_action")?.string()?,
        restarts: small("restarts")?,
        sources: path_list(&at.field("sources")?)?,
    })
}

fn data_path_from(at: &At<'_>) -> Result<DataPathFact, HostFactsError> {
    let path = PathBuf::from(at.field("path")?.string()?);
    if let Some(error) = at.value.get("error") {
        let error = At {
            value: error,
            path: format!("{}.error", at.path),
        };
        return Ok(DataPathFact {
            path,
            outcome: Err(error.string()?),
        });
    }
    let storage = at.field("storage")?;
    let newest_change = match at.field("newest_change_ms")?.nullable() {
        None => None,
        Some(millis) => Some(Timestamp(millis.integer()?)),
    };
    Ok(DataPathFact {
        path,
        outcome: Ok(DataPathState {
            size_bytes: at.field("size_bytes")?.count()?,
            files: at.field("files")?.count()?,
            storage: Storage {
                canonical: PathBuf::from(storage.field("canonical")?.string()?),
                device: storage.field("device")?.count()?,
            },
            newest_change,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> (HostFacts, Gaps) {
        let facts = HostFacts {
            boot_id: "15022bde876a4651a911b1bd9d43e1c0".to_owned(),
            booted_at: Timestamp(1_796_302_462_574),
            boots: Some(vec![BootRecord {
                boot_id: "7349a1f5e8404b8788794259d352159e".to_owned(),
                first_entry: Timestamp(1_796_302_458_651),
                last_entry: Timestamp(1_796_302_460_512),
            }]),
            timers: vec![TimerUnit {
                name: "daily_reboot.timer".to_owned(),
                unit: "daily_reboot.service".to_owned(),
                persistent: true,
                on_calendar: vec!["*-*-* 3:30:00".to_owned()],
                monotonic: vec!["OnBootSec=5min".to_owned()],
                wanted_by: vec!["timers.target".to_owned()],
                sources: vec![PathBuf::from("/etc/systemd/system/daily_reboot.timer")],
            }],
            services: vec![ServiceUnit {
                name: "daily_reboot.service".to_owned(),
                exec_start: vec!["/sbin/systemctl reboot".to_owned()],
                exec_start_pre: vec![],
                exec_condition: vec!["/usr/local/bin/hadome ask reboot s512".to_owned()],
                restart: "always".to_owned(),
                start_limit_interval_seconds: Some(f64::INFINITY),
                start_limit_burst: Some(5),
                failure_action: "reboot".to_owned(),
                success_action: "none".to_owned(),
                start_limit_action: "none".to_owned(),
                restarts: None,
                sources: vec![PathBuf::from("/etc/systemd/system/daily_reboot.service")],
            }],
            failed_units: vec!["x.service".to_owned()],
            data_paths: vec![
                DataPathFact {
                    path: PathBuf::from("/srv/uploads"),
                    outcome: Ok(DataPathState {
                        size_bytes: 1234,
                        files: 2,
                        storage: Storage {
                            canonical: PathBuf::from("/data/uploads"),
                            device: 2049,
                        },
                        newest_change: Some(Timestamp(1_796_302_000_001)),
                    }),
                },
                DataPathFact {
                    path: PathBuf::from("/srv/locked"),
                    outcome: Err("cannot read `/srv/locked`: Permission denied".to_owned()),
                },
            ],
        };
        let gaps = Gaps {
            boots: None,
            failed_units: Some("systemd does not run here".to_owned()),
            restarts: Some("systemd does not run here".to_owned()),
            units: vec!["a.timer: Persistent=maybe is not a boolean".to_owned()],
        };
        (facts, gaps)
    }

    #[test]
    fn round_trip_keeps_every_fact_and_gap() {
        let (facts, gaps) = facts();
        let observed_at = Timestamp(1_796_302_500_000);
        let value = to_json_with_gaps(&facts, observed_at, &gaps);
        assert_eq!(value["version"], 1);
        assert_eq!(value["host_facts"]["booted_at"], "2026-12-03T12:54:22.574Z");
        assert_eq!(value["host_facts"]["uptime_seconds"], 37.426);
        assert_eq!(
            value["host_facts"]["services"][0]["start_limit_interval_seconds"],
            "infinity"
        );
        let (back, back_at, back_gaps) =
            from_json_with_gaps(&value.to_string()).expect("reads its own JSON");
        assert_eq!((back, back_at, back_gaps), (facts, observed_at, gaps));
    }

    #[test]
    fn an_unknown_boot_list_stays_unknown() {
        let (mut facts, mut gaps) = facts();
        facts.boots = None;
        gaps.boots = Some("the journal is not persistent".to_owned());
        let value = to_json_with_gaps(&facts, Timestamp(0), &gaps);
        assert!(value["host_facts"]["boots"].is_null());
        let (back, _, back_gaps) = from_json_with_gaps(&value.to_string()).expect("reads");
        assert_eq!(back.boots, None);
        assert_eq!(back_gaps.boots, gaps.boots);
    }

    #[test]
    fn another_version_or_a_missing_field_is_refused_by_name() {
        let (facts, gaps) = facts();
        let mut value = to_json_with_gaps(&facts, Timestamp(0), &gaps);
        value["version"] = json!(2);
        let error = from_json_with_gaps(&value.to_string()).expect_err("version 2");
        assert!(
            matches!(error, HostFactsError::UnsupportedVersion { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("version 2"), "{error}");
        let error = from_json_with_gaps("{\"host_facts\":{}}").expect_err("no version");
        assert!(error.to_string().contains("null (missing)"), "{error}");

        let mut value = to_json_with_gaps(&facts, Timestamp(0), &gaps);
        value["host_facts"]["timers"][0]
            .as_object_mut()
            .expect("an object")
            .remove("persistent");
        let error = from_json_with_gaps(&value.to_string()).expect_err("no persistent");
        assert_eq!(
            error.to_string(),
            "host facts JSON: `host_facts.timers[0].persistent` is missing"
        );

        let mut value = to_json_with_gaps(&facts, Timestamp(0), &gaps);
        value["host_facts"]["booted_at_ms"] = json!("yesterday");
        let error = from_json_with_gaps(&value.to_string()).expect_err("a string time");
        assert_eq!(
            error.to_string(),
            "host facts JSON: `host_facts.booted_at_ms` is not an integer"
        );

        let mut value = to_json_with_gaps(&facts, Timestamp(0), &gaps);
        value["host_facts"]["services"][0]["restarts"] = json!(-1);
        let error = from_json_with_gaps(&value.to_string()).expect_err("negative restarts");
        assert!(
            error.to_string().contains("services[0].restarts"),
            "{error}"
        );
    }

    #[test]
    fn hostile_text_is_an_error_never_a_panic() {
        for text in [
            "",
            "null",
            "[]",
            "{\"version\":1}",
            "{\"version\":1,\"host_facts\":[]}",
            "{\"version\":1.5}",
            "\u{0}",
        ] {
            assert!(from_json_with_gaps(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn rfc3339_in_utc_with_milliseconds() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(Timestamp(951_782_400_123)),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(rfc3339(Timestamp(-1)), "1969-12-31T23:59:59.999Z");
    }
}
