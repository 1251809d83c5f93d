//! What one client can hold, and for how long: a connection takes one of `--max-connections`
//! slots (excess ones are refused at once), and any connection or tunnel on which no byte moves
//! either way for [`STALLED`] is closed, whatever it was doing. Headers, TLS handshakes and
//! request bodies have shorter bounds of their own (see `server`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

/// A connection silent both ways this long is closed. Longer than any AWS call waits without a
/// byte (a Lambda Invoke runs up to 15 minutes), so only dead or abandoned connections hit it.
pub const STALLED: Duration = Duration::from_secs(16 * 60);

/// One client connection's claim: its slot, and when a byte last moved on it. Shared by the
/// connection and the tunnel it may turn into; the slot is free once both are gone.
pub struct Lease {
    _slot: OwnedSemaphorePermit,
    start: Instant,
    /// Milliseconds from `start` to the last byte read from or written to the client.
    last: AtomicU64,
}

impl Lease {
    pub fn new(slot: OwnedSemaphorePermit) -> Arc<Lease> {
        Arc::new(Lease {
            _slot: slot,
            start: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// Resolves once no byte has moved for `limit`.
    async fn stalled(&self, limit: Duration) {
        loop {
            let silent = self.silent_for();
            if silent >= limit {
                return;
            }
            tokio::time::sleep(limit - silent).await;
        }
    }

    /// Runs `work` until it ends, or until no byte has moved for `limit`: then `work` is dropped,
    /// and the connection with it.
    pub async fn until_stalled<F: Future>(&self, limit: Duration, work: F) {
        tokio::select! {
            _ = work => {}
            _ = self.stalled(limit) => {}
        }
    }
}

/// A client stream that tells its [`Lease`] whenever a byte moves.
pub struct Watched<S> {
    inner: S,
    lease: Arc<Lease>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, lease: Arc<Lease>) -> Watched<S> {
        Watched { inner, lease }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.lease.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.lease.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.lease.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn lease() -> Arc<Lease> {
        let slots = Arc::new(tokio::sync::Semaphore::new(1));
        Lease::new(slots.try_acquire_owned().unwrap())
    }

    /// A tunnel whose client sends nothing more is closed once silent for the limit, and its
    /// slot is free again; one that keeps talking is not.
    #[tokio::test]
    async fn a_silent_tunnel_is_closed_and_frees_its_slot() {
        let slots = Arc::new(tokio::sync::Semaphore::new(1));
        let lease = Lease::new(slots.clone().try_acquire_owned().unwrap());
        let (client, proxy_side) = tokio::io::duplex(64);
        let (mut upstream, far) = tokio::io::duplex(64);
        let mut watched = Watched::new(proxy_side, lease.clone());
        let relay = {
            let lease = lease.clone();
            tokio::spawn(async move {
                let mut far = far;
                let copy = tokio::io::copy_bidirectional(&mut watched, &mut far);
                lease.until_stalled(Duration::from_millis(300), copy).await;
            })
        };
        drop(lease);
        let mut client = client;
        // Talking keeps it open past the limit.
        for _ in 0..4 {
            client.write_all(b"x").await.unwrap();
            let mut b = [0u8; 1];
            upstream.read_exact(&mut b).await.unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        assert!(!relay.is_finished(), "closed while bytes were moving");
        // Silence closes it.
        tokio::time::timeout(Duration::from_secs(2), relay)
            .await
            .expect("a silent tunnel is closed")
            .unwrap();
        assert_eq!(slots.available_permits(), 1, "the slot is free again");
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn reads_and_writes_both_count_as_activity() {
        let lease = lease();
        let (a, mut b) = tokio::io::duplex(64);
        let mut w = Watched::new(a, lease.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        w.write_all(b"out").await.unwrap();
        assert!(lease.silent_for() < Duration::from_millis(40));
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.write_all(b"in").await.unwrap();
        let mut buf = [0u8; 2];
        w.read_exact(&mut buf).await.unwrap();
        assert!(lease.silent_for() < Duration::from_millis(40));
    }
}
