//! hadome's edge for backup files: is a backup there, how big is it, what is its SHA-256, and is
//! its structure whole (issue 5)?
//!
//! This crate reads files and, for a base backup, runs `pg_verifybackup`; it opens no PostgreSQL
//! connection and runs no async code.
//! Each function looks at one backup and returns one [`Inspection`]:
//! - [`inspect_dump`]: a pg_dump custom-format archive (`pg_dump -Fc`), in one streaming pass that
//!   gives its size, its SHA-256 and its structure (header, table of contents, and every data
//!   block walked to the end of the file without decompressing), as [`ArchiveSummary`];
//! - [`inspect_file`]: any other file (type "files"): size and SHA-256;
//! - [`inspect_base_backup`]: a `pg_basebackup` directory, checked by `pg_verifybackup` against
//!   its `backup_manifest`, with the WAL range the manifest records, as [`BaseBackupSummary`].
//!
//! A truncated, empty, garbage or damaged backup is not an error: its [`Structure`] is
//! [`Structure::Invalid`], with the byte offset and a reason a person understands.
//! [`BackupError`] is for the cases where hadome could not look at all (a missing file, a denied
//! permission, a program that cannot be run), and [`BackupError::hint`] says how to fix them.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hadome_backup::{inspect_dump, inspect_file, Structure};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("nightly.dump");
//! // A plain-text SQL dump where a custom-format archive was expected.
//! std::fs::write(&path, "--\n-- PostgreSQL database dump\n--\n")?;
//!
//! let inspection = inspect_dump(&path)?;
//! assert_eq!(inspection.size_bytes, 34);
//! match &inspection.structure {
//!     Structure::Invalid { offset_bytes, reason } => {
//!         assert_eq!(*offset_bytes, Some(0));
//!         assert!(reason.contains("plain-text SQL dump"));
//!     }
//!     other => panic!("a plain-text dump is not a valid archive: {other:?}"),
//! }
//!
//! // As a plain file it has no structure to check, and the same checksum.
//! let plain = inspect_file(&path)?;
//! assert_eq!(plain.structure, Structure::NotChecked);
//! assert_eq!(plain.sha256_hex, inspection.sha256_hex);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod archive;
mod error;
mod inspect;
#[cfg(test)]
mod test_archive;

pub use archive::{ArchiveSummary, Compression, TocEntry};
pub use error::BackupError;
pub use inspect::{
    dump_structure, inspect_base_backup, inspect_dump, inspect_file, BaseBackupSummary, Inspection,
    Structure,
};
