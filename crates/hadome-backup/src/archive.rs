//! The pg_dump custom-format archive (`pg_dump -Fc`): what it holds, and the reader that checks
//! its structure.
//!
//! # Design
//!
//! [`ArchiveParser`] is a pure state machine over byte slices.
//! The caller reads the file in large slices, hashes each slice and hands the same slice to
//! [`ArchiveParser::feed`]; after the last one, [`ArchiveParser::finish`] says whether the bytes
//! were one whole archive.
//! The parser never reads, seeks or allocates per data byte, so one read of the file gives size,
//! SHA-256 and structure, and tests can split hand-built archives at every byte.
//! The rejected alternative, a `Read` wrapper the parser pulls from, would tie the parser to I/O
//! and make an integer split across two reads a property of the wrapper rather than the parser.
//!
//! It has two layers:
//! - the lexer (`next_value`) turns bytes into the format's tokens: a byte, an integer, a string,
//!   a file offset, or a run of bytes to skip; a token split across two slices waits in a small
//!   buffer;
//! - the grammar (`on_value`) knows which token comes next, builds the summary and checks it.
//!
//! One shortcut bypasses both: inside table data, whole chunks (a length and its bytes, both in
//! the slice at hand) are skipped in a tight loop (`skip_whole_chunks`), because `pg_dump -Z0`
//! writes one chunk per row and the token machinery per row would cost more than the hash.
//! Anything else falls through to the two layers; the tests check that how the input is sliced
//! never changes the verdict.
//!
//! Table data is walked, never decompressed: each chunk's length is read and the chunk skipped.
//! So a truncated file is found at its end, without zlib, at about the speed of the hash.
//!
//! # The format, as PostgreSQL writes it
//!
//! Verified against PostgreSQL's `pg_backup_archiver.c` (`WriteHead`, `ReadHead`, `WriteToc`,
//! `ReadToc`, `WriteInt`, `ReadInt`, `WriteStr`, `ReadStr`, `WriteOffset`, `ReadOffset`) and
//! `pg_backup_custom.c` (`_WriteExtraToc`, `_StartData`, `_CustomWriteFunc`, `_EndData`,
//! `_StartBlobs`, `_StartBlob`, `_EndBlob`, `_EndBlobs`, `_skipData`, `_skipBlobs`), for archive
//! versions 1.12 (PostgreSQL 9.0) to 1.16 (PostgreSQL 17); PostgreSQL 15 writes 1.14.
//!
//! - An *int* is a sign byte (0 or 1), then `intSize` bytes of magnitude, least significant first.
//! - A *string* is an int length (`-1` for NULL), then that many bytes.
//! - An *offset* is a flag byte (1 not set, 2 set, 3 no data), then `offSize` bytes, least
//!   significant first.
//! - The header: `PGDMP`; the version's major, minor and revision bytes; `intSize`; `offSize`;
//!   the format byte (1 is the custom format); the compression, an int (the zlib level) up to
//!   1.14 and one byte (the algorithm) from 1.15; the creation time as 7 ints; the database name,
//!   the server's version and pg_dump's version as strings.
//! - The TOC: an int count, then per entry: the dump id and "had a dumper" (ints); the table OID,
//!   OID, tag and desc (strings); the section (int); the definition, drop statement, copy
//!   statement, namespace and tablespace (strings); the table access method (a string, from 1.14);
//!   the relkind (an int, from 1.16); the owner and "with OIDs" (strings); the dump ids of the
//!   dependencies as strings ended by a NULL string; and the custom format's data offset.
//! - Then data blocks to the end of the file, in TOC order: a block type byte (1 table data,
//!   3 large objects) and the entry's dump id.
//!   Table data is chunks, each an int length and that many bytes, ended by a zero length.
//!   Large objects are, per object, an int OID and chunks as above, ended by OID 0.
//!   When pg_dump can seek its output it rewrites the TOC at the end with each block's offset
//!   ("set"); written to a pipe, the offsets stay "not set".
//!
//! # What valid means
//!
//! Every byte belongs to the grammar above, and the file ends right after a block (or the TOC).
//! Every entry whose offset says it has data has exactly one block, at the offset the TOC records
//! when it records one; every block belongs to an entry of the TOC.
//! That is what `pg_restore` needs to find every entry's data.
//! It does not prove that compressed data decompresses, nor that the SQL in it is right.

use std::collections::HashMap;

/// The oldest archive minor version hadome reads (major version 1): PostgreSQL 9.0's pg_dump.
const OLDEST_MINOR: u8 = 12;
/// The newest archive minor version hadome reads: PostgreSQL 17's pg_dump.
const NEWEST_MINOR: u8 = 16;
/// The first minor version that records the compression algorithm as a byte.
const COMPRESSION_BYTE_MINOR: u8 = 15;
/// The first minor version with a table access method per TOC entry.
const TABLE_AM_MINOR: u8 = 14;
/// The first minor version with a relkind per TOC entry.
const RELKIND_MINOR: u8 = 16;

/// The format byte of the custom format (`archCustom`).
const FORMAT_CUSTOM: u8 = 1;
/// The format byte of the tar format (`archTar`). The `toc.dat` of a tar-format dump and that of
/// a directory-format dump both start with `PGDMP` and carry it: `pg_backup_directory.c` writes
/// "tar" there on purpose, as the layouts are compatible.
const FORMAT_TAR: u8 = 3;

/// A block of table data (`BLK_DATA`).
const BLOCK_DATA: u8 = 1;
/// A block of large objects (`BLK_BLOBS`).
const BLOCK_LARGE_OBJECTS: u8 = 3;

/// The widest int or offset hadome reads; pg_dump writes 4-byte ints and 8-byte offsets.
const MAX_INTEGER_BYTES: usize = 8;

/// The longest tag, desc, namespace or header string kept. Longer ones are not names pg_dump
/// writes; the long strings it does write (definitions, copy statements) are skipped, not kept.
const MAX_KEPT_STRING_BYTES: u64 = 1 << 20;

/// What a pg_dump custom-format archive holds, read from its header and TOC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// The archive format's version (major, minor, revision): PostgreSQL 15 writes (1, 14, 0).
    pub format_version: (u8, u8, u8),
    /// How the table data is compressed.
    pub compression: Compression,
    /// The database that was dumped (NULL in the archive: `None`).
    pub database: Option<String>,
    /// The server's version, as the server reported it.
    pub server_version: Option<String>,
    /// The version of the pg_dump that wrote the archive.
    pub dumped_by: Option<String>,
    /// Every TOC entry, in archive order.
    pub entries: Vec<TocEntry>,
    /// How many data blocks the archive holds (one per entry with data).
    pub data_blocks: u64,
}

impl ArchiveSummary {
    /// `schema.table` of every TABLE DATA entry, in archive order.
    pub fn tables(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|entry| entry.desc == "TABLE DATA")
            .map(TocEntry::qualified_name)
            .collect()
    }
}

/// One entry of an archive's table of contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    /// pg_dump's id for the object, unique in the archive.
    pub dump_id: i64,
    /// The kind of object: `TABLE`, `TABLE DATA`, `INDEX`, `BLOBS`, `ENCODING`…
    pub desc: String,
    /// The schema, when the object is in one (NULL or empty in the archive: `None`).
    pub namespace: Option<String>,
    /// The object's name (for `TABLE DATA`, the table's).
    pub tag: String,
    /// Whether the entry has a data block (its data offset is "set" or "not set").
    pub has_data: bool,
}

impl TocEntry {
    /// `namespace.tag`, or the tag alone when the entry is in no schema.
    fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}.{}", self.tag),
            None => self.tag.clone(),
        }
    }
}

/// How an archive's table data is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed (`pg_dump -Z0`).
    None,
    /// gzip (zlib). Up to archive version 1.14 pg_dump records the level it was given (`-1` is
    /// zlib's default, what `pg_dump -Fc` uses without `-Z`); from 1.15 it records no level.
    Gzip {
        /// The level recorded, when one is.
        level: Option<i64>,
    },
    /// LZ4 (archive version 1.15 and later).
    Lz4,
    /// Zstandard (archive version 1.15 and later).
    Zstd,
}

/// Why an archive is not valid: where, and what a person should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The byte offset of the problem (`None` when it is no one place, such as a missing block).
    pub(crate) offset_bytes: Option<u64>,
    /// The reason, in a sentence.
    pub(crate) reason: String,
}

/// What the lexer is reading: the next token, and how far into it it is.
#[derive(Debug, Clone, Copy)]
enum Want {
    Byte,
    Magic,
    Int,
    Offset,
    /// A string's length; `keep` says whether its bytes are kept or skipped.
    StrLength {
        keep: bool,
    },
    StrBody {
        remaining: u64,
        keep: bool,
    },
    Skip {
        remaining: u64,
    },
}

/// A complete token.
#[derive(Debug)]
enum Value {
    Byte(u8),
    Magic([u8; 5]),
    Int(i64),
    Offset { flag: u8, value: u64 },
    Str(StrValue),
    Skipped,
}

/// A complete string token.
#[derive(Debug)]
enum StrValue {
    Null,
    /// A string that was not kept (and is not NULL).
    Skipped,
    Text(String),
}

/// A field of a TOC entry, in the order pg_dump writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    DumpId,
    HadDumper,
    TableOid,
    Oid,
    Tag,
    Desc,
    Section,
    Definition,
    DropStatement,
    CopyStatement,
    Namespace,
    Tablespace,
    TableAccessMethod,
    Relkind,
    Owner,
    WithOids,
    Dependency,
    DataOffset,
}

impl Field {
    /// The field after this one, in an archive of minor version `minor`.
    fn successor(self, minor: u8) -> Field {
        match self {
            Field::DumpId => Field::HadDumper,
            Field::HadDumper => Field::TableOid,
            Field::TableOid => Field::Oid,
            Field::Oid => Field::Tag,
            Field::Tag => Field::Desc,
            Field::Desc => Field::Section,
            Field::Section => Field::Definition,
            Field::Definition => Field::DropStatement,
            Field::DropStatement => Field::CopyStatement,
            Field::CopyStatement => Field::Namespace,
            Field::Namespace => Field::Tablespace,
            Field::Tablespace if minor >= TABLE_AM_MINOR => Field::TableAccessMethod,
            Field::Tablespace => Field::Owner,
            Field::TableAccessMethod if minor >= RELKIND_MINOR => Field::Relkind,
            Field::TableAccessMethod | Field::Relkind => Field::Owner,
            Field::Owner => Field::WithOids,
            Field::WithOids | Field::Dependency => Field::Dependency,
            Field::DataOffset => Field::DumpId,
        }
    }

    /// The token the field is.
    fn want(self) -> Want {
        match self {
            Field::DumpId | Field::HadDumper | Field::Section | Field::Relkind => Want::Int,
            Field::Tag | Field::Desc | Field::Namespace => Want::StrLength { keep: true },
            Field::TableOid
            | Field::Oid
            | Field::Definition
            | Field::DropStatement
            | Field::CopyStatement
            | Field::Tablespace
            | Field::TableAccessMethod
            | Field::Owner
            | Field::WithOids
            | Field::Dependency => Want::StrLength { keep: false },
            Field::DataOffset => Want::Offset,
        }
    }

    /// The field's name in PostgreSQL's `TocEntry`, for messages.
    fn name(self) -> &'static str {
        match self {
            Field::DumpId => "dumpId",
            Field::HadDumper => "hadDumper",
            Field::TableOid => "tableoid",
            Field::Oid => "oid",
            Field::Tag => "tag",
            Field::Desc => "desc",
            Field::Section => "section",
            Field::Definition => "defn",
            Field::DropStatement => "dropStmt",
            Field::CopyStatement => "copyStmt",
            Field::Namespace => "namespace",
            Field::Tablespace => "tablespace",
            Field::TableAccessMethod => "tableam",
            Field::Relkind => "relkind",
            Field::Owner => "owner",
            Field::WithOids => "withOids",
            Field::Dependency => "dependencies",
            Field::DataOffset => "data offset",
        }
    }
}

/// Where in the archive's grammar the parser is: what the next token means.
#[derive(Debug, Clone, Copy)]
enum Grammar {
    Magic,
    Major,
    Minor,
    Revision,
    IntSize,
    OffSize,
    Format,
    Compression,
    CreationTime {
        ints_read: u8,
    },
    DatabaseName,
    ServerVersion,
    DumpedBy,
    TocCount,
    Entry(Field),
    /// Between blocks: the next byte starts a block, or the file ends here.
    BlockType,
    BlockDumpId {
        block_type: u8,
        start: u64,
    },
    /// A chunk's length inside the block of entry `entry` (index into `entries`); `object` is the
    /// large object's OID inside a large-object block.
    ChunkLength {
        entry: usize,
        object: Option<i64>,
    },
    ChunkBody {
        entry: usize,
        object: Option<i64>,
    },
    ObjectOid {
        entry: usize,
    },
}

/// Where an entry's data is, as its TOC entry records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataOffset {
    /// The entry has data, at an offset pg_dump could not record (it wrote to a pipe).
    NotSet,
    /// The entry has data in the block starting at this byte.
    Set(u64),
    /// The entry has no data.
    NoData,
}

/// The TOC entry being read.
#[derive(Debug, Default)]
struct PartialEntry {
    dump_id: Option<i64>,
    tag: String,
    desc: String,
    namespace: Option<String>,
}

/// The checking reader of one archive; see the module documentation.
#[derive(Debug)]
pub(crate) struct ArchiveParser {
    /// The offset of the next byte `feed` is given.
    position: u64,
    /// The offset where the token being read began.
    token_start: u64,
    want: Want,
    /// The bytes so far of a fixed-size token split across two slices.
    pending: [u8; 16],
    pending_len: usize,
    /// The bytes so far of a kept string.
    text: Vec<u8>,
    grammar: Grammar,
    version: (u8, u8, u8),
    int_size: usize,
    off_size: usize,
    compression: Compression,
    database: Option<String>,
    server_version: Option<String>,
    dumped_by: Option<String>,
    toc_count: u64,
    current: PartialEntry,
    entries: Vec<TocEntry>,
    /// Per entry (same index): its data offset, and whether its block was seen.
    data: Vec<(DataOffset, bool)>,
    by_dump_id: HashMap<i64, usize>,
    data_blocks: u64,
    failure: Option<Failure>,
}

impl ArchiveParser {
    /// A parser that expects the first byte of an archive.
    pub(crate) fn new() -> ArchiveParser {
        ArchiveParser {
            position: 0,
            token_start: 0,
            want: Want::Magic,
            pending: [0; 16],
            pending_len: 0,
            text: Vec::new(),
            grammar: Grammar::Magic,
            version: (0, 0, 0),
            // Replaced by the header's value before the first int is read.
            int_size: 4,
            off_size: 8,
            compression: Compression::None,
            database: None,
            server_version: None,
            dumped_by: None,
            toc_count: 0,
            current: PartialEntry::default(),
            entries: Vec::new(),
            data: Vec::new(),
            by_dump_id: HashMap::new(),
            data_blocks: 0,
            failure: None,
        }
    }

    /// Consumes the next bytes of the file. After the archive is found invalid, the rest is ignored.
    pub(crate) fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() && self.failure.is_none() {
            if matches!(self.grammar, Grammar::ChunkLength { .. }) {
                self.skip_whole_chunks(&mut input);
                if input.is_empty() {
                    break;
                }
            }
            let step = match self.next_value(&mut input) {
                Ok(Some(value)) => self.on_value(value),
                Ok(None) => Ok(()),
                Err(failure) => Err(failure),
            };
            if let Err(failure) = step {
                self.failure = Some(failure);
            }
        }
    }

    /// The hot loop of table data: skips the whole chunks at the start of `input` without the
    /// token machinery, which costs more than the hash for the row-sized chunks `pg_dump -Z0`
    /// writes (one per row).
    /// What it does not take (a chunk split across two slices, the zero length that ends the block,
    /// a damaged length) is left to the general path, in the same state.
    fn skip_whole_chunks(&mut self, input: &mut &[u8]) {
        if self.pending_len != 0 {
            return;
        }
        let header = 1 + self.int_size;
        let mut rest = *input;
        while let Some(length) = rest.get(..header).and_then(positive_length) {
            let Some(after) = header
                .checked_add(length)
                .and_then(|chunk_end| rest.get(chunk_end..))
            else {
                break;
            };
            rest = after;
        }
        self.position += (input.len() - rest.len()) as u64;
        self.token_start = self.position;
        *input = rest;
    }

    /// The verdict once the whole file was fed: its summary, or why it is not a whole archive.
    pub(crate) fn finish(self) -> Result<ArchiveSummary, Failure> {
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        if !matches!(self.grammar, Grammar::BlockType) {
            return Err(self.truncated());
        }
        self.check_every_block_is_there()?;
        Ok(ArchiveSummary {
            format_version: self.version,
            compression: self.compression,
            database: self.database,
            server_version: self.server_version,
            dumped_by: self.dumped_by,
            entries: self.entries,
            data_blocks: self.data_blocks,
        })
    }

    /// Why a file that ended before the grammar allowed is not whole.
    fn truncated(&self) -> Failure {
        let end = self.position;
        if end == 0 {
            return Failure {
                offset_bytes: Some(0),
                reason: "the file is empty: it is not a pg_dump custom-format archive".to_owned(),
            };
        }
        if matches!(self.grammar, Grammar::Magic) {
            let start = self.pending.get(..self.pending_len).unwrap_or_default();
            if !b"PGDMP".starts_with(start) {
                return Failure {
                    offset_bytes: Some(0),
                    reason: format!(
                        "the file is {end} bytes long and does not start with `PGDMP`: \
                         it is not a pg_dump custom-format archive"
                    ),
                };
            }
        }
        Failure {
            offset_bytes: Some(end),
            reason: format!(
                "the archive ends {} at byte {end}: truncated",
                self.location()
            ),
        }
    }

    /// Every entry that has data must have had its block.
    fn check_every_block_is_there(&self) -> Result<(), Failure> {
        let missing: Vec<usize> = self
            .data
            .iter()
            .enumerate()
            .filter(|(_, (offset, seen))| *offset != DataOffset::NoData && !seen)
            .map(|(index, _)| index)
            .collect();
        let Some(&first) = missing.first() else {
            return Ok(());
        };
        let others = match missing.len() - 1 {
            0 => String::new(),
            1 => " and 1 other entry's".to_owned(),
            count => format!(" and {count} other entries'"),
        };
        // pg_dump writes blocks in TOC order, so blocks missing only after the last one present
        // are what a cut at a block boundary leaves; a gap before a present block is not.
        let last_present = self.data.iter().rposition(|(_, seen)| *seen);
        if last_present.is_none_or(|last| first > last) {
            return Err(Failure {
                offset_bytes: Some(self.position),
                reason: format!(
                    "the archive ends at byte {} without the data block of {}{others}: truncated",
                    self.position,
                    self.describe_entry(first)
                ),
            });
        }
        Err(Failure {
            offset_bytes: None,
            reason: format!(
                "the archive has no data block for {}{others}, though its TOC says it has data",
                self.describe_entry(first)
            ),
        })
    }

    /// The next complete token from `input`, consuming what it reads; `None` when `input` ended
    /// inside the token.
    fn next_value(&mut self, input: &mut &[u8]) -> Result<Option<Value>, Failure> {
        match self.want {
            Want::Skip { remaining } => {
                let taken = remaining.min(input.len() as u64);
                // `taken` is at most `input.len()`, so it fits a usize and the split is in bounds.
                let (_, rest) = input.split_at(taken as usize);
                *input = rest;
                self.position += taken;
                if taken == remaining {
                    Ok(Some(Value::Skipped))
                } else {
                    self.want = Want::Skip {
                        remaining: remaining - taken,
                    };
                    Ok(None)
                }
            }
            Want::StrBody { remaining, keep } => {
                let taken = remaining.min(input.len() as u64);
                let (head, rest) = input.split_at(taken as usize);
                if keep {
                    self.text.extend_from_slice(head);
                }
                *input = rest;
                self.position += taken;
                if taken < remaining {
                    self.want = Want::StrBody {
                        remaining: remaining - taken,
                        keep,
                    };
                    return Ok(None);
                }
                Ok(Some(Value::Str(if keep {
                    StrValue::Text(String::from_utf8_lossy(&self.text).into_owned())
                } else {
                    StrValue::Skipped
                })))
            }
            Want::Byte => Ok(self.take_fixed(input, 1).map(|raw| Value::Byte(raw[0]))),
            Want::Magic => Ok(self
                .take_fixed(input, 5)
                .map(|raw| Value::Magic([raw[0], raw[1], raw[2], raw[3], raw[4]]))),
            Want::Int => match self.take_fixed(input, 1 + self.int_size) {
                None => Ok(None),
                Some(raw) => Ok(Some(Value::Int(self.decode_int(&raw)?))),
            },
            Want::Offset => match self.take_fixed(input, 1 + self.off_size) {
                None => Ok(None),
                Some(raw) => Ok(Some(Value::Offset {
                    flag: raw[0],
                    value: little_endian(&raw, self.off_size),
                })),
            },
            Want::StrLength { keep } => {
                let Some(raw) = self.take_fixed(input, 1 + self.int_size) else {
                    return Ok(None);
                };
                match self.decode_int(&raw)? {
                    -1 => Ok(Some(Value::Str(StrValue::Null))),
                    0 if keep => Ok(Some(Value::Str(StrValue::Text(String::new())))),
                    0 => Ok(Some(Value::Str(StrValue::Skipped))),
                    length if length < 0 => Err(self.damaged(format!(
                        "a string of length {length} (pg_dump writes -1 for NULL)"
                    ))),
                    length => {
                        // `length` is positive here.
                        let length = length.unsigned_abs();
                        if keep && length > MAX_KEPT_STRING_BYTES {
                            return Err(self.damaged(format!(
                                "a name {length} bytes long (hadome keeps names of up to {MAX_KEPT_STRING_BYTES} bytes)"
                            )));
                        }
                        self.text.clear();
                        self.want = Want::StrBody {
                            remaining: length,
                            keep,
                        };
                        Ok(None)
                    }
                }
            }
        }
    }

    /// `len` (at most 16) bytes from `input`, joined with what an earlier slice left; `None` when
    /// `input` ended first (its bytes are kept for the next call).
    fn take_fixed(&mut self, input: &mut &[u8], len: usize) -> Option<[u8; 16]> {
        let wanted = len.saturating_sub(self.pending_len);
        let taken = wanted.min(input.len());
        let (head, rest) = input.split_at(taken);
        let end = self.pending_len + taken;
        if let Some(slot) = self.pending.get_mut(self.pending_len..end) {
            slot.copy_from_slice(head);
        }
        *input = rest;
        self.position += taken as u64;
        self.pending_len = end;
        if end < len {
            return None;
        }
        self.pending_len = 0;
        Some(self.pending)
    }

    /// An int: a sign byte, then `int_size` bytes of magnitude, least significant first.
    fn decode_int(&self, raw: &[u8; 16]) -> Result<i64, Failure> {
        let magnitude = little_endian(raw, self.int_size);
        let Ok(magnitude) = i64::try_from(magnitude) else {
            return Err(self.damaged(format!("an integer of magnitude {magnitude}")));
        };
        match raw[0] {
            0 => Ok(magnitude),
            1 => Ok(-magnitude),
            sign => Err(self.damaged(format!(
                "an integer with sign byte {sign} (pg_dump writes 0 or 1)"
            ))),
        }
    }

    /// Starts reading the next token.
    fn want(&mut self, want: Want) {
        self.want = want;
        self.token_start = self.position;
    }

    /// Moves the grammar on by one complete token.
    fn on_value(&mut self, value: Value) -> Result<(), Failure> {
        match (self.grammar, value) {
            (Grammar::Magic, Value::Magic(magic)) => {
                if &magic != b"PGDMP" {
                    return Err(not_an_archive(&magic));
                }
                self.advance(Grammar::Major, Want::Byte);
            }
            (Grammar::Major, Value::Byte(major)) => {
                self.version.0 = major;
                self.advance(Grammar::Minor, Want::Byte);
            }
            (Grammar::Minor, Value::Byte(minor)) => {
                self.version.1 = minor;
                self.advance(Grammar::Revision, Want::Byte);
            }
            (Grammar::Revision, Value::Byte(revision)) => {
                self.version.2 = revision;
                let (major, minor, _) = self.version;
                if major > 1 || (major == 1 && minor > NEWEST_MINOR) {
                    return Err(Failure {
                        offset_bytes: Some(5),
                        reason: format!(
                            "archive version {major}.{minor} is newer than hadome reads \
                             (1.{OLDEST_MINOR} to 1.{NEWEST_MINOR}, pg_dump of PostgreSQL 9.0 to 17)"
                        ),
                    });
                }
                if major < 1 || minor < OLDEST_MINOR {
                    return Err(Failure {
                        offset_bytes: Some(5),
                        reason: format!(
                            "archive version {major}.{minor} is older than hadome reads \
                             (1.{OLDEST_MINOR} to 1.{NEWEST_MINOR}, pg_dump of PostgreSQL 9.0 to 17)"
                        ),
                    });
                }
                self.advance(Grammar::IntSize, Want::Byte);
            }
            (Grammar::IntSize, Value::Byte(size)) => {
                if size == 0 || usize::from(size) > MAX_INTEGER_BYTES {
                    return Err(self.damaged(format!(
                        "an integer size of {size} bytes in the header (pg_dump writes 4; hadome reads 1 to {MAX_INTEGER_BYTES})"
                    )));
                }
                self.int_size = usize::from(size);
                self.advance(Grammar::OffSize, Want::Byte);
            }
            (Grammar::OffSize, Value::Byte(size)) => {
                if size == 0 || usize::from(size) > MAX_INTEGER_BYTES {
                    return Err(self.damaged(format!(
                        "a file offset size of {size} bytes in the header (pg_dump writes 8; hadome reads 1 to {MAX_INTEGER_BYTES})"
                    )));
                }
                self.off_size = usize::from(size);
                self.advance(Grammar::Format, Want::Byte);
            }
            (Grammar::Format, Value::Byte(format)) => {
                if format != FORMAT_CUSTOM {
                    return Err(Failure {
                        offset_bytes: Some(self.token_start),
                        reason: wrong_format(format),
                    });
                }
                let want = if self.version.1 >= COMPRESSION_BYTE_MINOR {
                    Want::Byte
                } else {
                    Want::Int
                };
                self.advance(Grammar::Compression, want);
            }
            (Grammar::Compression, Value::Byte(algorithm)) => {
                // `pg_compress_algorithm`: none, gzip, lz4, zstd.
                self.compression = match algorithm {
                    0 => Compression::None,
                    1 => Compression::Gzip { level: None },
                    2 => Compression::Lz4,
                    3 => Compression::Zstd,
                    other => {
                        return Err(self.damaged(format!(
                            "compression algorithm {other} (pg_dump writes 0 to 3: none, gzip, lz4, zstd)"
                        )))
                    }
                };
                self.advance(Grammar::CreationTime { ints_read: 0 }, Want::Int);
            }
            (Grammar::Compression, Value::Int(level)) => {
                self.compression = match level {
                    0 => Compression::None,
                    level => Compression::Gzip { level: Some(level) },
                };
                self.advance(Grammar::CreationTime { ints_read: 0 }, Want::Int);
            }
            (Grammar::CreationTime { ints_read }, Value::Int(_)) => {
                // Seconds, minutes, hours, day, month, year, DST: pg_restore only prints them.
                if ints_read + 1 < 7 {
                    self.advance(
                        Grammar::CreationTime {
                            ints_read: ints_read + 1,
                        },
                        Want::Int,
                    );
                } else {
                    self.advance(Grammar::DatabaseName, Want::StrLength { keep: true });
                }
            }
            (Grammar::DatabaseName, Value::Str(name)) => {
                self.database = name.into_text();
                self.advance(Grammar::ServerVersion, Want::StrLength { keep: true });
            }
            (Grammar::ServerVersion, Value::Str(version)) => {
                self.server_version = version.into_text();
                self.advance(Grammar::DumpedBy, Want::StrLength { keep: true });
            }
            (Grammar::DumpedBy, Value::Str(version)) => {
                self.dumped_by = version.into_text();
                self.advance(Grammar::TocCount, Want::Int);
            }
            (Grammar::TocCount, Value::Int(count)) => {
                let Ok(count) = u64::try_from(count) else {
                    return Err(self.damaged(format!("a TOC entry count of {count}")));
                };
                self.toc_count = count;
                self.start_entry_or_blocks();
            }
            (Grammar::Entry(field), value) => self.on_entry_field(field, value)?,
            (Grammar::BlockType, Value::Byte(block_type)) => {
                if block_type != BLOCK_DATA && block_type != BLOCK_LARGE_OBJECTS {
                    return Err(Failure {
                        offset_bytes: Some(self.token_start),
                        reason: format!(
                            "unknown data block type {block_type} at byte {} (pg_dump writes \
                             {BLOCK_DATA} for table data and {BLOCK_LARGE_OBJECTS} for large objects): \
                             the archive is damaged",
                            self.token_start
                        ),
                    });
                }
                let start = self.token_start;
                self.advance(Grammar::BlockDumpId { block_type, start }, Want::Int);
            }
            (Grammar::BlockDumpId { block_type, start }, Value::Int(dump_id)) => {
                let entry = self.claim_block(dump_id, start)?;
                if block_type == BLOCK_DATA {
                    self.advance(
                        Grammar::ChunkLength {
                            entry,
                            object: None,
                        },
                        Want::Int,
                    );
                } else {
                    self.advance(Grammar::ObjectOid { entry }, Want::Int);
                }
            }
            (Grammar::ObjectOid { entry }, Value::Int(oid)) => match oid {
                0 => self.advance(Grammar::BlockType, Want::Byte),
                oid if oid < 0 => {
                    return Err(self.damaged(format!("a large object with OID {oid}")));
                }
                oid => self.advance(
                    Grammar::ChunkLength {
                        entry,
                        object: Some(oid),
                    },
                    Want::Int,
                ),
            },
            (Grammar::ChunkLength { entry, object }, Value::Int(length)) => match length {
                0 => match object {
                    Some(_) => self.advance(Grammar::ObjectOid { entry }, Want::Int),
                    None => self.advance(Grammar::BlockType, Want::Byte),
                },
                length if length < 0 => {
                    return Err(self.damaged(format!("a data chunk of length {length}")));
                }
                length => self.advance(
                    Grammar::ChunkBody { entry, object },
                    Want::Skip {
                        remaining: length.unsigned_abs(),
                    },
                ),
            },
            (Grammar::ChunkBody { entry, object }, Value::Skipped) => {
                self.advance(Grammar::ChunkLength { entry, object }, Want::Int);
            }
            (grammar, value) => {
                return Err(Failure {
                    offset_bytes: Some(self.token_start),
                    reason: format!(
                        "hadome's archive reader got {value:?} while it expected {grammar:?}: \
                         this is a bug in hadome, please report it"
                    ),
                });
            }
        }
        Ok(())
    }

    /// One field of the TOC entry being read.
    fn on_entry_field(&mut self, field: Field, value: Value) -> Result<(), Failure> {
        match (field, value) {
            (Field::DumpId, Value::Int(dump_id)) => {
                if dump_id <= 0 {
                    return Err(self.damaged(format!(
                        "dump id {dump_id} (pg_dump's dump ids are positive)"
                    )));
                }
                if self.by_dump_id.contains_key(&dump_id) {
                    return Err(self.damaged(format!("a second TOC entry with dump id {dump_id}")));
                }
                self.current = PartialEntry {
                    dump_id: Some(dump_id),
                    ..PartialEntry::default()
                };
            }
            (Field::Tag, Value::Str(tag)) => self.current.tag = tag.into_text().unwrap_or_default(),
            (Field::Desc, Value::Str(desc)) => {
                self.current.desc = desc.into_text().unwrap_or_default();
            }
            (Field::Namespace, Value::Str(namespace)) => {
                self.current.namespace = namespace.into_text().filter(|name| !name.is_empty());
            }
            (Field::Dependency, Value::Str(StrValue::Null)) => {
                self.advance(Grammar::Entry(Field::DataOffset), Field::DataOffset.want());
                return Ok(());
            }
            (Field::DataOffset, Value::Offset { flag, value }) => {
                // `K_OFFSET_POS_NOT_SET`, `K_OFFSET_POS_SET`, `K_OFFSET_NO_DATA`.
                let offset = match flag {
                    1 => DataOffset::NotSet,
                    2 => DataOffset::Set(value),
                    3 => DataOffset::NoData,
                    other => {
                        return Err(self.damaged(format!(
                            "data offset flag {other} (pg_dump writes 1, 2 or 3)"
                        )))
                    }
                };
                self.finish_entry(offset);
                self.start_entry_or_blocks();
                return Ok(());
            }
            (Field::HadDumper | Field::Section | Field::Relkind, Value::Int(_))
            | (
                Field::TableOid
                | Field::Oid
                | Field::Definition
                | Field::DropStatement
                | Field::CopyStatement
                | Field::Tablespace
                | Field::TableAccessMethod
                | Field::Owner
                | Field::WithOids
                | Field::Dependency,
                Value::Str(_),
            ) => {}
            (field, value) => {
                return Err(Failure {
                    offset_bytes: Some(self.token_start),
                    reason: format!(
                        "hadome's archive reader got {value:?} for the TOC field `{}`: \
                         this is a bug in hadome, please report it",
                        field.name()
                    ),
                });
            }
        }
        let next = field.successor(self.version.1);
        self.advance(Grammar::Entry(next), next.want());
        Ok(())
    }

    /// Records the TOC entry just read.
    fn finish_entry(&mut self, offset: DataOffset) {
        let current = std::mem::take(&mut self.current);
        // The dump id was checked when it was read; an entry is only finished after it.
        let dump_id = current.dump_id.unwrap_or_default();
        self.by_dump_id.insert(dump_id, self.entries.len());
        self.entries.push(TocEntry {
            dump_id,
            desc: current.desc,
            namespace: current.namespace,
            tag: current.tag,
            has_data: offset != DataOffset::NoData,
        });
        self.data.push((offset, false));
    }

    /// After the count or an entry: the next entry, or the data blocks when the TOC is complete.
    fn start_entry_or_blocks(&mut self) {
        if (self.entries.len() as u64) < self.toc_count {
            self.advance(Grammar::Entry(Field::DumpId), Field::DumpId.want());
        } else {
            self.advance(Grammar::BlockType, Want::Byte);
        }
    }

    /// The entry a block starting at `start` belongs to, after checking that it is the entry's
    /// one block and is where the TOC says.
    fn claim_block(&mut self, dump_id: i64, start: u64) -> Result<usize, Failure> {
        let Some(&index) = self.by_dump_id.get(&dump_id) else {
            return Err(Failure {
                offset_bytes: Some(start),
                reason: format!(
                    "the data block at byte {start} belongs to dump id {dump_id}, which the TOC \
                     does not list: the archive is damaged"
                ),
            });
        };
        let Some((offset, seen)) = self.data.get(index).copied() else {
            return Err(Failure {
                offset_bytes: Some(start),
                reason: "hadome's archive reader lost a TOC entry: this is a bug in hadome, \
                         please report it"
                    .to_owned(),
            });
        };
        let entry = self.describe_entry(index);
        if seen {
            return Err(Failure {
                offset_bytes: Some(start),
                reason: format!(
                    "the data block at byte {start} is a second block for {entry}: the archive is damaged"
                ),
            });
        }
        match offset {
            DataOffset::NoData => {
                return Err(Failure {
                    offset_bytes: Some(start),
                    reason: format!(
                        "the data block at byte {start} belongs to {entry}, whose TOC entry says \
                         it has no data: the archive is damaged"
                    ),
                });
            }
            DataOffset::Set(recorded) if recorded != start => {
                return Err(Failure {
                    offset_bytes: Some(start),
                    reason: format!(
                        "the data block of {entry} starts at byte {start}, but the TOC records \
                         byte {recorded}: the archive is damaged (pg_restore would not find it)"
                    ),
                });
            }
            DataOffset::Set(_) | DataOffset::NotSet => {}
        }
        if let Some(slot) = self.data.get_mut(index) {
            slot.1 = true;
        }
        self.data_blocks += 1;
        Ok(index)
    }

    fn advance(&mut self, grammar: Grammar, want: Want) {
        self.grammar = grammar;
        self.want(want);
    }

    /// A failure at the token being read: "`what` `where` at byte N: the archive is damaged".
    fn damaged(&self, what: String) -> Failure {
        Failure {
            offset_bytes: Some(self.token_start),
            reason: format!(
                "{what} {} at byte {}: the archive is damaged",
                self.location(),
                self.token_start
            ),
        }
    }

    /// Where the parser is, as a phrase: "inside TOC entry 3 of 120 (its `tag`)".
    fn location(&self) -> String {
        match self.grammar {
            Grammar::Magic
            | Grammar::Major
            | Grammar::Minor
            | Grammar::Revision
            | Grammar::IntSize
            | Grammar::OffSize
            | Grammar::Format => "inside the header".to_owned(),
            Grammar::Compression => "inside the header (its compression)".to_owned(),
            Grammar::CreationTime { .. } => "inside the header (its creation time)".to_owned(),
            Grammar::DatabaseName => "inside the header (its database name)".to_owned(),
            Grammar::ServerVersion => "inside the header (its server version)".to_owned(),
            Grammar::DumpedBy => "inside the header (its pg_dump version)".to_owned(),
            Grammar::TocCount => "inside the header (its TOC entry count)".to_owned(),
            Grammar::Entry(field) => {
                let dump_id = match (field, self.current.dump_id) {
                    (Field::DumpId, _) | (_, None) => String::new(),
                    (_, Some(dump_id)) => format!(", dump id {dump_id}"),
                };
                format!(
                    "inside TOC entry {} of {} (its `{}`{dump_id})",
                    self.entries.len() + 1,
                    self.toc_count,
                    field.name()
                )
            }
            Grammar::BlockType => "between data blocks".to_owned(),
            Grammar::BlockDumpId { start, .. } => {
                format!("inside the header of the data block at byte {start}")
            }
            Grammar::ChunkLength { entry, object } | Grammar::ChunkBody { entry, object } => {
                match object {
                    Some(oid) => format!(
                        "inside the data block of {} (large object {oid})",
                        self.describe_entry(entry)
                    ),
                    None => format!("inside the data block of {}", self.describe_entry(entry)),
                }
            }
            Grammar::ObjectOid { entry } => {
                format!("inside the data block of {}", self.describe_entry(entry))
            }
        }
    }

    /// "`public.accounts` (dump id 3215)".
    fn describe_entry(&self, index: usize) -> String {
        match self.entries.get(index) {
            Some(entry) => format!("`{}` (dump id {})", entry.qualified_name(), entry.dump_id),
            None => format!("TOC entry {}", index + 1),
        }
    }
}

impl StrValue {
    /// The text, `None` for NULL.
    fn into_text(self) -> Option<String> {
        match self {
            StrValue::Null => None,
            StrValue::Skipped => Some(String::new()),
            StrValue::Text(text) => Some(text),
        }
    }
}

/// The length of a chunk whose int is `int` (sign byte and magnitude), when it is positive and
/// fits a `usize`.
fn positive_length(int: &[u8]) -> Option<usize> {
    let (&sign, magnitude) = int.split_first()?;
    if sign != 0 || magnitude.len() > MAX_INTEGER_BYTES {
        return None;
    }
    let length = magnitude
        .iter()
        .rev()
        .fold(0u64, |value, &byte| (value << 8) | u64::from(byte));
    usize::try_from(length).ok().filter(|length| *length > 0)
}

/// `bytes` bytes after the first (the sign or flag byte) of `raw`, least significant first.
fn little_endian(raw: &[u8; 16], bytes: usize) -> u64 {
    raw.iter()
        .skip(1)
        .take(bytes.min(MAX_INTEGER_BYTES))
        .rev()
        .fold(0, |value, &byte| (value << 8) | u64::from(byte))
}

/// Why a file whose first five bytes are not `PGDMP` is not an archive, with a guess at what it is.
fn not_an_archive(magic: &[u8; 5]) -> Failure {
    let guess = if magic.starts_with(b"--") {
        ": it looks like a plain-text SQL dump (`pg_dump -Fp`), which has no structure to check"
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        ": it is gzip-compressed (a compressed plain-text dump?)"
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ": it is zstd-compressed"
    } else {
        ""
    };
    Failure {
        offset_bytes: Some(0),
        reason: format!(
            "the file does not start with `PGDMP`, so it is not a pg_dump custom-format archive{guess}"
        ),
    }
}

/// Why a `PGDMP` file of another format is not read.
fn wrong_format(format: u8) -> String {
    match format {
        FORMAT_TAR => "this is the `toc.dat` of a directory-format or tar-format dump \
                       (`pg_dump -Fd` or `-Ft`): hadome reads custom-format archives (`pg_dump -Fc`)"
            .to_owned(),
        other => format!(
            "the header's format byte is {other}, not {FORMAT_CUSTOM} (pg_dump's custom format): \
             the archive is damaged"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_archive::{write_int, TestArchive, TestBlock, TestEntry};
    use proptest::prelude::*;

    /// The parser's verdict on `bytes`, fed in one slice.
    fn check(bytes: &[u8]) -> Result<ArchiveSummary, Failure> {
        let mut parser = ArchiveParser::new();
        parser.feed(bytes);
        parser.finish()
    }

    /// The parser's verdict on `bytes`, fed in slices of the given sizes (cycled).
    fn check_in_slices(bytes: &[u8], sizes: &[usize]) -> Result<ArchiveSummary, Failure> {
        let mut parser = ArchiveParser::new();
        let mut rest = bytes;
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (head, tail) = rest.split_at((*size).clamp(1, rest.len()));
            parser.feed(head);
            rest = tail;
        }
        parser.finish()
    }

    fn invalid(bytes: &[u8]) -> Failure {
        match check(bytes) {
            Ok(summary) => panic!("expected an invalid archive, got {summary:#?}"),
            Err(failure) => failure,
        }
    }

    #[test]
    fn a_typical_archive_is_valid_and_lists_its_entries() {
        let summary = check(&TestArchive::typical().to_bytes()).unwrap();
        assert_eq!(summary.format_version, (1, 14, 0));
        assert_eq!(summary.compression, Compression::Gzip { level: Some(-1) });
        assert_eq!(summary.database.as_deref(), Some("shop"));
        assert_eq!(
            summary.dumped_by.as_deref(),
            Some("15.18 (Debian 15.18-0+deb12u1)")
        );
        assert_eq!(
            summary.tables(),
            ["public.accounts", "public.orders", "audit.events"]
        );
        assert_eq!(summary.data_blocks, 4);
        let large_objects = summary
            .entries
            .iter()
            .find(|entry| entry.desc == "BLOBS")
            .unwrap();
        assert_eq!(large_objects.namespace, None);
        assert!(large_objects.has_data);
        let encoding = &summary.entries[0];
        assert_eq!(
            (encoding.desc.as_str(), encoding.has_data),
            ("ENCODING", false)
        );
        assert_eq!(summary.entries.len(), TestArchive::typical().entries.len());
    }

    #[test]
    fn an_archive_written_to_a_pipe_has_no_offsets_and_is_valid() {
        let mut archive = TestArchive::typical();
        archive.offsets_recorded = false;
        let summary = check(&archive.to_bytes()).unwrap();
        assert_eq!(summary.data_blocks, 4);
    }

    #[test]
    fn every_version_from_1_12_to_1_16_is_read() {
        for minor in 12..=16 {
            let mut archive = TestArchive::typical();
            archive.minor = minor;
            let summary = check(&archive.to_bytes())
                .unwrap_or_else(|failure| panic!("1.{minor}: {failure:?}"));
            assert_eq!(summary.format_version, (1, minor, 0));
            assert_eq!(summary.tables().len(), 3, "1.{minor}");
            let expected = if minor >= 15 {
                Compression::Gzip { level: None }
            } else {
                Compression::Gzip { level: Some(-1) }
            };
            assert_eq!(summary.compression, expected, "1.{minor}");
        }
    }

    #[test]
    fn a_newer_or_older_version_is_named_and_refused() {
        let mut archive = TestArchive::typical();
        archive.minor = 17;
        let failure = invalid(&archive.to_bytes());
        assert_eq!(failure.offset_bytes, Some(5));
        assert!(
            failure
                .reason
                .starts_with("archive version 1.17 is newer than hadome reads"),
            "{}",
            failure.reason
        );
        archive.minor = 11;
        let failure = invalid(&archive.to_bytes());
        assert!(
            failure.reason.starts_with("archive version 1.11 is older"),
            "{}",
            failure.reason
        );
    }

    #[test]
    fn an_empty_file_is_invalid() {
        let failure = invalid(b"");
        assert_eq!(failure.offset_bytes, Some(0));
        assert!(failure.reason.contains("empty"), "{}", failure.reason);
    }

    #[test]
    fn bad_magic_is_not_an_archive() {
        let failure = invalid(b"PGDMQ and then some bytes");
        assert_eq!(failure.offset_bytes, Some(0));
        assert!(failure.reason.contains("`PGDMP`"), "{}", failure.reason);
        let failure = invalid(b"--\n-- PostgreSQL database dump\n");
        assert!(failure.reason.contains("plain-text"), "{}", failure.reason);
        let failure = invalid(b"PG");
        assert_eq!(failure.offset_bytes, Some(2));
        assert!(failure.reason.contains("truncated"), "{}", failure.reason);
        let failure = invalid(b"SQ");
        assert!(failure.reason.contains("does not start with"));
    }

    #[test]
    fn a_directory_format_toc_is_named() {
        let mut bytes = TestArchive::typical().to_bytes();
        bytes[10] = 3;
        let failure = invalid(&bytes);
        assert_eq!(failure.offset_bytes, Some(10));
        assert!(failure.reason.contains("pg_dump -Fd"), "{}", failure.reason);
    }

    #[test]
    fn truncation_in_the_header_says_so() {
        let bytes = TestArchive::typical().to_bytes();
        let failure = invalid(&bytes[..20]);
        assert_eq!(failure.offset_bytes, Some(20));
        assert_eq!(
            failure.reason,
            "the archive ends inside the header (its creation time) at byte 20: truncated"
        );
    }

    #[test]
    fn truncation_in_the_toc_names_the_entry_and_field() {
        let archive = TestArchive::typical();
        let bytes = archive.to_bytes();
        // The count, the first entry's dump id and hadDumper (5-byte ints), then 2 bytes of the
        // length of its tableoid string.
        let cut = archive.toc_start() + 5 + 5 + 5 + 2;
        let failure = invalid(&bytes[..cut]);
        assert_eq!(
            failure.reason,
            format!(
                "the archive ends inside TOC entry 1 of {} (its `tableoid`, dump id 1) at byte {cut}: truncated",
                archive.entries.len(),
            )
        );
    }

    #[test]
    fn truncation_mid_chunk_names_the_table() {
        let archive = TestArchive::typical();
        let bytes = archive.to_bytes();
        let orders = archive.block_start(21).unwrap();
        // Block type, dump id, first chunk's length, then 3 of its bytes.
        let cut = orders + 1 + 5 + 5 + 3;
        let failure = invalid(&bytes[..cut]);
        assert_eq!(
            failure.reason,
            format!(
                "the archive ends inside the data block of `public.orders` (dump id 21) at byte {cut}: truncated"
            )
        );
        assert_eq!(failure.offset_bytes, Some(cut as u64));
    }

    #[test]
    fn a_missing_final_zero_length_is_truncation() {
        let archive = TestArchive::without_large_objects();
        let bytes = archive.to_bytes();
        let failure = invalid(&bytes[..bytes.len() - 5]);
        assert!(
            failure.reason.starts_with(
                "the archive ends inside the data block of `audit.events` (dump id 22)"
            ),
            "{}",
            failure.reason
        );
        // Cut inside the large-object block: the object is named too.
        let bytes = TestArchive::typical().to_bytes();
        let failure = invalid(&bytes[..bytes.len() - 7]);
        assert!(
            failure
                .reason
                .contains("inside the data block of `BLOBS` (dump id 30) (large object 16401)"),
            "{}",
            failure.reason
        );
    }

    #[test]
    fn a_cut_between_blocks_names_the_first_missing_block() {
        let archive = TestArchive::typical();
        let bytes = archive.to_bytes();
        let cut = archive.block_start(21).unwrap();
        let failure = invalid(&bytes[..cut]);
        assert_eq!(
            failure.reason,
            format!(
                "the archive ends at byte {cut} without the data block of `public.orders` (dump id 21) \
                 and 2 other entries': truncated"
            )
        );
    }

    #[test]
    fn an_unknown_block_type_is_damage() {
        let mut archive = TestArchive::typical();
        let mut raw = vec![2];
        write_int(&mut raw, 20);
        archive.blocks.push(TestBlock::Raw(raw));
        let start = archive.to_bytes().len() - 6;
        let failure = invalid(&archive.to_bytes());
        assert_eq!(failure.offset_bytes, Some(start as u64));
        assert!(
            failure
                .reason
                .starts_with(&format!("unknown data block type 2 at byte {start}")),
            "{}",
            failure.reason
        );
    }

    #[test]
    fn a_block_for_an_unknown_dump_id_is_damage() {
        let mut archive = TestArchive::typical();
        archive.blocks.push(TestBlock::Data {
            dump_id: 99,
            chunks: vec![b"1\n".to_vec()],
        });
        let failure = invalid(&archive.to_bytes());
        assert!(
            failure
                .reason
                .contains("belongs to dump id 99, which the TOC does not list"),
            "{}",
            failure.reason
        );
    }

    #[test]
    fn a_block_for_an_entry_without_data_is_damage() {
        let mut archive = TestArchive::typical();
        archive.blocks.push(TestBlock::Data {
            dump_id: 40,
            chunks: vec![],
        });
        let failure = invalid(&archive.to_bytes());
        assert!(
            failure.reason.contains("says it has no data"),
            "{}",
            failure.reason
        );
    }

    #[test]
    fn a_second_block_for_one_entry_is_damage() {
        let mut archive = TestArchive::typical();
        archive.offsets_recorded = false;
        archive.blocks.push(TestBlock::Data {
            dump_id: 20,
            chunks: vec![],
        });
        let failure = invalid(&archive.to_bytes());
        assert!(
            failure
                .reason
                .contains("a second block for `public.accounts`"),
            "{}",
            failure.reason
        );
    }

    #[test]
    fn a_table_data_entry_whose_block_is_missing_is_invalid() {
        let mut archive = TestArchive::typical();
        archive.offsets_recorded = false;
        archive.blocks.retain(|block| block.dump_id() != Some(21));
        let failure = invalid(&archive.to_bytes());
        assert_eq!(failure.offset_bytes, None);
        assert_eq!(
            failure.reason,
            "the archive has no data block for `public.orders` (dump id 21), though its TOC says it has data"
        );
    }

    #[test]
    fn a_block_away_from_its_recorded_offset_is_damage() {
        let mut archive = TestArchive::typical();
        // Swapping two blocks keeps every block but moves both away from their offsets.
        archive.offsets_recorded = true;
        let recorded = archive.to_bytes();
        let accounts = archive.block_start(20).unwrap();
        archive.blocks.swap(0, 1);
        let mut swapped = archive.to_bytes();
        let toc_end = archive.block_start(21).unwrap();
        swapped[..toc_end].copy_from_slice(&recorded[..toc_end]);
        let failure = invalid(&swapped);
        assert_eq!(failure.offset_bytes, Some(accounts as u64));
        assert!(
            failure.reason.contains(&format!(
                "the data block of `public.orders` (dump id 21) starts at byte {accounts}, but the TOC records"
            )),
            "{}",
            failure.reason
        );
    }

    #[test]
    fn a_negative_chunk_length_is_damage() {
        let mut archive = TestArchive::without_large_objects();
        let mut raw = vec![1];
        write_int(&mut raw, 20);
        write_int(&mut raw, -4);
        archive.blocks.insert(0, TestBlock::Raw(raw));
        archive.offsets_recorded = false;
        let failure = invalid(&archive.to_bytes());
        assert!(
            failure.reason.starts_with(
                "a data chunk of length -4 inside the data block of `public.accounts` (dump id 20)"
            ),
            "{}",
            failure.reason
        );
    }

    #[test]
    fn a_huge_string_length_in_garbage_is_truncation_not_a_panic() {
        let archive = TestArchive::typical();
        let mut bytes = archive.to_bytes();
        let toc_start = archive.toc_start();
        // The first entry's tableoid string (after the count, dump id and hadDumper): claim
        // 2^31 - 1 bytes.
        let tableoid = toc_start + 15;
        bytes[tableoid..tableoid + 5].copy_from_slice(&[0, 0xff, 0xff, 0xff, 0x7f]);
        let failure = invalid(&bytes);
        assert!(failure.reason.contains("truncated"), "{}", failure.reason);
        // A kept string (the tag, after the one-byte tableoid and oid strings) that long is
        // refused at once.
        let mut bytes = archive.to_bytes();
        let tag = tableoid + 6 + 6;
        bytes[tag..tag + 5].copy_from_slice(&[0, 0xff, 0xff, 0xff, 0x7f]);
        let failure = invalid(&bytes);
        assert!(failure.reason.contains("its `tag`"), "{}", failure.reason);
        assert_eq!(failure.offset_bytes, Some(tag as u64));
    }

    #[test]
    fn a_bad_sign_byte_or_offset_flag_is_damage() {
        let archive = TestArchive::typical();
        let toc_start = archive.toc_start();
        let mut bytes = archive.to_bytes();
        bytes[toc_start] = 9;
        let failure = invalid(&bytes);
        assert!(failure.reason.contains("sign byte 9"), "{}", failure.reason);
        assert_eq!(failure.offset_bytes, Some(toc_start as u64));

        let mut entry_only = TestArchive::typical();
        entry_only.entries.truncate(1);
        entry_only.blocks.clear();
        let mut bytes = entry_only.to_bytes();
        let flag = bytes.len() - 9;
        bytes[flag] = 7;
        let failure = invalid(&bytes);
        assert!(
            failure.reason.contains("data offset flag 7"),
            "{}",
            failure.reason
        );
    }

    #[test]
    fn an_archive_without_entries_or_blocks_is_valid() {
        let mut archive = TestArchive::typical();
        archive.entries.clear();
        archive.blocks.clear();
        let summary = check(&archive.to_bytes()).unwrap();
        assert!(summary.entries.is_empty());
        assert_eq!(summary.data_blocks, 0);
    }

    #[test]
    fn an_uncompressed_archive_and_the_newer_algorithms_are_named() {
        let mut archive = TestArchive::typical();
        archive.compression = 0;
        assert_eq!(
            check(&archive.to_bytes()).unwrap().compression,
            Compression::None
        );
        archive.minor = 16;
        for (byte, expected) in [
            (0, Compression::None),
            (2, Compression::Lz4),
            (3, Compression::Zstd),
        ] {
            archive.compression = byte;
            assert_eq!(check(&archive.to_bytes()).unwrap().compression, expected);
        }
        archive.compression = 4;
        let failure = invalid(&archive.to_bytes());
        assert!(
            failure.reason.starts_with("compression algorithm 4"),
            "{}",
            failure.reason
        );
    }

    #[test]
    fn an_entry_outside_any_schema_has_no_namespace() {
        let mut archive = TestArchive::typical();
        archive.entries.push(TestEntry {
            dump_id: 50,
            desc: "COMMENT",
            namespace: Some(""),
            tag: "EXTENSION plpgsql".to_owned(),
            has_data: false,
        });
        let summary = check(&archive.to_bytes()).unwrap();
        assert_eq!(summary.entries.last().unwrap().namespace, None);
    }

    /// Archives of any supported version, with or without offsets, with 0 to 4 tables of 0 to 3
    /// chunks each and 0 to 2 large objects.
    fn arbitrary_archive() -> impl Strategy<Value = TestArchive> {
        let chunk = proptest::collection::vec(any::<u8>(), 1..40);
        let table = proptest::collection::vec(chunk.clone(), 0..4);
        (
            OLDEST_MINOR..=NEWEST_MINOR,
            any::<bool>(),
            proptest::collection::vec(table, 0..5),
            proptest::collection::vec(proptest::collection::vec(chunk, 0..3), 0..3),
        )
            .prop_map(|(minor, offsets_recorded, tables, objects)| {
                TestArchive::generated(minor, offsets_recorded, tables, objects)
            })
    }

    proptest! {
        #[test]
        fn a_valid_archive_cut_anywhere_is_invalid(archive in arbitrary_archive(), cut in any::<prop::sample::Index>()) {
            let bytes = archive.to_bytes();
            prop_assert!(check(&bytes).is_ok(), "the whole archive is valid");
            let cut = cut.index(bytes.len());
            prop_assert!(check(&bytes[..cut]).is_err(), "a cut at {} of {} bytes was valid", cut, bytes.len());
        }

        #[test]
        fn slicing_the_input_never_changes_the_verdict(
            sizes in proptest::collection::vec(1usize..40, 1..8),
            cut_permille in 0usize..=1000,
        ) {
            let bytes = TestArchive::typical().to_bytes();
            let cut = bytes.len() * cut_permille / 1000;
            prop_assert_eq!(check_in_slices(&bytes[..cut], &sizes), check(&bytes[..cut]));
        }

        #[test]
        fn garbage_after_a_header_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..2000), keep in 0usize..400) {
            let bytes = TestArchive::typical().to_bytes();
            let mut input = bytes[..keep.min(bytes.len())].to_vec();
            input.extend_from_slice(&garbage);
            let _ = check(&input);
            let _ = check_in_slices(&input, &[3, 7, 1]);
        }

        #[test]
        fn any_single_byte_change_never_panics(index in 0usize..1200, byte in any::<u8>()) {
            let mut bytes = TestArchive::typical().to_bytes();
            let index = index % bytes.len();
            bytes[index] = byte;
            let _ = check(&bytes);
        }
    }

    #[test]
    fn every_cut_of_the_typical_archive_is_invalid() {
        // Exhaustive, not sampled: the archive is a few hundred bytes.
        let bytes = TestArchive::typical().to_bytes();
        for cut in 0..bytes.len() {
            assert!(
                check(&bytes[..cut]).is_err(),
                "a cut at byte {cut} was valid"
            );
        }
        assert!(check(&bytes).is_ok());
    }
}
