#![no_main]
//! See `smsgw::fuzz_checks::smpp_pdu` for the properties checked.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| smsgw::fuzz_checks::smpp_pdu(data));
