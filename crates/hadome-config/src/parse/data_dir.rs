//! Data directories hadome may move aside (issue 17, "bad input, every door").
//!
//! A rebuild, a restore and a member replacement move the target's data directory aside before
//! they write a new one; an estate that names `/`, `/etc` or another instance's directory as a
//! data directory would turn that into moving the system, or another instance's data, away. Two
//! checks, both when the estate is loaded, before anything runs:
//! - [`unsafe_data_dir`]: a path that is the root, climbs with `..`, or is one of the system's
//!   own directories is refused wherever a data directory is written;
//! - [`Context::data_dirs_apart`]: two data directories on one host (instances and etcd members)
//!   that are the same directory, or one inside the other, are refused.
//!
//! What the file cannot show — a symlink on the machine that leads one data directory into
//! another's — is the executor's pre-flight's to find (`hadome_executor::preflight`).

use std::path::{Component, Path, PathBuf};

use hadome_core::estate::Instance;
use hadome_core::quorum::EtcdMember;

use super::{Context, Value};
use crate::error::ConfigError;

/// Directories of the operating system itself, or the parents of every PostgreSQL cluster: never
/// one instance's data directory. Compared after `.` and trailing `/` are dropped.
const SYSTEM_DIRECTORIES: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/local",
    "/usr/sbin",
    "/usr/share",
    "/var",
    "/var/lib",
    "/var/lib/etcd",
    "/var/lib/postgresql",
    "/var/log",
    "/var/tmp",
];

/// What is wrong with `data_dir` as a directory hadome may move aside, as a phrase that follows
/// "is `…`, "; `None` when it is an absolute path of a directory of its own.
pub(super) fn unsafe_data_dir(data_dir: &str) -> Option<String> {
    let path = Path::new(data_dir);
    if !path.is_absolute() {
        return Some("a relative path".to_owned());
    }
    if path
        .components()
        .any(|component| component == Component::ParentDir)
    {
        return Some(
            "a path that climbs with `..`: which directory it names depends on symlinks on the host"
                .to_owned(),
        );
    }
    let normal = normal(path);
    if normal.parent().is_none() {
        return Some("the root itself: a rebuild would move `/` aside".to_owned());
    }
    if SYSTEM_DIRECTORIES
        .iter()
        .any(|system| normal == Path::new(system))
    {
        return Some(format!(
            "a directory of the system itself (`{}`): a rebuild would move it aside",
            normal.display()
        ));
    }
    None
}

/// `path` without `.` components (`Path::components` already drops repeated and trailing `/`).
fn normal(path: &Path) -> PathBuf {
    path.components()
        .filter(|component| *component != Component::CurDir)
        .collect()
}

/// The hint for a data directory refused by [`unsafe_data_dir`].
pub(super) const DATA_DIR_FIX: &str = "give the data directory's absolute path on the instance's \
    host, such as `/var/lib/postgresql/15/main`";

/// One data directory on one host, for [`Context::data_dirs_apart`].
struct Placed<'e> {
    /// `instance "db-1".data_dir` or `etcd "etcd-1".data_dir`.
    key: String,
    host: &'e str,
    data_dir: PathBuf,
    /// Where its `data_dir` is written (its table's header when it is Debian's default).
    offset: usize,
}

impl Context<'_> {
    /// Two data directories on one host that are one directory, or one inside the other, are an
    /// error at the second: moving one aside would move the other's data too.
    pub(super) fn data_dirs_apart(
        &self,
        instance_entries: &[&Value<'_>],
        instances: &[Instance],
        etcd_entries: &[&Value<'_>],
        etcd_members: &[EtcdMember],
    ) -> Result<(), ConfigError> {
        let offset = |element: &Value<'_>| match element.get_ref() {
            toml::de::DeValue::Table(raw) => self
                .table(raw, String::new(), "", element.span().start)
                .get("data_dir")
                .map_or(element.span().start, |entry| entry.value.span().start),
            _ => element.span().start,
        };
        let mut placed: Vec<Placed<'_>> = instances
            .iter()
            .zip(instance_entries)
            .map(|(instance, element)| Placed {
                key: format!("instance \"{}\".data_dir", instance.name),
                host: &instance.host,
                data_dir: normal(&instance.data_dir),
                offset: offset(element),
            })
            .collect();
        placed.extend(
            etcd_members
                .iter()
                .zip(etcd_entries)
                .filter_map(|(member, element)| {
                    let data_dir = member.data_dir.as_ref()?;
                    Some(Placed {
                        key: format!("etcd \"{}\".data_dir", member.name),
                        host: &member.host,
                        data_dir: normal(data_dir),
                        offset: offset(element),
                    })
                }),
        );
        // Sorted by host then path, a directory comes just before what it holds (everything
        // between `/a` and `/a/b` starts with `/a`), so neighbours are the only pairs to compare:
        // an estate of many thousand instances is checked in n log n.
        let mut order: Vec<usize> = (0..placed.len()).collect();
        order.sort_by(|left, right| {
            let (left, right) = (&placed[*left], &placed[*right]);
            (left.host, &left.data_dir, left.offset).cmp(&(
                right.host,
                &right.data_dir,
                right.offset,
            ))
        });
        let clash = order
            .windows(2)
            .filter_map(|pair| {
                let (low, high) = (&placed[pair[0]], &placed[pair[1]]);
                if low.host != high.host || !high.data_dir.starts_with(&low.data_dir) {
                    return None;
                }
                // Reported at the one written second, naming the first.
                Some(if low.offset < high.offset {
                    (low, high)
                } else {
                    (high, low)
                })
            })
            .min_by_key(|(_, second)| second.offset);
        let Some((first, second)) = clash else {
            return Ok(());
        };
        let relation = if first.data_dir == second.data_dir {
            "the same directory as"
        } else if second.data_dir.starts_with(&first.data_dir) {
            "inside"
        } else {
            "the parent of"
        };
        Err(self.invalid(
            second.offset,
            second.key.clone(),
            format!(
                "is `{}`, {relation} `{}` (`{}`, line {}) on host `{}`: moving one aside would \
                 move the other's data too",
                second.data_dir.display(),
                first.key,
                first.data_dir.display(),
                self.line(first.offset),
                second.host
            ),
            "give every instance and etcd member on a host a data directory of its own, neither \
             inside the other",
        ))
    }
}
