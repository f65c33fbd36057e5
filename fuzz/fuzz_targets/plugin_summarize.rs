//! `cargo fuzz run --features fuzzer plugin_summarize`; without `--cfg fuzzing` the binary
//! replays the files named on its command line.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tollgate_fuzz::plugins::summarize(data));

#[cfg(not(fuzzing))]
fn main() {
    tollgate_fuzz::replay(tollgate_fuzz::plugins::summarize);
}
