//! One WebSocket as a pipe of frames: one binary message per handshake message or frame.
//! The server's (axum) and the client's (tungstenite) sockets look the same to the driver.

use std::future::Future;

use futures::{SinkExt, StreamExt};

/// The largest WebSocket message either side accepts: a Noise message is at most 65535 bytes.
pub const FRAME_LEN_MAX: usize = 64 * 1024;

pub(crate) trait FrameSocket: Send {
    fn send_frame(&mut self, frame: Vec<u8>) -> impl Future<Output = Result<(), String>> + Send;
    /// The next binary message; `None` when the peer closed. Pings are answered below.
    fn recv_frame(&mut self) -> impl Future<Output = Option<Result<Vec<u8>, String>>> + Send;
    fn close(&mut self) -> impl Future<Output = ()> + Send;
}

impl FrameSocket for axum::extract::ws::WebSocket {
    async fn send_frame(&mut self, frame: Vec<u8>) -> Result<(), String> {
        self.send(axum::extract::ws::Message::Binary(frame.into()))
            .await
            .map_err(|e| e.to_string())
    }

    async fn recv_frame(&mut self) -> Option<Result<Vec<u8>, String>> {
        use axum::extract::ws::Message;
        loop {
            match self.next().await? {
                Ok(Message::Binary(bytes)) => return Some(Ok(bytes.to_vec())),
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(Message::Close(_)) => return None,
                Ok(Message::Text(_)) => {
                    return Some(Err("a text message on the sync stream".into()))
                }
                Err(error) => return Some(Err(error.to_string())),
            }
        }
    }

    async fn close(&mut self) {
        let _ = SinkExt::close(self).await;
    }
}

impl<S> FrameSocket for tokio_tungstenite::WebSocketStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    async fn send_frame(&mut self, frame: Vec<u8>) -> Result<(), String> {
        self.send(tokio_tungstenite::tungstenite::Message::Binary(
            frame.into(),
        ))
        .await
        .map_err(|e| e.to_string())
    }

    async fn recv_frame(&mut self) -> Option<Result<Vec<u8>, String>> {
        use tokio_tungstenite::tungstenite::Message;
        loop {
            match self.next().await? {
                Ok(Message::Binary(bytes)) => return Some(Ok(bytes.to_vec())),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Close(_)) => return None,
                Ok(Message::Text(_)) => {
                    return Some(Err("a text message on the sync stream".into()))
                }
                Err(error) => return Some(Err(error.to_string())),
            }
        }
    }

    async fn close(&mut self) {
        let _ = SinkExt::close(self).await;
    }
}
