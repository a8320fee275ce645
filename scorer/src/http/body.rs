//! Request bodies read as they arrive, within a size and a time limit: a body that passes the
//! limit is refused (413) at the first byte over it — or from its `Content-Length` alone, before
//! any of it is read — and one that has not all arrived in time is refused (408).

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use warp::{Filter, Rejection};

/// Bytes set aside up front for a body of unknown length (chunked); it grows as it arrives. A body
/// with a `Content-Length` (at most the limit) gets that much at once, so it is never copied.
const CHUNKED_CAPACITY: u64 = 64 << 10;

/// Why a body was not read.
#[derive(Debug)]
pub enum BodyRefused {
    /// It is (or claims to be) longer than the limit, in bytes.
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// It had not all arrived within the read timeout.
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// The connection failed while it was being read.
    Broken(String),
}

impl warp::reject::Reject for BodyRefused {}

/// The whole body, at most `limit` bytes, read within `timeout` of the handler asking for it.
pub fn bounded(
    limit: u64,
    timeout: Duration,
) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(move |declared: Option<u64>, body| async move {
            if declared.is_some_and(|length| length > limit) {
                return Err(warp::reject::custom(BodyRefused::TooLarge { limit }));
            }
            let capacity = declared.unwrap_or(CHUNKED_CAPACITY);
            tokio::time::timeout(timeout, read(body, limit, capacity))
                .await
                .unwrap_or(Err(BodyRefused::TimedOut { after: timeout }))
                .map_err(warp::reject::custom)
        })
}

/// Reads `body` whole, refusing it at the first chunk that takes it over `limit`.
async fn read<B: Buf>(
    body: impl Stream<Item = Result<B, warp::Error>>,
    limit: u64,
    capacity: u64,
) -> Result<Bytes, BodyRefused> {
    let mut body = std::pin::pin!(body);
    let mut read = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BodyRefused::Broken(e.to_string()))?;
        if (read.len() + chunk.remaining()) as u64 > limit {
            return Err(BodyRefused::TooLarge { limit });
        }
        read.put(chunk);
    }
    Ok(read.freeze())
}
