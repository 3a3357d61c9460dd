//! Frames: after the handshake, every message is one Noise transport message (at most 65535
//! bytes: 16 of them the ChaCha20-Poly1305 tag) carried as one binary WebSocket message.
//!
//! Plaintext of a frame: `u8 message_version` (1) followed by the postcard encoding of one
//! [`Message`], nothing after it. Postcard rather than JSON: compact (a heartbeat is a few
//! bytes, a batch of job records a third of its JSON), no floats or maps whose text form
//! could differ, a short published specification a second implementation can follow, and
//! the version byte carries evolution (fields are not skipped, they are versioned).

use crate::error::SyncError;
use crate::message::Message;

/// The message encoding this implementation speaks (protocol version 1).
pub const MESSAGE_VERSION: u8 = 1;
/// Poly1305 tag appended by the transport cipher.
pub const TAG_LEN: usize = 16;
/// A frame on the wire is at most this long.
pub const FRAME_LEN_MAX: usize = 65535;
/// A frame's plaintext (version byte + message) is at most this long.
pub const PLAINTEXT_LEN_MAX: usize = FRAME_LEN_MAX - TAG_LEN;

/// The plaintext of one frame.
pub fn encode_plaintext(message: &Message) -> Result<Vec<u8>, SyncError> {
    let out = postcard::to_extend(message, vec![MESSAGE_VERSION])
        .map_err(|e| SyncError::protocol(format!("cannot encode {}: {e}", message.name())))?;
    if out.len() > PLAINTEXT_LEN_MAX {
        return Err(SyncError::protocol(format!(
            "{} is {} bytes, more than a frame holds ({PLAINTEXT_LEN_MAX}); split it into chunks",
            message.name(),
            out.len()
        )));
    }
    Ok(out)
}

/// Decodes a frame's plaintext. Untrusted input: errors, never panics (fuzzed).
pub fn decode_plaintext(plaintext: &[u8]) -> Result<Message, SyncError> {
    let (&version, body) = plaintext
        .split_first()
        .ok_or_else(|| SyncError::protocol("an empty frame"))?;
    if version != MESSAGE_VERSION {
        return Err(SyncError::protocol(format!(
            "a frame of message version {version} (this cairn speaks {MESSAGE_VERSION})"
        )));
    }
    let (message, rest) = postcard::take_from_bytes::<Message>(body)
        .map_err(|e| SyncError::protocol(format!("a frame that does not decode: {e}")))?;
    if !rest.is_empty() {
        return Err(SyncError::protocol(format!(
            "a frame with {} bytes after its {}",
            rest.len(),
            message.name()
        )));
    }
    Ok(message)
}
