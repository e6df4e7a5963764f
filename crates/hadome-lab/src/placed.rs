//! Placed hosts: the lab hosts that are only a name, the `host` of an etcd member (`h1`, `h2`, `h3`
//! in `etcd3`), with no machine and no container of their own.
//!
//! hadome judges an action on a host by everything placed on it (`quorum` counts the member a
//! reboot of `h2` takes down), so the lab gives these names what a host has for hadome: boots. A
//! placed host boots at `lab up`, and again at each `reboot-host`, which is **not a real reboot**:
//! the machine does not reboot. It stops every process placed on the host by PID (SIGTERM, then
//! SIGKILL after the lab's grace), keeps them down for the down time, records a new boot (a fresh
//! boot id, from the kernel's `/proc/sys/kernel/random/uuid`), and starts again what was running,
//! each verified to answer, before it returns. A member that was stopped before stays stopped.
//!
//! The boots are recorded in `DIR/boots/HOST.json` (written atomically), apart from `lab.json`,
//! which records what the lab chose at `up`; `hadome lab host-facts HOST` prints them as the JSON
//! of `hadome host-facts`, so the host's `facts_command` tells hadome of the new boot as a real
//! host's would, and `hadome run reboot` verifies the reboot by its new boot id.
//!
//! PostgreSQL nodes are placed on `localhost` in the lab's estate, never on a placed host, so only
//! etcd members are stopped and started here.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::etcd;
use crate::image::{self, ImageManifest};
use crate::lab::Lab;
use crate::state::{write_json_atomically, LabState};
use crate::LabError;

/// The down time of `reboot-host` on a placed host when none is given.
pub const DEFAULT_DOWN_TIME: Duration = Duration::from_secs(5);

/// The format version of `DIR/boots/HOST.json`.
const BOOTS_VERSION: u32 = 1;

/// One boot of a placed host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedBoot {
    /// Its boot id (a UUID, as a real boot id is).
    pub boot_id: String,
    /// When it began: `lab up`, or the restart of a `reboot-host`, in milliseconds since the epoch.
    pub started_ms: i64,
    /// When it ended (its processes were stopped by `reboot-host`); `None` for the current boot.
    pub ended_ms: Option<i64>,
}

/// `DIR/boots/HOST.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BootsFile {
    version: u32,
    host: String,
    /// Oldest first; the last is the current boot.
    boots: Vec<PlacedBoot>,
}

/// The placed hosts of `state`: every etcd member's host, in the topology's order, without
/// duplicates, leaving out a name that is also a container host (that one boots for real).
pub(crate) fn placed_hosts(state: &LabState) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for member in &state.etcd {
        let container = state.hosts.iter().any(|host| host.name == member.host);
        if !container && !names.contains(&member.host) {
            names.push(member.host.clone());
        }
    }
    names
}

fn boots_path(dir: &Path, host: &str) -> PathBuf {
    dir.join("boots").join(format!("{host}.json"))
}

fn now_ms() -> i64 {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    i64::try_from(millis).unwrap_or(i64::MAX)
}

/// A fresh boot id from the kernel's random UUID source.
fn fresh_boot_id() -> Result<String, LabError> {
    let path = Path::new("/proc/sys/kernel/random/uuid");
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|source| LabError::Io {
            action: "read a fresh boot id from",
            path: path.to_owned(),
            source,
        })
}

fn read_boots(dir: &Path, host: &str) -> Result<BootsFile, LabError> {
    let path = boots_path(dir, host);
    let text = std::fs::read_to_string(&path).map_err(|source| LabError::Io {
        action: "read the placed host's boots",
        path: path.clone(),
        source,
    })?;
    let file: BootsFile = serde_json::from_str(&text).map_err(|error| LabError::State {
        path: path.clone(),
        message: error.to_string(),
    })?;
    if file.version != BOOTS_VERSION || file.boots.is_empty() {
        return Err(LabError::State {
            path,
            message: format!(
                "format version {} with {} boots (this hadome reads version {BOOTS_VERSION}, with at least one boot)",
                file.version,
                file.boots.len()
            ),
        });
    }
    Ok(file)
}

fn write_boots(dir: &Path, file: &BootsFile) -> Result<(), LabError> {
    let path = boots_path(dir, &file.host);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| LabError::Io {
            action: "create directory",
            path: parent.to_owned(),
            source,
        })?;
    }
    write_json_atomically(&path, file)
}

/// Records the first boot of every placed host (at `lab up`, before its members start).
pub(crate) fn record_first_boots(state: &LabState) -> Result<(), LabError> {
    let started_ms = now_ms();
    for host in placed_hosts(state) {
        write_boots(
            &state.dir,
            &BootsFile {
                version: BOOTS_VERSION,
                boots: vec![PlacedBoot {
                    boot_id: fresh_boot_id()?,
                    started_ms,
                    ended_ms: None,
                }],
                host,
            },
        )?;
    }
    Ok(())
}

impl Lab {
    /// The placed hosts (the hosts etcd members are placed on that are only a name).
    pub fn placed_host_names(&self) -> Vec<String> {
        placed_hosts(&self.state)
    }

    fn require_placed(&self, name: &str) -> Result<(), LabError> {
        let placed = placed_hosts(&self.state);
        if placed.iter().any(|host| host == name) {
            return Ok(());
        }
        let mut known = placed;
        known.extend(self.state.hosts.iter().map(|host| host.name.clone()));
        Err(LabError::UnknownNode {
            name: name.to_owned(),
            known,
        })
    }

    /// The boots of the placed host `name`, oldest first; the last is the current one.
    pub fn placed_host_boots(&self, name: &str) -> Result<Vec<PlacedBoot>, LabError> {
        self.require_placed(name)?;
        Ok(read_boots(&self.state.dir, name)?.boots)
    }

    /// `reboot-host` on a placed host (not a real reboot, see the module's doc): stops every
    /// member placed on it, keeps them down for `down`, records a new boot, starts again those that
    /// were running (or hung) and waits until each answers. Blocks for the whole of it.
    pub async fn reboot_placed_host(&self, name: &str, down: Duration) -> Result<String, LabError> {
        let lab = self.reread()?;
        lab.require_placed(name)?;
        let mut boots = read_boots(&lab.state.dir, name)?;
        let members: Vec<_> = lab
            .state
            .etcd
            .iter()
            .filter(|member| member.host == name)
            .collect();
        // Running or hung: a reboot ends both (`end` continues a stopped process first).
        let mut was_up = Vec::new();
        let mut stayed_down = Vec::new();
        for member in &members {
            match etcd::member_pid(member) {
                Some(pid) => {
                    let survivors = etcd::end(member, Signal::SIGTERM, lab.wait_timeout);
                    if !survivors.is_empty() {
                        return Err(LabError::Survivors { pids: survivors });
                    }
                    was_up.push((*member, pid));
                }
                None => stayed_down.push(format!("`{}`", member.name)),
            }
        }
        let ended_ms = now_ms();
        // The down time is what the fault simulates (a machine that takes this long to come
        // back), not a wait for a condition.
        tokio::time::sleep(down).await;
        let boot_id = fresh_boot_id()?;
        if let Some(current) = boots.boots.last_mut() {
            current.ended_ms = Some(ended_ms);
        }
        boots.boots.push(PlacedBoot {
            boot_id: boot_id.clone(),
            started_ms: now_ms(),
            ended_ms: None,
        });
        write_boots(&lab.state.dir, &boots)?;
        let mut started = Vec::new();
        for (member, _) in &was_up {
            let pid = etcd::spawn(&lab.state, member)?;
            etcd::wait_answers(member, lab.wait_timeout).await?;
            started.push(format!("`{}` (PID {pid})", member.name));
        }
        let stopped: Vec<String> = was_up
            .iter()
            .map(|(member, pid)| format!("`{}` (PID {pid})", member.name))
            .collect();
        let none = |list: &[String]| {
            if list.is_empty() {
                "nothing".to_owned()
            } else {
                list.join(", ")
            }
        };
        let mut summary = format!(
            "`{name}` is a placed host, so this is not a real reboot: stopped {} by PID, kept down {:.1} s, new boot id {boot_id}, started {}, each answers",
            none(&stopped),
            down.as_secs_f64(),
            none(&started),
        );
        if !stayed_down.is_empty() {
            summary.push_str(&format!(
                "; {} was stopped before and stays stopped",
                stayed_down.join(", ")
            ));
        }
        Ok(summary)
    }

    /// `hadome lab image` of a placed host: an archive of the data directories of the members
    /// placed on it, taken while they run (the host is not rebooted).
    pub(crate) async fn image_placed_host(
        &self,
        name: &str,
        tar: PathBuf,
    ) -> Result<ImageManifest, LabError> {
        let data_paths: Vec<String> = self
            .state
            .etcd
            .iter()
            .filter(|member| member.host == name)
            .map(|member| member.data_dir.to_string_lossy().into_owned())
            .collect();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || {
            image::write_tar(&name, Path::new("/"), &data_paths, &tar)
        })
        .await
        .map_err(|error| LabError::Bug(format!("the image task failed: {error}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boots_file_round_trips_and_a_fresh_boot_id_is_a_uuid() {
        let dir = tempfile::tempdir().unwrap();
        let file = BootsFile {
            version: BOOTS_VERSION,
            host: "h2".to_owned(),
            boots: vec![PlacedBoot {
                boot_id: fresh_boot_id().unwrap(),
                started_ms: 1,
                ended_ms: None,
            }],
        };
        write_boots(dir.path(), &file).unwrap();
        let read = read_boots(dir.path(), "h2").unwrap();
        assert_eq!(read.boots, file.boots);
        assert_eq!(read.boots[0].boot_id.len(), 36, "{:?}", read.boots);
        assert_ne!(fresh_boot_id().unwrap(), read.boots[0].boot_id);
        std::fs::write(
            boots_path(dir.path(), "h3"),
            "{\"version\":1,\"host\":\"h3\",\"boots\":[]}",
        )
        .unwrap();
        assert!(read_boots(dir.path(), "h3").is_err());
    }
}
