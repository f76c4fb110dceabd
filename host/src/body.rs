//! The response body type the front hands to hyper.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::engine::{BodyAborted, BodyChunk};

/// A response body: whole (islet's own responses) or streamed from an
/// isolate chunk by chunk.
pub struct ResponseBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<BodyChunk>),
}

impl ResponseBody {
    /// A body of these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self {
            kind: Kind::Full(Some(bytes.into())),
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
        }
    }

    pub(crate) fn stream(chunks: mpsc::Receiver<BodyChunk>) -> Self {
        Self {
            kind: Kind::Stream(chunks),
        }
    }

    /// Reads the whole body; for embedders and tests.
    pub async fn collect_bytes(self) -> Result<Bytes, BodyAborted> {
        Ok(self.collect().await?.to_bytes())
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BodyAborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyAborted>>> {
        match &mut self.kind {
            Kind::Full(bytes) => Poll::Ready(
                bytes
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            // An empty chunk is the sink's end-of-body mark.
            Kind::Stream(rx) => rx.poll_recv(cx).map(|chunk| match chunk {
                Some(Ok(bytes)) if bytes.is_empty() => {
                    rx.close();
                    None
                }
                other => other.map(|c| c.map(Frame::data)),
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.kind, Kind::Full(b) if b.as_ref().is_none_or(Bytes::is_empty))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}
