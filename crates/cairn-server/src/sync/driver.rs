//! Drives one session over its socket: frames in and out, the clock, and requests from the
//! daemon (close on revocation, replacement or shutdown; send a command). Both sides use it; what each does with the session's
//! events is its [`SessionHooks`].

use std::time::Duration;

use cairn_sync::{ByeReason, CommandKind, Connection, Message, Output, SessionEvent};
use tokio::sync::{mpsc, oneshot};

use super::socket::FrameSocket;

/// How often the session's clock ticks (heartbeats are due every 20 s; a client also looks
/// for new changes in its log this often).
const TICK: Duration = Duration::from_millis(250);

/// What the rest of the daemon asks of a live session.
pub(crate) enum Control {
    /// End it (`Bye` with the reason): revoked, replaced, shutting down.
    Close(ByeReason),
    /// Server: send a command; its answer (or refusal) goes to the sender.
    Command(CommandKind, oneshot::Sender<Result<Vec<u8>, String>>),
    /// Client: a command ran (off the session's task); send its answer.
    Answer(u64, Result<Vec<u8>, String>),
    /// Send a caller-built message (`ConfigPush`, `ConfigAck`, `ConfigReport`,
    /// `SharedRepositories`); the session checks it against the grant first.
    Send(Message),
}

pub(crate) trait SessionHooks: Send {
    fn on_event(&mut self, event: SessionEvent, connection: &mut Connection);
    fn on_tick(&mut self, connection: &mut Connection);
    /// A command to send (only a server's hooks accept one).
    fn on_command(
        &mut self,
        kind: CommandKind,
        answer: oneshot::Sender<Result<Vec<u8>, String>>,
        connection: &mut Connection,
    ) {
        let _ = (kind, connection);
        let _ = answer.send(Err("only a server sends commands".into()));
    }
}

/// Runs until the session closes (its `Bye` sent) or the socket fails.
pub(crate) async fn drive(
    socket: &mut impl FrameSocket,
    connection: &mut Connection,
    hooks: &mut impl SessionHooks,
    control: &mut mpsc::UnboundedReceiver<Control>,
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
            control = control.recv() => match control {
                Some(Control::Command(kind, answer)) => hooks.on_command(kind, answer, connection),
                Some(Control::Answer(id, outcome)) => {
                    connection.session_mut().send_command_result(id, outcome);
                }
                Some(Control::Close(reason)) => connection.session_mut().close(reason),
                Some(Control::Send(message)) => {
                    let name = message.name();
                    if let Err(refusal) = connection.session_mut().send(message) {
                        tracing::warn!("sync: not sending {name}: {refusal}");
                    }
                }
                None => connection.session_mut().close(ByeReason::Shutdown),
            },
        }
    }
}
