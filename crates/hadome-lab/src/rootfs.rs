//! The root filesystem of a lab host: a Debian bookworm with a real systemd, built once by
//! `mmdebstrap`, cached, and verified (not trusted) every time it is reused.
//!
//! There are two recipes ([`Recipe`]): [`SYSTEMD`] (systemd alone, the `s512` hosts) and
//! [`POSTGRESQL`] (systemd, Debian's `postgresql-15` and `openssh-server`, the `debian3` hosts).
//! The cache lives in `HADOME_LAB_ROOTFS_CACHE` (default `/var/cache/hadome-lab`), one directory
//! per recipe: `CACHE/PREFIX-HASH/` (`bookworm-systemd-HASH`, `bookworm-postgresql-HASH`) holding
//! `root/` and `manifest.json`. A build runs
//! in a temporary directory next to it (`CACHE/.build-HASH-PID`) and is renamed into place only
//! once it is complete and its manifest written, so an interrupted build never has the final name.
//! The manifest records the recipe (and its SHA-256), every path of the tree with its kind and
//! size (and a symlink's target), and the SHA-256 of the key binaries (systemd, journald,
//! systemctl, dbus-daemon, the shell, `touch`). Reuse checks all of it against the tree on disk
//! and the current recipe; any difference (a truncated file, a file missing or added, a tampered
//! manifest, another recipe) rejects the cache, which is then moved aside, removed, and built
//! again. The mirror is read from the machine's own `/etc/apt/sources.list*`, never written into
//! the project. A lock file (`CACHE/.lock`) serialises builds by concurrent labs.
//!
//! Each lab host gets its own copy (`cp -a --reflink=auto`), with its own machine id, so labs
//! never share state.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::pg::run;
use crate::state::RunAs;
use crate::LabError;

/// The environment variable naming the root filesystem cache directory.
pub const ROOTFS_CACHE_ENV: &str = "HADOME_LAB_ROOTFS_CACHE";

/// The cache directory when [`ROOTFS_CACHE_ENV`] is not set.
pub const DEFAULT_ROOTFS_CACHE: &str = "/var/cache/hadome-lab";

/// What a cached root filesystem is made of: the cache directory's prefix, the recipe's text
/// (hashed: changing it, even a word, changes the cache directory, so an older cache is never
/// reused for a newer recipe), mmdebstrap's `--include=` list (which the text spells out too), and
/// the files whose content the manifest checksums, relative to the root (merged /usr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recipe {
    /// `CACHE/PREFIX-HASH`.
    pub(crate) prefix: &'static str,
    pub(crate) text: &'static str,
    pub(crate) include: &'static str,
    pub(crate) key_binaries: &'static [&'static str],
}

/// A bookworm with a real systemd: the hosts of `s512`.
pub(crate) const SYSTEMD: Recipe = Recipe {
    prefix: "bookworm-systemd",
    text: "hadome lab root filesystem, recipe 1\n\
    mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm ROOT MIRROR\n\
    mkdir -p ROOT/var/log/journal (a persistent journal: the boot history survives reboots)\n\
    (per lab copy: systemd-machine-id-setup --root=COPY)\n",
    include: "systemd,systemd-sysv,dbus",
    key_binaries: &[
        "usr/lib/systemd/systemd",
        "usr/lib/systemd/systemd-journald",
        "usr/bin/systemctl",
        "usr/bin/journalctl",
        "usr/bin/dbus-daemon",
        "usr/bin/dash",
        "usr/bin/touch",
    ],
};

/// A bookworm with a real systemd, Debian's PostgreSQL 15 and OpenSSH's server: the hosts of
/// `debian3` (`debian_hosts.rs`). Debian's postinst creates the cluster `15/main` in the tree.
pub(crate) const POSTGRESQL: Recipe = Recipe {
    prefix: "bookworm-postgresql",
    text: "hadome lab root filesystem with PostgreSQL, recipe 1\n\
    mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus,postgresql-15,openssh-server,iproute2,procps,ca-certificates bookworm ROOT MIRROR\n\
    mkdir -p ROOT/var/log/journal (a persistent journal: the boot history survives reboots)\n\
    (per lab copy: systemd-machine-id-setup --root=COPY, fresh SSH host keys, the lab's\n\
    PostgreSQL conf.d, pg_hba.conf and sshd socket unit)\n",
    include: "systemd,systemd-sysv,dbus,postgresql-15,openssh-server,iproute2,procps,ca-certificates",
    key_binaries: &[
        "usr/lib/systemd/systemd",
        "usr/lib/systemd/systemd-journald",
        "usr/bin/systemctl",
        "usr/bin/journalctl",
        "usr/bin/dbus-daemon",
        "usr/bin/dash",
        "usr/bin/touch",
        "usr/lib/postgresql/15/bin/postgres",
        "usr/lib/postgresql/15/bin/pg_basebackup",
        "usr/bin/pg_ctlcluster",
        "usr/sbin/sshd",
    ],
};

const MANIFEST_FILE: &str = "manifest.json";
const MANIFEST_VERSION: u32 = 1;

/// A verified root filesystem in the cache.
#[derive(Debug, Clone)]
pub(crate) struct CachedRoot {
    /// `CACHE/bookworm-systemd-HASH/root`.
    pub(crate) root: PathBuf,
    /// Whether this call built it (else it was reused after verification).
    pub(crate) built: bool,
    /// How long the build (or the verification) took.
    pub(crate) took: Duration,
}

/// What was recorded of a tree when it was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) version: u32,
    /// The recipe's text and its SHA-256.
    pub(crate) recipe: String,
    pub(crate) recipe_sha256: String,
    /// Every path under the root (relative, `/`-separated), with what it is.
    pub(crate) entries: BTreeMap<String, Entry>,
    /// SHA-256 of each key binary.
    pub(crate) key_sha256: BTreeMap<String, String>,
}

/// One path of a tree, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Entry {
    Dir,
    File { size: u64 },
    Symlink { target: String },
    Other,
}

/// The SHA-256 of the recipe text, as lowercase hex.
pub(crate) fn recipe_sha256(recipe: &str) -> String {
    hex(&Sha256::digest(recipe.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The cache directory: `HADOME_LAB_ROOTFS_CACHE`, else `/var/cache/hadome-lab`.
pub(crate) fn cache_dir() -> PathBuf {
    std::env::var_os(ROOTFS_CACHE_ENV)
        .filter(|value| !value.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_ROOTFS_CACHE), PathBuf::from)
}

/// Records `root` as it is now: every path, and the key binaries' checksums.
pub(crate) fn record(root: &Path, recipe: &Recipe) -> Result<Manifest, LabError> {
    let entries = walk(root)?;
    let mut key_sha256 = BTreeMap::new();
    for key in recipe.key_binaries {
        let path = root.join(key);
        if path.is_file() {
            key_sha256.insert((*key).to_owned(), file_sha256(&path)?);
        }
    }
    if key_sha256.len() != recipe.key_binaries.len() {
        let missing: Vec<&str> = recipe
            .key_binaries
            .iter()
            .copied()
            .filter(|key| !key_sha256.contains_key(*key))
            .collect();
        return Err(LabError::Rootfs {
            path: root.to_owned(),
            problem: format!("the key binaries {missing:?} are missing from the built tree"),
        });
    }
    Ok(Manifest {
        version: MANIFEST_VERSION,
        recipe: recipe.text.to_owned(),
        recipe_sha256: recipe_sha256(recipe.text),
        entries,
        key_sha256,
    })
}

/// Checks the tree at `root` against the manifest at `manifest_path` and the current `recipe`.
/// `Ok(())` when everything matches; `Err(why)` names the first difference.
pub(crate) fn verify(root: &Path, manifest_path: &Path, recipe: &Recipe) -> Result<(), String> {
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|error| format!("cannot read `{}`: {error}", manifest_path.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|error| format!("`{}` is not a manifest: {error}", manifest_path.display()))?;
    if manifest.version != MANIFEST_VERSION {
        return Err(format!("manifest version {}", manifest.version));
    }
    let wanted = recipe_sha256(recipe.text);
    if manifest.recipe != recipe.text || manifest.recipe_sha256 != wanted {
        return Err("it was built by another recipe".to_owned());
    }
    if recipe_sha256(&manifest.recipe) != manifest.recipe_sha256 {
        return Err("the manifest's recipe hash does not match its recipe".to_owned());
    }
    let on_disk = walk(root).map_err(|error| error.to_string())?;
    for (path, entry) in &manifest.entries {
        match on_disk.get(path) {
            None => return Err(format!("`{path}` is missing")),
            Some(found) if found != entry => {
                return Err(format!(
                    "`{path}` is {found:?}, the manifest says {entry:?}"
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = on_disk
        .keys()
        .find(|path| !manifest.entries.contains_key(*path))
    {
        return Err(format!("`{extra}` is not in the manifest"));
    }
    for key in recipe.key_binaries {
        let recorded = manifest
            .key_sha256
            .get(*key)
            .ok_or_else(|| format!("the manifest has no checksum of `{key}`"))?;
        let actual = file_sha256(&root.join(key)).map_err(|error| error.to_string())?;
        if &actual != recorded {
            return Err(format!(
                "`{key}` has SHA-256 {actual}, the manifest says {recorded}"
            ));
        }
    }
    Ok(())
}

/// Every path under `root`, relative, with its kind and size (symlinks not followed).
fn walk(root: &Path) -> Result<BTreeMap<String, Entry>, LabError> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let listing = std::fs::read_dir(&dir).map_err(|source| LabError::Io {
            action: "read directory",
            path: dir.clone(),
            source,
        })?;
        for item in listing {
            let item = item.map_err(|source| LabError::Io {
                action: "read directory",
                path: dir.clone(),
                source,
            })?;
            let path = item.path();
            let metadata = std::fs::symlink_metadata(&path).map_err(|source| LabError::Io {
                action: "inspect",
                path: path.clone(),
                source,
            })?;
            let relative = path
                .strip_prefix(root)
                .map_err(|_| LabError::Bug(format!("`{}` escaped its root", path.display())))?
                .to_string_lossy()
                .into_owned();
            let file_type = metadata.file_type();
            let entry = if file_type.is_dir() {
                pending.push(path.clone());
                Entry::Dir
            } else if file_type.is_file() {
                Entry::File {
                    size: metadata.size(),
                }
            } else if file_type.is_symlink() {
                let target = std::fs::read_link(&path).map_err(|source| LabError::Io {
                    action: "read symlink",
                    path: path.clone(),
                    source,
                })?;
                Entry::Symlink {
                    target: target.to_string_lossy().into_owned(),
                }
            } else {
                Entry::Other
            };
            entries.insert(relative, entry);
        }
    }
    Ok(entries)
}

/// The SHA-256 of a file's content, read whole.
pub(crate) fn file_sha256(path: &Path) -> Result<String, LabError> {
    let mut file = std::fs::File::open(path).map_err(|source| LabError::Io {
        action: "open",
        path: path.to_owned(),
        source,
    })?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(|source| LabError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The Debian mirror this machine uses for bookworm, from `/etc/apt/sources.list` and
/// `/etc/apt/sources.list.d/*.list|*.sources` (one-line and deb822 formats).
pub(crate) fn machine_mirror() -> Result<String, LabError> {
    let mut texts = Vec::new();
    let main = Path::new("/etc/apt/sources.list");
    if let Ok(text) = std::fs::read_to_string(main) {
        texts.push((false, text));
    }
    if let Ok(listing) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = listing.filter_map(|item| Some(item.ok()?.path())).collect();
        paths.sort();
        for path in paths {
            let deb822 = match path.extension().and_then(|ext| ext.to_str()) {
                Some("sources") => true,
                Some("list") => false,
                _ => continue,
            };
            if let Ok(text) = std::fs::read_to_string(&path) {
                texts.push((deb822, text));
            }
        }
    }
    texts
        .iter()
        .find_map(|(deb822, text)| {
            if *deb822 {
                mirror_from_deb822(text)
            } else {
                mirror_from_one_line(text)
            }
        })
        .ok_or(LabError::NoMirror)
}

/// The URI of the first `deb` stanza whose suites include `bookworm`.
fn mirror_from_deb822(text: &str) -> Option<String> {
    for stanza in text.split("\n\n") {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                fields.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let is_deb = fields
            .get("types")
            .is_some_and(|types| types.split_whitespace().any(|kind| kind == "deb"));
        let enabled = fields.get("enabled").is_none_or(|value| value != "no");
        let bookworm = fields
            .get("suites")
            .is_some_and(|suites| suites.split_whitespace().any(|suite| suite == "bookworm"));
        if is_deb && enabled && bookworm {
            if let Some(uri) = fields
                .get("uris")
                .and_then(|uris| uris.split_whitespace().next())
            {
                return Some(uri.to_owned());
            }
        }
    }
    None
}

/// The URI of the first `deb URI bookworm …` line.
fn mirror_from_one_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut words = line
            .split_whitespace()
            .filter(|word| !word.starts_with('['));
        if words.next()? != "deb" {
            return None;
        }
        let uri = words.next()?;
        (words.next()? == "bookworm").then(|| uri.to_owned())
    })
}

/// The cached root for `recipe`: verified and reused, or built (and then recorded).
pub(crate) async fn ensure(recipe: &'static Recipe) -> Result<CachedRoot, LabError> {
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).map_err(|source| LabError::Io {
        action: "create the root filesystem cache",
        path: cache.clone(),
        source,
    })?;
    let lock_path = cache.join(".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| LabError::Io {
            action: "open",
            path: lock_path.clone(),
            source,
        })?;
    // Another lab may be building the same recipe: wait for it (its build is then reused).
    let lock = tokio::task::spawn_blocking(move || {
        nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
    })
    .await
    .map_err(|error| LabError::Bug(format!("the cache lock task failed: {error}")))?
    .map_err(|(_, errno)| LabError::Io {
        action: "lock",
        path: lock_path.clone(),
        source: std::io::Error::from(errno),
    })?;
    let result = ensure_locked(&cache, recipe).await;
    drop(lock);
    result
}

async fn ensure_locked(cache: &Path, recipe: &'static Recipe) -> Result<CachedRoot, LabError> {
    let hash = recipe_sha256(recipe.text);
    let name = format!("{}-{}", recipe.prefix, &hash[..12]);
    let home = cache.join(&name);
    let root = home.join("root");
    let manifest = home.join(MANIFEST_FILE);
    let started = Instant::now();
    if home.exists() {
        let (root_checked, manifest_checked) = (root.clone(), manifest.clone());
        let verdict =
            tokio::task::spawn_blocking(move || verify(&root_checked, &manifest_checked, recipe))
                .await
                .map_err(|error| {
                    LabError::Bug(format!("the cache verification task failed: {error}"))
                })?;
        match verdict {
            Ok(()) => {
                return Ok(CachedRoot {
                    root,
                    built: false,
                    took: started.elapsed(),
                })
            }
            Err(why) => {
                eprintln!(
                    "hadome lab: the cached root filesystem `{}` is rejected ({why}); building it again",
                    home.display()
                );
                // Moved aside first, so no reader ever sees half a removal; a cache is ours to
                // remove (it holds nothing but what mmdebstrap downloaded).
                let rejected = cache.join(format!(".rejected-{name}-{}", std::process::id()));
                std::fs::rename(&home, &rejected).map_err(|source| LabError::Io {
                    action: "move aside the rejected cache",
                    path: home.clone(),
                    source,
                })?;
                std::fs::remove_dir_all(&rejected).map_err(|source| LabError::Io {
                    action: "remove the rejected cache",
                    path: rejected.clone(),
                    source,
                })?;
            }
        }
    }
    build(cache, &home, &hash, recipe).await?;
    Ok(CachedRoot {
        root,
        built: true,
        took: started.elapsed(),
    })
}

async fn build(
    cache: &Path,
    home: &Path,
    hash: &str,
    recipe: &'static Recipe,
) -> Result<(), LabError> {
    let mirror = machine_mirror()?;
    let temporary = cache.join(format!(".build-{}-{}", &hash[..12], std::process::id()));
    if temporary.exists() {
        std::fs::remove_dir_all(&temporary).map_err(|source| LabError::Io {
            action: "remove an earlier build of this process",
            path: temporary.clone(),
            source,
        })?;
    }
    let result = build_into(&temporary, &mirror, recipe).await;
    if let Err(error) = result {
        // A failed build is never kept: it could be mistaken for a whole one.
        let _ = std::fs::remove_dir_all(&temporary);
        return Err(error);
    }
    std::fs::rename(&temporary, home).map_err(|source| LabError::Io {
        action: "rename the built root filesystem into place",
        path: home.to_owned(),
        source,
    })
}

async fn build_into(
    temporary: &Path,
    mirror: &str,
    recipe: &'static Recipe,
) -> Result<(), LabError> {
    std::fs::create_dir_all(temporary).map_err(|source| LabError::Io {
        action: "create directory",
        path: temporary.to_owned(),
        source,
    })?;
    let root = temporary.join("root");
    run(
        &RunAs::CurrentUser,
        temporary,
        Path::new("mmdebstrap"),
        [
            "--variant=minbase",
            &format!("--include={}", recipe.include),
            "bookworm",
            &root.to_string_lossy(),
            mirror,
        ],
        "building the lab's root filesystem",
    )
    .await?;
    let journal = root.join("var/log/journal");
    std::fs::create_dir_all(&journal).map_err(|source| LabError::Io {
        action: "create directory",
        path: journal,
        source,
    })?;
    let root_recorded = root.clone();
    let manifest = tokio::task::spawn_blocking(move || record(&root_recorded, recipe))
        .await
        .map_err(|error| LabError::Bug(format!("the manifest task failed: {error}")))??;
    let path = temporary.join(MANIFEST_FILE);
    let text = serde_json::to_string(&manifest)
        .map_err(|error| LabError::Bug(format!("a manifest does not serialize: {error}")))?;
    std::fs::write(&path, text).map_err(|source| LabError::Io {
        action: "write",
        path,
        source,
    })
}

/// Copies the cached `root` to `destination` (which must not exist), as a reflink where the
/// filesystem allows, and gives the copy its own machine id. Returns how long the copy took.
pub(crate) async fn copy(root: &Path, destination: &Path) -> Result<Duration, LabError> {
    let started = Instant::now();
    let parent = destination.parent().unwrap_or(Path::new("/"));
    run(
        &RunAs::CurrentUser,
        parent,
        Path::new("cp"),
        [
            "-a".as_ref(),
            "--reflink=auto".as_ref(),
            root.as_os_str(),
            destination.as_os_str(),
        ],
        "copying the lab's root filesystem",
    )
    .await?;
    let took = started.elapsed();
    // mmdebstrap leaves /etc/machine-id empty ("uninitialized" for systemd's first boot); each
    // copy gets its own, so two lab hosts never share a journal directory name.
    let machine_id = destination.join("etc/machine-id");
    let _ = std::fs::remove_file(&machine_id);
    run(
        &RunAs::CurrentUser,
        parent,
        Path::new("systemd-machine-id-setup"),
        [format!("--root={}", destination.display())],
        "giving the lab host its machine id",
    )
    .await?;
    Ok(took)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small fake root with every key binary.
    fn fake_root() -> tempfile::TempDir {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("root");
        for key in SYSTEMD.key_binaries {
            let path = root.join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("binary {key}")).unwrap();
        }
        std::fs::create_dir_all(root.join("var/log/journal")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        let manifest = record(&root, &SYSTEMD).unwrap();
        std::fs::write(
            scratch.path().join(MANIFEST_FILE),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        scratch
    }

    fn check(scratch: &tempfile::TempDir) -> Result<(), String> {
        verify(
            &scratch.path().join("root"),
            &scratch.path().join(MANIFEST_FILE),
            &SYSTEMD,
        )
    }

    #[test]
    fn a_tree_as_recorded_verifies() {
        let scratch = fake_root();
        check(&scratch).unwrap();
    }

    #[test]
    fn a_truncated_file_is_rejected() {
        let scratch = fake_root();
        std::fs::write(scratch.path().join("root/usr/bin/systemctl"), "bin").unwrap();
        let why = check(&scratch).unwrap_err();
        assert!(why.contains("usr/bin/systemctl"), "{why}");
    }

    #[test]
    fn a_key_binary_changed_in_place_is_rejected() {
        let scratch = fake_root();
        // Same size, other content: only the checksum tells.
        let path = scratch.path().join("root/usr/lib/systemd/systemd");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("binary", "BINARY")).unwrap();
        let why = check(&scratch).unwrap_err();
        assert!(why.contains("SHA-256"), "{why}");
    }

    #[test]
    fn a_missing_or_added_path_is_rejected() {
        let scratch = fake_root();
        std::fs::remove_dir(scratch.path().join("root/var/log/journal")).unwrap();
        assert!(check(&scratch).unwrap_err().contains("var/log/journal"));
        let scratch = fake_root();
        std::fs::write(scratch.path().join("root/extra"), "").unwrap();
        assert!(check(&scratch).unwrap_err().contains("not in the manifest"));
    }

    #[test]
    fn a_tampered_manifest_or_another_recipe_is_rejected() {
        let scratch = fake_root();
        let path = scratch.path().join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert!(check(&scratch).unwrap_err().contains("not a manifest"));

        let scratch = fake_root();
        let path = scratch.path().join(MANIFEST_FILE);
        let mut manifest: Manifest =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        manifest
            .entries
            .insert("usr/bin/dash".to_owned(), Entry::File { size: 1 });
        std::fs::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
        assert!(check(&scratch).unwrap_err().contains("usr/bin/dash"));

        let scratch = fake_root();
        let other = verify(
            &scratch.path().join("root"),
            &scratch.path().join(MANIFEST_FILE),
            &POSTGRESQL,
        );
        assert!(other.unwrap_err().contains("another recipe"));
        assert!(check(&scratch).is_ok());
    }

    #[test]
    fn each_recipe_spells_its_include_list_and_the_systemd_one_kept_its_hash() {
        for recipe in [SYSTEMD, POSTGRESQL] {
            let include = format!("--include={} ", recipe.include);
            assert!(recipe.text.contains(&include), "{}", recipe.prefix);
            assert!(recipe.key_binaries.contains(&"usr/lib/systemd/systemd"));
        }
        // The `s512` hosts' caches built before recipes were values are still theirs.
        assert_eq!(&recipe_sha256(SYSTEMD.text)[..12], "03ac503800cb");
        assert_ne!(recipe_sha256(SYSTEMD.text), recipe_sha256(POSTGRESQL.text));
    }

    #[test]
    fn a_missing_manifest_is_rejected() {
        let scratch = fake_root();
        std::fs::remove_file(scratch.path().join(MANIFEST_FILE)).unwrap();
        assert!(check(&scratch).unwrap_err().contains("cannot read"));
    }

    #[test]
    fn the_mirror_comes_from_either_sources_format() {
        let deb822 = "Types: deb\n# a comment\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n";
        assert_eq!(
            mirror_from_deb822(deb822).as_deref(),
            Some("http://mirror.invalid/debian")
        );
        assert_eq!(
            mirror_from_deb822("Types: deb\nURIs: http://x.invalid/\nSuites: bookworm-security\n"),
            None
        );
        let one_line = "# deb http://old.invalid/ bookworm main\ndeb [arch=amd64] http://mirror.invalid/debian bookworm main\n";
        assert_eq!(
            mirror_from_one_line(one_line).as_deref(),
            Some("http://mirror.invalid/debian")
        );
    }
}
