//! Copies bytes both ways between two streams in one task, with proper
//! half-close: when one side stops sending, the other side's write half is
//! shut down (a TLS close_notify plus FIN, or a plain FIN) and the opposite
//! direction goes on until it ends too.
//!
//! Buffers start small and double (up to 64 KiB) only while reads keep
//! filling them: a thousand idle or chatty connections cost a few KiB each,
//! a bulk transfer quickly gets large reads and few syscalls.
//!
//! With an idle timeout, a relay that moves no byte either way for that long
//! ends with a `TimedOut` error (both streams are then dropped: closed).

use std::future::poll_fn;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::task::ready;
use std::task::Context;
use std::task::Poll;
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;

const INITIAL_BUFFER: usize = 4 * 1024;
const MAX_BUFFER: usize = 64 * 1024;

/// Relays until both directions have ended (or one fails, or nothing moved
/// for `idle` when given); `a_to_b` and `b_to_a` count the bytes written
/// each way.
pub async fn relay<A, B>(
    a: &mut A,
    b: &mut B,
    a_to_b: &AtomicU64,
    b_to_a: &AtomicU64,
    idle: Option<Duration>,
) -> io::Result<()>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut forward = Pipe::new(a_to_b);
    let mut backward = Pipe::new(b_to_a);
    let mut idle_timer = idle.map(|d| (d, Box::pin(tokio::time::sleep(d))));
    let mut moved = 0u64;
    poll_fn(|cx| {
        let forward_done = forward.poll(cx, &mut *a, &mut *b)?.is_ready();
        let backward_done = backward.poll(cx, &mut *b, &mut *a)?.is_ready();
        if forward_done && backward_done {
            return Poll::Ready(Ok(()));
        }
        if let Some((idle, timer)) = idle_timer.as_mut() {
            let now_moved = forward.moved + backward.moved;
            if now_moved != moved {
                moved = now_moved;
                timer.as_mut().reset(tokio::time::Instant::now() + *idle);
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")));
            }
        }
        Poll::Pending
    })
    .await
}

/// One direction: read into the buffer, write it all out, repeat; at EOF
/// shut the writer down.
struct Pipe<'c> {
    buf: Vec<u8>,
    /// `buf[pos..end]` is read but not yet written.
    pos: usize,
    end: usize,
    /// The last read filled the whole buffer: take a bigger one next time.
    grow: bool,
    /// Written bytes may sit in the writer's buffer (rustls) until flushed.
    need_flush: bool,
    read_done: bool,
    done: bool,
    written: &'c AtomicU64,
    /// Bytes written by this pipe (the idle timeout's measure of activity).
    moved: u64,
}

impl<'c> Pipe<'c> {
    fn new(written: &'c AtomicU64) -> Self {
        Pipe {
            buf: vec![0; INITIAL_BUFFER],
            pos: 0,
            end: 0,
            grow: false,
            need_flush: false,
            read_done: false,
            done: false,
            written,
            moved: 0,
        }
    }

    fn poll<R, W>(&mut self, cx: &mut Context<'_>, reader: &mut R, writer: &mut W) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: AsyncWrite + Unpin + ?Sized,
    {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        loop {
            if self.pos == self.end && !self.read_done {
                match self.poll_fill(cx, reader) {
                    Poll::Ready(result) => result?,
                    Poll::Pending => {
                        // Nothing more to read for now: push out what the
                        // writer still holds before sleeping.
                        if self.need_flush {
                            ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                }
            }
            while self.pos < self.end {
                let n = ready!(Pin::new(&mut *writer).poll_write(cx, &self.buf[self.pos..self.end]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.pos += n;
                self.need_flush = true;
                self.written.fetch_add(n as u64, Ordering::Relaxed);
                self.moved += n as u64;
            }
            if self.read_done {
                ready!(Pin::new(&mut *writer).poll_shutdown(cx))?;
                self.done = true;
                self.buf = Vec::new();
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// One read into the (emptied, possibly grown) buffer. (Gathering
    /// several TLS records per write was measured: no faster.)
    fn poll_fill<R>(&mut self, cx: &mut Context<'_>, reader: &mut R) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        if self.grow {
            self.buf = vec![0; (self.buf.len() * 2).min(MAX_BUFFER)];
            self.grow = false;
        }
        let mut read = ReadBuf::new(&mut self.buf);
        ready!(Pin::new(reader).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        self.pos = 0;
        self.end = n;
        self.read_done = n == 0;
        self.grow = n == self.buf.len() && n < MAX_BUFFER;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn copies_both_ways_and_propagates_half_close() {
        let (mut a, mut a_peer) = tokio::io::duplex(1024);
        let (mut b, mut b_peer) = tokio::io::duplex(1024);
        let (ab, ba) = (AtomicU64::new(0), AtomicU64::new(0));
        let relay = tokio::spawn(async move {
            let result = relay(&mut a, &mut b, &ab, &ba, None).await;
            (result, ab.into_inner(), ba.into_inner())
        });

        let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let sent = big.clone();
        let writer = tokio::spawn(async move {
            a_peer.write_all(&sent).await.unwrap();
            a_peer.shutdown().await.unwrap();
            let mut back = Vec::new();
            a_peer.read_to_end(&mut back).await.unwrap();
            back
        });
        let mut got = Vec::new();
        b_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, big, "forward direction, ended by EOF");
        b_peer.write_all(b"reply after half-close").await.unwrap();
        b_peer.shutdown().await.unwrap();
        assert_eq!(writer.await.unwrap(), b"reply after half-close");

        let (result, ab, ba) = relay.await.unwrap();
        result.unwrap();
        assert_eq!((ab, ba), (200_000, 22));
    }

    #[tokio::test]
    async fn an_idle_relay_ends_after_its_timeout() {
        let (mut a, mut a_peer) = tokio::io::duplex(1024);
        let (mut b, mut b_peer) = tokio::io::duplex(1024);
        let idle = Duration::from_millis(200);
        let relay = tokio::spawn(async move {
            let (ab, ba) = (AtomicU64::new(0), AtomicU64::new(0));
            relay(&mut a, &mut b, &ab, &ba, Some(idle)).await
        });
        a_peer.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        b_peer.read_exact(&mut buf).await.unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(5), relay).await.expect("the idle relay ends");
        assert_eq!(ended.unwrap().expect_err("ended by the timeout").kind(), io::ErrorKind::TimedOut);
    }
}
