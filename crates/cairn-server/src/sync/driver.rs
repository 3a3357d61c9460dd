//! Drives one session over its socket: frames in and out, the clock, and a close request
//! (revocation, replacement, shutdown). Both sides use it; what each does with the session's
//! events is its [`SessionHooks`].

use std::time::Duration;

use cairn_sync::{ByeReason, Connection, Output, SessionEvent};
use tokio::sync::mpsc;

use super::socket::FrameSocket;

/// How often the session's clock ticks (heartbeats are due every 20 s; a client also looks
/// for new changes in its log this often).
const TICK: Duration = Duration::from_millis(250);

pub(crate) trait SessionHooks: Send {
    fn on_event(&mut self, event: SessionEvent, connection: &mut Connection);
    fn on_tick(&mut self, connection: &mut Connection);
}

/// Runs until the session closes (its `Bye` sent) or the socket fails.
pub(crate) async fn drive(
    socket: &mut impl FrameSocket,
    connection: &mut Connection,
    hooks: &mut impl SessionHooks,
    close: &mut mpsc::UnboundedReceiver<ByeReason>,
    now_ms: impl Fn() -> u64 + Send,
) -> Result<(), String> {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while let Some(output) = connection.poll_output() {
            match output {
                Ok(Output::Frame(frame)) => socket.send_frame(frame).await?,
                Ok(Output::Event(event)) => hooks.on_event(event, connection),
                Err(error) => return Err(error.to_string()),
            }
        }
        if connection.session().is_closed() {
            socket.close().await;
            return Ok(());
        }
        tokio::select! {
            frame = socket.recv_frame() => match frame {
                Some(Ok(frame)) => {
                    if let Err(error) = connection.handle_frame(&frame, now_ms()) {
                        tracing::warn!("sync session with {}: {error}", connection.session().peer());
                    }
                }
                Some(Err(error)) => return Err(error),
                None => return Err("the peer closed the connection".into()),
            },
            _ = ticker.tick() => {
                if let Err(error) = connection.tick(now_ms()) {
                    tracing::warn!("sync session with {}: {error}", connection.session().peer());
                }
                hooks.on_tick(connection);
            }
            reason = close.recv() => {
                connection.session_mut().close(reason.unwrap_or(ByeReason::Shutdown));
            }
        }
    }
}
