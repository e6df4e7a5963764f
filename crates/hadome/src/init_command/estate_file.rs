//! The estate file `init` writes: one `[[instance]]` and one `[[cluster]]` per local cluster,
//! a `[journal]`, and comments that say what was found and what to review.
//!
//! Only keys the estate file has today are written (`hadome-config` reads the text back before
//! it is printed or written); what an operator may add is a comment.

use std::path::Path;

use super::clusters::{LocalCluster, Unusable};
use super::privileges::Reach;
use super::report::state;
use super::Discovered;

/// What the file's header says and its `[journal]` names.
pub(super) struct Header<'a> {
    /// The role every conninfo names.
    pub(super) role: &'a str,
    pub(super) journal: &'a Path,
    /// This machine's name, for the commented `host` key; `None` when it cannot be read.
    pub(super) hostname: Option<&'a str>,
    /// When it was written, for people (`2026-03-01 14:02:03 UTC`).
    pub(super) written_at: &'a str,
}

/// The `[[instance]]` name of each cluster, in order: `VERSION-CLUSTER` in the characters an
/// instance name may have (a-z, 0-9, `-`, `_`; at most 63), made unique with `-2`, `-3` ….
pub(super) fn instance_names(clusters: &[LocalCluster]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(clusters.len());
    for cluster in clusters {
        let mut base: String = format!("{}-{}", cluster.version, cluster.cluster)
            .to_lowercase()
            .chars()
            .map(|character| match character {
                'a'..='z' | '0'..='9' | '-' | '_' => character,
                _ => '-',
            })
            .collect();
        if !base.starts_with(|first: char| first.is_ascii_alphanumeric()) {
            base.insert_str(0, "pg");
        }
        let mut name = truncated(&base, 63).to_owned();
        let mut counter = 1;
        while names.contains(&name) {
            counter += 1;
            let suffix = format!("-{counter}");
            name = format!("{}{suffix}", truncated(&base, 63 - suffix.len()));
        }
        names.push(name);
    }
    names
}

/// The first `length` bytes of `text`, which is ASCII.
fn truncated(text: &str, length: usize) -> &str {
    &text[..text.len().min(length)]
}

/// The `[[cluster]]` name for an instance: distinct from every instance name (`hadome ack`
/// takes either), and meant to be renamed after the data it holds.
pub(super) fn cluster_name(instance: &str) -> String {
    format!("{instance}-cluster")
}

/// The libpq conninfo of a local cluster for `role`: its socket directory (or localhost when it
/// has none), its port, and the `postgres` database. Over a socket, no TLS runs whatever the
/// server's `ssl` (libpq's rule, and the observer's).
pub(super) fn conninfo(cluster: &LocalCluster, role: &str) -> String {
    let host = cluster.socket_dir.as_deref().unwrap_or("localhost");
    format!(
        "host={} port={} user={} dbname=postgres",
        conninfo_value(host),
        cluster.port,
        conninfo_value(role)
    )
}

/// A conninfo value as libpq reads it: bare, or in `'…'` with `\` escaping `'` and `\`.
fn conninfo_value(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|character| character.is_whitespace() || "'\\=".contains(character));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// A TOML basic string: `"`, `\` and control characters escaped.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\t' => quoted.push_str("\\t"),
            control if control.is_control() => {
                quoted.push_str(&format!("\\u{:04X}", u32::from(control)));
            }
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

/// `text` as one comment line's words: what a server or a file said never ends the comment.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .collect()
}

/// `text` as comment lines of at most [`COMMENT_WIDTH`] characters where its words allow,
/// each ending in a newline; what a server or a file said never ends the comment early.
fn comment(text: &str) -> String {
    let mut lines = String::new();
    let mut line = String::from("#");
    for word in one_line(text).split_whitespace() {
        if line.len() > 1 && line.chars().count() + 1 + word.chars().count() > COMMENT_WIDTH {
            lines.push_str(&line);
            lines.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    lines.push_str(&line);
    lines.push('\n');
    lines
}

/// The width comments are wrapped at.
const COMMENT_WIDTH: usize = 96;

/// The estate file's text.
pub(super) fn render(discovered: &[Discovered], unusable: &[Unusable], header: &Header) -> String {
    let mut text = String::new();
    let running = discovered
        .iter()
        .filter(|found| found.cluster.running)
        .count();
    text.push_str(&format!(
        "# hadome's estate file, written by `hadome init` at {} from `pg_lsclusters`\n\
         # (postgresql-common): {} cluster{}, {running} running.\n\
         # Review it before hadome acts on it: examples/estate.toml explains every key, and\n\
         # `hadome check --config FILE` reads it and probes every instance.\n\
         # hadome connects as the role `{}`; docs/privileges.md gives the grants it needs.\n",
        one_line(header.written_at),
        discovered.len(),
        if discovered.len() == 1 { "" } else { "s" },
        one_line(header.role),
    ));
    for skipped in unusable {
        text.push_str(&comment(&format!(
            "Not written: {}: {}.",
            skipped.name, skipped.why
        )));
    }
    text.push_str(&format!(
        "\n# Where hadome journals what it saw and did. Its directory must exist and be writable\n\
         # by the user hadome runs as (packaging/hadome.service: `hadome`, /var/lib/hadome).\n\
         [journal]\npath = {}\n",
        toml_string(&header.journal.to_string_lossy())
    ));
    for found in discovered {
        render_instance(&mut text, found, header);
    }
    text
}

fn render_instance(text: &mut String, found: &Discovered, header: &Header) {
    let cluster = &found.cluster;
    let debian_name = cluster.debian_name();
    text.push('\n');
    text.push_str(&comment(&format!(
        "{}: {}.",
        debian_name,
        state(found, header.role)
    )));
    if let Reach::Checked(privileges) = &found.reach {
        let missing = privileges.missing_required();
        if !missing.is_empty() {
            text.push_str(
                "# Missing grants: run them on the primary, as a superuser (docs/privileges.md):\n",
            );
            for statement in missing {
                text.push_str(&format!("#   {}\n", one_line(statement)));
            }
        }
    }
    if let Reach::Refused {
        reason,
        hint: Some(hint),
    } = &found.reach
    {
        text.push_str(&comment(&format!("({reason}; {hint})")));
    }
    if cluster.socket_dir.is_some() {
        text.push_str(
            "# Over its Unix socket (no TLS there); a hadome on another machine names the host's\n\
             # address and `sslmode=verify-full sslrootcert=FILE` instead.\n",
        );
    }
    text.push_str(&format!(
        "[[instance]]\nname = {}\nconninfo = {}\ndata_dir = {}\n",
        toml_string(&found.instance),
        toml_string(&found.conninfo),
        toml_string(&cluster.data_dir),
    ));
    if let Some(hostname) = header.hostname {
        text.push_str(&format!(
            "# host = {}   # this machine, when the estate spans several (default \"localhost\")\n",
            toml_string(hostname)
        ));
    }
    text.push_str(&format!(
        "# hadome's built-in actions for Debian's layout act on it (`hadome run`; the daemon only\n\
         # with `failover = \"auto\"`): pg_ctlcluster and its systemd unit, a fence that kills its\n\
         # unit's processes by PID, rebuilds with pg_basebackup (examples/estate.toml).\n\
         actions = \"debian\"\n\
         cluster = {}\n",
        toml_string(&debian_name)
    ));
    let standby = match &found.reach {
        Reach::Checked(privileges) => privileges.in_recovery,
        Reach::NotRunning | Reach::Refused { .. } => cluster.recovery,
    };
    text.push_str(&format!(
        "\n# The database cluster {} holds. Rename it after its data, and list {}\n\
         # in `members` as [[instance]]s of their own.\n\
         [[cluster]]\nname = {}\nmembers = [{}]\n\
         # \"manual\": hadome never promotes on its own; \"auto\" once its standbys are members.\n\
         failover = \"manual\"\n",
        toml_string(&found.instance),
        if standby {
            "its primary and the other standbys"
        } else {
            "its standbys"
        },
        toml_string(&cluster_name(&found.instance)),
        toml_string(&found.instance),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(version: &str, cluster: &str) -> LocalCluster {
        LocalCluster {
            version: version.to_owned(),
            cluster: cluster.to_owned(),
            port: 5432,
            socket_dir: Some("/var/run/postgresql".to_owned()),
            data_dir: format!("/var/lib/postgresql/{version}/{cluster}"),
            running: false,
            recovery: false,
            start: Some("auto".to_owned()),
            binaries_missing: false,
        }
    }

    #[test]
    fn instance_names_are_valid_and_unique() {
        let long = "x".repeat(80);
        let names = instance_names(&[
            local("15", "main"),
            local("9.6", "Main"),
            local("9.6", "main"),
            local("15", &long),
            local("15", &long),
        ]);
        assert_eq!(names[..3], ["15-main", "9-6-main", "9-6-main-2"]);
        assert_eq!(names[3].len(), 63);
        assert!(names[4].ends_with("-2") && names[4].len() == 63);
        assert_ne!(names[3], names[4]);
    }

    #[test]
    fn conninfo_names_the_socket_directory_and_quotes_what_libpq_needs_quoted() {
        let mut cluster = local("15", "main");
        assert_eq!(
            conninfo(&cluster, "hadome"),
            "host=/var/run/postgresql port=5432 user=hadome dbname=postgres"
        );
        cluster.socket_dir = Some("/run/my pg".to_owned());
        assert_eq!(
            conninfo(&cluster, "o'neil"),
            r"host='/run/my pg' port=5432 user='o\'neil' dbname=postgres"
        );
        cluster.socket_dir = None;
        assert_eq!(
            conninfo(&cluster, "hadome"),
            "host=localhost port=5432 user=hadome dbname=postgres"
        );
    }

    #[test]
    fn comments_wrap_at_words_and_never_break_out_of_the_comment() {
        let long = format!("{} end\n[[instance]]", "word ".repeat(30));
        let wrapped = comment(&long);
        assert!(
            wrapped.lines().all(|line| line.starts_with("# ")),
            "{wrapped}"
        );
        assert!(
            wrapped.lines().all(|line| line.len() <= COMMENT_WIDTH),
            "{wrapped}"
        );
        assert!(wrapped.ends_with("end [[instance]]\n"), "{wrapped}");
    }

    #[test]
    fn toml_strings_escape_quotes_backslashes_and_control_characters() {
        assert_eq!(
            toml_string("a\"b\\c\n\u{7f}"),
            "\"a\\\"b\\\\c\\u000A\\u007F\""
        );
        assert_eq!(one_line("FATAL:\nno"), "FATAL: no");
    }
}
