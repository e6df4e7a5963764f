//! The backups as the dashboard judges them: the daemon's passes do not read backups (`facts.rs`
//! says why), so each page lists their copies itself, which is cheap, and reads each newest copy
//! whole only once: the verification is kept while the copy's path, size and modification time
//! stay the same.
//!
//! Without the read, `backup-trust` would say of every backup that nothing vouches for its newest
//! copy, and the page would be amber for ever; reading every copy whole at every refresh (every
//! few seconds, by every open page) would cost what `hadome check` costs, for nothing new.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use hadome_core::backup::{BackupObservation, CopyVerification, Storage};
use hadome_core::estate::Estate;

use crate::backup_facts::{observe_backups, verify_copy, BackupReading};

/// A copy as listed: its path, size and modification time. A copy rewritten in place differs in
/// one of them, and is read again.
type CopyKey = (PathBuf, u64, i64);

/// The verifications of the newest copies, by copy. One daemon serves one page handler, so one
/// map per process is one per daemon; entries of copies no longer newest are dropped.
fn verified() -> &'static Mutex<BTreeMap<CopyKey, CopyVerification>> {
    static VERIFIED: OnceLock<Mutex<BTreeMap<CopyKey, CopyVerification>>> = OnceLock::new();
    VERIFIED.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Every backup's copies as listed now, each newest copy with its verification (read whole the
/// first time it is seen), and the filesystems of the paths of interest.
pub(super) async fn observe(
    estate: &Estate,
) -> (
    BTreeMap<String, BackupObservation>,
    BTreeMap<PathBuf, Storage>,
) {
    let (mut backups, storage) = observe_backups(estate, BackupReading::ListOnly).await;
    if backups.is_empty() {
        return (backups, storage);
    }
    let kinds: BTreeMap<String, _> = estate
        .backups
        .iter()
        .map(|backup| (backup.name.clone(), backup.kind))
        .collect();
    let read = tokio::task::spawn_blocking(move || {
        let mut cache = verified()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut kept = BTreeMap::new();
        for (name, observation) in &mut backups {
            let (Ok(copies), Some(kind)) = (&mut observation.copies, kinds.get(name)) else {
                continue;
            };
            let Some(newest) = copies.first_mut() else {
                continue;
            };
            let key = (newest.path.clone(), newest.size_bytes, newest.modified_at.0);
            let verification = cache
                .remove(&key)
                .unwrap_or_else(|| verify_copy(*kind, &newest.path));
            newest.verification = Some(verification.clone());
            kept.insert(key, verification);
        }
        *cache = kept;
        backups
    })
    .await;
    match read {
        Ok(backups) => (backups, storage),
        // A panic while reading is a bug; the backups are then not looked at, and
        // `backup-trust` says so (fail closed), as a pass of the CLI would.
        Err(_) => (BTreeMap::new(), storage),
    }
}
