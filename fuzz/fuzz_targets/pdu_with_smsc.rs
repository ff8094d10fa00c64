#![no_main]
//! See `smsgw::fuzz_checks::pdu_with_smsc` for the properties checked.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| smsgw::fuzz_checks::pdu_with_smsc(data));
