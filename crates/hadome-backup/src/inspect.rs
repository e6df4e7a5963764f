//! The three inspections and what they return: the file reading and the one program run.
//!
//! Every file is read once, front to back, in 1 MiB reads; each read is hashed and, for a dump,
//! handed to the archive parser (`archive.rs`) in the same pass, so checksum and structure cost
//! one read of the file.
//! A base backup is verified by PostgreSQL's own `pg_verifybackup`, run without a shell.

use std::ffi::OsString;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::archive::{ArchiveParser, ArchiveSummary};
use crate::BackupError;

/// The size of each read: large enough that system calls cost nothing next to the hash.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// How many lines of `pg_verifybackup`'s complaints a reason quotes.
const MAX_REASON_LINES: usize = 10;

/// What one inspection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The size: of the file; for a base backup, of every regular file in its directory (symbolic
    /// links, such as those to tablespaces, are not followed).
    pub size_bytes: u64,
    /// The SHA-256 in lowercase hex: of the file; for a base backup, of its `backup_manifest`
    /// (which holds a checksum of every file of the backup).
    pub sha256_hex: String,
    /// Whether the backup is whole.
    pub structure: Structure,
}

/// Whether a backup's structure is whole, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Structure {
    /// A whole pg_dump custom-format archive.
    Valid(ArchiveSummary),
    /// A base backup that `pg_verifybackup` verified.
    ValidBaseBackup(BaseBackupSummary),
    /// Not a whole backup: truncated, empty, garbage, or damaged.
    Invalid {
        /// Where the problem is, in bytes from the start of the file, when it is one place.
        offset_bytes: Option<u64>,
        /// What is wrong, in a sentence a person understands.
        reason: String,
    },
    /// A plain file, whose structure hadome does not know.
    NotChecked,
}

/// What a base backup's `backup_manifest` says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseBackupSummary {
    /// The timeline the backup ends on.
    pub timeline: Option<u32>,
    /// The WAL position where the backup starts (PostgreSQL's `X/Y` text).
    pub start_lsn: Option<String>,
    /// The WAL position a restore must replay to before the copy is consistent.
    pub end_lsn: Option<String>,
    /// How many files the manifest lists.
    pub files: u64,
}

/// One streaming pass over a pg_dump custom-format archive (`pg_dump -Fc`): size, SHA-256 and
/// structure.
///
/// The structure is [`Structure::Valid`] only when the file is one whole archive of version 1.12
/// to 1.16 (PostgreSQL 15 writes 1.14): every TOC entry with data has its data block, every block
/// belongs to an entry, and the file ends right after the last block.
/// The data is walked, not decompressed.
pub fn inspect_dump(path: &Path) -> Result<Inspection, BackupError> {
    let mut parser = ArchiveParser::new();
    let (size_bytes, sha256_hex) = stream_file(path, |bytes| parser.feed(bytes))?;
    Ok(Inspection {
        size_bytes,
        sha256_hex,
        structure: structure_of(parser),
    })
}

/// The structure of a pg_dump custom-format archive already in memory, handed over in `slices`
/// (their concatenation is the file): what [`inspect_dump`] reports as [`Inspection::structure`],
/// without the file, its size or its checksum.
///
/// It exists so that the reader can be driven with untrusted bytes and no file system (the fuzz
/// targets of `hadome-fuzz`), and so that how a file is split into reads can be varied: the
/// verdict must not depend on it.
pub fn dump_structure<'a>(slices: impl IntoIterator<Item = &'a [u8]>) -> Structure {
    let mut parser = ArchiveParser::new();
    for slice in slices {
        parser.feed(slice);
    }
    structure_of(parser)
}

/// The parser's verdict once the whole file was fed.
fn structure_of(parser: ArchiveParser) -> Structure {
    match parser.finish() {
        Ok(summary) => Structure::Valid(summary),
        Err(failure) => Structure::Invalid {
            offset_bytes: failure.offset_bytes,
            reason: failure.reason,
        },
    }
}

/// A plain file (type "files"): size and SHA-256; structure is [`Structure::NotChecked`].
pub fn inspect_file(path: &Path) -> Result<Inspection, BackupError> {
    let (size_bytes, sha256_hex) = stream_file(path, |_| {})?;
    Ok(Inspection {
        size_bytes,
        sha256_hex,
        structure: Structure::NotChecked,
    })
}

/// A base backup directory (with `backup_manifest`): runs `pg_verifybackup` and reads the
/// manifest's WAL range.
///
/// The argv is `pg_verifybackup_program DIR`, run without a shell and with `LC_ALL=C`.
/// WAL parsing is left on (no `--no-parse-wal`): `pg_verifybackup` then also checks, with
/// `pg_waldump`, that the WAL from the start to the end LSN is in `DIR/pg_wal` and readable, and a
/// base backup without that WAL cannot be restored to a consistent copy.
/// Backups taken with `pg_basebackup -X stream` or `-X fetch` hold their WAL; one taken with
/// `-X none` is reported invalid, because on its own it is not restorable.
///
/// When `pg_verifybackup` exits with a failure status, the structure is [`Structure::Invalid`] with
/// its complaints as the reason.
/// A missing directory or manifest, a program that cannot be started or one ended by a signal is
/// a [`BackupError`].
pub fn inspect_base_backup(
    dir: &Path,
    pg_verifybackup_program: &Path,
) -> Result<Inspection, BackupError> {
    let metadata = std::fs::metadata(dir).map_err(|source| BackupError::Read {
        path: dir.to_owned(),
        source,
    })?;
    if !metadata.is_dir() {
        return Err(BackupError::NotADirectory {
            path: dir.to_owned(),
        });
    }
    let manifest_path = dir.join("backup_manifest");
    match std::fs::symlink_metadata(&manifest_path) {
        Err(error) if error.kind() == ErrorKind::NotFound => {
            return Err(BackupError::ManifestMissing {
                dir: dir.to_owned(),
            })
        }
        Err(source) => {
            return Err(BackupError::Read {
                path: manifest_path,
                source,
            })
        }
        Ok(_) => {}
    }
    let mut manifest = Vec::new();
    let (_, sha256_hex) = stream_file(&manifest_path, |bytes| manifest.extend_from_slice(bytes))?;
    let size_bytes = directory_size(dir)?;

    let output = Command::new(pg_verifybackup_program)
        .arg(argument_for(dir))
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BackupError::Spawn {
            program: pg_verifybackup_program.to_owned(),
            source,
        })?;
    let structure = if output.status.success() {
        match summarize_manifest(&manifest) {
            Ok(summary) => Structure::ValidBaseBackup(summary),
            Err(defect) => Structure::Invalid {
                offset_bytes: None,
                reason: defect.to_string(),
            },
        }
    } else if output.status.code().is_some() {
        Structure::Invalid {
            offset_bytes: None,
            reason: verification_failure(pg_verifybackup_program, &output),
        }
    } else {
        return Err(BackupError::ProgramKilled {
            program: pg_verifybackup_program.to_owned(),
            dir: dir.to_owned(),
            status: output.status.to_string(),
        });
    };
    Ok(Inspection {
        size_bytes,
        sha256_hex,
        structure,
    })
}

/// Reads `path` once in 1 MiB reads, handing each read to `consume`; returns the size and the
/// SHA-256 in lowercase hex.
fn stream_file(path: &Path, mut consume: impl FnMut(&[u8])) -> Result<(u64, String), BackupError> {
    let read_error = |source| BackupError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    // Opening a directory succeeds on Linux; reading it fails with a less helpful message.
    if file.metadata().map_err(read_error)?.is_dir() {
        return Err(BackupError::IsADirectory {
            path: path.to_owned(),
        });
    }
    let mut buffer = vec![0; READ_BUFFER_BYTES];
    let mut hasher = Sha256::new();
    let mut size_bytes = 0;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(source) => return Err(read_error(source)),
        };
        // `read` never exceeds the buffer's length (`Read::read`'s contract).
        let bytes = buffer.get(..read).unwrap_or_default();
        hasher.update(bytes);
        consume(bytes);
        size_bytes += read as u64;
    }
    Ok((size_bytes, lowercase_hex(&hasher.finalize())))
}

fn lowercase_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// The total size of the regular files under `dir`, not following symbolic links.
fn directory_size(dir: &Path) -> Result<u64, BackupError> {
    let mut total = 0;
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let read_error = |source| BackupError::Read {
            path: current.clone(),
            source,
        };
        for entry in std::fs::read_dir(&current).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let metadata = entry.metadata().map_err(|source| BackupError::Read {
                path: entry.path(),
                source,
            })?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else if metadata.is_file() {
                total += metadata.len();
            }
        }
    }
    Ok(total)
}

/// `dir` as an argument that getopt cannot take for an option.
fn argument_for(dir: &Path) -> OsString {
    if dir.as_os_str().to_string_lossy().starts_with('-') {
        Path::new(".").join(dir).into_os_string()
    } else {
        dir.as_os_str().to_owned()
    }
}

/// The reason `pg_verifybackup` gave for failing: its stderr (or stdout), line by line.
fn verification_failure(program: &Path, output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let status = output.status.code().map_or_else(
        || output.status.to_string(),
        |code| format!("status {code}"),
    );
    let program = program.display();
    if lines.is_empty() {
        return format!("`{program}` exited with {status} and said nothing");
    }
    let mut reason = format!(
        "`{program}` exited with {status}: {}",
        lines
            .iter()
            .take(MAX_REASON_LINES)
            .copied()
            .collect::<Vec<_>>()
            .join("; ")
    );
    if lines.len() > MAX_REASON_LINES {
        reason.push_str(&format!(
            "; and {} more lines",
            lines.len() - MAX_REASON_LINES
        ));
    }
    reason
}

/// What is wrong with a `backup_manifest` that `pg_verifybackup` accepted: the backup's structure
/// is then [`Structure::Invalid`] with this as its reason (a finding, not an error).
#[derive(Debug, thiserror::Error)]
enum ManifestDefect {
    #[error("`backup_manifest` is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("`backup_manifest` has no `Files` list")]
    NoFiles,
    #[error("`backup_manifest` has `{key}` `{text}`, which is not an LSN")]
    NotAnLsn { key: &'static str, text: String },
}

/// The WAL range and file count of a `backup_manifest` (JSON, `PostgreSQL-Backup-Manifest-Version`
/// 1 or 2).
///
/// With several WAL ranges (a backup taken across a timeline switch), the start is the earliest
/// start, and the end and timeline are those of the range that ends last.
fn summarize_manifest(manifest: &[u8]) -> Result<BaseBackupSummary, ManifestDefect> {
    let value: serde_json::Value =
        serde_json::from_slice(manifest).map_err(ManifestDefect::NotJson)?;
    let files = value
        .get("Files")
        .and_then(serde_json::Value::as_array)
        .ok_or(ManifestDefect::NoFiles)?
        .len() as u64;
    let mut start: Option<(u64, String)> = None;
    let mut end: Option<(u64, String, Option<u32>)> = None;
    let ranges = value
        .get("WAL-Ranges")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for range in ranges {
        let timeline = range
            .get("Timeline")
            .and_then(serde_json::Value::as_u64)
            .and_then(|timeline| u32::try_from(timeline).ok());
        let lsn = |key: &'static str| -> Result<Option<(u64, String)>, ManifestDefect> {
            let Some(text) = range.get(key).and_then(serde_json::Value::as_str) else {
                return Ok(None);
            };
            let position = parse_lsn(text).ok_or_else(|| ManifestDefect::NotAnLsn {
                key,
                text: text.to_owned(),
            })?;
            Ok(Some((position, text.to_owned())))
        };
        if let Some((position, text)) = lsn("Start-LSN")? {
            if start
                .as_ref()
                .is_none_or(|(earliest, _)| position < *earliest)
            {
                start = Some((position, text));
            }
        }
        if let Some((position, text)) = lsn("End-LSN")? {
            if end.as_ref().is_none_or(|(latest, _, _)| position > *latest) {
                end = Some((position, text, timeline));
            }
        }
    }
    Ok(BaseBackupSummary {
        timeline: end.as_ref().and_then(|(_, _, timeline)| *timeline),
        start_lsn: start.map(|(_, text)| text),
        end_lsn: end.map(|(_, text, _)| text),
        files,
    })
}

/// PostgreSQL's `X/Y` LSN text as a byte position.
fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    let high = u32::from_str_radix(high, 16).ok()?;
    let low = u32::from_str_radix(low, 16).ok()?;
    Some((u64::from(high) << 32) | u64::from(low))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_archive::TestArchive;

    fn scratch() -> tempfile::TempDir {
        tempfile::tempdir().expect("a temporary directory")
    }

    #[test]
    fn a_dump_is_hashed_and_checked_in_one_pass() {
        let dir = scratch();
        let path = dir.path().join("shop.dump");
        let bytes = TestArchive::typical().to_bytes();
        std::fs::write(&path, &bytes).unwrap();
        let inspection = inspect_dump(&path).unwrap();
        assert_eq!(inspection.size_bytes, bytes.len() as u64);
        assert_eq!(
            inspection.sha256_hex,
            lowercase_hex(&Sha256::digest(&bytes))
        );
        let Structure::Valid(summary) = inspection.structure else {
            panic!("{:?}", inspection.structure);
        };
        assert_eq!(summary.data_blocks, 4);
    }

    #[test]
    fn a_dump_larger_than_one_read_is_checked_across_reads() {
        // 3 tables of 5 chunks of 100 KiB (500 KiB each): the 1 MiB read boundary falls in the third.
        let chunk = vec![7u8; 100 * 1024];
        let tables = vec![vec![chunk; 5]; 3];
        let bytes = TestArchive::generated(14, true, tables, Vec::new()).to_bytes();
        assert!(bytes.len() > READ_BUFFER_BYTES);
        let dir = scratch();
        let path = dir.path().join("big.dump");
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            inspect_dump(&path).unwrap().structure,
            Structure::Valid(_)
        ));
        std::fs::write(&path, &bytes[..READ_BUFFER_BYTES + 3]).unwrap();
        let inspection = inspect_dump(&path).unwrap();
        assert_eq!(inspection.size_bytes, READ_BUFFER_BYTES as u64 + 3);
        let Structure::Invalid {
            offset_bytes,
            reason,
        } = inspection.structure
        else {
            panic!("{:?}", inspection.structure);
        };
        assert_eq!(offset_bytes, Some(READ_BUFFER_BYTES as u64 + 3));
        assert!(
            reason.contains("inside the data block of `public.table_0002` (dump id 102)"),
            "{reason}"
        );
    }

    #[test]
    fn the_sha256_of_a_known_text_is_the_known_one() {
        let dir = scratch();
        let path = dir.path().join("abc");
        std::fs::write(&path, "abc").unwrap();
        let inspection = inspect_file(&path).unwrap();
        assert_eq!(
            inspection.sha256_hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(inspection.size_bytes, 3);
        assert_eq!(inspection.structure, Structure::NotChecked);
    }

    #[test]
    fn an_empty_dump_is_invalid_not_an_error() {
        let dir = scratch();
        let path = dir.path().join("empty.dump");
        std::fs::write(&path, "").unwrap();
        let inspection = inspect_dump(&path).unwrap();
        assert_eq!(inspection.size_bytes, 0);
        assert_eq!(
            inspection.sha256_hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(matches!(
            inspection.structure,
            Structure::Invalid {
                offset_bytes: Some(0),
                ..
            }
        ));
    }

    #[test]
    fn a_missing_dump_or_a_directory_is_an_error_naming_the_path() {
        let dir = scratch();
        let missing = dir.path().join("missing.dump");
        let error = inspect_dump(&missing).unwrap_err();
        assert!(matches!(&error, BackupError::Read { path, .. } if path == &missing));
        assert!(error.to_string().contains("missing.dump"));
        let error = inspect_file(dir.path()).unwrap_err();
        assert!(matches!(error, BackupError::IsADirectory { .. }));
    }

    /// A base backup directory holding `manifest` as its `backup_manifest`.
    fn base_backup(manifest: &str) -> tempfile::TempDir {
        let dir = scratch();
        std::fs::write(dir.path().join("backup_manifest"), manifest).unwrap();
        std::fs::create_dir(dir.path().join("global")).unwrap();
        std::fs::write(dir.path().join("global").join("pg_control"), [0u8; 100]).unwrap();
        dir
    }

    const MANIFEST: &str = r#"{ "PostgreSQL-Backup-Manifest-Version": 1,
"Files": [
{ "Path": "backup_label", "Size": 225, "Last-Modified": "2026-11-22 10:00:00 GMT", "Checksum-Algorithm": "CRC32C", "Checksum": "a0b1c2d3" },
{ "Path": "global/pg_control", "Size": 8192, "Last-Modified": "2026-11-22 10:00:00 GMT", "Checksum-Algorithm": "CRC32C", "Checksum": "d3c2b1a0" }
],
"WAL-Ranges": [
{ "Timeline": 2, "Start-LSN": "0/5000000", "End-LSN": "0/5000138" },
{ "Timeline": 1, "Start-LSN": "0/4FFFF00", "End-LSN": "0/5000000" }
],
"Manifest-Checksum": "0011"}
"#;

    #[test]
    fn a_verified_base_backup_reports_its_wal_range() {
        let dir = base_backup(MANIFEST);
        let inspection = inspect_base_backup(dir.path(), Path::new("/bin/true")).unwrap();
        assert_eq!(
            inspection.structure,
            Structure::ValidBaseBackup(BaseBackupSummary {
                timeline: Some(2),
                start_lsn: Some("0/4FFFF00".to_owned()),
                end_lsn: Some("0/5000138".to_owned()),
                files: 2,
            })
        );
        assert_eq!(inspection.size_bytes, MANIFEST.len() as u64 + 100);
        assert_eq!(
            inspection.sha256_hex,
            lowercase_hex(&Sha256::digest(MANIFEST.as_bytes()))
        );
    }

    #[test]
    fn a_failed_verification_is_invalid_with_the_programs_words() {
        let dir = base_backup(MANIFEST);
        let inspection = inspect_base_backup(dir.path(), Path::new("/bin/false")).unwrap();
        assert_eq!(
            inspection.structure,
            Structure::Invalid {
                offset_bytes: None,
                reason: "`/bin/false` exited with status 1 and said nothing".to_owned(),
            }
        );
    }

    #[test]
    fn a_manifest_that_is_not_json_is_invalid() {
        let dir = base_backup("{ \"Files\": [");
        let inspection = inspect_base_backup(dir.path(), Path::new("/bin/true")).unwrap();
        let Structure::Invalid { reason, .. } = inspection.structure else {
            panic!("{:?}", inspection.structure);
        };
        assert!(
            reason.starts_with("`backup_manifest` is not valid JSON"),
            "{reason}"
        );
    }

    #[test]
    fn a_base_backup_without_manifest_or_program_is_an_error() {
        let dir = scratch();
        let error = inspect_base_backup(dir.path(), Path::new("/bin/true")).unwrap_err();
        assert!(matches!(error, BackupError::ManifestMissing { .. }));
        assert!(error.hint().unwrap().contains("--no-manifest"));

        let dir = base_backup(MANIFEST);
        let program = Path::new("/nonexistent/pg_verifybackup");
        let error = inspect_base_backup(dir.path(), program).unwrap_err();
        assert!(matches!(&error, BackupError::Spawn { program: given, .. } if given == program));

        let file = dir.path().join("backup_manifest");
        let error = inspect_base_backup(&file, Path::new("/bin/true")).unwrap_err();
        assert!(matches!(error, BackupError::NotADirectory { .. }));
    }

    #[test]
    fn a_directory_named_like_an_option_is_passed_as_a_path() {
        assert_eq!(argument_for(Path::new("-x")), OsString::from("./-x"));
        assert_eq!(
            argument_for(Path::new("/backups/base")),
            OsString::from("/backups/base")
        );
    }

    #[test]
    fn many_complaints_are_quoted_up_to_ten_lines() {
        use std::os::unix::process::ExitStatusExt;
        let output = std::process::Output {
            status: std::process::ExitStatus::from_raw(1 << 8),
            stdout: Vec::new(),
            stderr: (1..=12)
                .map(|line| format!("pg_verifybackup: error: problem {line}\n"))
                .collect::<String>()
                .into_bytes(),
        };
        let reason = verification_failure(Path::new("pg_verifybackup"), &output);
        assert!(reason.starts_with(
            "`pg_verifybackup` exited with status 1: pg_verifybackup: error: problem 1; "
        ));
        assert!(reason.ends_with("problem 10; and 2 more lines"), "{reason}");
    }
}
