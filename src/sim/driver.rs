//! Runs a [`SimModem`] over a pty (the normal case: hosts open it like a
//! USB serial port) or a TCP listener, and lets the owner inject incoming
//! SMS, unplug the modem for a while, and read the simulated network's log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::model::{ReportRecord, SimModem, SubmitRecord};
use super::pty::Pty;

/// Where the simulated modem is reachable.
#[derive(Debug, Clone)]
pub enum SimEndpoint {
    /// A pty with a symlink at this path.
    Pty(PathBuf),
    /// A TCP listener (one host at a time).
    Tcp(String),
}

enum Control {
    Unplug(Duration),
    Stop,
}

/// A running simulated modem.
#[derive(Clone)]
pub struct SimHandle {
    model: Arc<Mutex<SimModem>>,
    ctl: mpsc::UnboundedSender<Control>,
    /// Bumped whenever the model may have something new to say.
    kick: watch::Sender<u64>,
    device: Arc<Mutex<String>>,
    plugged: watch::Receiver<bool>,
    /// Bumped by the driver whenever the model took input from the host.
    activity: watch::Receiver<u64>,
}

impl SimHandle {
    /// Lock the model (to read its log or inject messages).
    pub fn model(&self) -> MutexGuard<'_, SimModem> {
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The parts the simulated network has accepted so far.
    pub fn submits(&self) -> Vec<SubmitRecord> {
        self.model().submits().to_vec()
    }

    /// The status reports handed to the host so far, with the submit each
    /// answers ([`SimModem::reports_log`]).
    pub fn reports_log(&self) -> Vec<ReportRecord> {
        self.model().reports_log().to_vec()
    }

    /// Queue DELIVER PDUs (SMSC prefix included, with their TPDU lengths) as
    /// an incoming SMS, due now.
    pub fn inject_incoming(&self, pdus: Vec<(Vec<u8>, usize)>) {
        self.model().inject_incoming(pdus, now_ms());
        self.kick.send_modify(|k| *k += 1);
    }

    /// Remove the device for `down`, then bring it back at the same path.
    pub fn unplug(&self, down: Duration) {
        let _ = self.ctl.send(Control::Unplug(down));
    }

    /// Stop the simulator (the device disappears).
    pub fn stop(&self) {
        let _ = self.ctl.send(Control::Stop);
    }

    /// The path or address hosts should open.
    pub fn device(&self) -> String {
        self.device
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Wait until `done` holds for the model, checking it again after each
    /// input the model takes from the host (or an injection). Returns false
    /// when `timeout` passes first.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&SimModem) -> bool,
    ) -> bool {
        let mut rx = self.activity.clone();
        let wait = async {
            loop {
                rx.borrow_and_update();
                if done(&self.model()) {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The driver is gone: the model will not change any more.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// Wait until the device is present (or absent).
    pub async fn wait_plugged(&self, present: bool) {
        let mut rx = self.plugged.clone();
        let _ = rx.wait_for(|p| *p == present).await;
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Start the simulator on a tokio runtime; returns once the device exists.
pub async fn spawn(model: SimModem, endpoint: SimEndpoint) -> std::io::Result<SimHandle> {
    let model = Arc::new(Mutex::new(model));
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let (kick_tx, kick_rx) = watch::channel(0u64);
    let (plugged_tx, plugged_rx) = watch::channel(false);
    let (activity_tx, activity_rx) = watch::channel(0u64);
    let device = Arc::new(Mutex::new(String::new()));
    let handle = SimHandle {
        model: model.clone(),
        ctl: ctl_tx,
        kick: kick_tx,
        device: device.clone(),
        plugged: plugged_rx,
        activity: activity_rx,
    };
    match endpoint {
        SimEndpoint::Pty(link) => {
            let pty = Pty::open(Some(&link))?;
            *device.lock().unwrap_or_else(|p| p.into_inner()) = link.display().to_string();
            plugged_tx.send_replace(true);
            let io = Io {
                ctl: ctl_rx,
                kick: kick_rx,
                activity: activity_tx,
            };
            tokio::spawn(run_pty(model, pty, link, io, plugged_tx));
        }
        SimEndpoint::Tcp(addr) => {
            let listener = TcpListener::bind(&addr).await?;
            *device.lock().unwrap_or_else(|p| p.into_inner()) =
                format!("tcp:{}", listener.local_addr()?);
            plugged_tx.send_replace(true);
            let io = Io {
                ctl: ctl_rx,
                kick: kick_rx,
                activity: activity_tx,
            };
            tokio::spawn(run_tcp(model, listener, io));
        }
    }
    Ok(handle)
}

/// The driver's side of the handle's channels.
struct Io {
    ctl: mpsc::UnboundedReceiver<Control>,
    kick: watch::Receiver<u64>,
    activity: watch::Sender<u64>,
}

async fn run_pty(
    model: Arc<Mutex<SimModem>>,
    mut pty: Pty,
    link: PathBuf,
    mut io: Io,
    plugged: watch::Sender<bool>,
) {
    loop {
        let outcome = serve(&model, &mut pty, &mut io).await;
        drop(pty);
        plugged.send_replace(false);
        let down = match outcome {
            Served::Unplugged(d) => d,
            Served::Stopped | Served::IoError => return,
        };
        tracing::info!("simulated modem unplugged for {down:?}");
        tokio::time::sleep(down).await;
        lock(&model).replug();
        pty = match reopen(&link) {
            Some(p) => p,
            None => return,
        };
        plugged.send_replace(true);
    }
}

fn reopen(link: &Path) -> Option<Pty> {
    match Pty::open(Some(link)) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::error!(
                "simulated modem cannot come back at {}: {e}",
                link.display()
            );
            None
        }
    }
}

async fn run_tcp(model: Arc<Mutex<SimModem>>, listener: TcpListener, mut io: Io) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            c = io.ctl.recv() => match c {
                Some(Control::Unplug(_)) => continue,
                _ => return,
            },
        };
        let Ok((mut sock, _)) = accepted else {
            continue;
        };
        let _ = sock.set_nodelay(true);
        let served = serve(&model, &mut sock, &mut io).await;
        // The host sees the connection close at once, as with a vanished port.
        drop(sock);
        match served {
            Served::Stopped => return,
            Served::Unplugged(down) => {
                tokio::time::sleep(down).await;
                lock(&model).replug();
            }
            Served::IoError => {}
        }
    }
}

fn lock(m: &Arc<Mutex<SimModem>>) -> MutexGuard<'_, SimModem> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Served {
    Unplugged(Duration),
    Stopped,
    IoError,
}

/// Move bytes between the host and the model until the host goes away, the
/// model unplugs itself, or the owner says so.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    model: &Arc<Mutex<SimModem>>,
    io: &mut S,
    chans: &mut Io,
) -> Served {
    let Io {
        ctl,
        kick,
        activity,
    } = chans;
    let mut buf = vec![0u8; 4096];
    loop {
        let (out, deadline, unplugged, replug_ms) = {
            let mut m = lock(model);
            let now = now_ms();
            let out = m.poll_output(now);
            (
                out,
                m.next_deadline(),
                m.unplugged(),
                m.config().replug_after_ms,
            )
        };
        if !out.is_empty() && io.write_all(&out).await.is_err() {
            return Served::IoError;
        }
        if unplugged {
            return Served::Unplugged(Duration::from_millis(replug_ms));
        }
        let sleep_for = match deadline {
            Some(t) => Duration::from_millis((t - now_ms()).clamp(0, 60_000) as u64),
            None => Duration::from_secs(60),
        };
        tokio::select! {
            r = io.read(&mut buf) => match r {
                Ok(0) | Err(_) => return Served::IoError,
                Ok(n) => {
                    lock(model).handle_input(&buf[..n], now_ms());
                    activity.send_modify(|a| *a += 1);
                }
            },
            _ = tokio::time::sleep(sleep_for) => {}
            _ = kick.changed() => {}
            c = ctl.recv() => match c {
                Some(Control::Unplug(d)) => return Served::Unplugged(d),
                Some(Control::Stop) | None => return Served::Stopped,
            },
        }
    }
}
