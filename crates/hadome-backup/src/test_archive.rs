//! Hand-built pg_dump custom-format archives, for the reader's tests and the benchmark.
//!
//! A small writer of the layout `archive.rs` describes, as PostgreSQL's `WriteHead`, `WriteToc`
//! and the custom format's data blocks write it, with the knobs the tests need: the version,
//! whether offsets are recorded, which blocks exist and in what order.
//! It is a test tool, not a second implementation to trust: the integration tests
//! (`crates/hadome/tests/it/backup_archive.rs`) check the reader against real `pg_dump` output.
//! The benchmark includes this file by path, so it uses std alone.

use std::collections::HashMap;

/// The width of an int's magnitude, as pg_dump on Linux writes it (`sizeof(int)`).
pub(crate) const INT_SIZE: usize = 4;
/// The width of a file offset (`sizeof(pgoff_t)`).
pub(crate) const OFF_SIZE: usize = 8;

/// An archive to write.
#[derive(Debug, Clone)]
pub(crate) struct TestArchive {
    /// The archive's minor version (major 1, revision 0).
    pub(crate) minor: u8,
    /// Up to 1.14, the zlib level written as an int; from 1.15 the algorithm byte, with a
    /// negative value (zlib's default level) written as gzip.
    pub(crate) compression: i64,
    /// Whether the TOC records each block's offset (pg_dump wrote to a file) or not (a pipe).
    pub(crate) offsets_recorded: bool,
    pub(crate) entries: Vec<TestEntry>,
    /// The data blocks, in file order.
    pub(crate) blocks: Vec<TestBlock>,
}

/// One TOC entry.
#[derive(Debug, Clone)]
pub(crate) struct TestEntry {
    pub(crate) dump_id: i64,
    pub(crate) desc: &'static str,
    pub(crate) namespace: Option<&'static str>,
    pub(crate) tag: String,
    /// Whether the entry says it has data (its offset is "set" or "not set", not "no data").
    pub(crate) has_data: bool,
}

/// One data block.
#[derive(Debug, Clone)]
pub(crate) enum TestBlock {
    /// Table data: the chunks, ended by a zero length.
    Data { dump_id: i64, chunks: Vec<Vec<u8>> },
    /// Large objects: per object its OID and chunks, ended by OID 0.
    LargeObjects {
        dump_id: i64,
        objects: Vec<(i64, Vec<Vec<u8>>)>,
    },
    /// Bytes written as they are, where a block would start.
    Raw(Vec<u8>),
}

impl TestBlock {
    /// The dump id the block is for (none for raw bytes).
    pub(crate) fn dump_id(&self) -> Option<i64> {
        match self {
            TestBlock::Data { dump_id, .. } | TestBlock::LargeObjects { dump_id, .. } => {
                Some(*dump_id)
            }
            TestBlock::Raw(_) => None,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            TestBlock::Data { dump_id, chunks } => {
                out.push(1);
                write_int(out, *dump_id);
                write_chunks(out, chunks);
            }
            TestBlock::LargeObjects { dump_id, objects } => {
                out.push(3);
                write_int(out, *dump_id);
                for (oid, chunks) in objects {
                    write_int(out, *oid);
                    write_chunks(out, chunks);
                }
                write_int(out, 0);
            }
            TestBlock::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }
}

fn entry(
    dump_id: i64,
    desc: &'static str,
    namespace: Option<&'static str>,
    tag: &str,
) -> TestEntry {
    TestEntry {
        dump_id,
        desc,
        namespace,
        tag: tag.to_owned(),
        has_data: matches!(desc, "TABLE DATA" | "BLOBS"),
    }
}

fn rows(count: usize, width: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|row| format!("{row}\t{}\n", "x".repeat(width)).into_bytes())
        .collect()
}

impl TestArchive {
    /// What PostgreSQL 15's `pg_dump -Fc` writes for a small database: the special entries,
    /// two schemas' tables with data (one table empty), large objects and an index.
    pub(crate) fn typical() -> TestArchive {
        TestArchive {
            minor: 14,
            compression: -1,
            offsets_recorded: true,
            entries: vec![
                entry(1, "ENCODING", None, "ENCODING"),
                entry(2, "STDSTRINGS", None, "STDSTRINGS"),
                entry(3, "SEARCHPATH", None, "SEARCHPATH"),
                entry(4, "SCHEMA", None, "audit"),
                entry(10, "TABLE", Some("public"), "accounts"),
                entry(11, "TABLE", Some("public"), "orders"),
                entry(12, "TABLE", Some("audit"), "events"),
                entry(20, "TABLE DATA", Some("public"), "accounts"),
                entry(21, "TABLE DATA", Some("public"), "orders"),
                entry(22, "TABLE DATA", Some("audit"), "events"),
                entry(30, "BLOBS", None, "BLOBS"),
                entry(40, "INDEX", Some("public"), "accounts_pkey"),
            ],
            blocks: vec![
                TestBlock::Data {
                    dump_id: 20,
                    chunks: rows(3, 10),
                },
                TestBlock::Data {
                    dump_id: 21,
                    chunks: rows(2, 30),
                },
                TestBlock::Data {
                    dump_id: 22,
                    chunks: Vec::new(),
                },
                TestBlock::LargeObjects {
                    dump_id: 30,
                    objects: vec![
                        (16400, vec![b"hello".to_vec()]),
                        (16401, vec![b"large ".to_vec(), b"object bytes".to_vec()]),
                    ],
                },
            ],
        }
    }

    /// [`TestArchive::typical`] without large objects: the last block is table data.
    pub(crate) fn without_large_objects() -> TestArchive {
        let mut archive = TestArchive::typical();
        archive.entries.retain(|entry| entry.desc != "BLOBS");
        archive.blocks.retain(|block| block.dump_id() != Some(30));
        archive
    }

    /// An archive with one TABLE DATA entry and block per element of `tables` (its chunks), and
    /// a BLOBS entry and block when `objects` is not empty (one large object per element).
    pub(crate) fn generated(
        minor: u8,
        offsets_recorded: bool,
        tables: Vec<Vec<Vec<u8>>>,
        objects: Vec<Vec<Vec<u8>>>,
    ) -> TestArchive {
        let mut archive = TestArchive {
            minor,
            compression: 0,
            offsets_recorded,
            entries: vec![entry(1, "ENCODING", None, "ENCODING")],
            blocks: Vec::new(),
        };
        for (index, chunks) in tables.into_iter().enumerate() {
            let dump_id = 100 + index as i64;
            archive.entries.push(entry(
                dump_id,
                "TABLE DATA",
                Some("public"),
                &format!("table_{index:04}"),
            ));
            archive.blocks.push(TestBlock::Data { dump_id, chunks });
        }
        if !objects.is_empty() {
            archive.entries.push(entry(99, "BLOBS", None, "BLOBS"));
            archive.blocks.push(TestBlock::LargeObjects {
                dump_id: 99,
                objects: objects
                    .into_iter()
                    .enumerate()
                    .map(|(index, chunks)| (20000 + index as i64, chunks))
                    .collect(),
            });
        }
        archive
    }

    /// The archive's bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let (head, blocks) = self.layout();
        let mut bytes = head;
        bytes.extend_from_slice(&blocks);
        bytes
    }

    /// The offset of the TOC's entry count (the header's length).
    pub(crate) fn toc_start(&self) -> usize {
        let mut header = Vec::new();
        self.write_header(&mut header);
        header.len()
    }

    /// The offset of the first block for `dump_id`.
    pub(crate) fn block_start(&self, dump_id: i64) -> Option<usize> {
        self.block_starts().get(&dump_id).copied()
    }

    fn block_starts(&self) -> HashMap<i64, usize> {
        let head_len = self.head(&HashMap::new()).len();
        let mut starts = HashMap::new();
        let mut blocks = Vec::new();
        for block in &self.blocks {
            if let Some(dump_id) = block.dump_id() {
                starts.entry(dump_id).or_insert(head_len + blocks.len());
            }
            block.write(&mut blocks);
        }
        starts
    }

    /// Header and TOC (with the blocks' offsets), and the blocks.
    fn layout(&self) -> (Vec<u8>, Vec<u8>) {
        let starts = self.block_starts();
        let mut blocks = Vec::new();
        for block in &self.blocks {
            block.write(&mut blocks);
        }
        (self.head(&starts), blocks)
    }

    fn write_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"PGDMP");
        out.extend_from_slice(&[1, self.minor, 0, INT_SIZE as u8, OFF_SIZE as u8, 1]);
        if self.minor >= 15 {
            out.push(if self.compression < 0 {
                1
            } else {
                self.compression as u8
            });
        } else {
            write_int(out, self.compression);
        }
        // Seconds, minutes, hours, day, month (0-based), years since 1900, DST.
        for value in [30, 15, 12, 1, 5, 125, 0] {
            write_int(out, value);
        }
        write_str(out, Some("shop"));
        write_str(out, Some("15.18 (Debian 15.18-0+deb12u1)"));
        write_str(out, Some("15.18 (Debian 15.18-0+deb12u1)"));
    }

    /// Header and TOC, the offsets taken from `starts` (0 when a block is missing).
    fn head(&self, starts: &HashMap<i64, usize>) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_header(&mut out);
        write_int(&mut out, self.entries.len() as i64);
        for entry in &self.entries {
            write_int(&mut out, entry.dump_id);
            write_int(&mut out, i64::from(entry.has_data));
            write_str(&mut out, Some("0"));
            write_str(&mut out, Some("0"));
            write_str(&mut out, Some(&entry.tag));
            write_str(&mut out, Some(entry.desc));
            // Section: SECTION_DATA for data, SECTION_PRE_DATA otherwise.
            write_int(&mut out, if entry.has_data { 3 } else { 2 });
            let definition = if entry.has_data {
                String::new()
            } else {
                format!("CREATE {} {};\n", entry.desc, entry.tag)
            };
            write_str(&mut out, Some(&definition));
            write_str(&mut out, Some(""));
            let copy = entry.has_data.then(|| {
                format!(
                    "COPY {}.{} (id, payload) FROM stdin;\n",
                    entry.namespace.unwrap_or("public"),
                    entry.tag
                )
            });
            write_str(&mut out, copy.as_deref());
            write_str(&mut out, entry.namespace);
            write_str(&mut out, Some(""));
            if self.minor >= 14 {
                write_str(&mut out, entry.has_data.then_some("heap"));
            }
            if self.minor >= 16 {
                // `relkind`: 'r' for a table, 0 otherwise.
                write_int(&mut out, if entry.has_data { 114 } else { 0 });
            }
            write_str(&mut out, Some("postgres"));
            write_str(&mut out, Some("false"));
            if entry.dump_id > 10 {
                write_str(&mut out, Some("4"));
                write_str(&mut out, Some("1"));
            }
            write_str(&mut out, None);
            let (flag, offset) = match (entry.has_data, self.offsets_recorded) {
                (false, _) => (3, 0),
                (true, false) => (1, 0),
                (true, true) => (2, starts.get(&entry.dump_id).copied().unwrap_or(0)),
            };
            out.push(flag);
            out.extend_from_slice(&(offset as u64).to_le_bytes()[..OFF_SIZE]);
        }
        out
    }
}

/// An int as `WriteInt` writes it: a sign byte, then the magnitude, least significant first.
pub(crate) fn write_int(out: &mut Vec<u8>, value: i64) {
    out.push(u8::from(value < 0));
    out.extend_from_slice(&value.unsigned_abs().to_le_bytes()[..INT_SIZE]);
}

/// A string as `WriteStr` writes it: the length (`-1` for NULL), then the bytes.
pub(crate) fn write_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(text) => {
            write_int(out, text.len() as i64);
            out.extend_from_slice(text.as_bytes());
        }
        None => write_int(out, -1),
    }
}

fn write_chunks(out: &mut Vec<u8>, chunks: &[Vec<u8>]) {
    for chunk in chunks {
        write_int(out, chunk.len() as i64);
        out.extend_from_slice(chunk);
    }
    write_int(out, 0);
}
