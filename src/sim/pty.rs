//! A pseudo-terminal that looks like a modem's serial port.
//!
//! The simulator keeps the master side; hosts open the slave path (or the
//! symlink created at `--link PATH`) exactly as they would open
//! `/dev/ttyUSB2`. Facts this relies on (shared/FACTS.md): the pty is put in
//! raw mode (a cooked pty turns `\r` into `\n` and echoes); reading the master
//! while no slave is open fails with EIO, so the simulator keeps its own slave
//! descriptor open for the pty's whole life (it never reads from it, and does
//! not lock it, so the host can still open the port exclusively).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The master side of a raw pty, usable from tokio.
pub struct Pty {
    master: AsyncFd<OwnedFd>,
    /// Held open so the master never sees EIO while the host reconnects.
    _slave: OwnedFd,
    slave_path: PathBuf,
    link: Option<PathBuf>,
}

impl Pty {
    /// Open a new raw pty. With `link`, a symlink to the slave is created at
    /// that path (replacing a stale symlink, never a regular file).
    pub fn open(link: Option<&Path>) -> io::Result<Pty> {
        let pair = nix::pty::openpty(None, None).map_err(io::Error::from)?;
        // openpty does not set close-on-exec: without it a child process
        // (a daemon started by a test) would inherit the master and the
        // host would never see the hang-up of a simulated unplug.
        for fd in [&pair.master, &pair.slave] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
        }
        let mut tio = tcgetattr(&pair.slave).map_err(io::Error::from)?;
        cfmakeraw(&mut tio);
        tcsetattr(&pair.slave, SetArg::TCSANOW, &tio).map_err(io::Error::from)?;
        let slave_path = nix::unistd::ttyname(&pair.slave).map_err(io::Error::from)?;
        let flags = fcntl(&pair.master, FcntlArg::F_GETFL).map_err(io::Error::from)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(&pair.master, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        // SAFETY: the AsyncFd takes ownership of the OwnedFd, so the descriptor
        // stays open and unchanged for the AsyncFd's whole life.
        #[allow(unsafe_code)]
        let master = unsafe { AsyncFd::register(pair.master) }?;
        let link = match link {
            Some(p) => {
                replace_symlink(&slave_path, p)?;
                Some(p.to_path_buf())
            }
            None => None,
        };
        Ok(Pty {
            master,
            _slave: pair.slave,
            slave_path,
            link,
        })
    }

    /// The slave device path (e.g. `/dev/pts/7`).
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// The path hosts should open: the symlink when there is one.
    pub fn device_path(&self) -> &Path {
        self.link.as_deref().unwrap_or(&self.slave_path)
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            // Only remove the link if it still points at our slave.
            if std::fs::read_link(link).ok().as_deref() == Some(self.slave_path.as_path()) {
                let _ = std::fs::remove_file(link);
            }
        }
    }
}

fn replace_symlink(target: &Path, link: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(link)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a symlink; refusing to replace it",
                    link.display()
                ),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(target, link)
}

impl AsyncRead for Pty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.master.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard
                .try_io(|fd| nix::unistd::read(fd.get_ref(), unfilled).map_err(io::Error::from))
            {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.master.poll_write_ready(cx))?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsRawFd for Pty {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.master.get_ref().as_raw_fd()
    }
}
