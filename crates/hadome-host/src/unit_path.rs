//! Where systemd finds a unit's files, in its order (systemd.unit(5), "Unit File Load Path";
//! `src/shared/dropin.c`): the first directory holding the unit's file wins (its *fragment*), a
//! fragment that is a symbolic link to `/dev/null` or an empty file masks the unit, and drop-ins
//! `*.conf` are gathered from `NAME.d/`, the template's `foo@.service.d/`, each dash prefix's
//! `foo-.service.d/` and the type's `service.d/` in every directory, a file of the same name in
//! a directory of higher precedence hiding the others, then applied in file-name order.
//!
//! Everything is read under `root`, and a symbolic link is resolved under `root` too (an absolute
//! link in a container's tree points into the container, not at this machine).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The system manager's unit directories, highest precedence first (systemd 252 on Debian, which
/// also reads `/lib/systemd/system`; a merged `/usr` makes it the same directory as
/// `/usr/lib/systemd/system`, read once).
pub(crate) const SEARCH_PATH: &[&str] = &[
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/run/systemd/generator.late",
];

/// The unit directories that exist under a root, highest precedence first, each once.
#[derive(Debug, Clone)]
pub(crate) struct UnitDirs {
    root: PathBuf,
    /// (the directory as systemd names it, where it is on this machine)
    dirs: Vec<(PathBuf, PathBuf)>,
}

/// How a unit's files were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Located {
    /// No directory holds it.
    NotFound,
    /// Its fragment is a link to `/dev/null` or empty: systemd will not load or start it.
    Masked { fragment: PathBuf },
    /// Its fragment, then the drop-ins to apply in order (paths as systemd names them, and where
    /// they are on this machine).
    Found {
        fragment: (PathBuf, PathBuf),
        drop_ins: Vec<(PathBuf, PathBuf)>,
    },
}

impl UnitDirs {
    pub(crate) fn under(root: &Path) -> UnitDirs {
        let mut dirs = Vec::new();
        let mut seen = Vec::new();
        for dir in SEARCH_PATH {
            let here = under_root(root, Path::new(dir));
            let Ok(canonical) = std::fs::canonicalize(&here) else {
                continue;
            };
            if !canonical.is_dir() || seen.contains(&canonical) {
                continue;
            }
            seen.push(canonical);
            dirs.push((PathBuf::from(dir), here));
        }
        UnitDirs {
            root: root.to_path_buf(),
            dirs,
        }
    }

    /// Every unit name of a type (`timer`) that has a file or a `.wants/`/`.requires/` link in
    /// some directory, templates (`foo@.timer`) left out: they run only as named instances.
    pub(crate) fn names_of_type(&self, suffix: &str) -> Vec<String> {
        let mut names = std::collections::BTreeSet::new();
        let dot_suffix = format!(".{suffix}");
        let mut add = |name: &str| {
            if name.ends_with(&dot_suffix)
                && !name.ends_with(&format!("@{dot_suffix}"))
                && name.len() > dot_suffix.len()
            {
                names.insert(name.to_owned());
            }
        };
        for (_, here) in &self.dirs {
            for entry in read_names(here) {
                add(&entry);
                if entry.ends_with(".wants") || entry.ends_with(".requires") {
                    for linked in read_names(&here.join(&entry)) {
                        add(&linked);
                    }
                }
            }
        }
        names.into_iter().collect()
    }

    /// The targets or units whose `.wants/` or `.requires/` directory links to `name`
    /// (`timers.target` for an enabled timer).
    pub(crate) fn wanted_by(&self, name: &str) -> Vec<String> {
        let mut by = std::collections::BTreeSet::new();
        for (_, here) in &self.dirs {
            for entry in read_names(here) {
                let wanting = entry
                    .strip_suffix(".wants")
                    .or_else(|| entry.strip_suffix(".requires"));
                if let Some(wanting) = wanting {
                    if std::fs::symlink_metadata(here.join(&entry).join(name)).is_ok() {
                        by.insert(wanting.to_owned());
                    }
                }
            }
        }
        by.into_iter().collect()
    }

    /// Where systemd finds `name`'s fragment and drop-ins.
    pub(crate) fn locate(&self, name: &str) -> Located {
        let template = template_of(name);
        let fragment = self
            .dirs
            .iter()
            .find_map(|(named, here)| {
                std::fs::symlink_metadata(here.join(name))
                    .ok()
                    .map(|_| (named.join(name), here.join(name)))
            })
            .or_else(|| {
                let template = template.as_deref()?;
                self.dirs.iter().find_map(|(named, here)| {
                    std::fs::symlink_metadata(here.join(template))
                        .ok()
                        .map(|_| (named.join(template), here.join(template)))
                })
            });
        let Some(fragment) = fragment else {
            return Located::NotFound;
        };
        if self.is_masked(&fragment.1) {
            return Located::Masked {
                fragment: fragment.0,
            };
        }
        Located::Found {
            fragment,
            drop_ins: self.drop_ins(name, template.as_deref()),
        }
    }

    /// The unit `name` is an alias of: its fragment is a link to a unit file of another name of
    /// the same type (`dbus-org.freedesktop.login1.service` → `systemd-logind.service`), which
    /// systemd loads as one unit.
    pub(crate) fn alias_of(&self, name: &str) -> Option<String> {
        let (_, here) = self
            .dirs
            .iter()
            .find(|(_, here)| std::fs::symlink_metadata(here.join(name)).is_ok())?;
        let target = std::fs::read_link(here.join(name)).ok()?;
        let target_name = target.file_name()?.to_str()?.to_owned();
        let suffix = name.rsplit_once('.')?.1;
        (target_name != name && target_name.ends_with(&format!(".{suffix}"))).then_some(target_name)
    }

    /// A link (through any chain of links, resolved under the root) to `/dev/null`, or an empty
    /// file.
    fn is_masked(&self, path: &Path) -> bool {
        let mut current = path.to_path_buf();
        for _ in 0..40 {
            match std::fs::read_link(&current) {
                Ok(target) => {
                    if target == Path::new("/dev/null") {
                        return true;
                    }
                    current = if target.is_absolute() {
                        under_root(&self.root, &target)
                    } else {
                        current
                            .parent()
                            .map_or_else(|| target.clone(), |parent| parent.join(&target))
                    };
                }
                Err(_) => break,
            }
        }
        std::fs::metadata(&current).is_ok_and(|metadata| metadata.is_file() && metadata.len() == 0)
    }

    /// Where the unit's file is on this machine, links resolved under the root.
    pub(crate) fn resolve(&self, path: &Path) -> PathBuf {
        let mut current = path.to_path_buf();
        for _ in 0..40 {
            match std::fs::read_link(&current) {
                Ok(target) if target.is_absolute() => current = under_root(&self.root, &target),
                Ok(target) => {
                    current = current
                        .parent()
                        .map_or_else(|| target.clone(), |parent| parent.join(&target));
                }
                Err(_) => break,
            }
        }
        current
    }

    fn drop_ins(&self, name: &str, template: Option<&str>) -> Vec<(PathBuf, PathBuf)> {
        let mut directory_names = vec![format!("{name}.d")];
        if let Some(template) = template {
            directory_names.push(format!("{template}.d"));
        }
        directory_names.extend(
            dash_prefixes(name)
                .into_iter()
                .map(|prefix| format!("{prefix}.d")),
        );
        // File name → the first (highest precedence) file of that name.
        let mut chosen: BTreeMap<String, (PathBuf, PathBuf)> = BTreeMap::new();
        for (named, here) in &self.dirs {
            for directory_name in &directory_names {
                let directory = here.join(directory_name);
                for file in read_names(&directory) {
                    if !file.ends_with(".conf") || chosen.contains_key(&file) {
                        continue;
                    }
                    chosen.insert(
                        file.clone(),
                        (
                            named.join(directory_name).join(&file),
                            directory.join(&file),
                        ),
                    );
                }
            }
        }
        chosen
            .into_values()
            .filter(|(_, here)| !self.is_masked(here))
            .collect()
    }
}

/// `foo@bar.service` → `foo@.service`.
fn template_of(name: &str) -> Option<String> {
    let (prefix, rest) = name.split_once('@')?;
    let (_, suffix) = rest.rsplit_once('.')?;
    (!rest.starts_with('.')).then(|| format!("{prefix}@.{suffix}"))
}

/// The drop-in prefixes of a unit name, most specific first: `a-b-c.service` → `a-b-.service`,
/// `a-.service`, `service` (the type's own `service.d`).
fn dash_prefixes(name: &str) -> Vec<String> {
    let Some((stem, suffix)) = name.rsplit_once('.') else {
        return Vec::new();
    };
    let mut prefixes: Vec<String> = stem
        .match_indices('-')
        .rev()
        .map(|(index, _)| format!("{}.{suffix}", &stem[..=index]))
        .collect();
    prefixes.push(suffix.to_owned());
    prefixes
}

/// `path` (absolute, as systemd names it) under `root`.
pub(crate) fn under_root(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// The entries of a directory, sorted; none when it cannot be read.
fn read_names(directory: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_prefixes_as_systemd_names_them() {
        assert_eq!(
            template_of("getty@tty1.service").as_deref(),
            Some("getty@.service")
        );
        assert_eq!(template_of("getty@.service"), None);
        assert_eq!(template_of("plain.service"), None);
        assert_eq!(
            dash_prefixes("a-b-c.service"),
            vec!["a-b-.service", "a-.service", "service"]
        );
        assert_eq!(dash_prefixes("reboot.timer"), vec!["timer"]);
        assert_eq!(dash_prefixes("noextension"), Vec::<String>::new());
    }
}
