//! Replays the fuzzers' saved inputs (`fuzz/corpus/<target>/` and, when
//! present, `fuzz/regressions/<target>/`) through the same checks the
//! cargo-fuzz targets run (`smsgw::fuzz_checks`), so CI keeps every
//! property on stable without cargo-fuzz or nightly.

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use smsgw::fuzz_checks;

/// Runs `check` on every file of the target's corpus and regression
/// inputs; fails naming each file whose check panics.
fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut ran = 0;
    let mut failed = Vec::new();
    for dir in ["corpus", "regressions"] {
        let dir = fuzz.join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            assert_ne!(
                dir.parent().and_then(Path::file_name),
                Some("corpus".as_ref()),
                "no corpus for {target} at {}",
                dir.display()
            );
            continue;
        };
        let mut files: Vec<_> = entries
            .map(|e| e.expect("directory entry").path())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("corpus file");
            ran += 1;
            if panic::catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failed.push(file.display().to_string());
            }
        }
    }
    assert!(ran > 0, "the {target} corpus is empty");
    assert!(
        failed.is_empty(),
        "{target}: {} input(s) fail: {failed:#?}",
        failed.len()
    );
}

#[test]
fn pdu_with_smsc_corpus() {
    replay("pdu_with_smsc", fuzz_checks::pdu_with_smsc);
}

#[test]
fn pdu_tpdu_corpus() {
    replay("pdu_tpdu", fuzz_checks::pdu_tpdu);
}

#[test]
fn at_digester_corpus() {
    replay("at_digester", fuzz_checks::at_digester);
}

#[test]
fn at_answers_corpus() {
    replay("at_answers", fuzz_checks::at_answers);
}

#[test]
fn submit_roundtrip_corpus() {
    replay("submit_roundtrip", fuzz_checks::submit_roundtrip);
}

#[test]
fn smpp_pdu_corpus() {
    replay("smpp_pdu", fuzz_checks::smpp_pdu);
}
