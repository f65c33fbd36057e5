//! `cargo fuzz run --fuzz-dir fuzz/native --features fuzzer native_stream_decoder fuzz/corpus/plugin_stream_decoder`.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tollgate_fuzz_native::stream_decoder(data));

#[cfg(not(fuzzing))]
fn main() {
    tollgate_fuzz_native::replay(tollgate_fuzz_native::stream_decoder);
}
