//! Images and backups of a lab host's data paths: a ustar archive with a manifest, written under
//! a temporary name and renamed into place, and read whole against that manifest.
//!
//! `hadome lab image --dir D HOST IMAGE` writes `D/images/IMAGE.tar` and
//! `D/images/IMAGE.manifest.json` (the lab estate's `image_command`); `hadome lab verify-image`
//! reads the archive to its end, checks every header's checksum, every file's size and SHA-256,
//! and the archive's own size and SHA-256 against the manifest (`verify_image_command`). A
//! truncated or altered archive fails; only a complete one passes. The archive is read from the
//! host's root directory outside the container, so taking an image never reboots or stops it.
//! The tar format is written and read here (ustar: regular files, directories, symlinks), so the
//! manifest is computed from the very bytes written.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::LabError;

const BLOCK: usize = 512;
const MANIFEST_VERSION: u32 = 1;

/// What an archive holds, recorded as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    /// The format's version.
    pub version: u32,
    /// The host it was taken of.
    pub host: String,
    /// The paths inside the host it holds.
    pub data_paths: Vec<String>,
    /// Seconds since the Unix epoch when it was written.
    pub created_unix_seconds: u64,
    /// The archive's size and SHA-256.
    pub tar_size: u64,
    /// The archive's SHA-256, lowercase hex.
    pub tar_sha256: String,
    /// Every regular file (archive path → size and SHA-256).
    pub files: BTreeMap<String, FileRecord>,
    /// Every directory and symlink, by archive path.
    pub others: Vec<String>,
}

/// One file of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// What reading an archive whole found.
#[derive(Debug, Clone, Serialize)]
pub struct ImageVerdict {
    /// The archive.
    pub tar: PathBuf,
    /// Whether it is complete and matches its manifest.
    pub ok: bool,
    /// The files it holds (as read).
    pub files: usize,
    /// The bytes read.
    pub bytes: u64,
    /// The first problem found, when not `ok`.
    pub problem: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> LabError + 'a {
    move |source| LabError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.written += written as u64;
        Ok(written)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes an archive of `data_paths` (absolute paths inside the host) read under `root` to
/// `destination` through `destination.partial` and a rename, and returns its manifest. The
/// archive names entries relative to `/` (`srv/uploads/…`).
pub(crate) fn write_tar(
    host: &str,
    root: &Path,
    data_paths: &[String],
    destination: &Path,
) -> Result<ImageManifest, LabError> {
    let partial = destination.with_extension("tar.partial");
    let file = std::fs::File::create(&partial).map_err(io_error("create", &partial))?;
    let mut out = Hashing {
        inner: std::io::BufWriter::new(file),
        hasher: Sha256::new(),
        written: 0,
    };
    let mut files = BTreeMap::new();
    let mut others = Vec::new();
    for data_path in data_paths {
        let relative = data_path.trim_start_matches('/');
        let mut pending = vec![relative.to_owned()];
        while let Some(name) = pending.pop() {
            let path = root.join(&name);
            let metadata = std::fs::symlink_metadata(&path).map_err(io_error("inspect", &path))?;
            let kind = metadata.file_type();
            if kind.is_dir() {
                write_header(&mut out, &format!("{name}/"), b'5', 0, &metadata, "")
                    .map_err(io_error("write", &partial))?;
                others.push(format!("{name}/"));
                let mut children: Vec<String> = std::fs::read_dir(&path)
                    .map_err(io_error("read directory", &path))?
                    .filter_map(|item| Some(format!("{name}/{}", item.ok()?.file_name().to_str()?)))
                    .collect();
                children.sort();
                children.reverse();
                pending.extend(children);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(&path).map_err(io_error("read symlink", &path))?;
                write_header(
                    &mut out,
                    &name,
                    b'2',
                    0,
                    &metadata,
                    &target.to_string_lossy(),
                )
                .map_err(io_error("write", &partial))?;
                others.push(name);
            } else if kind.is_file() {
                let mut content = std::fs::File::open(&path).map_err(io_error("open", &path))?;
                let size = metadata.size();
                write_header(&mut out, &name, b'0', size, &metadata, "")
                    .map_err(io_error("write", &partial))?;
                let mut hasher = Sha256::new();
                let mut buffer = vec![0u8; 1 << 16];
                let mut copied = 0u64;
                loop {
                    let read = content.read(&mut buffer).map_err(io_error("read", &path))?;
                    if read == 0 {
                        break;
                    }
                    hasher.update(&buffer[..read]);
                    out.write_all(&buffer[..read])
                        .map_err(io_error("write", &partial))?;
                    copied += read as u64;
                }
                if copied != size {
                    return Err(LabError::Host {
                        host: host.to_owned(),
                        problem: format!(
                            "`{}` changed size while it was archived ({size} then {copied} bytes)",
                            path.display()
                        ),
                        fix: "take the image again".to_owned(),
                    });
                }
                pad(&mut out, size).map_err(io_error("write", &partial))?;
                files.insert(
                    name,
                    FileRecord {
                        size,
                        sha256: hex(&hasher.finalize()),
                    },
                );
            }
            // Sockets, devices and fifos hold no data: not archived.
        }
    }
    out.write_all(&[0u8; BLOCK * 2])
        .map_err(io_error("write", &partial))?;
    out.flush().map_err(io_error("write", &partial))?;
    let tar_size = out.written;
    let tar_sha256 = hex(&out.hasher.finalize());
    let file = out.inner.into_inner().map_err(|error| LabError::Io {
        action: "write",
        path: partial.clone(),
        source: error.into_error(),
    })?;
    file.sync_all().map_err(io_error("sync", &partial))?;
    std::fs::rename(&partial, destination).map_err(io_error("rename into place", destination))?;
    Ok(ImageManifest {
        version: MANIFEST_VERSION,
        host: host.to_owned(),
        data_paths: data_paths.to_vec(),
        created_unix_seconds: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs()),
        tar_size,
        tar_sha256,
        files,
        others,
    })
}

fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}", width = field.len() - 1);
    let last = field.len() - 1;
    field[..last].copy_from_slice(text.as_bytes());
    field[last] = 0;
}

fn write_header(
    out: &mut impl Write,
    name: &str,
    kind: u8,
    size: u64,
    metadata: &std::fs::Metadata,
    link: &str,
) -> std::io::Result<()> {
    let mut header = [0u8; BLOCK];
    let (prefix, short) = split_name(name).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{name}` is too long for a ustar archive"),
        )
    })?;
    if link.len() > 100 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("the target of `{name}` is too long for a ustar archive"),
        ));
    }
    header[..short.len()].copy_from_slice(short.as_bytes());
    octal(&mut header[100..108], u64::from(metadata.mode() & 0o7777));
    octal(&mut header[108..116], u64::from(metadata.uid()));
    octal(&mut header[116..124], u64::from(metadata.gid()));
    octal(&mut header[124..136], size);
    octal(&mut header[136..148], metadata.mtime().max(0) as u64);
    header[156] = kind;
    header[157..157 + link.len()].copy_from_slice(link.as_bytes());
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    header[148..156].copy_from_slice(b"        ");
    let sum: u64 = header.iter().map(|byte| u64::from(*byte)).sum();
    let text = format!("{sum:06o}\0 ");
    header[148..156].copy_from_slice(text.as_bytes());
    out.write_all(&header)
}

/// ustar's name split: a prefix of up to 155 bytes and a name of up to 100, at a `/`.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if name.len() <= 100 {
        return Some(("", name));
    }
    let trimmed = name.trim_end_matches('/');
    let cut = trimmed
        .char_indices()
        .filter(|(index, c)| *c == '/' && *index <= 155 && name.len() - index - 1 <= 100)
        .map(|(index, _)| index)
        .next()?;
    Some((&name[..cut], &name[cut + 1..]))
}

fn pad(out: &mut impl Write, size: u64) -> std::io::Result<()> {
    let rest = (size % BLOCK as u64) as usize;
    if rest != 0 {
        out.write_all(&vec![0u8; BLOCK - rest])?;
    }
    Ok(())
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let text: String = field
        .iter()
        .take_while(|byte| **byte != 0)
        .map(|byte| *byte as char)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

fn text_of(field: &[u8]) -> String {
    let end = field
        .iter()
        .position(|byte| *byte == 0)
        .unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Reads `tar` whole and compares it with `manifest`. Problems with the archive are a verdict,
/// not an error; errors are I/O only (the archive cannot be opened).
pub(crate) fn verify_tar(tar: &Path, manifest: &ImageManifest) -> Result<ImageVerdict, LabError> {
    let file = std::fs::File::open(tar).map_err(io_error("open", tar))?;
    let mut reader = std::io::BufReader::new(file);
    let mut whole = Sha256::new();
    let mut bytes = 0u64;
    let mut found: BTreeMap<String, FileRecord> = BTreeMap::new();
    let verdict = |ok: bool, files: usize, bytes: u64, problem: Option<String>| ImageVerdict {
        tar: tar.to_owned(),
        ok,
        files,
        bytes,
        problem,
    };
    let mut read_block = |reader: &mut std::io::BufReader<std::fs::File>,
                          block: &mut [u8; BLOCK],
                          bytes: &mut u64|
     -> Result<bool, LabError> {
        let mut filled = 0;
        while filled < BLOCK {
            let read = reader
                .read(&mut block[filled..])
                .map_err(io_error("read", tar))?;
            if read == 0 {
                return Ok(false);
            }
            filled += read;
        }
        whole.update(&block[..]);
        *bytes += BLOCK as u64;
        Ok(true)
    };
    let mut block = [0u8; BLOCK];
    let mut zero_blocks = 0;
    loop {
        if !read_block(&mut reader, &mut block, &mut bytes)? {
            return Ok(verdict(
                false,
                found.len(),
                bytes,
                Some(format!(
                    "truncated: the archive ends at byte {bytes}, before its end-of-archive blocks"
                )),
            ));
        }
        if block.iter().all(|byte| *byte == 0) {
            zero_blocks += 1;
            if zero_blocks == 2 {
                break;
            }
            continue;
        }
        if zero_blocks != 0 {
            return Ok(verdict(
                false,
                found.len(),
                bytes,
                Some(format!("a lone zero block before byte {bytes}")),
            ));
        }
        let recorded = parse_octal(&block[148..156]);
        let mut copy = block;
        copy[148..156].copy_from_slice(b"        ");
        let sum: u64 = copy.iter().map(|byte| u64::from(*byte)).sum();
        if recorded != Some(sum) {
            return Ok(verdict(
                false,
                found.len(),
                bytes,
                Some(format!(
                    "a header with a bad checksum ending at byte {bytes}"
                )),
            ));
        }
        let prefix = text_of(&block[345..500]);
        let short = text_of(&block[..100]);
        let name = if prefix.is_empty() {
            short
        } else {
            format!("{prefix}/{short}")
        };
        let Some(size) = parse_octal(&block[124..136]) else {
            return Ok(verdict(
                false,
                found.len(),
                bytes,
                Some(format!("`{name}` has an unreadable size")),
            ));
        };
        let kind = block[156];
        if kind == b'0' || kind == 0 {
            let mut hasher = Sha256::new();
            let mut left = size;
            let blocks = size.div_ceil(BLOCK as u64);
            for _ in 0..blocks {
                if !read_block(&mut reader, &mut block, &mut bytes)? {
                    return Ok(verdict(
                        false,
                        found.len(),
                        bytes,
                        Some(format!("truncated: `{name}` is cut short at byte {bytes}")),
                    ));
                }
                let take = left.min(BLOCK as u64) as usize;
                hasher.update(&block[..take]);
                left -= take as u64;
            }
            found.insert(
                name,
                FileRecord {
                    size,
                    sha256: hex(&hasher.finalize()),
                },
            );
        }
    }
    // Whatever follows the end-of-archive blocks (a tar pads to its record size) still counts.
    let mut rest = Vec::new();
    reader
        .read_to_end(&mut rest)
        .map_err(io_error("read", tar))?;
    whole.update(&rest);
    bytes += rest.len() as u64;
    let files = found.len();
    let problem = if bytes != manifest.tar_size {
        Some(format!(
            "{bytes} bytes, the manifest says {}",
            manifest.tar_size
        ))
    } else if hex(&whole.finalize()) != manifest.tar_sha256 {
        Some("its SHA-256 differs from the manifest's".to_owned())
    } else if let Some((name, _)) = manifest
        .files
        .iter()
        .find(|(name, record)| found.get(*name) != Some(record))
    {
        Some(format!("`{name}` is missing or differs from the manifest"))
    } else {
        found
            .keys()
            .find(|name| !manifest.files.contains_key(*name))
            .map(|name| format!("`{name}` is not in the manifest"))
    };
    Ok(verdict(problem.is_none(), files, bytes, problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("root");
        std::fs::create_dir_all(root.join("srv/uploads/deep")).unwrap();
        std::fs::write(root.join("srv/uploads/a.bin"), vec![7u8; 1000]).unwrap();
        std::fs::write(root.join("srv/uploads/deep/b.txt"), "b").unwrap();
        std::fs::write(root.join("srv/uploads/empty"), "").unwrap();
        std::os::unix::fs::symlink("a.bin", root.join("srv/uploads/link")).unwrap();
        scratch
    }

    #[test]
    fn an_archive_verifies_and_gnu_tar_reads_it() {
        let scratch = tree();
        let tar = scratch.path().join("i.tar");
        let manifest = write_tar(
            "h",
            &scratch.path().join("root"),
            &["/srv/uploads".to_owned()],
            &tar,
        )
        .unwrap();
        assert_eq!(manifest.files.len(), 3);
        assert_eq!(manifest.files["srv/uploads/a.bin"].size, 1000);
        let verdict = verify_tar(&tar, &manifest).unwrap();
        assert!(verdict.ok, "{verdict:?}");
        let listing = std::process::Command::new("tar")
            .arg("-tf")
            .arg(&tar)
            .output()
            .unwrap();
        assert!(listing.status.success());
        let text = String::from_utf8_lossy(&listing.stdout);
        assert!(text.contains("srv/uploads/deep/b.txt"), "{text}");
        assert!(text.contains("srv/uploads/link"), "{text}");
    }

    #[test]
    fn a_truncated_or_altered_archive_fails() {
        let scratch = tree();
        let tar = scratch.path().join("i.tar");
        let manifest = write_tar(
            "h",
            &scratch.path().join("root"),
            &["/srv/uploads".to_owned()],
            &tar,
        )
        .unwrap();
        let bytes = std::fs::read(&tar).unwrap();
        for cut in [bytes.len() - 1, bytes.len() - 1024, 1500, 100] {
            std::fs::write(&tar, &bytes[..cut]).unwrap();
            let verdict = verify_tar(&tar, &manifest).unwrap();
            assert!(!verdict.ok, "cut at {cut}: {verdict:?}");
        }
        let mut altered = bytes.clone();
        altered[1024 + 10] ^= 1;
        std::fs::write(&tar, &altered).unwrap();
        assert!(!verify_tar(&tar, &manifest).unwrap().ok);
    }
}
