//! The Python SMPP client of the tests (tests/interop/smpp_client.py, on
//! PyPI smpplib), run as a child process: its events as they come. Used by
//! `smpp_session` (against the server with an in-memory backend) and
//! `smpp_e2e` (against `smsgw serve`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The Python with smpplib: SMSGW_TEST_PYTHON (set by .ci/run), else the
/// virtualenv `.ci/run` makes (target/venv-tests). None (the caller skips,
/// saying so) when neither exists outside CI; under CI=1 a missing one is a
/// failure.
pub fn python() -> Option<String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv-tests/bin/python");
    match std::env::var("SMSGW_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if venv.exists() => Some(venv.display().to_string()),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("1"),
                "SMSGW_TEST_PYTHON is not set: .ci/run installs smpplib in a virtualenv \
                 and sets it; this test must run in CI"
            );
            eprintln!(
                "SKIPPED: no Python with smpplib: run .ci/run once (it makes \
                 target/venv-tests) or set SMSGW_TEST_PYTHON"
            );
            None
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/smpp_client.py")
}

/// One run of the client: a bind (or two, with `unbind_after`) carrying out
/// `plan` (the keys are in the script's docstring).
pub struct PyClient {
    child: Child,
    events: mpsc::Receiver<Value>,
    pub seen: Vec<Value>,
    _plan: tempfile::NamedTempFile,
}

impl PyClient {
    pub fn start(py: &str, port: u16, system_id: &str, password: &str, plan: &Value) -> Self {
        let file = tempfile::NamedTempFile::new().expect("plan file");
        std::fs::write(file.path(), plan.to_string()).expect("write the plan");
        let mut child = Command::new(py)
            .arg(script())
            .arg(file.path())
            .args(["--port", &port.to_string()])
            .args(["--system-id", system_id, "--password", password])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the smpplib client");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str::<Value>(&line)
                    .unwrap_or_else(|e| Value::String(format!("not JSON ({e}): {line}")));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        PyClient {
            child,
            events: rx,
            seen: Vec::new(),
            _plan: file,
        }
    }

    /// Events until `stop` says so or the client ends; false if it ended.
    pub fn until(&mut self, timeout: Duration, mut stop: impl FnMut(&[Value]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if stop(&self.seen) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the smpplib client timed out; events so far: {}",
                self.seen.len()
            );
            match self.events.recv_timeout(left) {
                Ok(Value::String(s)) => panic!("smpp_client.py printed {s}"),
                Ok(v) => self.seen.push(v),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Every event until the client exits (which it must do successfully).
    pub fn finish(mut self, timeout: Duration) -> Vec<Value> {
        self.until(timeout, |_| false);
        let status = self.child.wait().expect("wait for the smpplib client");
        assert!(status.success(), "smpp_client.py failed: {status}");
        std::mem::take(&mut self.seen)
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        // A failed test does not leave the client behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The events named `ev`.
pub fn events<'a>(all: &'a [Value], ev: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    all.iter().filter(move |e| e["ev"] == ev)
}

pub fn count(all: &[Value], ev: &str) -> usize {
    events(all, ev).count()
}
