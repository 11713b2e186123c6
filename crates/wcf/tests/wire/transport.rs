use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wcf::TransportError;
use wcf::transport::{DEFAULT_MAX_FRAME, PairConn, PairListener, encode_frame};

use crate::helpers::within;

const PAIR1: [u8; 8] = [0, b'S', b'P', 0, 0, 0x11, 0, 0];

async fn listener(max: u64) -> PairListener {
    PairListener::bind("127.0.0.1:0", max).await.unwrap()
}

/// Reads until EOF; returns everything read.
async fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    within("eof", s.read_to_end(&mut buf)).await.ok();
    buf
}

#[tokio::test]
async fn dial_and_listen_exchange_frames_both_ways() {
    let l = listener(DEFAULT_MAX_FRAME).await;
    let addr = l.local_addr().to_string();
    let (server, client) = tokio::join!(l.accept(), PairConn::dial(&addr, DEFAULT_MAX_FRAME));
    let (mut server, mut client) = (server.unwrap(), client.unwrap());
    client.send(b"ping").await.unwrap();
    assert_eq!(server.recv().await.unwrap(), b"ping");
    server.send(&[]).await.unwrap(); // zero-length bodies are legal
    assert_eq!(client.recv().await.unwrap(), b"");
}

#[tokio::test]
async fn wrong_protocol_gets_our_header_then_close() {
    let l = listener(DEFAULT_MAX_FRAME).await;
    let mut s = TcpStream::connect(l.local_addr()).await.unwrap();
    s.write_all(&[0, b'S', b'P', 0, 0, 0x10, 0, 0]).await.unwrap(); // PAIR v0
    assert_eq!(read_to_end(&mut s).await, PAIR1);
}

#[tokio::test]
async fn bad_magic_is_closed() {
    let l = listener(DEFAULT_MAX_FRAME).await;
    let mut s = TcpStream::connect(l.local_addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert_eq!(read_to_end(&mut s).await, PAIR1, "header, then closed");
    // And a dialer facing a non-SP server reports it.
    let raw = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = raw.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut s, _) = raw.accept().await.unwrap();
        s.write_all(b"HTTP/1.1 400 Bad\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    assert!(matches!(PairConn::dial(&addr, DEFAULT_MAX_FRAME).await, Err(TransportError::BadHeader(_))));
}

#[tokio::test]
async fn dialer_rejects_a_peer_of_another_protocol() {
    let raw = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = raw.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut s, _) = raw.accept().await.unwrap();
        s.write_all(&[0, b'S', b'P', 0, 0, 0x30, 0, 0]).await.unwrap(); // REQ v0
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    assert!(matches!(PairConn::dial(&addr, DEFAULT_MAX_FRAME).await, Err(TransportError::WrongProtocol(0x30))));
}

#[tokio::test]
async fn second_peer_is_turned_away_until_the_first_leaves() {
    let l = listener(DEFAULT_MAX_FRAME).await;
    let addr = l.local_addr().to_string();
    let first = PairConn::dial(&addr, DEFAULT_MAX_FRAME).await.unwrap();
    let accepted = l.accept().await.unwrap();
    let mut second = TcpStream::connect(&addr).await.unwrap();
    second.write_all(&PAIR1).await.unwrap();
    assert_eq!(read_to_end(&mut second).await, PAIR1, "busy: header, then closed");
    drop(accepted);
    drop(first);
    let third = within("third peer", async {
        loop {
            if let Ok(c) = PairConn::dial(&addr, DEFAULT_MAX_FRAME).await {
                break c;
            }
        }
    })
    .await;
    let mut served = within("accept", l.accept()).await.unwrap();
    let mut third = third;
    third.send(b"hi").await.unwrap();
    assert_eq!(served.recv().await.unwrap(), b"hi");
}

/// A raw peer that completes the handshake, then writes `bytes` and closes.
async fn raw_peer(bytes: Vec<u8>) -> String {
    let raw = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = raw.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut s, _) = raw.accept().await.unwrap();
        s.write_all(&PAIR1).await.unwrap();
        let mut h = [0u8; 8];
        s.read_exact(&mut h).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
    addr
}

#[tokio::test]
async fn oversized_length_closes_instead_of_allocating() {
    let addr = raw_peer((1u64 << 40).to_be_bytes().to_vec()).await;
    let mut c = PairConn::dial(&addr, 1024).await.unwrap();
    match c.recv().await {
        Err(TransportError::FrameTooLarge { len, max }) => assert_eq!((len, max), (1 << 40, 1024)),
        other => panic!("{other:?}"),
    }
    // The listener side enforces its cap too.
    let l = listener(16).await;
    let mut s = TcpStream::connect(l.local_addr()).await.unwrap();
    s.write_all(&PAIR1).await.unwrap();
    let mut conn = l.accept().await.unwrap();
    s.write_all(&encode_frame(&[0u8; 64])).await.unwrap();
    assert!(matches!(conn.recv().await, Err(TransportError::FrameTooLarge { len: 68, max: 16 })));
}

#[tokio::test]
async fn peer_gone_mid_frame_is_a_clean_error() {
    let mut partial = 100u64.to_be_bytes().to_vec();
    partial.extend_from_slice(&[0, 0, 0, 1, 1, 2, 3]);
    let addr = raw_peer(partial).await;
    let mut c = PairConn::dial(&addr, DEFAULT_MAX_FRAME).await.unwrap();
    assert!(matches!(c.recv().await, Err(TransportError::Closed)));
}

#[tokio::test]
async fn hop_counts_follow_nng() {
    let mut wire = Vec::new();
    let frame = |hops: u32, body: &[u8]| {
        let mut f = ((body.len() + 4) as u64).to_be_bytes().to_vec();
        f.extend_from_slice(&hops.to_be_bytes());
        f.extend_from_slice(body);
        f
    };
    wire.extend(frame(0, b"zero"));
    wire.extend(frame(9, b"over ttl")); // dropped silently
    wire.extend(frame(8, b"eight"));
    wire.extend(frame(300, b"bad")); // closes the pipe
    let addr = raw_peer(wire).await;
    let mut c = PairConn::dial(&addr, DEFAULT_MAX_FRAME).await.unwrap();
    assert_eq!(c.recv().await.unwrap(), b"zero");
    assert_eq!(c.recv().await.unwrap(), b"eight");
    assert!(matches!(c.recv().await, Err(TransportError::BadFrame(_))));
}

#[tokio::test]
async fn emulator_answers_garbage_with_a_zero_length_reply() {
    let env = crate::helpers::start().await;
    let mut c = PairConn::dial(&env.emu.command_addr().to_string(), DEFAULT_MAX_FRAME).await.unwrap();
    c.send(&[0xFF, 0xFF, 0xFF]).await.unwrap();
    assert_eq!(c.recv().await.unwrap(), b"");
    c.send(&[0x08, 0x7E]).await.unwrap(); // func 126: unknown
    assert_eq!(c.recv().await.unwrap(), b"");
    c.send(&[0x08, 0x01]).await.unwrap(); // is_login
    assert_eq!(c.recv().await.unwrap(), [0x08, 0x01, 0x10, 0x01]);
}
