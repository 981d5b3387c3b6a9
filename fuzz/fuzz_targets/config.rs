//! libFuzzer target: `team_fuzz::config` on every input (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    team_fuzz::config(data);
});
