//! NNG's SP-over-TCP transport with the PAIR v1 protocol, written on tokio.
//!
//! Wire facts (`wcf-protocol.md` §1.5):
//! * after TCP connect both sides send 8 bytes `00 'S' 'P' 00 <proto u16 BE> 00 00` and read the
//!   peer's; PAIR v1 is protocol id `0x11`;
//! * each message is `u64 BE length` followed by `length` bytes: a `u32 BE` hop count (PAIR1's
//!   header, 1 on a fresh message) and the body;
//! * a receiver closes the pipe on a body shorter than 4 bytes or a hop count above 0xFF, and
//!   silently drops messages whose hop count exceeds the TTL (8).
//!
//! A [`PairListener`] accepts one peer at a time, as a mono PAIR1 socket does: while a peer is
//! connected, further connections receive the 8-byte header and are closed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};

/// PAIR v1 protocol id (`NNG_PAIR1_SELF` = `NNG_PAIR1_PEER`).
pub const PAIR1_PROTOCOL: u16 = 0x11;
/// Default largest frame accepted (WeChatFerry's own encode buffer is 16 MiB; queries can be
/// larger, so allow some headroom).
pub const DEFAULT_MAX_FRAME: u64 = 64 * 1024 * 1024;
/// NNG's default maximum hop count (TTL).
const MAX_TTL: u32 = 8;
/// How long the 8-byte negotiation may take (NNG uses 10 s).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the transport layer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The TCP connection failed or broke.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    /// The peer's 8-byte header was not an SP header (`00 'S' 'P' 00 .. .. 00 00`).
    #[error("peer sent an invalid SP header {0:02x?}")]
    BadHeader([u8; 8]),
    /// The peer speaks another SP protocol than PAIR v1.
    #[error("peer speaks SP protocol {0:#06x}, expected PAIR v1 (0x0011)")]
    WrongProtocol(u16),
    /// The peer did not complete the handshake in time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The peer announced a frame larger than the configured cap; the connection is closed
    /// instead of allocating it.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Announced length.
        len: u64,
        /// Configured cap.
        max: u64,
    },
    /// A frame too short to carry the PAIR1 header, or with an invalid hop count.
    #[error("malformed PAIR1 frame: {0}")]
    BadFrame(&'static str),
    /// The peer closed the connection.
    #[error("peer closed the connection")]
    Closed,
}

impl TransportError {
    /// True when the connection is unusable after this error.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::HandshakeTimeout)
    }
}

fn header(protocol: u16) -> [u8; 8] {
    let p = protocol.to_be_bytes();
    [0x00, b'S', b'P', 0x00, p[0], p[1], 0x00, 0x00]
}

/// Exchanges the 8-byte SP headers; returns the peer's protocol id.
async fn negotiate(stream: &mut TcpStream, protocol: u16) -> Result<u16, TransportError> {
    let exchange = async {
        stream.write_all(&header(protocol)).await?;
        let mut peer = [0u8; 8];
        stream.read_exact(&mut peer).await.map_err(eof_is_closed)?;
        if peer[0] != 0 || peer[1] != b'S' || peer[2] != b'P' || peer[3] != 0 || peer[6] != 0 || peer[7] != 0 {
            return Err(TransportError::BadHeader(peer));
        }
        Ok(u16::from_be_bytes([peer[4], peer[5]]))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange).await.map_err(|_| TransportError::HandshakeTimeout)?
}

fn eof_is_closed(e: io::Error) -> TransportError {
    if e.kind() == io::ErrorKind::UnexpectedEof { TransportError::Closed } else { TransportError::Io(e) }
}

/// Reading half of a PAIR1 connection.
///
/// [`FrameReader::recv`] is cancel-safe: bytes read before a cancelled call stay buffered in the
/// reader, so racing `recv` against a timer in `select!` never loses part of a frame.
#[derive(Debug)]
pub struct FrameReader {
    inner: OwnedReadHalf,
    buf: Vec<u8>,
    max_frame: u64,
}

/// Bytes asked of the socket per read when no larger frame is pending.
const READ_CHUNK: usize = 64 * 1024;

impl FrameReader {
    fn new(inner: OwnedReadHalf, max_frame: u64) -> Self {
        Self { inner, buf: Vec::with_capacity(READ_CHUNK), max_frame }
    }

    /// Receives the next message body (PAIR1 header stripped). Messages whose hop count is
    /// above the TTL are skipped, as NNG does. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Vec<u8>, TransportError> {
        loop {
            let need = match self.take_frame()? {
                Parsed::Frame(body) => return Ok(body),
                Parsed::Dropped => continue,
                Parsed::Need(n) => n,
            };
            self.buf.reserve((need - self.buf.len()).max(READ_CHUNK));
            // `read_buf` is cancel-safe: either it appended bytes or it read nothing.
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return Err(TransportError::Closed);
            }
        }
    }

    /// Takes one complete frame off the buffer, or says how many bytes are needed first.
    fn take_frame(&mut self) -> Result<Parsed, TransportError> {
        if self.buf.len() < 8 {
            return Ok(Parsed::Need(8));
        }
        let len = u64::from_be_bytes(self.buf[..8].try_into().expect("8 bytes"));
        if len > self.max_frame {
            return Err(TransportError::FrameTooLarge { len, max: self.max_frame });
        }
        if len < 4 {
            return Err(TransportError::BadFrame("frame shorter than the 4-byte PAIR1 header"));
        }
        let total = 8 + len as usize;
        if self.buf.len() < total {
            return Ok(Parsed::Need(total));
        }
        let hops = u32::from_be_bytes(self.buf[8..12].try_into().expect("4 bytes"));
        if hops > 0xFF {
            return Err(TransportError::BadFrame("hop count above 255"));
        }
        let body = if self.buf.len() == total {
            // The common case for large frames: reuse the buffer rather than allocate a copy.
            let mut whole = std::mem::replace(&mut self.buf, Vec::with_capacity(READ_CHUNK));
            whole.drain(..12);
            whole
        } else {
            let body = self.buf[12..total].to_vec();
            self.buf.drain(..total);
            body
        };
        if hops > MAX_TTL {
            tracing::debug!(hops, "dropping PAIR1 message above the TTL");
            return Ok(Parsed::Dropped);
        }
        Ok(Parsed::Frame(body))
    }
}

enum Parsed {
    Frame(Vec<u8>),
    Dropped,
    Need(usize),
}

/// Writing half of a PAIR1 connection.
#[derive(Debug)]
pub struct FrameWriter {
    inner: OwnedWriteHalf,
    buf: Vec<u8>,
}

impl FrameWriter {
    /// Sends one message (hop count 1, as a fresh cooked PAIR1 message).
    pub async fn send(&mut self, body: &[u8]) -> Result<(), TransportError> {
        self.buf.clear();
        put_frame(&mut self.buf, body);
        self.inner.write_all(&self.buf).await?;
        if self.buf.capacity() > 1024 * 1024 {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// Writes bytes that are already framed (one or more [`encode_frame`] outputs), in one go.
    pub async fn send_raw(&mut self, frames: &[u8]) -> Result<(), TransportError> {
        self.inner.write_all(frames).await?;
        Ok(())
    }

    /// Closes the sending direction.
    pub async fn shutdown(&mut self) {
        let _ = self.inner.shutdown().await;
    }
}

/// An established PAIR1 connection.
#[derive(Debug)]
pub struct PairConn {
    reader: FrameReader,
    writer: FrameWriter,
    peer: SocketAddr,
    _slot: Option<OwnedSemaphorePermit>,
}

impl PairConn {
    fn new(stream: TcpStream, max_frame: u64, slot: Option<OwnedSemaphorePermit>) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let (r, w) = stream.into_split();
        Ok(Self {
            reader: FrameReader::new(r, max_frame),
            writer: FrameWriter { inner: w, buf: Vec::new() },
            peer,
            _slot: slot,
        })
    }

    /// Dials `addr` (`host:port`), exchanges headers and checks that the peer speaks PAIR v1.
    pub async fn dial(addr: &str, max_frame: u64) -> Result<Self, TransportError> {
        let mut stream = TcpStream::connect(addr).await?;
        let proto = negotiate(&mut stream, PAIR1_PROTOCOL).await?;
        if proto != PAIR1_PROTOCOL {
            return Err(TransportError::WrongProtocol(proto));
        }
        Ok(Self::new(stream, max_frame, None)?)
    }

    /// Address of the peer.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Sends one message.
    pub async fn send(&mut self, body: &[u8]) -> Result<(), TransportError> {
        self.writer.send(body).await
    }

    /// Receives one message.
    pub async fn recv(&mut self) -> Result<Vec<u8>, TransportError> {
        self.reader.recv().await
    }

    /// Splits into independently usable halves. The listener slot (if any) is released when
    /// the returned guard is dropped.
    pub fn split(self) -> (FrameReader, FrameWriter, PeerGuard) {
        (self.reader, self.writer, PeerGuard { _slot: self._slot })
    }
}

/// Holds a listener's single peer slot; dropping it lets the next peer in.
#[derive(Debug)]
pub struct PeerGuard {
    _slot: Option<OwnedSemaphorePermit>,
}

/// A PAIR1 listener that accepts one peer at a time.
#[derive(Debug)]
pub struct PairListener {
    local: SocketAddr,
    incoming: Mutex<mpsc::Receiver<PairConn>>,
    task: tokio::task::JoinHandle<()>,
}

impl PairListener {
    /// Listens on an already bound TCP listener.
    pub fn from_tcp(listener: TcpListener, max_frame: u64) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(1);
        let slot = Arc::new(Semaphore::new(1));
        let task = tokio::spawn(accept_loop(listener, slot, tx, max_frame));
        Ok(Self { local, incoming: Mutex::new(rx), task })
    }

    /// Binds `addr` and listens.
    pub async fn bind(addr: &str, max_frame: u64) -> io::Result<Self> {
        Self::from_tcp(TcpListener::bind(addr).await?, max_frame)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits for the next peer. While the returned connection (or its [`PeerGuard`]) lives,
    /// other peers are turned away.
    pub async fn accept(&self) -> Option<PairConn> {
        self.incoming.lock().await.recv().await
    }
}

impl Drop for PairListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, slot: Arc<Semaphore>, tx: mpsc::Sender<PairConn>, max_frame: u64) {
    loop {
        let (mut stream, addr) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = slot.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let permit = slot.clone().try_acquire_owned().ok();
            let proto = match negotiate(&mut stream, PAIR1_PROTOCOL).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "SP handshake failed");
                    return;
                }
            };
            let Some(permit) = permit else {
                tracing::debug!(%addr, "PAIR1 peer already connected; closing the extra connection");
                return;
            };
            if proto != PAIR1_PROTOCOL {
                tracing::debug!(%addr, proto, "peer is not PAIR v1; closing");
                return;
            }
            match PairConn::new(stream, max_frame, Some(permit)) {
                Ok(conn) => {
                    let _ = tx.send(conn).await;
                }
                Err(e) => tracing::debug!(%addr, error = %e, "connection lost during setup"),
            }
        });
    }
}

/// Encodes one PAIR1 frame as it goes on the wire (length, hop count 1, body).
pub fn encode_frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 12);
    put_frame(&mut out, body);
    out
}

fn put_frame(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u64 + 4).to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(body);
}

/// Decodes one PAIR1 frame from the front of `buf`: `Ok(Some((body, consumed)))`, `Ok(None)`
/// when more bytes are needed.
pub fn decode_frame(buf: &[u8], max_frame: u64) -> Result<Option<(Vec<u8>, usize)>, TransportError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = u64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
    if len > max_frame {
        return Err(TransportError::FrameTooLarge { len, max: max_frame });
    }
    if len < 4 {
        return Err(TransportError::BadFrame("frame shorter than the 4-byte PAIR1 header"));
    }
    let total = 8 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let hops = u32::from_be_bytes(buf[8..12].try_into().expect("4 bytes"));
    if hops > 0xFF {
        return Err(TransportError::BadFrame("hop count above 255"));
    }
    Ok(Some((buf[12..total].to_vec(), total)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_bytes_match_nng() {
        assert_eq!(header(PAIR1_PROTOCOL), [0, 0x53, 0x50, 0, 0, 0x11, 0, 0]);
    }

    #[test]
    fn is_login_frame_matches_capture() {
        assert_eq!(encode_frame(&[0x08, 0x01]), [0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 1, 8, 1]);
    }

    #[test]
    fn decode_rejects_short_and_oversized() {
        assert!(matches!(decode_frame(&[0, 0, 0, 0, 0, 0, 0, 2, 0, 0], 100), Err(TransportError::BadFrame(_))));
        assert!(matches!(
            decode_frame(&[0, 0, 0, 0, 0, 0, 1, 0], 100),
            Err(TransportError::FrameTooLarge { len: 256, max: 100 })
        ));
        assert!(decode_frame(&[0, 0, 0], 100).unwrap().is_none());
    }

    /// A frame trickling in byte by byte while `recv` keeps being cancelled by a short timer
    /// (as the receiver's login poll does) still arrives whole, and so does the next one.
    #[tokio::test]
    async fn recv_survives_cancellation_mid_frame() {
        let listener = PairListener::bind("127.0.0.1:0", DEFAULT_MAX_FRAME).await.unwrap();
        let addr = listener.local_addr();
        let peer = tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(&header(PAIR1_PROTOCOL)).await.unwrap();
            let mut theirs = [0u8; 8];
            tcp.read_exact(&mut theirs).await.unwrap();
            let mut wire = encode_frame(b"first message, sent slowly");
            wire.extend_from_slice(&encode_frame(b"second"));
            for byte in wire {
                tcp.write_all(&[byte]).await.unwrap();
                tcp.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let mut conn = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut cancelled = 0;
        let receive = async {
            while got.len() < 2 {
                tokio::select! {
                    frame = conn.recv() => got.push(frame.expect("a whole frame")),
                    _ = tokio::time::sleep(Duration::from_millis(1)) => cancelled += 1,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), receive).await.expect("both frames within 20 s");
        peer.abort();
        assert!(cancelled > 10, "the timer should have interrupted recv many times ({cancelled})");
        assert_eq!(got, [b"first message, sent slowly".to_vec(), b"second".to_vec()]);
    }

    proptest! {
        #[test]
        fn frame_round_trip(body in proptest::collection::vec(any::<u8>(), 0..2048), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut wire = encode_frame(&body);
            let len = wire.len();
            wire.extend_from_slice(&tail);
            let (decoded, used) = decode_frame(&wire, DEFAULT_MAX_FRAME).unwrap().unwrap();
            prop_assert_eq!(decoded, body);
            prop_assert_eq!(used, len);
            // Any strict prefix asks for more bytes.
            prop_assert!(decode_frame(&wire[..len - 1], DEFAULT_MAX_FRAME).unwrap().is_none());
        }
    }
}
