//! The simulator's pty opened through the real serial transport: bytes flow
//! both ways unchanged (raw mode: no CR->LF translation, no echo).

use smsgw::modem::transport::{Endpoint, SerialSettings, Transport};
use smsgw::sim::pty::Pty;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn read_exact_within<R: AsyncReadExt + Unpin>(r: &mut R, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(Duration::from_secs(20), r.read_exact(&mut buf))
        .await
        .expect("timed out waiting for bytes")
        .expect("read failed");
    buf
}

#[tokio::test]
async fn bytes_cross_the_pty_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("modem0");
    let mut pty = Pty::open(Some(&link)).unwrap();
    let ep = Endpoint::parse(link.to_str().unwrap()).unwrap();
    let mut host = Transport::open(&ep, SerialSettings::default())
        .await
        .unwrap();

    host.write_all(b"AT+CMGS=25\r").await.unwrap();
    assert_eq!(read_exact_within(&mut pty, 11).await, b"AT+CMGS=25\r");

    pty.write_all(b"\r\n> ").await.unwrap();
    assert_eq!(read_exact_within(&mut host, 4).await, b"\r\n> ");

    // Ctrl-Z and ESC pass untouched in raw mode.
    host.write_all(b"0011\x1a\x1b").await.unwrap();
    assert_eq!(read_exact_within(&mut pty, 6).await, b"0011\x1a\x1b");
}

#[tokio::test]
async fn second_open_of_the_port_is_refused() {
    let pty = Pty::open(None).unwrap();
    let ep = Endpoint::Serial(pty.slave_path().to_str().unwrap().to_string());
    let _first = Transport::open(&ep, SerialSettings::default())
        .await
        .unwrap();
    assert!(Transport::open(&ep, SerialSettings::default())
        .await
        .is_err());
}

#[tokio::test]
async fn host_sees_end_of_stream_or_error_when_the_pty_goes_away() {
    let pty = Pty::open(None).unwrap();
    let ep = Endpoint::Serial(pty.slave_path().to_str().unwrap().to_string());
    let mut host = Transport::open(&ep, SerialSettings::default())
        .await
        .unwrap();
    drop(pty);
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(20), host.read(&mut buf))
        .await
        .expect("no hang-up seen");
    match r {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("read {n} bytes from a vanished modem"),
    }
}
