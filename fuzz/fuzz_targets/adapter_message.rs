#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keyrace_fuzz::adapter_message(data));
