//! The fuzz targets' short run, on stable Rust and in `cargo test --workspace` (so in CI): every
//! file of the committed corpus `fuzz/corpus/NAME/` through its target, then a seeded mutation
//! loop over the corpus for a bounded number of inputs per target.
//!
//! It is no substitute for the long runs under libFuzzer (`bench/fuzz.sh`, `docs/fuzzing.md`),
//! which follow coverage; it keeps every input that once mattered passing and shakes the
//! corpus's neighbourhood on every commit. The loop is deterministic (a fixed seed, no clock), so
//! a failure here fails the same way on every machine: the panic message names the target, the
//! iteration and the input's bytes, ready to be added to the corpus.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Mutated inputs per target: the whole test stays within a few seconds at opt-level 1.
const ITERATIONS: usize = 1500;

/// The largest input the loop builds: oversized for every parser's seeds, small enough to keep
/// the loop fast.
const MAX_INPUT_BYTES: usize = 64 * 1024;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// The committed corpus of `target`, sorted by file name so the loop is deterministic.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut entries: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("the corpus `{}` cannot be read: {error}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus directory entry").path();
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|error| panic!("`{}`: {error}", path.display()));
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                bytes,
            )
        })
        .collect();
    entries.sort();
    entries
}

/// Runs `input` through `run`, turning a panic into a failure that shows the input.
fn check(target: &str, what: &str, run: fn(&[u8]), input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| run(input))).is_err() {
        let shown = String::from_utf8_lossy(&input[..input.len().min(2048)]);
        panic!(
            "fuzz target `{target}` failed on {what} ({} bytes; add it to fuzz/corpus/{target}/): \
             {shown:?}",
            input.len()
        );
    }
}

/// xorshift64*: a fixed-seed generator, so every run mutates the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `bound` (0 when `bound` is 0).
    fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            0
        } else {
            (self.next() % bound as u64) as usize
        }
    }
}

/// Bytes parsers treat specially: delimiters, quotes, escapes, the archive's sign and flag
/// bytes, and lengths that are all ones.
const INTERESTING: &[u8] = b"\0\x01\x02\x03\xff\x7f\x80\n\r\t \"'\\=[]{};:#$.,-";

/// One mutation of `input`, with `other` (another corpus entry) for splices.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(9) {
            // Flip a bit.
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            // Set a byte to an interesting one.
            1 if len > 0 => {
                let at = rng.below(len);
                out[at] = INTERESTING[rng.below(INTERESTING.len())];
            }
            // Truncate.
            2 => out.truncate(rng.below(len + 1)),
            // Remove a range.
            3 if len > 0 => {
                let start = rng.below(len);
                let end = start + rng.below(len - start + 1);
                out.drain(start..end);
            }
            // Duplicate a chunk in place.
            4 if len > 0 => {
                let start = rng.below(len);
                let end = start + rng.below((len - start).min(256) + 1);
                let chunk = out[start..end].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, chunk);
            }
            // Splice in a piece of another corpus entry.
            5 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = start + rng.below(other.len() - start + 1);
                let at = rng.below(len + 1);
                out.splice(at..at, other[start..end].iter().copied());
            }
            // Overwrite with a run of 0xff or 0x00: huge or zero lengths and counts.
            6 if len > 0 => {
                let at = rng.below(len);
                let fill = if rng.below(2) == 0 { 0xff } else { 0x00 };
                let end = (at + 1 + rng.below(8)).min(len);
                out[at..end].fill(fill);
            }
            // Oversize: repeat the input until it is large.
            7 if len > 0 => {
                let times = MAX_INPUT_BYTES / len;
                out = out.repeat(times.clamp(1, 64));
            }
            // Insert an interesting byte.
            _ => {
                let at = rng.below(len + 1);
                out.insert(at, INTERESTING[rng.below(INTERESTING.len())]);
            }
        }
    }
    out.truncate(MAX_INPUT_BYTES);
    out
}

/// The corpus of every target, then `ITERATIONS` mutations of it.
fn short_run(target: &str) {
    let run = hadome_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, run)| *run)
        .unwrap_or_else(|| panic!("no fuzz target `{target}` in hadome_fuzz::TARGETS"));
    let corpus = corpus(target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty: seed it with real inputs"
    );
    for (name, bytes) in &corpus {
        check(target, &format!("corpus file `{name}`"), run, bytes);
    }
    check(target, "the empty input", run, b"");
    // The seed differs per target, and is fixed.
    let seed = target
        .bytes()
        .fold(0x9e37_79b9_7f4a_7c15_u64, |seed, byte| {
            (seed ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
        });
    let mut rng = Rng(seed | 1);
    for iteration in 0..ITERATIONS {
        let input = &corpus[rng.below(corpus.len())].1;
        let other = &corpus[rng.below(corpus.len())].1;
        let mutated = mutate(&mut rng, input, other);
        check(target, &format!("mutation {iteration}"), run, &mutated);
    }
}

#[test]
fn every_target_has_a_corpus_and_a_test() {
    let source = include_str!("short_run.rs");
    for (name, _) in hadome_fuzz::TARGETS {
        assert!(corpus_dir(name).is_dir(), "fuzz/corpus/{name}/ is missing");
        assert!(
            source.contains(&format!("short_run(\"{name}\")")),
            "tests/short_run.rs runs no short run of `{name}`"
        );
        let harness = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        assert!(harness.is_file(), "`{}` is missing", harness.display());
    }
}

#[test]
fn estate() {
    short_run("estate");
}

#[test]
fn conninfo() {
    short_run("conninfo");
}

#[test]
fn topology() {
    short_run("topology");
}

#[test]
fn archive() {
    short_run("archive");
}

#[test]
fn journal() {
    short_run("journal");
}

#[test]
fn nginx() {
    short_run("nginx");
}

#[test]
fn api() {
    short_run("api");
}
