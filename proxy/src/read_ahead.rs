//! A read-ahead buffer under the TLS layer that exists only while bulk data
//! flows. rustls reads its socket in slices of a few KiB; during a bulk
//! transfer that is several syscalls per TLS record, which is what bounds
//! throughput on loopback and between hosts alike. Once a read fills
//! rustls's slice (more is surely waiting), reads go through a 64 KiB
//! buffer instead; when the flow slows down and the buffer is drained, it is
//! freed again, so idle and request/response connections carry none.

use std::io;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::ready;
use std::task::Context;
use std::task::Poll;

use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::io::ReadBuf;

const READ_AHEAD: usize = 64 * 1024;
/// A read-ahead returning less than this means the flow has slowed.
const SLOW_READ: usize = READ_AHEAD / 4;

#[derive(Debug)]
pub struct ReadAhead<S> {
    io: S,
    buf: Vec<u8>,
    /// `buf[pos..end]` is read from `io`, not yet handed out.
    pos: usize,
    end: usize,
    bulk: bool,
}

impl<S> ReadAhead<S> {
    pub fn new(io: S) -> Self {
        ReadAhead { io, buf: Vec::new(), pos: 0, end: 0, bulk: false }
    }

    /// Hands out buffered bytes; frees the buffer once drained outside bulk mode.
    fn drain_into(&mut self, out: &mut ReadBuf<'_>) {
        let n = out.remaining().min(self.end - self.pos);
        out.put_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos == self.end && !self.bulk {
            self.buf = Vec::new();
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.end {
            this.drain_into(out);
            return Poll::Ready(Ok(()));
        }
        if !this.bulk || out.remaining() >= READ_AHEAD {
            let before = out.filled().len();
            ready!(Pin::new(&mut this.io).poll_read(cx, out))?;
            this.bulk = out.filled().len() > before && out.remaining() == 0;
            return Poll::Ready(Ok(()));
        }
        if this.buf.is_empty() {
            this.buf = vec![0; READ_AHEAD];
        }
        let mut ahead = ReadBuf::new(&mut this.buf);
        ready!(Pin::new(&mut this.io).poll_read(cx, &mut ahead))?;
        let n = ahead.filled().len();
        this.pos = 0;
        this.end = n;
        this.bulk = n >= SLOW_READ;
        this.drain_into(out);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn small_reads_go_direct_and_bulk_reads_go_through_the_buffer() {
        let (mut far, near) = tokio::io::duplex(256 * 1024);
        let mut reader = ReadAhead::new(near);

        far.write_all(b"ping").await.unwrap();
        let mut small = [0u8; 4096];
        assert_eq!(reader.read(&mut small).await.unwrap(), 4);
        assert!(reader.buf.is_empty() && !reader.bulk);

        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        far.write_all(&data).await.unwrap();
        far.shutdown().await.unwrap();
        let mut got = Vec::new();
        loop {
            let n = reader.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&small[..n]);
            if got.len() == 8192 {
                assert_eq!(reader.buf.len(), READ_AHEAD, "a full direct read switches to read-ahead");
            }
        }
        assert_eq!(got, data);
        assert!(reader.buf.is_empty(), "drained after the flow ended");
    }
}
