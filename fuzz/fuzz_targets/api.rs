//! libFuzzer's driver of `hadome_fuzz::api`: the checks live there, shared with the stable short
//! run (`crates/hadome-fuzz/tests/short_run.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hadome_fuzz::api(data));
