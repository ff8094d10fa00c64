#![no_main]
//! See `smsgw::fuzz_checks::at_answers` for the properties checked.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| smsgw::fuzz_checks::at_answers(data));
