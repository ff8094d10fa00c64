//! `GET /v1/openapi.json` from the real `smsgw serve`: the document lists
//! every route the router serves, and a property-based tester (PyPI
//! schemathesis, installed by .ci/run into the shared venv) drives the
//! daemon from it: no 5xx, every answer as documented.

use crate::common;

use std::process::Command;

use common::*;

/// The interpreter with schemathesis: `SMSGW_TEST_PYTHON` (set by .ci/run),
/// else the venv .ci/run makes under target/. None (with why) when missing.
fn python_with_schemathesis() -> Result<std::path::PathBuf, String> {
    let p = match std::env::var("SMSGW_TEST_PYTHON") {
        Ok(p) => std::path::PathBuf::from(p),
        Err(_) => {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv-tests/bin/python")
        }
    };
    let ok = Command::new(&p)
        .args(["-c", "import schemathesis"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Ok(p)
    } else {
        Err(format!(
            "no Python with schemathesis at {} (run .ci/run, or set SMSGW_TEST_PYTHON)",
            p.display()
        ))
    }
}

#[test]
fn the_document_covers_every_route_and_schemathesis_finds_nothing() {
    let d = one_modem_daemon();
    let port = d.port;
    let a = agent();
    let doc = get_json(&a, port, "/v1/openapi.json");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/v1/messages", &["get", "post"][..]),
        ("/v1/messages/bulk", &["post"]),
        ("/v1/messages/{id}", &["get", "delete"]),
        ("/v1/inbox", &["get"]),
        ("/v1/events", &["get"]),
        ("/v1/modems", &["get"]),
        ("/v1/collisions", &["get"]),
        ("/v1/smpp/binds", &["get"]),
        ("/v1/openapi.json", &["get"]),
        ("/healthz", &["get"]),
        ("/metrics", &["get"]),
    ] {
        for m in methods {
            let op = &paths[path][*m];
            assert!(op.is_object(), "{m} {path} is not documented");
            if path != "/healthz" {
                assert!(op["responses"]["401"].is_object(), "{m} {path}: no 401");
            }
        }
    }
    assert_eq!(
        paths.len(),
        11,
        "every documented path is one the router serves"
    );
    // The error shape is a component every error answer refers to.
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());

    let python = match python_with_schemathesis() {
        Ok(p) => p,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "1") => panic!("{why}"),
        Err(why) => {
            eprintln!("SKIPPED the schemathesis run: {why}");
            return;
        }
    };
    let url = format!("http://127.0.0.1:{port}/v1/openapi.json");
    let out = Command::new(&python)
        .args(["-m", "schemathesis.cli", "run", &url])
        .args(["--checks", "all"])
        // Not checked: that every schema-valid request is accepted. The
        // document gives shapes; what only the gateway can judge (a time
        // already past, a modem that is not configured, a number's digits,
        // a validity beyond 63 weeks) is a 400 naming the field, documented.
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        // An endless stream: its shape is checked above and in api_events.
        .args(["--exclude-path", "/v1/events"])
        .args(["--max-examples", "30", "--seed", "13"])
        .args(["--request-timeout", "20", "--workers", "1"])
        // Bounded: a few minutes at most on a loaded machine.
        .args(["--max-time", "150"])
        // Its cache and reports go to the test's directory, not the repo.
        .current_dir(d.dir())
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    // It did test the operations: "<n> generated, <n> passed".
    let generated: u64 = text
        .lines()
        .find_map(|l| l.trim().split_once(" generated, "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(generated >= 500, "only {generated} test cases:\n{text}");
    assert!(text.contains("11 selected"), "{text}");
}
