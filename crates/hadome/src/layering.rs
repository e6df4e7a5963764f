//! Keeps the binary thin and its modules layered (ARCHITECTURE.md, `crates/hadome`): the command
//! modules never name each other, the base modules name no command module, and no file grows
//! past [`MAX_LINES`].
//!
//! It reads the sources as text: a path that starts with `crate::` (or `super::` up to the
//! crate's root), `use crate::{…}` groups included, names the module it starts with. Comment
//! lines are not read. `main.rs`, the root that dispatches to every command, and this test are
//! exempt from the import rule.

use std::path::{Path, PathBuf};

/// One module per command; each may use the base modules and the libraries, never another one.
const COMMAND_MODULES: &[&str] = &[
    "ack_command",
    "advise_command",
    "backup_command",
    "daemon",
    "drill_command",
    "estate_command",
    "gate_command",
    "host_facts_command",
    "init_command",
    "lab_command",
    "run_command",
    "systemd_command",
    "timeline_command",
];

/// A file past this many lines is split by concern.
const MAX_LINES: usize = 550;

/// Files exempt from the import rule: the root, which dispatches to every command, and this test.
const EXEMPT: &[&str] = &["main.rs", "layering.rs"];

fn source_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot read `{}`: {error}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry of src").path();
        if path.is_dir() {
            source_files(&path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// The module path of a file under `src` (`daemon/act.rs` → `["daemon", "act"]`, `daemon/mod.rs`
/// → `["daemon"]`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut segments: Vec<String> = relative
        .iter()
        .map(|segment| segment.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if segments.last().is_some_and(|last| last == "mod") {
        segments.pop();
    }
    segments
}

fn is_identifier_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_'
}

/// The crate's top-level modules that `code`, the text of the module at `module`, names.
fn named_top_modules(code: &str, module: &[String]) -> Vec<String> {
    let mut named = Vec::new();
    let mut rest = code;
    while let Some(start) = rest
        .find("crate::")
        .into_iter()
        .chain(rest.find("super::"))
        .min()
    {
        let preceded_by_identifier = rest[..start]
            .chars()
            .next_back()
            .is_some_and(is_identifier_char);
        let mut tail = &rest[start..];
        // How many levels up the path climbs from `module`: `crate` is the root itself.
        let mut depth = module.len();
        if let Some(after) = tail.strip_prefix("crate::") {
            depth = 0;
            tail = after;
        } else {
            while let Some(after) = tail.strip_prefix("super::") {
                depth = depth.saturating_sub(1);
                tail = after;
            }
        }
        rest = tail;
        if preceded_by_identifier {
            continue;
        }
        if depth > 0 {
            // Still inside the file's own top-level module.
            named.push(module[0].clone());
        } else if let Some(group) = tail.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            named.extend(group.split(',').filter_map(|item| {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| is_identifier_char(*c))
                    .collect();
                (!name.is_empty()).then_some(name)
            }));
        } else {
            let name: String = tail
                .chars()
                .take_while(|c| is_identifier_char(*c))
                .collect();
            if !name.is_empty() {
                named.push(name);
            }
        }
    }
    named
}

#[test]
fn command_modules_never_import_each_other_and_files_stay_small() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&src).expect("a file under src");
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("cannot read `{}`: {error}", path.display()));
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!(
                "src/{} has {lines} lines, over {MAX_LINES}: split it by concern",
                relative.display()
            ));
        }
        if EXEMPT.iter().any(|exempt| relative == Path::new(exempt)) {
            continue;
        }
        let module = module_path(relative);
        let own = module[0].as_str();
        let is_command = COMMAND_MODULES.contains(&own);
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut named = named_top_modules(&code, &module);
        named.sort();
        named.dedup();
        for other in named
            .iter()
            .filter(|other| COMMAND_MODULES.contains(&other.as_str()) && *other != own)
        {
            problems.push(if is_command {
                format!(
                    "src/{} (command module `{own}`) names command module `{other}`: move what they share into a base module",
                    relative.display()
                )
            } else {
                format!(
                    "src/{} (base module `{own}`) names command module `{other}`: a base module imports no command module",
                    relative.display()
                )
            });
        }
    }
    assert!(
        problems.is_empty(),
        "the `hadome` binary's layering is broken (ARCHITECTURE.md, `crates/hadome`):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_layering_check_reads_every_form_of_path() {
    let module = |path: &str| module_path(Path::new(path));
    assert_eq!(
        named_top_modules("use crate::pass::observe;", &module("run_command.rs")),
        ["pass"]
    );
    assert_eq!(
        named_top_modules(
            "use crate::{clock::wall_clock, daemon};",
            &module("held.rs")
        ),
        ["clock", "daemon"]
    );
    assert_eq!(
        named_top_modules(
            "use super::super::run_command::x;",
            &module("daemon/act.rs")
        ),
        ["run_command"]
    );
    assert_eq!(
        named_top_modules("use super::log;", &module("daemon/backup_jobs.rs")),
        ["daemon"]
    );
    assert_eq!(
        named_top_modules("x == crate::daemon::ACTOR", &module("run_command.rs")),
        ["daemon"]
    );
    assert_eq!(
        named_top_modules("my_crate::daemon", &module("run_command.rs")),
        Vec::<String>::new()
    );
}
