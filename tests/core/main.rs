//! Pure layers: AT engine, PDU codec and corpus, hardware profiles, router, configuration.
//!
//! One test binary per area (linking each of 40 files separately took most
//! of the suite's build time); each module is one former test file.

mod at_answers;
mod at_digester;
mod at_error_codes;
mod at_reader;
mod config_load;
mod config_smpp;
mod fuzz_corpus;
mod pdu_corpus;
mod pdu_props;
mod profiles_match;
mod profiles_schema;
mod router_wrap;
mod smpp_props;
