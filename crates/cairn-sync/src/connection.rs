//! A session over its encrypted channel: frames in, frames out. This is what the server's
//! WebSocket endpoint and the client's dialer drive; each binary WebSocket message is one
//! frame.

use crate::channel::Channel;
use crate::error::SyncError;
use crate::message::ByeReason;
use crate::session::{Session, SessionEvent};

/// One thing for the driver to do: send a frame, or act on an event.
#[derive(Debug)]
pub enum Output {
    Frame(Vec<u8>),
    Event(SessionEvent),
}

pub struct Connection {
    channel: Channel,
    session: Session,
}

impl Connection {
    pub fn new(channel: Channel, session: Session) -> Connection {
        Connection { channel, session }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// One inbound frame. A frame that does not open (tampered, replayed, reordered, lost
    /// before) ends the session: the error is returned and the session is closed.
    pub fn handle_frame(&mut self, frame: &[u8], now_ms: u64) -> Result<(), SyncError> {
        match self.channel.open(frame) {
            Ok(message) => self.session.handle_message(message, now_ms),
            Err(error) => {
                self.session.close(ByeReason::ProtocolError);
                Err(error)
            }
        }
    }

    pub fn tick(&mut self, now_ms: u64) -> Result<(), SyncError> {
        self.session.tick(now_ms)
    }

    /// The next frame to send, if any.
    pub fn poll_frame(&mut self) -> Option<Result<Vec<u8>, SyncError>> {
        let message = self.session.poll_message()?;
        Some(self.channel.seal(&message))
    }

    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.session.poll_event()
    }

    /// Frames and events in one stream: events first (so `Closed` is seen with the `Bye`
    /// still to send), then frames. A frame that cannot be sealed is an error; the session
    /// is then closed.
    pub fn poll_output(&mut self) -> Option<Result<Output, SyncError>> {
        if let Some(event) = self.session.poll_event() {
            return Some(Ok(Output::Event(event)));
        }
        self.poll_frame().map(|frame| frame.map(Output::Frame))
    }
}
