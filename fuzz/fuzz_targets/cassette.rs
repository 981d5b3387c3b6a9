//! libFuzzer target: `team_fuzz::cassette` on every input (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    team_fuzz::cassette(data);
});
