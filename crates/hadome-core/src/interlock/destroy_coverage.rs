//! `destroy-coverage` (incident C): never delete a host's only copy of its data.
//!
//! An operator deleted S512, believing its data was backed up: it held the only copy of uploaded
//! files, and no image was taken first ("it takes time"). Deleting a host (`delete-host`) MUST be
//! denied unless every one of its `data_paths` is covered, and deleting a path on a host
//! (`delete-data HOST:/PATH`) unless that path (and every data path under it) is covered, by:
//! - a backup that covers it (`covers`: the path or an ancestor of it, on that host), whose copies
//!   do not live on that host (`stored_on`; a backup with no `stored_on` lives where hadome runs,
//!   which is the host itself when the host has no `facts_command`), and that `backup-trust`
//!   finds nothing blocking in now (no `deny` or `needs-human` finding); or
//! - a verified final image of the host (the journal's `images`) taken after the path's newest
//!   change, as the host's fresh facts tell it. When the newest change is unknown (facts missing,
//!   stale or unreadable, a path hadome does not read), no image can be shown to cover it.
//!
//! The denial MUST name each uncovered path and why each candidate does not cover it (each backup
//! that covers something on the host, each final image). For `delete-host`, the prerequisites
//! say what `hadome run` does first: take a final image, verify it, and only then delete
//! (preserve before destroy).

use std::path::{Path, PathBuf};

use crate::action::Action;
use crate::estate::Backup;
use crate::fact::Timestamp;
use crate::finding::{human_bytes, Finding, Severity};
use crate::host::{final_image_name, Host};
use crate::interlock::backup_trust;
use crate::interlock::view::View;
use crate::rule::DESTROY_COVERAGE;

/// `ask delete-host`, `ask delete-data HOST:/PATH`.
pub(crate) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    let (host, paths): (&Host, Vec<PathBuf>) = match action {
        Action::DeleteHost { host } => {
            let Some(host) = view.estate.host(host) else {
                return Vec::new();
            };
            (host, host.data_paths.clone())
        }
        Action::DeletePath { host, path } => {
            let Some(host) = view.estate.host(host) else {
                return Vec::new();
            };
            if !path.is_absolute() {
                return vec![Finding {
                    rule: DESTROY_COVERAGE,
                    severity: Severity::Deny,
                    subject: format!("{}:{}", host.name, path.display()),
                    message: format!(
                        "`{}` is not an absolute path: hadome cannot tell what it would delete",
                        path.display()
                    ),
                    alternative: None,
                }];
            }
            let mut paths = vec![path.clone()];
            paths.extend(
                host.data_paths
                    .iter()
                    .filter(|data_path| data_path.starts_with(path) && *data_path != path)
                    .cloned(),
            );
            (host, paths)
        }
        _ => return Vec::new(),
    };
    paths
        .iter()
        .filter_map(|path| uncovered(view, host, path, action))
        .collect()
}

/// The finding for `path` on `host` when nothing covers it; `None` when something does.
fn uncovered(view: &View, host: &Host, path: &Path, action: &Action) -> Option<Finding> {
    let name = &host.name;
    let mut reasons = Vec::new();
    let candidates: Vec<&Backup> = view
        .estate
        .backups
        .iter()
        .filter(|backup| backup.covers.iter().any(|covered| covered.host == *name))
        .collect();
    for backup in &candidates {
        match backup_covers(view, host, backup, path) {
            Ok(()) => return None,
            Err(reason) => reasons.push(reason),
        }
    }
    if candidates.is_empty() {
        reasons.push(format!("no backup covers anything on `{name}`"));
    }
    let images = view
        .history
        .hosts
        .get(name)
        .map_or(&[][..], |record| record.images.as_slice());
    let newest_change = newest_change(view, host, path);
    for image in images.iter().rev() {
        let taken = image.taken_at.utc_text();
        let reason = if !image.verified {
            format!("image `{}` (taken {taken}) was not verified", image.name)
        } else {
            match &newest_change {
                Err(why) => format!(
                    "image `{}` (taken {taken}) cannot be shown to cover it: {why}",
                    image.name
                ),
                Ok(changed) if image.taken_at <= *changed => format!(
                    "image `{}` was taken {taken}, before it last changed ({})",
                    image.name,
                    changed.utc_text()
                ),
                Ok(_) => return None,
            }
        };
        reasons.push(reason);
    }
    if images.is_empty() {
        reasons.push(format!("no final image of `{name}` was taken"));
    }
    let size = view
        .fresh_host(name)
        .and_then(|facts| {
            facts
                .data_paths
                .iter()
                .find(|fact| fact.path == path)
                .and_then(|fact| fact.outcome.as_ref().ok())
        })
        .map_or(String::new(), |state| {
            format!(
                " ({} in {} files)",
                human_bytes(state.size_bytes),
                state.files
            )
        });
    let shown = format!("{name}:{}", path.display());
    let alternative = match action {
        Action::DeleteHost { .. } => format!(
            "cover it first: take a final image (`hadome run image {name} --no-reboot`, verified and journaled), or add a backup that covers it (`covers = [\"{shown}\"]`), stored elsewhere (`stored_on`), that passes backup-trust; then ask again"
        ),
        _ => format!(
            "cover it first: a backup that covers it (`covers = [\"{shown}\"]`), stored elsewhere (`stored_on`), that passes backup-trust, or a verified final image taken after its newest change; then ask again"
        ),
    };
    Some(Finding {
        rule: DESTROY_COVERAGE,
        severity: Severity::Deny,
        subject: shown.clone(),
        message: format!(
            "`{shown}`{size} would be destroyed, and nothing covers it: {}",
            reasons.join("; ")
        ),
        alternative: Some(alternative),
    })
}

/// `Ok` when `backup` covers `path` on `host` and may be restored from once `host` is gone.
fn backup_covers(view: &View, host: &Host, backup: &Backup, path: &Path) -> Result<(), String> {
    let name = &backup.name;
    if !backup
        .covers
        .iter()
        .any(|covered| covered.covers(&host.name, path))
    {
        let on_host: Vec<String> = backup
            .covers
            .iter()
            .filter(|covered| covered.host == host.name)
            .map(|covered| format!("`{covered}`"))
            .collect();
        return Err(format!(
            "backup `{name}` covers {} only",
            on_host.join(", ")
        ));
    }
    match &backup.stored_on {
        Some(stored_on) if *stored_on == host.name => {
            return Err(format!(
                "backup `{name}` covers it, but its copies live on `{stored_on}` itself (stored_on)"
            ));
        }
        None if host.facts_command.is_none() => {
            return Err(format!(
                "backup `{name}` covers it, but its copies live where hadome runs, which is `{}` itself (no `stored_on`, and `{}` has no `facts_command`)",
                host.name, host.name
            ));
        }
        _ => {}
    }
    let blocking: Vec<Finding> = backup_trust::judge(view, backup)
        .into_iter()
        .filter(|finding| finding.severity >= Severity::NeedsHuman)
        .collect();
    match blocking.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "backup `{name}` covers it, but backup-trust refuses it ({}): {}",
            first.severity.as_str(),
            first.message
        )),
    }
}

/// When anything under `path` last changed: from the host's fresh facts, the data path that is
/// `path` or holds it (an upper bound for a path under it). `Err` with why it is unknown.
fn newest_change(view: &View, host: &Host, path: &Path) -> Result<Timestamp, String> {
    let Some(facts) = view.fresh_host(&host.name) else {
        return Err(format!(
            "its newest change is unknown: {}",
            view.why_host_not_fresh(&host.name)
        ));
    };
    let Some(fact) = facts
        .data_paths
        .iter()
        .filter(|fact| path.starts_with(&fact.path))
        .max_by_key(|fact| fact.path.components().count())
    else {
        return Err(format!(
            "its newest change is unknown: `{}` is not a data path hadome reads on `{}`",
            path.display(),
            host.name
        ));
    };
    match &fact.outcome {
        Err(error) => Err(format!(
            "its newest change is unknown: `{}` could not be read ({error})",
            fact.path.display()
        )),
        Ok(state) => state.newest_change.ok_or_else(|| {
            format!(
                "its newest change is unknown: `{}` is empty and its own time could not be read",
                fact.path.display()
            )
        }),
    }
}

/// Preserve before destroy: what `hadome run delete-host` does before it deletes.
pub(crate) fn prerequisites(view: &View, action: &Action) -> Vec<String> {
    let Action::DeleteHost { host } = action else {
        return Vec::new();
    };
    let taken = view
        .history
        .hosts
        .get(host)
        .map_or(&[][..], |history| history.images.as_slice());
    let image = final_image_name(host, view.now, taken);
    vec![
        format!("take a final image of `{host}`, `{image}` (its image_command)"),
        format!("verify `{image}` (its verify_image_command): nothing is deleted unless it passes"),
    ]
}
