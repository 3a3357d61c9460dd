//! The HTTP transport of an S3 store with a bandwidth limit: reqwest, with every request and
//! response body cut into chunks that each wait for their share of a shared [`TokenBucket`].
//!
//! OpenDAL hands a transport the whole request body at once, and its own reqwest transport
//! sends it at line speed; only a transport that owns the body stream can pace the bytes as
//! they go on the wire. One transport (one bucket) serves both operators of a store, so the
//! limit holds for all transfers together, uploads and downloads alike.
//!
//! Time spent waiting for the limit is not network time: OpenDAL's timeout layer cannot tell
//! the two apart (a 16 MiB pack sharing 2 MiB/s with seven other transfers takes a minute),
//! so with a limit the store widens that layer's I/O timeout and this transport keeps the
//! request timeout instead: a request fails, as a temporary error the retry layer retries,
//! once it has spent the timeout on anything but waiting for the limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use opendal::raw::{parse_content_encoding, parse_content_length};
use opendal::{Buffer, Error, ErrorKind, HttpBody, HttpTransport};
use tokio::time::Sleep;

use crate::throttle::{TokenBucket, THROTTLE_CHUNK_BYTES};

pub(crate) struct ThrottledTransport {
    client: reqwest::Client,
    bucket: Arc<TokenBucket>,
    request_timeout: Duration,
}

impl ThrottledTransport {
    pub(crate) fn new(bucket: Arc<TokenBucket>, request_timeout: Duration) -> ThrottledTransport {
        ThrottledTransport {
            client: reqwest::Client::new(),
            bucket,
            request_timeout,
        }
    }
}

impl HttpTransport for ThrottledTransport {
    async fn fetch(&self, req: http::Request<Buffer>) -> opendal::Result<http::Response<HttpBody>> {
        let clock = RequestClock::start(self.request_timeout);
        let uri = req.uri().clone();
        let is_head = req.method() == http::Method::HEAD;
        let (parts, body) = req.into_parts();
        let url = reqwest::Url::parse(&uri.to_string()).map_err(|err| {
            Error::new(ErrorKind::Unexpected, "request url is invalid").set_source(err)
        })?;
        let mut request = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .version(parts.version);
        if !body.is_empty() {
            request = request.body(reqwest::Body::wrap(ThrottledBody {
                rest: body,
                pacer: Pacer::new(self.bucket.clone(), clock.clone()),
            }));
        }
        let mut response = clock
            .bound(request.send())
            .await?
            .map_err(|err| transfer_error("send http request", err))?;

        // As OpenDAL's reqwest transport: no length check for HEAD or encoded bodies.
        let content_length = if is_head || parse_content_encoding(response.headers())?.is_some() {
            None
        } else {
            parse_content_length(response.headers())?
        };
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version())
            .extension(uri);
        if let Some(headers) = builder.headers_mut() {
            *headers = std::mem::take(response.headers_mut());
        }
        let stream = ThrottledStream {
            inner: Box::pin(response.bytes_stream()),
            rest: Bytes::new(),
            pacer: Pacer::new(self.bucket.clone(), clock.clone()),
            clock,
            deadline_timer: None,
        };
        let body = HttpBody::new(stream, content_length);
        Ok(builder
            .body(body)
            .expect("a response built from a valid one"))
    }
}

fn transfer_error(what: &'static str, err: reqwest::Error) -> Error {
    // As OpenDAL's reqwest transport: failures to send or to read a body may pass if retried.
    let temporary = err.is_request() || err.is_body() || err.is_decode() || err.is_timeout();
    Error::new(ErrorKind::Unexpected, what)
        .with_temporary(temporary)
        .set_source(err.without_url())
}

/// The deadline of one request: its start plus the request timeout plus every wait for the
/// bandwidth limit so far. Shared by the request body, the send and the response body.
#[derive(Clone)]
struct RequestClock {
    timeout: Duration,
    deadline: Arc<Mutex<Instant>>,
}

impl RequestClock {
    fn start(timeout: Duration) -> RequestClock {
        RequestClock {
            timeout,
            deadline: Arc::new(Mutex::new(Instant::now() + timeout)),
        }
    }

    fn deadline(&self) -> Instant {
        *self.deadline.lock().expect("request clock lock")
    }

    fn extend(&self, wait: Duration) {
        *self.deadline.lock().expect("request clock lock") += wait;
    }

    fn timed_out(&self) -> Error {
        Error::new(
            ErrorKind::Unexpected,
            format!(
                "no answer within {} s (not counting waits for the bandwidth limit)",
                self.timeout.as_secs_f64()
            ),
        )
        .set_temporary()
    }

    /// Runs `future` until it ends or the deadline passes; waits for the limit taken while it
    /// runs (by the request body) move the deadline on.
    async fn bound<F: Future>(&self, future: F) -> opendal::Result<F::Output> {
        let mut future = std::pin::pin!(future);
        loop {
            let deadline = self.deadline();
            match tokio::time::timeout_at(deadline.into(), future.as_mut()).await {
                Ok(output) => return Ok(output),
                Err(_) if self.deadline() <= deadline => return Err(self.timed_out()),
                Err(_) => continue,
            }
        }
    }
}

/// Hands out chunks at the bucket's pace: each chunk is reserved, then held until its time.
struct Pacer {
    bucket: Arc<TokenBucket>,
    clock: RequestClock,
    held: Option<(Pin<Box<Sleep>>, Bytes)>,
}

impl Pacer {
    fn new(bucket: Arc<TokenBucket>, clock: RequestClock) -> Pacer {
        Pacer {
            bucket,
            clock,
            held: None,
        }
    }

    /// Ready with the held chunk once its time has come; ready with `None` when none is held.
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let Some((sleep, _)) = &mut self.held else {
            return Poll::Ready(None);
        };
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(self.held.take().map(|(_, chunk)| chunk))
    }

    /// Reserves `chunk`: returns it when it may go at once, else holds it for `poll_release`.
    fn admit(&mut self, chunk: Bytes) -> Option<Bytes> {
        let wait = self.bucket.reserve(chunk.len(), Instant::now());
        if wait.is_zero() {
            return Some(chunk);
        }
        self.clock.extend(wait);
        self.held = Some((Box::pin(tokio::time::sleep(wait)), chunk));
        None
    }
}

/// A request body sent in chunks of [`THROTTLE_CHUNK_BYTES`] at the bucket's pace.
struct ThrottledBody {
    rest: Buffer,
    pacer: Pacer,
}

impl http_body::Body for ThrottledBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(chunk) = ready!(this.pacer.poll_release(cx)) {
                return Poll::Ready(Some(Ok(http_body::Frame::data(chunk))));
            }
            if this.rest.is_empty() {
                return Poll::Ready(None);
            }
            let size = this.rest.len().min(THROTTLE_CHUNK_BYTES);
            let chunk = this.rest.split_to(size).to_bytes();
            if let Some(chunk) = this.pacer.admit(chunk) {
                return Poll::Ready(Some(Ok(http_body::Frame::data(chunk))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.pacer.held.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let held = self.pacer.held.as_ref().map_or(0, |(_, chunk)| chunk.len());
        http_body::SizeHint::with_exact((self.rest.len() + held) as u64)
    }
}

type ResponseBytes = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send + Sync>>;

/// A response body read at the bucket's pace (TCP flow control then slows the sender), and
/// bounded by the request's deadline while it waits for the network.
struct ThrottledStream {
    inner: ResponseBytes,
    /// What arrived and has not been passed on yet.
    rest: Bytes,
    pacer: Pacer,
    clock: RequestClock,
    deadline_timer: Option<(Instant, Pin<Box<Sleep>>)>,
}

impl ThrottledStream {
    /// Ready with an error once the deadline has passed while the network kept us waiting.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<Error> {
        loop {
            let deadline = self.clock.deadline();
            let timer = match &mut self.deadline_timer {
                Some((set_for, timer)) if *set_for == deadline => timer,
                _ => {
                    let timer = Box::pin(tokio::time::sleep_until(deadline.into()));
                    &mut self.deadline_timer.insert((deadline, timer)).1
                }
            };
            ready!(timer.as_mut().poll(cx));
            if self.clock.deadline() <= deadline {
                return Poll::Ready(self.clock.timed_out());
            }
        }
    }
}

impl Stream for ThrottledStream {
    type Item = opendal::Result<Buffer>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(chunk) = ready!(this.pacer.poll_release(cx)) {
                return Poll::Ready(Some(Ok(Buffer::from(chunk))));
            }
            if !this.rest.is_empty() {
                let size = this.rest.len().min(THROTTLE_CHUNK_BYTES);
                let chunk = this.rest.split_to(size);
                if let Some(chunk) = this.pacer.admit(chunk) {
                    return Poll::Ready(Some(Ok(Buffer::from(chunk))));
                }
                continue;
            }
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => this.rest = bytes,
                Poll::Ready(Some(Err(err))) => {
                    return Poll::Ready(Some(Err(transfer_error(
                        "read data from http response",
                        err,
                    ))))
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {
                    let err = ready!(this.poll_deadline(cx));
                    return Poll::Ready(Some(Err(err)));
                }
            }
        }
    }
}
