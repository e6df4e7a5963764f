//! How fast `inspect_dump` verifies a custom-format archive, checksum and structure together
//! (issue 5's target: at least 500 MB/s), next to `inspect_file`, the same reads with SHA-256 alone.
//!
//! The archive is 256 MiB of generated table data (256 TABLE DATA blocks of 16 chunks of 64 KiB,
//! the size of zlib's output chunks or larger), written once to a temporary file; every iteration
//! reads it from the page cache, so this measures hashing and parsing, not the disk.
//! A second archive of 64 MiB has row-sized chunks of 64 bytes, which is what `pg_dump -Z0` writes
//! (one chunk per row of `COPY` output): the parser's worst realistic case.
//!
//! `cargo bench -p hadome-backup --bench verify -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use hadome_backup::{inspect_dump, inspect_file, Structure};

// The tests' archive writer, included by path: the benchmark uses only its generator.
#[allow(dead_code)]
#[path = "../src/test_archive.rs"]
mod test_archive;

const TABLES: usize = 256;
const CHUNKS_PER_TABLE: usize = 16;
const CHUNK_BYTES: usize = 64 * 1024;
const ROW_TABLES: usize = 64;
const ROWS_PER_TABLE: usize = 16 * 1024;
const ROW_BYTES: usize = 64;

/// Bytes that do not repeat within a chunk (a linear congruential sequence), like compressed data.
fn chunk(bytes: usize) -> Vec<u8> {
    let mut state: u32 = 0x2545_f491;
    (0..bytes)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

/// Writes an archive of `tables` tables of `chunks` chunks of `bytes` bytes to `path`; returns its
/// size after checking that it is valid.
fn write_archive(path: &std::path::Path, tables: usize, chunks: usize, bytes: usize) -> u64 {
    let chunk = chunk(bytes);
    let tables = (0..tables).map(|_| vec![chunk.clone(); chunks]).collect();
    let archive = test_archive::TestArchive::generated(14, true, tables, Vec::new());
    std::fs::write(path, archive.to_bytes()).expect("the archive is written");
    drop(archive);
    let inspection = inspect_dump(path).expect("the archive is readable");
    assert!(
        matches!(&inspection.structure, Structure::Valid(summary) if summary.data_blocks > 0),
        "the generated archive is valid: {:?}",
        inspection.structure
    );
    inspection.size_bytes
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("verify.dump");
    let size_bytes = write_archive(&path, TABLES, CHUNKS_PER_TABLE, CHUNK_BYTES);
    let rows_path = dir.path().join("rows.dump");
    let rows_size_bytes = write_archive(&rows_path, ROW_TABLES, ROWS_PER_TABLE, ROW_BYTES);

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("verify a 256 MiB archive");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(size_bytes));
    group.bench_function("inspect_dump (sha256 and structure)", |bencher| {
        bencher.iter(|| black_box(inspect_dump(black_box(&path)).expect("readable")));
    });
    group.bench_function("inspect_file (sha256 alone)", |bencher| {
        bencher.iter(|| black_box(inspect_file(black_box(&path)).expect("readable")));
    });
    group.finish();

    let mut group = criterion.benchmark_group("verify a 64 MiB archive of 64-byte rows");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(rows_size_bytes));
    group.bench_function("inspect_dump (sha256 and structure)", |bencher| {
        bencher.iter(|| black_box(inspect_dump(black_box(&rows_path)).expect("readable")));
    });
    group.bench_function("inspect_file (sha256 alone)", |bencher| {
        bencher.iter(|| black_box(inspect_file(black_box(&rows_path)).expect("readable")));
    });
    group.finish();
    criterion.final_summary();
}
