//! `cargo fuzz run --features fuzzer host_client_input`; without `--cfg fuzzing` the binary
//! replays the files named on its command line.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| tollgate_fuzz::host::client_input(data));

#[cfg(not(fuzzing))]
fn main() {
    tollgate_fuzz::replay(tollgate_fuzz::host::client_input);
}
