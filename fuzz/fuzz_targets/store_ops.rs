#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| drop(keyrace_fuzz::store_ops(data)));
