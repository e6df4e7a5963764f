//! The page's lower sections: the open findings with their fixes, the last actions (intents with
//! their verdicts, steps and outcomes) and the backups' trust.

use std::collections::BTreeMap;
use std::fmt::Write;

use hadome_core::finding::{human_bytes, human_duration, Finding};

use super::html::{ago, esc, severity_word, when, Tone};
use super::Board;

/// Every open finding, worst first, with its rule and what to do.
pub(super) fn findings(html: &mut String, board: &Board) {
    let _ = write!(
        html,
        "<section id=\"findings\"><div class=\"head\"><h2>Open findings</h2>\
         <span class=\"muted small\">{} · what <code>hadome check</code> reports on what the \
         daemon observes</span></div>",
        board.findings.len()
    );
    if board.findings.is_empty() {
        html.push_str("<p class=\"empty\"><span class=\"badge ok\">none</span> every check passes.</p></section>");
        return;
    }
    html.push_str(
        "<table><thead><tr><th>Severity</th><th>Rule</th><th>Subject</th><th>What</th>\
         <th>Fix</th></tr></thead><tbody>",
    );
    for finding in &board.findings {
        let tone = Tone::of_finding(Some(finding));
        let _ = write!(
            html,
            "<tr class=\"finding {t}\" data-rule=\"{r}\" data-subject=\"{s}\" data-severity=\"{v}\">\
             <td><span class=\"badge {t}\">{v}</span></td><td class=\"mono\">{r}</td><td><b>{s}</b></td>\
             <td>{m}</td><td>{f}</td></tr>",
            t = tone.class(),
            r = esc(finding.rule),
            s = esc(&finding.subject),
            v = severity_word(Some(finding)),
            m = esc(&finding.message),
            f = finding
                .alternative
                .as_deref()
                .map_or_else(|| "–".to_owned(), |fix| esc(fix).to_string()),
        );
    }
    html.push_str("</tbody></table></section>");
}

/// The last actions, newest first: who, what, the verdict it went ahead on, each step, and how it
/// ended (a failover shows here as its `promote` intent).
pub(super) fn actions(html: &mut String, board: &Board) {
    html.push_str(
        "<section id=\"actions\"><div class=\"head\"><h2>Last actions</h2>\
         <span class=\"muted small\">the journal's intents of the last day, newest first</span></div>",
    );
    if board.actions.is_empty() {
        html.push_str("<p class=\"empty muted\">None in the last day.</p></section>");
        return;
    }
    html.push_str(
        "<table><thead><tr><th>When</th><th>Actor</th><th>Action</th><th>Verdict</th>\
         <th>Steps</th><th>Outcome</th></tr></thead><tbody>",
    );
    for action in &board.actions {
        let record = &action.record;
        let (outcome, tone, outcome_text) = match &record.outcome {
            Some(outcome) if outcome.ok => ("ok", Tone::Ok, outcome.detail.as_str()),
            Some(outcome) => ("failed", Tone::Crit, outcome.detail.as_str()),
            None => (
                "open",
                Tone::Warn,
                "in progress, or its actor died mid-action",
            ),
        };
        let _ = write!(
            html,
            "<tr id=\"intent-{id}\" class=\"action {t}\" data-intent=\"{id}\" data-action=\"{a}\" \
             data-target=\"{g}\" data-actor=\"{who}\" data-outcome=\"{outcome}\">\
             <td class=\"small\">{at}</td><td>{who}</td><td><b>{text}</b></td><td>{v}</td><td>",
            id = record.id,
            t = tone.class(),
            a = esc(&action.name),
            g = esc(&action.target),
            who = esc(&record.actor),
            at = esc(&when(record.at, board.observed_at)),
            text = esc(&record.action_text),
            v = esc(&record.verdict),
        );
        if record.steps.is_empty() && record.outcome.is_some() {
            html.push_str("<span class=\"muted small\">none recorded</span>");
        } else {
            html.push_str("<ol class=\"steps\">");
            for step in &record.steps {
                let _ = write!(
                    html,
                    "<li class=\"step {}\">{} {} <span class=\"detail\">{}</span></li>",
                    if step.ok { "done" } else { "failed" },
                    if step.ok { "✓" } else { "✗ FAILED" },
                    esc(&step.step),
                    esc(&step.detail)
                );
            }
            if record.outcome.is_none() {
                for planned in record.plan.iter().skip(record.steps.len()) {
                    let _ = write!(
                        html,
                        "<li class=\"step planned muted\">… {}</li>",
                        esc(planned)
                    );
                }
            }
            html.push_str("</ol>");
        }
        let _ = write!(
            html,
            "</td><td><span class=\"badge {}\">{outcome}</span> <span class=\"small\">{}</span></td></tr>",
            tone.class(),
            esc(outcome_text)
        );
    }
    html.push_str("</tbody></table></section>");
}

/// Each backup: its copies as listed, the newest's age and size, the last restore test, its
/// schedule, and its worst finding (`backup-trust`, `snapshot-independence`).
pub(super) fn backups(html: &mut String, board: &Board, worst: &BTreeMap<&str, &Finding>) {
    html.push_str("<section id=\"backups\"><div class=\"head\"><h2>Backups</h2></div>");
    let Some(backups) = board.status["backups"]
        .as_array()
        .filter(|backups| !backups.is_empty())
    else {
        html.push_str("<p class=\"empty muted\">None declared in the estate file.</p></section>");
        return;
    };
    html.push_str(
        "<table><thead><tr><th>Backup</th><th>Type</th><th>Copies</th><th>Newest</th>\
         <th>Size</th><th>Last restore test</th><th>Schedule</th><th>Trust</th></tr></thead><tbody>",
    );
    for backup in backups {
        let name = backup["name"].as_str().unwrap_or("");
        let finding = worst.get(name).copied();
        let tone = Tone::of_finding(finding);
        let newest = &backup["newest"];
        let age = newest["age_seconds"]
            .as_f64()
            .map_or_else(|| "–".to_owned(), ago);
        let size = newest["size_bytes"]
            .as_u64()
            .map_or_else(|| "–".to_owned(), human_bytes);
        let test = &backup["last_restore_test"];
        let test_text = match test["ok"].as_bool() {
            None => "<span class=\"badge warn\">never</span>".to_owned(),
            Some(ok) => format!(
                "<span class=\"badge {}\">{}</span> {}",
                if ok { "ok" } else { "crit" },
                if ok { "passed" } else { "FAILED" },
                esc(&test["seconds_ago"].as_f64().map_or_else(String::new, ago))
            ),
        };
        let mut schedule = Vec::new();
        if let Some(every) = backup["every_seconds"].as_f64() {
            schedule.push(format!("copy every {}", human_duration(every)));
        }
        if let Some(every) = backup["restore_test_every_seconds"].as_f64() {
            schedule.push(format!("test every {}", human_duration(every)));
        }
        let schedule = if schedule.is_empty() {
            "by hand".to_owned()
        } else {
            schedule.join(", ")
        };
        let trust = match finding {
            Some(finding) => format!(
                "<span class=\"badge {}\">{}</span> {}",
                tone.class(),
                esc(finding.rule),
                esc(&finding.message)
            ),
            None => "<span class=\"badge ok\">trusted</span>".to_owned(),
        };
        let _ = write!(
            html,
            "<tr id=\"backup-{n}\" class=\"backup {t}\" data-backup=\"{n}\" data-severity=\"{s}\">\
             <td><b>{n}</b></td><td>{kind}</td><td class=\"num\">{copies}</td><td>{age}</td>\
             <td class=\"num\">{size}</td><td>{test_text}</td><td class=\"small\">{schedule}</td>\
             <td class=\"small\">{trust}</td></tr>",
            n = esc(name),
            t = tone.class(),
            s = severity_word(finding),
            kind = esc(backup["type"].as_str().unwrap_or("")),
            copies = backup["copies"].as_u64().unwrap_or(0),
            age = esc(&age),
            size = esc(&size),
            schedule = esc(&schedule),
        );
        if let Some(error) = backup["error"].as_str() {
            let _ = write!(
                html,
                "<tr class=\"sub {}\"><td></td><td colspan=\"7\">{}</td></tr>",
                tone.class(),
                esc(error)
            );
        }
    }
    html.push_str("</tbody></table></section>");
}
