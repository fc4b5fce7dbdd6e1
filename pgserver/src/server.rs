//! The listener and the per-connection message loop.
//!
//! Each accepted socket gets a task: connection limit and loopback policy,
//! TLS negotiation (pgwire), a frame guard that refuses oversized messages
//! before they are buffered, then pgwire's message dispatch with Trail's
//! handlers. Errors end a statement, never the process.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::{ClientInfo, NoopHandler, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{
    negotiate_tls, process_error, process_message, PgWireMessageServerCodec,
};
use pgwire::tokio::TlsAcceptor;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::codec::{Framed, FramedParts};

use crate::auth::TrailStartup;
use crate::error::sqlstate;
use crate::query::{Prepared, TrailHandler};
use crate::session::{CancelSignal, Session};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection's `(pid, secret key)` as sent in BackendKeyData.
type CancelKey = (i32, Vec<u8>);

/// Running connections by [`CancelKey`], for CancelRequest.
#[derive(Debug, Default)]
pub(crate) struct CancelRegistry {
    map: Mutex<HashMap<CancelKey, Arc<CancelSignal>>>,
}

#[async_trait]
impl CancelHandler for CancelRegistry {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes().to_vec());
        let signal = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        if let Some(signal) = signal {
            tracing::info!(pid = request.pid, "cancel request");
            signal.cancel();
        }
    }
}

struct Registration<'a> {
    registry: &'a CancelRegistry,
    key: CancelKey,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.registry
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub(crate) handler: Arc<TrailHandler>,
    pub(crate) startup: Arc<TrailStartup>,
    pub(crate) cancels: Arc<CancelRegistry>,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) max_message_bytes: usize,
    pub(crate) statement_timeout_ms: u64,
}

/// Accepts connections until the listener fails.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) -> io::Result<()> {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let permit = shared.slots.clone().try_acquire_owned().ok();
            let refusal = if permit.is_none() {
                Some((
                    sqlstate::TOO_MANY_CONNECTIONS,
                    "sorry, too many clients already".to_owned(),
                ))
            } else if !shared.startup.requires_password() && !peer.ip().is_loopback() {
                Some((
                    sqlstate::INVALID_AUTHORIZATION,
                    format!(
                        "no password is configured, so only loopback connections are accepted (not {})",
                        peer.ip()
                    ),
                ))
            } else {
                None
            };
            if let Err(e) = connection(socket, peer, &shared, refusal).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
}

fn fatal(code: &str, message: String) -> PgWireBackendMessage {
    PgWireBackendMessage::ErrorResponse(
        ErrorInfo::new("FATAL".to_owned(), code.to_owned(), message).into(),
    )
}

async fn connection(
    socket: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    refusal: Option<(&str, String)>,
) -> io::Result<()> {
    let negotiated = tokio::time::timeout(
        STARTUP_TIMEOUT,
        negotiate_tls::<Prepared>(socket, shared.tls.clone()),
    )
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "startup timeout"))??;
    let Some(framed) = negotiated else {
        return Ok(());
    };
    let parts = framed.into_parts();
    let guard = FrameGuard::new(parts.io, shared.max_message_bytes, &parts.read_buf)?;
    let mut new_parts = FramedParts::new(guard, parts.codec);
    new_parts.read_buf = parts.read_buf;
    new_parts.write_buf = parts.write_buf;
    let mut socket: Framed<FrameGuard<_>, PgWireMessageServerCodec<Prepared>> =
        Framed::from_parts(new_parts);

    if let Some((code, message)) = refusal {
        // A CancelRequest is still honoured when the server is full.
        let first = tokio::time::timeout(STARTUP_TIMEOUT, socket.next()).await;
        if let Ok(Some(Ok(PgWireFrontendMessage::CancelRequest(c)))) = first {
            shared.cancels.on_cancel_request(c).await;
            return Ok(());
        }
        tracing::warn!(%peer, "refused: {message}");
        let _ = socket.send(fatal(code, message)).await;
        return socket.close().await;
    }

    let cancel_signal = Arc::new(CancelSignal::default());
    socket.session_extensions().insert(Session::new(
        shared.statement_timeout_ms,
        cancel_signal.clone(),
    ));
    let mut registration: Option<Registration<'_>> = None;

    let startup_deadline = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_deadline);
    let copy = Arc::new(NoopHandler);
    loop {
        let in_startup = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let message = if in_startup {
            tokio::select! {
                _ = &mut startup_deadline => break,
                m = socket.next() => m,
            }
        } else {
            socket.next().await
        };
        let message = match message {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                // Undecodable or oversized: tell the client if it still listens, then close.
                tracing::warn!(%peer, "protocol error: {e}");
                let _ = socket
                    .send(fatal(
                        sqlstate::PROTOCOL_VIOLATION,
                        format!("invalid message: {e}"),
                    ))
                    .await;
                break;
            }
            None => break,
        };
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        let is_extended = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        let is_cancel = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        let result = process_message(
            message,
            &mut socket,
            shared.startup.clone(),
            shared.handler.clone(),
            shared.handler.clone(),
            copy.clone(),
            shared.cancels.clone(),
        )
        .await;
        if let Err(e) = result {
            let fatal_error = e.is_fatal();
            if matches!(e, PgWireError::IoError(_)) {
                break;
            }
            if let PgWireError::InvalidPassword(user) = &e {
                tracing::warn!(%peer, user, "password authentication failed");
            }
            process_error(&mut socket, e, is_extended).await?;
            if fatal_error {
                break;
            }
        }
        if is_cancel {
            break;
        }
        if registration.is_none() && matches!(socket.state(), PgWireConnectionState::ReadyForQuery)
        {
            let (pid, key) = socket.pid_and_secret_key();
            let key = (pid, key.to_bytes().to_vec());
            shared
                .cancels
                .map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone(), cancel_signal.clone());
            registration = Some(Registration {
                registry: &shared.cancels,
                key,
            });
        }
    }
    drop(registration);
    Ok(())
}

/// Wraps the connection's byte stream and follows message boundaries, so a
/// message longer than the limit is refused from its length field instead
/// of being buffered first.
pub(crate) struct FrameGuard<T> {
    inner: T,
    max: usize,
    typed: bool,
    header: [u8; 5],
    header_len: usize,
    remaining: usize,
}

impl<T> FrameGuard<T> {
    fn new(inner: T, max: usize, buffered: &[u8]) -> io::Result<Self> {
        let mut guard = FrameGuard {
            inner,
            max,
            typed: false,
            header: [0; 5],
            header_len: 0,
            remaining: 0,
        };
        guard.observe(buffered)?;
        Ok(guard)
    }

    fn observe(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = &data[n..];
                continue;
            }
            let need = if self.typed { 5 } else { 4 };
            let take = (need - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len == need {
                let at = need - 4;
                let len = u32::from_be_bytes([
                    self.header[at],
                    self.header[at + 1],
                    self.header[at + 2],
                    self.header[at + 3],
                ]) as usize;
                if len < 4 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("invalid message length {len}"),
                    ));
                }
                if len > self.max {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "message of {len} bytes exceeds the limit of {} bytes",
                            self.max
                        ),
                    ));
                }
                self.remaining = len - 4;
                self.header_len = 0;
                self.typed = true;
            }
        }
        Ok(())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FrameGuard<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                // Copy out to satisfy the borrow checker; reads are small.
                let fresh = fresh.to_vec();
                Poll::Ready(this.observe(&fresh))
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FrameGuard<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
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

    #[test]
    fn guard_follows_frames_and_refuses_big_ones() {
        let mut startup = 8u32.to_be_bytes().to_vec();
        startup.extend([0, 3, 0, 0]);
        let mut g = FrameGuard::new((), 100, &startup).unwrap();
        let mut q = vec![b'Q'];
        q.extend(9u32.to_be_bytes());
        q.extend(b"abcd\0");
        g.observe(&q[..3]).unwrap();
        g.observe(&q[3..]).unwrap();
        let mut big = vec![b'Q'];
        big.extend(1000u32.to_be_bytes());
        assert!(g.observe(&big).is_err());
    }
}
