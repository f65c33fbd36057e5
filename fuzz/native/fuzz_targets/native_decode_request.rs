//! `cargo fuzz run --fuzz-dir fuzz/native --features fuzzer native_decode_request fuzz/corpus/plugin_decode_request`.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tollgate_fuzz_native::decode_request(data));

#[cfg(not(fuzzing))]
fn main() {
    tollgate_fuzz_native::replay(tollgate_fuzz_native::decode_request);
}
