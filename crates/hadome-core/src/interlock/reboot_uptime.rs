//! `reboot-uptime` (incident C): no reboot minutes after the last boot, nor past a budget of boots.
//!
//! traP's S512 rebooted forever: a daily reboot timer with `Persistent=true` fired again at every
//! boot. Nothing refused a reboot a minute after the last one. A reboot of a host (`reboot`, and
//! `image` unless `--no-reboot`) MUST be:
//! - `needs-human` when the host's facts were not read, cannot be read, or are older than its
//!   `freshness_seconds`: its uptime is unknown;
//! - `deny` when the host has been up less than `min_uptime_seconds` (`now - booted_at`);
//! - `deny` when the boots within `boot_window_seconds` reach `max_boots`. The boots are the
//!   union, by boot id, of those the host's journal lists (`journalctl --list-boots`, at their
//!   first entry), those hadome saw (the journal's `boots_seen`, at their start), and the current
//!   boot; a boot the sources time differently counts at its latest time, so a doubt counts it
//!   inside the window. The journal's memory counts even when facts are missing;
//! - `needs-human` when the boot history over the window is unknown: the host's journal keeps
//!   no list (volatile, or no journald), the current boot began within the window, and hadome's
//!   own record does not reach back over it (no boot first seen before the window began).
//!
//! Every finding that refuses the reboot SHOULD show the boot history (each boot's id prefix and
//! UTC time, newest first, and how many fall in the window) so a person sees the loop.

use std::collections::BTreeMap;

use crate::action::Action;
use crate::fact::Timestamp;
use crate::finding::{human_duration, Finding, Severity};
use crate::host::Host;
use crate::interlock::view::{HostKnowledge, View};
use crate::rule::REBOOT_UPTIME;

/// How many boots a refusal lists (newest first); older ones are counted, not listed.
const SHOWN_BOOTS: usize = 8;

/// Whether `action` reboots the host it names.
pub(crate) fn reboots(action: &Action) -> bool {
    matches!(
        action,
        Action::Reboot { .. } | Action::Image { reboots: true, .. }
    )
}

/// One boot, from whichever sources know it.
struct Boot<'a> {
    boot_id: &'a str,
    /// Its start: the latest time any source gives it.
    at: Timestamp,
    current: bool,
}

/// `ask reboot`, `ask image` (unless `--no-reboot`).
pub(crate) fn assess(view: &View, action: &Action) -> Vec<Finding> {
    if !reboots(action) {
        return Vec::new();
    }
    let Some(host) = action.host().and_then(|name| view.estate.host(name)) else {
        return Vec::new();
    };
    let name = &host.name;
    let finding = |severity: Severity, message: String, alternative: Option<String>| Finding {
        rule: REBOOT_UPTIME,
        severity,
        subject: name.clone(),
        message,
        alternative,
    };
    let facts = match view.host_knowledge(name) {
        HostKnowledge::Fresh(facts) => Some(facts),
        HostKnowledge::Stale { .. }
        | HostKnowledge::Unreachable { .. }
        | HostKnowledge::Unknown => None,
    };
    let boots = boots(view, host);
    let window_start = Timestamp(view.now.0 - (host.boot_window_seconds * 1000.0).round() as i64);
    let in_window = boots.iter().filter(|boot| boot.at >= window_start).count();
    let history = render_history(host, &boots, in_window);
    let mut findings = Vec::new();
    let Some(facts) = facts else {
        findings.push(finding(
            Severity::NeedsHuman,
            format!(
                "`{name}`'s uptime is unknown: {}; {history}",
                view.why_host_not_fresh(name)
            ),
            Some(format!(
                "read `{name}`'s facts again (`hadome host-facts` on it) and ask again"
            )),
        ));
        if in_window >= host.max_boots as usize {
            findings.push(too_many(host, in_window, &history, finding));
        }
        return findings;
    };
    let uptime = view.now.seconds_since(facts.booted_at);
    if uptime < host.min_uptime_seconds {
        findings.push(finding(
            Severity::Deny,
            format!(
                "`{name}` has been up {}, under its minimum of {} (min_uptime_seconds); {history}",
                human_duration(uptime),
                human_duration(host.min_uptime_seconds)
            ),
            Some(format!(
                "wait {} and ask again; if something keeps rebooting it, `hadome check` names what (systemd-reboot-loop)",
                human_duration(host.min_uptime_seconds - uptime)
            )),
        ));
    }
    if in_window >= host.max_boots as usize {
        findings.push(too_many(host, in_window, &history, finding));
    }
    let record_reaches_back = facts.booted_at < window_start
        || view.history.hosts.get(name).is_some_and(|record| {
            record
                .boots_seen
                .iter()
                .any(|seen| seen.first_seen <= window_start)
        });
    if facts.boots.is_none() && !record_reaches_back {
        findings.push(finding(
            Severity::NeedsHuman,
            format!(
                "`{name}`'s boot history over the last {} is unknown: its journal lists no boots (volatile, or no journald), and hadome's own record does not reach back that far; {history}",
                human_duration(host.boot_window_seconds)
            ),
            Some(format!(
                "make `{name}`'s journal persistent (`Storage=persistent` in journald.conf), or let hadome watch it for {} first",
                human_duration(host.boot_window_seconds)
            )),
        ));
    }
    findings
}

fn too_many(
    host: &Host,
    in_window: usize,
    history: &str,
    finding: impl Fn(Severity, String, Option<String>) -> Finding,
) -> Finding {
    finding(
        Severity::Deny,
        format!(
            "`{}` booted {in_window} times within {}, its budget is {} (max_boots): it may be in a reboot loop; {history}",
            host.name,
            human_duration(host.boot_window_seconds),
            host.max_boots
        ),
        Some("find what reboots it first: `hadome check` (systemd-reboot-loop)".to_owned()),
    )
}

/// Every boot any source knows, newest first: the host's journal list, hadome's record, and the
/// current boot, united by boot id.
fn boots<'a>(view: &View<'a>, host: &Host) -> Vec<Boot<'a>> {
    let mut by_id: BTreeMap<&'a str, Boot<'a>> = BTreeMap::new();
    let mut add = |boot_id: &'a str, at: Timestamp, current: bool| {
        let boot = by_id.entry(boot_id).or_insert(Boot {
            boot_id,
            at,
            current,
        });
        boot.at = boot.at.max(at);
        boot.current |= current;
    };
    if let Some(record) = view.history.hosts.get(&host.name) {
        for seen in &record.boots_seen {
            add(&seen.boot_id, seen.booted_at, false);
        }
    }
    let facts = match view.host_knowledge(&host.name) {
        HostKnowledge::Fresh(facts) | HostKnowledge::Stale { facts, .. } => Some(facts),
        HostKnowledge::Unreachable { .. } | HostKnowledge::Unknown => None,
    };
    if let Some(facts) = facts {
        for listed in facts.boots.iter().flatten() {
            add(&listed.boot_id, listed.first_entry, false);
        }
        add(&facts.boot_id, facts.booted_at, true);
    }
    let mut boots: Vec<Boot<'a>> = by_id.into_values().collect();
    boots.sort_by_key(|boot| std::cmp::Reverse(boot.at));
    boots
}

/// `boot history (newest first, 3 within 1.0 h): 4f2a9c1e 2026-12-03 12:04:10 UTC (current), …`.
fn render_history(host: &Host, boots: &[Boot], in_window: usize) -> String {
    if boots.is_empty() {
        return "no boot of it is known".to_owned();
    }
    let mut listed: Vec<String> = boots
        .iter()
        .take(SHOWN_BOOTS)
        .map(|boot| {
            let prefix = boot.boot_id.get(..8).unwrap_or(boot.boot_id);
            let current = if boot.current { " (current)" } else { "" };
            format!("{prefix} {}{current}", boot.at.utc_text())
        })
        .collect();
    if boots.len() > SHOWN_BOOTS {
        listed.push(format!("and {} older", boots.len() - SHOWN_BOOTS));
    }
    format!(
        "boot history (newest first, {in_window} within {}): {}",
        human_duration(host.boot_window_seconds),
        listed.join(", ")
    )
}
