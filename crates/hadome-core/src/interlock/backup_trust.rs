//! `backup-trust` (incident A): a backup is judged by what is on disk *and* by its own history.
//!
//! Misskey uploaded an empty dump every night for months; every run "succeeded". A backup MUST be
//! reported (`deny`, critical in `check`) when:
//! - its copies cannot be listed, or it has none;
//! - its newest copy is empty, smaller than `min_size_bytes`, or older than `max_age_seconds`;
//! - its newest copy is smaller than `max_shrink_ratio` times the copy before it (the journal's
//!   record of the copy before it when that copy is gone from disk);
//! - its newest copy's SHA-256 differs from the one hadome recorded when it made it;
//! - its newest copy's structure is broken (a truncated archive, a base backup that
//!   `pg_verifybackup` rejects);
//! - the newest restore test of it failed.
//!
//! It is `needs-human` when `restore_test_max_age_seconds` is set and no restore test passed
//! within it, and when its newest copy was listed but not read (nothing vouches for it).
//! Restoring from a backup (`restore-backup`) carries every `deny` and `needs-human` finding of
//! the backup, as it is.

use crate::action::Action;
use crate::backup::BackupCopy;
use crate::estate::Backup;
use crate::finding::{human_bytes, human_duration, Finding, Severity};
use crate::interlock::view::View;
use crate::rule::BACKUP_TRUST;

/// Every problem of `backup`, worst first.
pub(crate) fn judge(view: &View, backup: &Backup) -> Vec<Finding> {
    let mut findings = Vec::new();
    let name = &backup.name;
    let finding = |severity: Severity, message: String, alternative: Option<String>| Finding {
        rule: BACKUP_TRUST,
        severity,
        subject: name.clone(),
        message,
        alternative,
    };
    let make_one = backup
        .command
        .as_ref()
        .map(|_| format!("make a new one: `hadome backup run {name}`"));
    let Some(observation) = view.facts.backups.get(name) else {
        findings.push(finding(
            Severity::NeedsHuman,
            format!("backup `{name}` was not looked at: nothing vouches for it"),
            None,
        ));
        return findings;
    };
    let copies = match &observation.copies {
        Ok(copies) => copies,
        Err(error) => {
            findings.push(finding(
                Severity::Deny,
                format!("the copies of backup `{name}` cannot be listed: {error}"),
                None,
            ));
            return findings;
        }
    };
    let Some(newest) = copies.first() else {
        findings.push(finding(
            Severity::Deny,
            format!(
                "backup `{name}` has no copy: nothing matches `{}`",
                backup.path.display()
            ),
            make_one,
        ));
        return findings;
    };
    let history = view.history.backups.get(name);
    let shown = newest.path.display();

    if newest.size_bytes == 0 {
        findings.push(finding(
            Severity::Deny,
            format!("the newest copy of `{name}`, `{shown}`, is empty (0 bytes)"),
            make_one.clone(),
        ));
    } else if let Some(floor) = backup
        .min_size_bytes
        .filter(|floor| newest.size_bytes < *floor)
    {
        findings.push(finding(
            Severity::Deny,
            format!(
                "the newest copy of `{name}`, `{shown}`, is {} ({} bytes), under its floor of {} (min_size_bytes)",
                human_bytes(newest.size_bytes),
                newest.size_bytes,
                human_bytes(floor)
            ),
            make_one.clone(),
        ));
    }
    let age = view.now.seconds_since(newest.modified_at);
    if let Some(bound) = backup.max_age_seconds.filter(|bound| age > *bound) {
        findings.push(finding(
            Severity::Deny,
            format!(
                "the newest copy of `{name}`, `{shown}`, is {} old, past its bound of {} (max_age_seconds)",
                human_duration(age),
                human_duration(bound)
            ),
            make_one.clone(),
        ));
    }
    if let Some(ratio) = backup.max_shrink_ratio {
        if let Some((previous_path, previous_size)) = previous_copy(view, backup, copies) {
            let floor = previous_size as f64 * ratio;
            if (newest.size_bytes as f64) < floor {
                let shrunk = 100.0 * (1.0 - newest.size_bytes as f64 / previous_size as f64);
                findings.push(finding(
                    Severity::Deny,
                    format!(
                        "the newest copy of `{name}`, `{shown}`, is {} ({} bytes), {shrunk:.0}% smaller than the copy before it, `{}` ({}); the bound is {:.0}% of it (max_shrink_ratio = {ratio})",
                        human_bytes(newest.size_bytes),
                        newest.size_bytes,
                        previous_path,
                        human_bytes(previous_size),
                        ratio * 100.0
                    ),
                    Some("find out what the dump left out before trusting it; the older copies are kept".to_owned()),
                ));
            }
        }
    }
    match &newest.verification {
        None => findings.push(finding(
            Severity::NeedsHuman,
            format!("the newest copy of `{name}`, `{shown}`, was not read: its checksum and structure are unknown"),
            Some(format!("`hadome backup verify {name}`")),
        )),
        Some(verification) => {
            if let Some(made) = history.and_then(|history| history.made.get(&newest.path)) {
                if made.sha256_hex != verification.sha256_hex {
                    findings.push(finding(
                        Severity::Deny,
                        format!(
                            "the newest copy of `{name}`, `{shown}`, fails its checksum: SHA-256 {} now, {} when hadome made it {}",
                            short(&verification.sha256_hex),
                            short(&made.sha256_hex),
                            view.ago(made.made_at)
                        ),
                        make_one.clone(),
                    ));
                }
            }
            if let Err(reason) = &verification.structure {
                findings.push(finding(
                    Severity::Deny,
                    format!("the newest copy of `{name}`, `{shown}`, is broken: {reason}"),
                    make_one.clone(),
                ));
            }
        }
    }
    if let Some(history) = history {
        if let Some(last) = &history.last_restore_test {
            if !last.ok {
                findings.push(finding(
                    Severity::Deny,
                    format!(
                        "the newest restore test of `{name}` ({}, of `{}`) failed: {}",
                        view.ago(last.at),
                        last.path.display(),
                        last.detail
                    ),
                    None,
                ));
            }
        }
    }
    if let Some(bound) = backup.restore_test_max_age_seconds {
        let pass = history.and_then(|history| history.last_restore_pass.as_ref());
        let message = match pass {
            None => Some(format!(
                "no restore test of `{name}` ever passed (restore_test_max_age_seconds = {})",
                human_duration(bound)
            )),
            Some(pass) if view.now.seconds_since(pass.at) > bound => Some(format!(
                "the last restore test of `{name}` that passed is {} old, past its bound of {} (restore_test_max_age_seconds)",
                human_duration(view.now.seconds_since(pass.at)),
                human_duration(bound)
            )),
            Some(_) => None,
        };
        if let Some(message) = message {
            findings.push(finding(
                Severity::NeedsHuman,
                message,
                Some(format!("`hadome backup restore-test {name}`")),
            ));
        }
    }
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    findings
}

/// The copy before the newest one: the next on disk, else the newest other copy the journal
/// remembers making. Its path (as text) and size.
fn previous_copy(view: &View, backup: &Backup, copies: &[BackupCopy]) -> Option<(String, u64)> {
    if let Some(previous) = copies.get(1) {
        return Some((format!("{}", previous.path.display()), previous.size_bytes));
    }
    let newest = copies.first()?;
    view.history
        .backups
        .get(&backup.name)?
        .made
        .iter()
        .filter(|(path, made)| **path != newest.path && made.size_bytes > 0)
        .max_by_key(|(_, made)| made.made_at)
        .map(|(path, made)| {
            (
                format!("{} (gone from disk)", path.display()),
                made.size_bytes,
            )
        })
}

fn short(sha256_hex: &str) -> &str {
    sha256_hex.get(..12).unwrap_or(sha256_hex)
}

/// `check`: every backup's findings.
pub(crate) fn check(view: &View) -> Vec<Finding> {
    view.estate
        .backups
        .iter()
        .flat_map(|backup| judge(view, backup))
        .collect()
}

/// `ask restore-backup`: the backup restored from must be trusted.
pub(crate) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    let Action::RestoreBackup { backup, target } = action else {
        return Vec::new();
    };
    let Some(backup) = view.estate.backup(backup) else {
        return Vec::new();
    };
    judge(view, backup)
        .into_iter()
        .filter(|finding| finding.severity >= Severity::NeedsHuman)
        .map(|mut finding| {
            finding.message = format!(
                "`{target}` would be restored from an untrusted backup: {}",
                finding.message
            );
            finding
        })
        .collect()
}
