//! The page: header (when the facts were observed), summary, one card per cluster (the
//! supervisor's state, lease, holds, pauses, budgets, members, escalations), then the findings,
//! the last actions and the backups (`sections.rs`). Inline CSS, no script, no external asset:
//! it works offline and from a phone.
//!
//! Every element the tests (and a person's scripts) look for has a stable `id`, `class` or
//! `data-*` attribute: `#cluster-NAME[data-state][data-primary]`, `#member-NAME[data-role]
//! [data-reachable][data-severity]`, `.finding[data-rule][data-subject][data-severity]`,
//! `#intent-ID[data-action][data-target][data-outcome]`, `#backup-NAME[data-severity]`.

use std::collections::BTreeMap;
use std::fmt::Write;

use hadome_core::finding::{human_bytes, human_duration, Finding};
use serde_json::Value;

use super::html::{ago, at_ms, esc, severity_word, when, Tone};
use super::sections;
use super::{Board, Budgets, Count};

/// The CSS: dark text on light, colour only for state.
const STYLE: &str = "
*{box-sizing:border-box}
body{margin:0;background:#f4f6f8;color:#1f2328;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif}
main{max-width:1240px;margin:0 auto;padding:16px 20px 40px}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 18px;padding:14px 20px;background:#fff;border-bottom:1px solid #d0d7de}
header .brand{font-weight:700;font-size:20px;letter-spacing:.02em}
header .where{color:#57606a;font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:13px}
header .observed{margin-left:auto;color:#57606a;font-size:13px}
h2{font-size:17px;margin:0}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;margin:16px 0;padding:14px 16px}
.head{display:flex;flex-wrap:wrap;align-items:center;gap:8px 12px;margin-bottom:6px}
.muted{color:#57606a}
.small{font-size:13px}
p{margin:6px 0}
code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:13px}
table{border-collapse:collapse;width:100%;margin-top:8px}
th{text-align:left;font-size:12px;font-weight:600;color:#57606a;text-transform:uppercase;letter-spacing:.04em;border-bottom:1px solid #d0d7de;padding:6px 8px}
td{padding:7px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.mono{white-space:nowrap}
tr.ok>td:first-child{border-left:4px solid #2da44e}
tr.warn>td:first-child{border-left:4px solid #d4a72c}
tr.crit>td:first-child{border-left:4px solid #cf222e}
tr.warn>td{background:#fff8e1}
tr.crit>td{background:#fff1f0}
tr.sub>td{border-top:0;padding-top:0;font-size:13px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;border:1px solid transparent;white-space:nowrap}
.badge.ok{background:#dafbe1;color:#116329;border-color:#aceebb}
.badge.warn{background:#fff8c5;color:#7d4e00;border-color:#eac54f}
.badge.crit{background:#ffebe9;color:#a40e26;border-color:#ff818266}
.badge.quiet{background:#eff2f5;color:#424a53;border-color:#d0d7de}
.role-primary{font-weight:700}
.notice{border-radius:6px;padding:7px 10px;margin:6px 0;font-size:14px}
.notice.crit{background:#ffebe9;border:1px solid #ff818266}
.notice.warn{background:#fff8c5;border:1px solid #eac54f}
.notice.quiet{background:#eff2f5;border:1px solid #d0d7de}
.summary{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-top:4px}
ol.steps{margin:0;padding-left:18px;font-size:13px}
ol.steps li.failed{color:#a40e26}
.detail{color:#57606a}
ul.plain{margin:4px 0;padding-left:18px;font-size:14px}
footer{color:#57606a;font-size:13px;margin-top:18px}
";

/// The whole page.
pub(super) fn page(board: &Board) -> String {
    let worst = worst_by_subject(&board.findings);
    let mut html = String::new();
    head(&mut html, board.refresh_seconds, "hadome");
    let _ = write!(
        html,
        "<header><span class=\"brand\">hadome</span><span class=\"where\">{}</span>\
         <span class=\"observed\" id=\"observed\" data-observed-at-ms=\"{}\">facts observed {} \
         by the daemon's pass ({} before this page; the pass took {} ms) · refreshes every {} s</span></header><main>",
        esc(&board.config.display().to_string()),
        board.observed_at.0,
        esc(&board.observed_at.utc_text()),
        esc(&human_duration(board.age_seconds)),
        (board.pass_seconds * 1000.0).round(),
        board.refresh_seconds,
    );
    summary(&mut html, board);
    let clusters = board.status["clusters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for cluster in &clusters {
        cluster_card(&mut html, board, cluster, &worst);
    }
    sections::findings(&mut html, board);
    sections::actions(&mut html, board);
    sections::backups(&mut html, board, &worst);
    html.push_str("<footer>");
    if !board.unobserved.is_empty() {
        let _ = write!(
            html,
            "<p id=\"unobserved\">The daemon's passes do not read {}: this page leaves them out, \
             <code>hadome check</code> judges them.</p>",
            esc(&board.unobserved.join(", "))
        );
    }
    html.push_str(
        "<p>Server-rendered by <code>hadome daemon</code> from its latest pass and its journal. \
         Machine-readable: <code>/v1/status</code>, <code>/v1/check</code>, <code>/metrics</code>.</p>\
         </footer></main></body></html>\n",
    );
    html
}

/// The page shown before the daemon's first pass.
pub(super) fn waiting(refresh_seconds: u64) -> String {
    let mut html = String::new();
    head(&mut html, refresh_seconds, "hadome: starting");
    html.push_str(
        "<main><section id=\"waiting\"><h2>hadome is starting</h2>\
         <p class=\"notice quiet\">The daemon has not finished its first pass yet: this page \
         reloads on its own.</p></section></main></body></html>\n",
    );
    html
}

/// The page shown when the journal could not be read.
pub(super) fn failed(error: &str, refresh_seconds: u64) -> String {
    let mut html = String::new();
    head(&mut html, refresh_seconds, "hadome: error");
    let _ = writeln!(
        html,
        "<main><section id=\"failed\"><h2>The dashboard could not be built</h2>\
         <p class=\"notice crit\">{}</p><p class=\"muted\">It tries again at the next refresh; \
         <code>hadome status</code> reads the same journal.</p></section></main></body></html>",
        esc(error)
    );
    html
}

fn head(html: &mut String, refresh_seconds: u64, title: &str) {
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{refresh_seconds}\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        esc(title)
    );
}

/// The worst open finding of each subject (the findings come worst first).
pub(super) fn worst_by_subject(findings: &[Finding]) -> BTreeMap<&str, &Finding> {
    let mut worst = BTreeMap::new();
    for finding in findings {
        worst.entry(finding.subject.as_str()).or_insert(finding);
    }
    worst
}

fn summary(html: &mut String, board: &Board) {
    let (critical, warnings) = crate::views::counts(&board.findings);
    let tone = if critical > 0 {
        Tone::Crit
    } else if warnings > 0 {
        Tone::Warn
    } else {
        Tone::Ok
    };
    let words = match (critical, warnings) {
        (0, 0) => "no open findings".to_owned(),
        _ => format!("{critical} critical, {warnings} warning(s)"),
    };
    let _ = write!(
        html,
        "<div class=\"summary\" id=\"summary\" data-critical=\"{critical}\" data-warnings=\"{warnings}\">\
         <span class=\"badge {}\">{}</span>",
        tone.class(),
        esc(&words)
    );
    for report in &board.reports {
        let _ = write!(
            html,
            "<a class=\"badge {}\" href=\"#cluster-{}\">{}: {}</a>",
            Tone::of_state(report.state).class(),
            esc(&report.cluster),
            esc(&report.cluster),
            report.state.as_str()
        );
    }
    html.push_str("</div>");
    // A page whose pass is old says so: the daemon may be busy acting, or stuck.
    let stale_after = (board.refresh_seconds as f64 * 5.0).max(10.0);
    if board.age_seconds > stale_after {
        let _ = write!(
            html,
            "<p class=\"notice warn\" id=\"stale\">The daemon's latest pass is {} old: it may be \
             busy carrying out an action, or stuck (see its log).</p>",
            esc(&human_duration(board.age_seconds))
        );
    }
}

fn cluster_card(
    html: &mut String,
    board: &Board,
    cluster: &Value,
    worst: &BTreeMap<&str, &Finding>,
) {
    let name = cluster["name"].as_str().unwrap_or("");
    let report = board.reports.iter().find(|report| report.cluster == name);
    let (state, tone, detail) = match report {
        Some(report) => (
            report.state.as_str(),
            Tone::of_state(report.state),
            report.detail.as_str(),
        ),
        None => (
            "unknown",
            Tone::Quiet,
            "the supervisor has not reported on it",
        ),
    };
    let primary = report
        .and_then(|report| report.primary.as_deref())
        .unwrap_or("");
    let _ = write!(
        html,
        "<section class=\"cluster\" id=\"cluster-{n}\" data-cluster=\"{n}\" data-state=\"{state}\" \
         data-primary=\"{p}\"><div class=\"head\"><h2>cluster {n}</h2>\
         <span class=\"badge {t} state\">{state}</span>\
         <span class=\"muted small\">failover {f}</span></div>\
         <p class=\"report\">{d}</p>",
        n = esc(name),
        p = esc(primary),
        t = tone.class(),
        f = esc(cluster["failover"].as_str().unwrap_or("")),
        d = esc(detail),
    );
    if let Some(finding) = worst.get(name) {
        let _ = write!(
            html,
            "<p class=\"notice {}\">[{}] {}</p>",
            Tone::of_finding(Some(finding)).class(),
            esc(finding.rule),
            esc(&finding.message)
        );
    }
    daemon_lines(html, board, &cluster["daemon"]);
    let budgets = board.budgets.get(name);
    if let Some(budgets) = budgets {
        let Count { done, allowed } = budgets.failovers;
        let tone = if done >= allowed {
            Tone::Warn
        } else {
            Tone::Ok
        };
        let _ = write!(
            html,
            "<p class=\"small budget\" data-failovers=\"{done}\" data-failovers-allowed=\"{allowed}\">\
             Budget: <span class=\"badge {}\">{done} of {allowed} failover(s)</span> used in the \
             last {} (restarts and rebuilds per member below).</p>",
            tone.class(),
            esc(&human_duration(budgets.window_seconds))
        );
    }
    html.push_str(
        "<table class=\"members\"><thead><tr><th>Member</th><th>Role</th><th>Timeline</th>\
         <th>Position (LSN)</th><th>Lag</th><th>Lag (s)</th><th>Streaming</th><th>Last seen</th>\
         <th>Restarts · rebuilds</th><th>Worst finding</th></tr></thead><tbody>",
    );
    for member in cluster["members"].as_array().into_iter().flatten() {
        member_row(html, member, budgets, worst);
    }
    html.push_str("</tbody></table>");
    escalations(html, board, &cluster["daemon"]["escalations"]);
    html.push_str("</section>");
}

/// Who holds the lease, whether a person's `hadome run` holds the cluster, what is paused.
fn daemon_lines(html: &mut String, board: &Board, daemon: &Value) {
    let now = board.observed_at;
    match &daemon["lease"] {
        Value::Null => html
            .push_str("<p class=\"small lease\">Lease: no daemon has supervised this cluster.</p>"),
        lease => {
            let holder = lease["holder"].as_str().unwrap_or("");
            let text = if lease["expired"].as_bool() == Some(true) {
                format!(
                    "Lease: none running (the last lease, {holder}'s, expired {})",
                    at_ms(&lease["expires_at_ms"])
                        .map_or_else(String::new, |at| ago(now.seconds_since(at)))
                )
            } else {
                format!(
                    "Lease: {holder} acts on this cluster (renewed {})",
                    at_ms(&lease["renewed_at_ms"])
                        .map_or_else(String::new, |at| ago(now.seconds_since(at)))
                )
            };
            let _ = write!(html, "<p class=\"small lease\">{}</p>", esc(&text));
        }
    }
    if let Some(hold) = daemon["held_by"].as_object() {
        let holder = hold.get("holder").and_then(Value::as_str).unwrap_or("");
        let since = hold
            .get("acquired_at_ms")
            .and_then(at_ms)
            .map_or_else(String::new, |at| when(at, now));
        let _ = write!(
            html,
            "<p class=\"notice warn held\">HELD by {} (hadome run) since {}: the daemon takes no \
             action here until it is done.</p>",
            esc(holder),
            esc(&since)
        );
    }
    for pause in daemon["paused"].as_array().into_iter().flatten() {
        let target = pause["target"].as_str().unwrap_or("");
        let since = at_ms(&pause["at_ms"]).map_or_else(String::new, |at| when(at, now));
        let _ = write!(
            html,
            "<p class=\"notice crit pause\" data-target=\"{t}\"><b>PAUSED</b> {t} since {}: {}. \
             Resume with <code>hadome ack {t}</code></p>",
            esc(&since),
            esc(pause["reason"].as_str().unwrap_or("")),
            t = esc(target),
        );
    }
}

fn member_row(
    html: &mut String,
    member: &Value,
    budgets: Option<&Budgets>,
    worst: &BTreeMap<&str, &Finding>,
) {
    let name = member["name"].as_str().unwrap_or("");
    let role = member["role"].as_str().unwrap_or("unknown");
    let reachable = member["reachable"].as_bool() == Some(true);
    let finding = worst.get(name).copied();
    let tone = Tone::of_finding(finding);
    let dash = || "–".to_owned();
    let role_cell = match role {
        "primary" => "<span class=\"role-primary\">primary</span>".to_owned(),
        "standby" => "standby".to_owned(),
        other => format!(
            "<span class=\"badge crit\">{}</span>",
            esc(&other.to_uppercase())
        ),
    };
    let streaming = match member["streaming"].as_bool() {
        Some(true) => "yes".to_owned(),
        Some(false) => "<span class=\"badge warn\">no</span>".to_owned(),
        None => dash(),
    };
    let last_seen = match member["last_seen_seconds_ago"].as_f64() {
        _ if reachable => "now".to_owned(),
        Some(seconds) => esc(&ago(seconds)).to_string(),
        None => "never".to_owned(),
    };
    let spent = budgets
        .and_then(|budgets| budgets.members.get(name))
        .map_or_else(dash, |(restarts, rebuilds)| {
            format!(
                "{}/{} · {}/{}",
                restarts.done, restarts.allowed, rebuilds.done, rebuilds.allowed
            )
        });
    let _ = write!(
        html,
        "<tr id=\"member-{n}\" class=\"member {t}\" data-member=\"{n}\" data-role=\"{r}\" \
         data-reachable=\"{reachable}\" data-severity=\"{s}\">\
         <td><b>{n}</b></td><td class=\"role\">{role_cell}</td><td class=\"num\">{tl}</td>\
         <td class=\"mono\">{lsn}</td><td class=\"num\">{lb}</td><td class=\"num\">{ls}</td>\
         <td>{streaming}</td><td>{last_seen}</td><td class=\"num\">{spent}</td><td>{rule}</td></tr>",
        n = esc(name),
        t = tone.class(),
        r = esc(role),
        s = severity_word(finding),
        tl = member["timeline"].as_u64().map_or_else(dash, |timeline| timeline.to_string()),
        lsn = esc(member["lsn"].as_str().unwrap_or("–")),
        lb = member["lag_bytes"].as_u64().map_or_else(dash, human_bytes),
        ls = member["lag_seconds"]
            .as_f64()
            .map_or_else(dash, |seconds| format!("{seconds:.0}")),
        rule = finding.map_or_else(
            || "<span class=\"badge ok\">none</span>".to_owned(),
            |finding| format!(
                "<span class=\"badge {}\">{}</span>",
                tone.class(),
                esc(finding.rule)
            )
        ),
    );
    if let Some(error) = member["error"].as_str() {
        let _ = write!(
            html,
            "<tr class=\"sub member-error {}\" data-member=\"{}\"><td></td><td colspan=\"9\">\
             {}: {}</td></tr>",
            tone.class(),
            esc(name),
            if reachable { "error" } else { "UNREACHABLE" },
            esc(error)
        );
    }
}

/// The last day's escalations of a cluster, as `status` lists them (newest first).
fn escalations(html: &mut String, board: &Board, escalations: &Value) {
    let Some(list) = escalations.as_array().filter(|list| !list.is_empty()) else {
        return;
    };
    let _ = write!(
        html,
        "<p class=\"small\"><b>Escalated to a person</b> (the last day, newest first):</p><ul class=\"plain escalations\">"
    );
    for escalation in list.iter().take(5) {
        let at =
            at_ms(&escalation["at_ms"]).map_or_else(String::new, |at| when(at, board.observed_at));
        let delivery = if escalation["notified"].as_bool() == Some(true) {
            "notified".to_owned()
        } else {
            match escalation["notify_error"].as_str() {
                Some(error) => format!("not delivered: {error}"),
                None => "not notified".to_owned(),
            }
        };
        let _ = write!(
            html,
            "<li class=\"escalation\" data-rule=\"{r}\" data-subject=\"{s}\">{} [{r}] {s}: {} \
             <span class=\"detail\">({})</span></li>",
            esc(&at),
            esc(escalation["message"].as_str().unwrap_or("")),
            esc(&delivery),
            r = esc(escalation["rule"].as_str().unwrap_or("")),
            s = esc(escalation["subject"].as_str().unwrap_or("")),
        );
    }
    html.push_str("</ul>");
}
