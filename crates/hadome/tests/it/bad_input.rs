//! Issue 17, "bad input, every door": the real binary given a hostile estate, a data directory
//! that is a symlink into another instance's, and a journal that is not one. Each refusal names
//! the place and the fix, exits with its documented code, and changes nothing.
//! `docs/bad-input.md` cites each test here by name.

use std::path::Path;

use crate::support::{asides, lab, run_hadome, scratch, show};

/// Two instances nothing answers for (port 1), db-2's data directory written as `data_dir`.
fn estate_with_db2_data_dir(data_dir: &str) -> String {
    format!(
        "[[instance]]\nname = \"db-1\"\nconninfo = \"host=127.0.0.1 port=1\"\ndata_dir = \"/srv/db-1\"\n\n\
         [[instance]]\nname = \"db-2\"\nconninfo = \"host=127.0.0.1 port=1\"\ndata_dir = \"{data_dir}\"\n"
    )
}

/// The files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A config naming `/` (or `/etc`) as a data directory: `check`, `ask` and `run` refuse it at
/// load with exit 2, the file, line and key, and the fix; no journal is opened, nothing runs.
#[test]
fn a_config_naming_the_root_or_etc_is_refused_by_check_ask_and_run_and_changes_nothing() {
    let scratch = scratch();
    let config = scratch.path().join("estate.toml");
    for (data_dir, problem) in [
        (
            "/",
            "is `/`, the root itself: a rebuild would move `/` aside",
        ),
        (
            "/etc/",
            "is `/etc/`, a directory of the system itself (`/etc`): a rebuild would move it aside",
        ),
    ] {
        std::fs::write(&config, estate_with_db2_data_dir(data_dir)).unwrap();
        for args in [
            &["check"][..],
            &["ask", "rebuild", "db-2", "--from", "db-1"],
            &["run", "rebuild", "db-2", "--from", "db-1"],
        ] {
            let mut full = args.to_vec();
            full.extend(["--config", config.to_str().unwrap()]);
            let output = run_hadome(&full, &[]);
            assert_eq!(output.status.code(), Some(2), "{}", show(&output));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains(&format!(
                    "estate.toml:9: `instance \"db-2\".data_dir` {problem}"
                )) && stderr.contains(
                    "hint: give the data directory's absolute path on the instance's host"
                ),
                "{args:?}: {}",
                show(&output)
            );
        }
        assert_eq!(
            files_in(scratch.path()),
            ["estate.toml"],
            "no journal opened, nothing written"
        );
    }
}

/// Two instances whose data directories are one on the machine (the estate spells them apart):
/// db-3's `data_dir` is a symlink to db-2's. `run rebuild db-3` would move db-2's data aside
/// and copy over it; the pre-flight resolves both, refuses with exit 5 naming both and the
/// resolved path, and nothing moves: no aside, the symlink and db-2's data where they were, no
/// intent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_symlinked_into_another_instances_is_refused_before_anything_moves() {
    let lab = lab("trio").await;
    let config = lab.dir().join("estate.toml");
    let db2 = lab.data_dir("db-2").unwrap();
    let db3 = lab.data_dir("db-3").unwrap();
    let link = lab.dir().join("db-3-link");
    std::os::unix::fs::symlink(&db2, &link).unwrap();
    let estate = std::fs::read_to_string(&config).unwrap();
    let written = format!("data_dir = \"{}\"", db3.display());
    let hostile = estate.replace(&written, &format!("data_dir = \"{}\"", link.display()));
    assert_ne!(estate, hostile, "db-3's data_dir:\n{estate}");
    std::fs::write(&config, hostile).unwrap();

    let refused = run_hadome(
        &[
            "run",
            "rebuild",
            "db-3",
            "--from",
            "db-1",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(refused.status.code(), Some(5), "{}", show(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let resolved = std::fs::canonicalize(&db2).unwrap();
    assert!(
        stderr.contains(&format!(
            "pre-flight: `db-3`'s data directory `{}` resolves to `{}`, the same directory as \
             `db-2`'s data directory (`{}`): moving it aside would take `db-2`'s data with it; \
             nothing was done",
            link.display(),
            resolved.display(),
            resolved.display()
        )) && stderr.contains("hint: give `db-3` a data directory of its own"),
        "{}",
        show(&refused)
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink is where it was"
    );
    assert!(asides(&link).is_empty(), "nothing moved aside: {link:?}");
    assert!(asides(&db2).is_empty(), "nothing moved aside: {db2:?}");
    assert!(db2.join("PG_VERSION").exists(), "db-2's data is in place");
    let journal = hadome_journal::Journal::open(&lab.dir().join("hadome.sqlite")).unwrap();
    assert!(
        journal
            .events_since(hadome_core::fact::Timestamp(0))
            .unwrap()
            .iter()
            .all(|event| event.kind != hadome_journal::KIND_INTENT),
        "no intent was recorded"
    );
}

/// A journal file that is not SQLite, or a real journal cut short: every command that opens it
/// refuses with exit 2, names the file and how to fix it, and leaves its bytes as they were
/// (hadome never "repairs" a journal by starting a new one over it).
#[test]
fn a_journal_that_is_not_sqlite_or_is_truncated_is_refused_and_left_as_it_was() {
    let scratch = scratch();
    let config = scratch.path().join("estate.toml");
    std::fs::write(&config, estate_with_db2_data_dir("/srv/db-2")).unwrap();
    let journal = scratch.path().join("hadome.sqlite");
    let check = |what: &str| {
        let before = std::fs::read(&journal).unwrap();
        for args in [&["check"][..], &["status"], &["timeline", "--since", "2h"]] {
            let mut full = args.to_vec();
            full.extend(["--config", config.to_str().unwrap()]);
            let output = run_hadome(&full, &[]);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{what} {args:?}: {}",
                show(&output)
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("error: cannot open the journal `")
                    && stderr.contains("hadome.sqlite`")
                    && stderr.contains("hint: check that `"),
                "{what} {args:?}: {}",
                show(&output)
            );
        }
        assert_eq!(
            std::fs::read(&journal).unwrap(),
            before,
            "{what}: unchanged"
        );
    };

    std::fs::write(&journal, "not a database, a note someone saved here\n").unwrap();
    check("text");

    // A real journal, cut to its first two pages.
    std::fs::remove_file(&journal).unwrap();
    let made = run_hadome(&["check", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(made.status.code(), Some(1), "{}", show(&made));
    let full = std::fs::read(&journal).unwrap();
    assert!(full.len() > 8192, "{} bytes", full.len());
    std::fs::write(&journal, &full[..8192]).unwrap();
    check("truncated");
}

/// `docs/bad-input.md` is the table: every row names a test (or "the same test" as the
/// row above), and every test it names exists, as `fn NAME(` in the file it names. A renamed or
/// deleted test fails here, not silently in the page.
#[test]
fn every_row_of_the_bad_input_table_names_a_test_that_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let page = std::fs::read_to_string(root.join("docs/bad-input.md")).unwrap();
    let mut rows = 0;
    for line in page.lines() {
        let cells: Vec<&str> = line.split(" | ").collect();
        if !line.starts_with("| ") || line.starts_with("| input ") || cells.len() != 4 {
            continue;
        }
        rows += 1;
        let test_cell = cells[3].trim_end_matches(" |");
        let cited: Vec<&str> = test_cell
            .split('`')
            .filter(|piece| piece.starts_with("crates/") && piece.contains("::"))
            .collect();
        assert!(
            !cited.is_empty() || test_cell.starts_with("the same test"),
            "a row without its test: {line}"
        );
        for citation in cited {
            let (file, path) = citation.split_once("::").unwrap();
            let name = path.rsplit("::").next().unwrap();
            let source = std::fs::read_to_string(root.join(file))
                .unwrap_or_else(|error| panic!("{citation}: cannot read {file}: {error}"));
            assert!(
                source.contains(&format!("fn {name}(")),
                "{citation}: no `fn {name}(` in {file}"
            );
        }
    }
    assert!(rows >= 40, "the table has {rows} rows");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains("`docs/bad-input.md`"),
        "README links the page"
    );
}
