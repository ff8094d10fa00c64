//! How the session reaches a modem: a serial device (USB tty, or the pty of
//! the simulator, which behaves the same) or a TCP socket (`tcp:host:port`,
//! as some modem servers and `smsgw sim --listen` expose).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_serial::SerialPortBuilderExt;

/// Serial line settings (from the hardware profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSettings {
    pub baud: u32,
    pub hardware_flow_control: bool,
}

impl Default for SerialSettings {
    fn default() -> Self {
        SerialSettings {
            baud: 115_200,
            hardware_flow_control: false,
        }
    }
}

/// Where a modem is: parsed from the user's `--device` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Serial(String),
    Tcp(String),
}

impl Endpoint {
    /// `tcp:host:port` is a TCP endpoint; anything else is a device path.
    pub fn parse(spec: &str) -> Result<Endpoint, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("empty device: give a path such as /dev/ttyUSB2 or tcp:host:port".into());
        }
        if let Some(addr) = spec.strip_prefix("tcp:") {
            let (host, port) = addr
                .rsplit_once(':')
                .ok_or_else(|| format!("bad TCP endpoint {spec:?}: expected tcp:HOST:PORT"))?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(format!("bad TCP endpoint {spec:?}: expected tcp:HOST:PORT"));
            }
            return Ok(Endpoint::Tcp(addr.to_string()));
        }
        Ok(Endpoint::Serial(spec.to_string()))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Serial(p) => f.write_str(p),
            Endpoint::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// An open byte stream to a modem.
pub enum Transport {
    Serial(tokio_serial::SerialStream),
    Tcp(TcpStream),
}

impl Transport {
    /// Open the endpoint. Serial ports are opened exclusively (a second
    /// program on the same port would steal responses); modem-control lines
    /// are best effort, since ptys answer ENOTTY to them.
    pub async fn open(endpoint: &Endpoint, settings: SerialSettings) -> io::Result<Transport> {
        match endpoint {
            Endpoint::Serial(path) => {
                let flow = if settings.hardware_flow_control {
                    tokio_serial::FlowControl::Hardware
                } else {
                    tokio_serial::FlowControl::None
                };
                let mut port = tokio_serial::new(path, settings.baud)
                    .flow_control(flow)
                    .timeout(Duration::from_millis(100))
                    .open_native_async()
                    .map_err(|e| io::Error::other(e.to_string()))?;
                use tokio_serial::SerialPort;
                let _ = port.write_data_terminal_ready(true);
                Ok(Transport::Serial(port))
            }
            Endpoint::Tcp(addr) => {
                // The caller names the endpoint (ModemError::Open).
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                Ok(Transport::Tcp(s))
            }
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Serial(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Serial(s) => Pin::new(s).poll_write(cx, data),
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, data),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Serial(s) => Pin::new(s).poll_flush(cx),
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Serial(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("/dev/ttyUSB2").unwrap(),
            Endpoint::Serial("/dev/ttyUSB2".into())
        );
        assert_eq!(
            Endpoint::parse("tcp:127.0.0.1:7000").unwrap(),
            Endpoint::Tcp("127.0.0.1:7000".into())
        );
        assert!(Endpoint::parse("tcp:127.0.0.1").is_err());
        assert!(Endpoint::parse("tcp::80").is_err());
        assert!(Endpoint::parse("  ").is_err());
    }
}
