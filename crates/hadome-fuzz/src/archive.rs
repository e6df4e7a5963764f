//! The pg_dump custom-format archive reader (`hadome_backup::dump_structure`, what
//! `hadome_backup::inspect_dump` reports for a file).

use hadome_backup::{dump_structure, Structure};

/// Feeds `data` to the archive reader whole, then again split into slices at two places derived
/// from the data, then one byte at a time (for inputs up to 4 KiB): the reader is fed a file in
/// reads of whatever size the file system gives, and a token split across reads waits in a buffer.
///
/// Invariants: no panic; the verdict does not depend on how the bytes were split; a damaged
/// archive's byte offset lies within the file, and a problem that is no one place names the TOC
/// entry; a whole archive has no more data blocks than entries.
pub fn archive(data: &[u8]) {
    let whole = dump_structure([data]);
    let (first, second) = split_points(data);
    let split = dump_structure([&data[..first], &data[first..second], &data[second..]]);
    assert_eq!(
        whole, split,
        "the verdict changed when the archive was split at bytes {first} and {second}"
    );
    if data.len() <= 4096 {
        let bytes = dump_structure(data.chunks(1));
        assert_eq!(
            whole, bytes,
            "the verdict changed when fed one byte at a time"
        );
    }
    match whole {
        Structure::Valid(summary) => {
            assert!(
                summary.data_blocks <= summary.entries.len() as u64,
                "{} data blocks for {} entries",
                summary.data_blocks,
                summary.entries.len()
            );
        }
        Structure::Invalid {
            offset_bytes,
            reason,
        } => {
            assert!(!reason.is_empty(), "a damaged archive says why");
            match offset_bytes {
                Some(offset) => assert!(
                    offset <= data.len() as u64,
                    "byte {offset} is past the end of a {}-byte file: {reason}",
                    data.len()
                ),
                None => assert!(
                    reason.contains("dump id") || reason.contains("TOC entry"),
                    "a problem that is no one byte names its entry: {reason}"
                ),
            }
        }
        other => panic!("a dump's structure is checked, never {other:?}"),
    }
}

/// Two split points `first <= second <= data.len()`, taken from the data's first bytes so that
/// the fuzzer can steer them.
fn split_points(data: &[u8]) -> (usize, usize) {
    let pick = |index: usize| {
        let byte = data.get(index).copied().unwrap_or(0) as usize;
        byte * data.len() / 256
    };
    let (a, b) = (pick(6), pick(9));
    (a.min(b), a.max(b))
}
