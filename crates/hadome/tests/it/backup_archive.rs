//! Backup verification (issue 5) on real PostgreSQL output, through `hadome-backup`.
//!
//! `pg_dump -Fc` archives (to a file and through a pipe, compressed and not) are valid, list the
//! same TABLE DATA entries as `pg_restore --list`, hash like `sha256sum`, and are invalid once cut
//! in half; `pg_basebackup` output verifies, and stops verifying when one of its files is damaged
//! or deleted.
//! These tests live in the `hadome` crate because the lab needs the `hadome` binary for its proxy.

use std::path::{Path, PathBuf};
use std::process::Command;

use hadome_backup::{inspect_base_backup, inspect_dump, Compression, Inspection, Structure};

use crate::support::{describe, execute, lab, show};

const NODE: &str = "db-1";

fn bindir() -> PathBuf {
    hadome_lab::locate_bindir().unwrap_or_else(|error| panic!("{error}"))
}

/// Runs a PostgreSQL client program to completion; returns its stdout, or panics with its output.
fn run(program: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|error| panic!("run `{}`: {error}", program.display()));
    assert!(
        output.status.success(),
        "`{} {}`: {}",
        program.display(),
        args.join(" "),
        show(&output)
    );
    output.stdout
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// What coreutils' `sha256sum` says of `path`.
fn sha256sum(path: &Path) -> String {
    let stdout = run(Path::new("sha256sum"), &[utf8(path)]);
    String::from_utf8(stdout)
        .expect("hex")
        .split_whitespace()
        .next()
        .expect("a checksum")
        .to_owned()
}

/// (dump id, `schema.table`) of every TABLE DATA line of `pg_restore --list`, which prints
/// `ID; TABLEOID OID DESC SCHEMA TAG OWNER`.
fn pg_restore_table_data(path: &Path) -> Vec<(i64, String)> {
    let listing = run(&bindir().join("pg_restore"), &["--list", utf8(path)]);
    let mut entries: Vec<(i64, String)> = String::from_utf8(listing)
        .expect("a UTF-8 listing")
        .lines()
        .filter(|line| !line.starts_with(';'))
        .filter_map(|line| {
            let (dump_id, rest) = line.split_once("; ")?;
            let (_, names) = rest.split_once(" TABLE DATA ")?;
            let mut names = names.split_whitespace();
            let (schema, table) = (names.next()?, names.next()?);
            Some((dump_id.parse().ok()?, format!("{schema}.{table}")))
        })
        .collect();
    entries.sort();
    entries
}

/// The reason of an invalid inspection, or a panic naming what it was instead.
fn invalid_reason(inspection: &Inspection) -> (Option<u64>, String) {
    match &inspection.structure {
        Structure::Invalid {
            offset_bytes,
            reason,
        } => (*offset_bytes, reason.clone()),
        other => panic!("expected an invalid backup, got {other:?}"),
    }
}

/// Checks one real archive: valid, agreeing with `pg_restore --list` and `sha256sum`, and
/// invalid once cut in half.
fn check_archive(path: &Path, compression: Compression) {
    let inspection = inspect_dump(path).unwrap_or_else(|error| panic!("inspect: {error}"));
    let Structure::Valid(summary) = &inspection.structure else {
        panic!(
            "`{}` should be a valid archive: {:?}",
            path.display(),
            inspection.structure
        );
    };
    assert_eq!(summary.format_version, (1, 14, 0));
    assert_eq!(summary.compression, compression, "{}", path.display());
    assert_eq!(summary.database.as_deref(), Some("postgres"));
    assert!(
        summary
            .dumped_by
            .as_deref()
            .is_some_and(|version| version.starts_with("15.")),
        "{:?}",
        summary.dumped_by
    );
    let tables = summary.tables();
    for table in ["shop.accounts", "public.events", "public.empty_table"] {
        assert!(
            tables.iter().any(|listed| listed == table),
            "`{table}` is not in {tables:?}"
        );
    }
    assert!(
        summary
            .entries
            .iter()
            .any(|entry| entry.desc == "BLOBS" && entry.has_data),
        "the large object's BLOBS entry has data"
    );
    let with_data = summary
        .entries
        .iter()
        .filter(|entry| entry.has_data)
        .count();
    assert_eq!(summary.data_blocks, with_data as u64);

    let mut ours: Vec<(i64, String)> = summary
        .entries
        .iter()
        .filter(|entry| entry.desc == "TABLE DATA")
        .map(|entry| {
            let schema = entry.namespace.as_deref().unwrap_or_default();
            (entry.dump_id, format!("{schema}.{}", entry.tag))
        })
        .collect();
    ours.sort();
    assert_eq!(ours, pg_restore_table_data(path));

    assert_eq!(inspection.sha256_hex, sha256sum(path));
    let bytes = std::fs::read(path).expect("the archive");
    assert_eq!(inspection.size_bytes, bytes.len() as u64);

    let half = path.with_extension("half");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).expect("the half is written");
    let cut = inspect_dump(&half).expect("the half is readable");
    let (offset_bytes, reason) = invalid_reason(&cut);
    assert_eq!(offset_bytes, Some(bytes.len() as u64 / 2), "{reason}");
    assert!(reason.contains("truncated"), "{reason}");
    assert_eq!(cut.sha256_hex, sha256sum(&half));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_dump_archives_are_valid_agree_with_pg_restore_and_are_invalid_when_cut() {
    let lab = lab("pair").await;
    let client = lab
        .connect(NODE)
        .await
        .unwrap_or_else(|error| panic!("connect to {NODE}: {}", describe(&error)));
    execute(
        &client,
        NODE,
        "CREATE SCHEMA shop; \
         CREATE TABLE shop.accounts (id int PRIMARY KEY, name text NOT NULL); \
         INSERT INTO shop.accounts SELECT g, md5(g::text) FROM generate_series(1, 200000) g; \
         CREATE TABLE public.events (id bigint, payload text); \
         INSERT INTO public.events SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g; \
         CREATE TABLE public.empty_table (id int); \
         SELECT lo_from_bytea(0, convert_to(repeat('large object ', 1000), 'UTF8'))",
    )
    .await;
    drop(client);

    let port = lab.client_port(NODE).expect("a client port").to_string();
    let pg_dump = bindir().join("pg_dump");
    let connection = [
        "-h",
        "127.0.0.1",
        "-p",
        port.as_str(),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-Fc",
    ];
    for (name, options, compression) in [
        (
            "default.dump",
            &[][..],
            Compression::Gzip { level: Some(-1) },
        ),
        ("uncompressed.dump", &["-Z0"][..], Compression::None),
    ] {
        let path = lab.scratch.path().join(name);
        let mut args = connection.to_vec();
        args.extend(["-f", utf8(&path)]);
        args.extend_from_slice(options);
        run(&pg_dump, &args);
        check_archive(&path, compression);
    }

    // Written to a pipe, pg_dump cannot seek back, so the TOC records no offsets.
    let piped = lab.scratch.path().join("piped.dump");
    std::fs::write(&piped, run(&pg_dump, &connection)).expect("the piped dump is written");
    check_archive(&piped, Compression::Gzip { level: Some(-1) });
}

/// Regular files under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("a readable directory") {
            let entry = entry.expect("a directory entry");
            let kind = entry.file_type().expect("a file type");
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let relative = entry
                    .path()
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_owned();
                files.push(relative);
            }
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_basebackup_output_verifies_until_a_file_is_damaged_or_deleted() {
    let lab = lab("pair").await;
    let port = lab.client_port(NODE).expect("a client port").to_string();
    let backup = lab.scratch.path().join("base");
    run(
        &bindir().join("pg_basebackup"),
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-D",
            utf8(&backup),
            "-Fp",
            "-X",
            "stream",
            "--checkpoint=fast",
            "--no-sync",
        ],
    );
    let pg_verifybackup = bindir().join("pg_verifybackup");
    let verify = || {
        inspect_base_backup(&backup, &pg_verifybackup)
            .unwrap_or_else(|error| panic!("inspect the base backup: {error}"))
    };

    let inspection = verify();
    let Structure::ValidBaseBackup(summary) = &inspection.structure else {
        panic!("a fresh base backup verifies: {:?}", inspection.structure);
    };
    assert_eq!(summary.timeline, Some(1));
    let lsn = |text: &Option<String>| {
        hadome_lab::parse_lsn(text.as_deref().expect("an LSN")).expect("LSN text")
    };
    assert!(
        lsn(&summary.start_lsn) < lsn(&summary.end_lsn),
        "{summary:?}"
    );
    let files = files_under(&backup);
    let listed = files
        .iter()
        .filter(|path| !path.starts_with("pg_wal") && *path != Path::new("backup_manifest"))
        .count();
    assert_eq!(summary.files, listed as u64);
    let size: u64 = files
        .iter()
        .map(|path| {
            std::fs::metadata(backup.join(path))
                .expect("metadata")
                .len()
        })
        .sum();
    assert_eq!(inspection.size_bytes, size);
    assert_eq!(
        inspection.sha256_hex,
        sha256sum(&backup.join("backup_manifest"))
    );

    // The same size, other bytes: only the manifest's checksum can tell.
    let version_file = backup.join("PG_VERSION");
    let version = std::fs::read(&version_file).expect("PG_VERSION");
    assert_eq!(version, b"15\n");
    std::fs::write(&version_file, b"14\n").expect("PG_VERSION is damaged");
    let (offset_bytes, reason) = invalid_reason(&verify());
    assert_eq!(offset_bytes, None);
    assert!(
        reason.contains("checksum mismatch") && reason.contains("PG_VERSION"),
        "{reason}"
    );

    std::fs::write(&version_file, &version).expect("PG_VERSION is repaired");
    assert!(
        matches!(verify().structure, Structure::ValidBaseBackup(_)),
        "the repaired backup verifies again"
    );

    std::fs::remove_file(backup.join("global").join("pg_control")).expect("pg_control is deleted");
    let (_, reason) = invalid_reason(&verify());
    assert!(
        reason.contains("global/pg_control") && reason.contains("not on disk"),
        "{reason}"
    );
}
