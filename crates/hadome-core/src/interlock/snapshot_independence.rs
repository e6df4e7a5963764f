//! `snapshot-independence` (incident A): a copy kept inside what it protects dies with it.
//!
//! Misskey kept its snapshots inside the volume they protected. `check` MUST report (`deny`):
//! - a snapshot whose `location` lies inside the path it `protects`, or on the same filesystem
//!   (the same `st_dev`: on btrfs, the same subvolume);
//! - a backup of an instance whose copies lie inside that instance's data directory, or on its
//!   filesystem.
//!
//! It is a warning when hadome could not look up where a path lives (a path on another host, or
//! missing): the containment check still holds. `ask delete-data <instance>` MUST name every snapshot and backup that lies inside
//! the data directory and would go with it, and MUST deny when no snapshot or backup of that data
//! survives elsewhere; with one that survives, the loss is a warning.

use std::path::{Path, PathBuf};

use crate::action::Action;
use crate::finding::{Finding, Severity};
use crate::interlock::view::View;
use crate::rule::SNAPSHOT_INDEPENDENCE;

/// How a copy's place stands against what it protects.
enum Placement {
    /// On another filesystem, outside it.
    Independent,
    /// Inside the protected path.
    Inside,
    /// Outside, but on the same filesystem (`st_dev`).
    SameFilesystem(u64),
    /// Where one of them lives is unknown.
    Unknown(PathBuf),
}

/// The path with symbolic links resolved when hadome looked it up, else as written.
fn resolved<'a>(view: &View<'a>, path: &'a Path) -> &'a Path {
    view.facts
        .storage
        .get(path)
        .map_or(path, |storage| storage.canonical.as_path())
}

fn placement(view: &View, copy: &Path, protected: &Path) -> Placement {
    if resolved(view, copy).starts_with(resolved(view, protected)) {
        return Placement::Inside;
    }
    match (
        view.facts.storage.get(copy),
        view.facts.storage.get(protected),
    ) {
        (Some(copy), Some(protected)) if copy.device == protected.device => {
            Placement::SameFilesystem(copy.device)
        }
        (Some(_), Some(_)) => Placement::Independent,
        (None, _) => Placement::Unknown(copy.to_path_buf()),
        (Some(_), None) => Placement::Unknown(protected.to_path_buf()),
    }
}

/// The directory a backup's copies are written to.
pub(crate) fn backup_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(path)
}

fn finding(
    subject: &str,
    severity: Severity,
    message: String,
    alternative: Option<String>,
) -> Finding {
    Finding {
        rule: SNAPSHOT_INDEPENDENCE,
        severity,
        subject: subject.to_owned(),
        message,
        alternative,
    }
}

fn judge(view: &View, subject: &str, what: &str, copy: &Path, protected: &Path) -> Option<Finding> {
    let elsewhere = Some(format!(
        "keep {what} on another filesystem (another disk, host or bucket) than `{}`",
        protected.display()
    ));
    match placement(view, copy, protected) {
        Placement::Independent => None,
        Placement::Inside => Some(finding(
            subject,
            Severity::Deny,
            format!(
                "{what} live inside what they protect: `{}` is inside `{}`, so losing `{}` loses them too",
                copy.display(),
                protected.display(),
                protected.display()
            ),
            elsewhere,
        )),
        Placement::SameFilesystem(device) => Some(finding(
            subject,
            Severity::Deny,
            format!(
                "{what} live on the same filesystem as what they protect: `{}` and `{}` are both on device {} (on btrfs: one subvolume), so one failed disk or one deleted volume takes both",
                copy.display(),
                protected.display(),
                device_text(device)
            ),
            elsewhere,
        )),
        // A path on another host cannot be looked up from here: worth knowing, not an alarm (the
        // containment check above needs no lookup).
        Placement::Unknown(path) => Some(finding(
            subject,
            Severity::Warn,
            format!(
                "hadome could not look up where `{}` lives, so it cannot tell whether {what} survive the loss of `{}`",
                path.display(),
                protected.display()
            ),
            None,
        )),
    }
}

/// `major:minor`, as `ls -l /dev` and `/proc/self/mountinfo` write a device.
fn device_text(device: u64) -> String {
    let major = ((device >> 32) & 0xffff_f000) | ((device >> 8) & 0x0000_0fff);
    let minor = ((device >> 12) & 0xffff_ff00) | (device & 0x0000_00ff);
    format!("{major}:{minor}")
}

/// `check`: every snapshot, and every backup of an instance.
pub(crate) fn check(view: &View) -> Vec<Finding> {
    let mut findings = Vec::new();
    for snapshot in &view.estate.snapshots {
        findings.extend(judge(
            view,
            &snapshot.name,
            &format!("the snapshots `{}`", snapshot.name),
            &snapshot.location,
            &snapshot.protects,
        ));
    }
    for backup in &view.estate.backups {
        let Some(instance) = backup
            .instance
            .as_deref()
            .and_then(|name| view.estate.instance(name))
        else {
            continue;
        };
        findings.extend(judge(
            view,
            &backup.name,
            &format!("the copies of backup `{}`", backup.name),
            backup_dir(&backup.path),
            &instance.data_dir,
        ));
    }
    findings
}

/// `ask delete-data`: what goes with the data directory.
pub(crate) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    let Action::DeleteData { target } = action else {
        return Vec::new();
    };
    let Some(instance) = view.estate.instance(target) else {
        return Vec::new();
    };
    let data_dir = &instance.data_dir;
    let inside = |path: &Path| resolved(view, path).starts_with(resolved(view, data_dir));
    let mut lost = Vec::new();
    let mut kept = Vec::new();
    for snapshot in &view.estate.snapshots {
        if !resolved(view, &snapshot.protects).starts_with(resolved(view, data_dir))
            && !resolved(view, data_dir).starts_with(resolved(view, &snapshot.protects))
        {
            continue;
        }
        let text = format!(
            "snapshot `{}` (`{}`)",
            snapshot.name,
            snapshot.location.display()
        );
        if inside(&snapshot.location) {
            lost.push(text);
        } else {
            kept.push(text);
        }
    }
    for backup in &view.estate.backups {
        if backup.instance.as_deref() != Some(target.as_str()) {
            continue;
        }
        let copies: Vec<PathBuf> = view
            .facts
            .backups
            .get(&backup.name)
            .and_then(|observation| observation.copies.as_ref().ok())
            .map(|copies| copies.iter().map(|copy| copy.path.clone()).collect())
            .unwrap_or_default();
        let dir = backup_dir(&backup.path);
        let (gone, stay): (Vec<&PathBuf>, Vec<&PathBuf>) =
            copies.iter().partition(|copy| inside(copy));
        if !gone.is_empty() || (copies.is_empty() && inside(dir)) {
            lost.push(format!(
                "backup `{}` ({} cop{} in `{}`)",
                backup.name,
                gone.len(),
                if gone.len() == 1 { "y" } else { "ies" },
                dir.display()
            ));
        }
        if !stay.is_empty() {
            kept.push(format!(
                "backup `{}` ({} cop{} outside)",
                backup.name,
                stay.len(),
                if stay.len() == 1 { "y" } else { "ies" }
            ));
        }
    }
    if lost.is_empty() {
        return Vec::new();
    }
    let (severity, tail) = if kept.is_empty() {
        (
            Severity::Deny,
            "; they are the only copies of its data".to_owned(),
        )
    } else {
        (
            Severity::Warn,
            format!(
                "; {} survive{}",
                kept.join(", "),
                if kept.len() == 1 { "s" } else { "" }
            ),
        )
    };
    vec![finding(
        target,
        severity,
        format!(
            "deleting `{target}`'s data directory `{}` destroys what lies inside it: {}{tail}",
            data_dir.display(),
            lost.join(", ")
        ),
        Some("move the snapshots and backups to another filesystem first".to_owned()),
    )]
}
