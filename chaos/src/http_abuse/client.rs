//! One abusive HTTP client connection: what each [`Kind`] writes, and what the server answered
//! ([`Answer`]: a status with or without `Retry-After`, or a connection closed without one).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The scorer's body limit (`aegis_scorer::http::api::MAX_BODY_BYTES`): [`Kind::FullBody`] sends
/// exactly this much, and must be answered 400 (read whole, not JSON) rather than 413.
pub const MAX_BODY: u64 = 4 << 20;

/// How much of an answer is read to find its status and `Retry-After`.
const MAX_ANSWER_HEAD: usize = 16 << 10;
/// How long an answer sent just before the server closed may take to be read once the writing
/// side has failed.
const ANSWER_GRACE: Duration = Duration::from_millis(500);

/// What an abusive client does on each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Sends a request head a line every 300 ms and never ends it (slow loris).
    SlowHead,
    /// Claims a 1 GiB body and sends as fast as it can.
    DeclaredHuge,
    /// Sends a chunked body as fast as it can, without end.
    ChunkedHuge,
    /// Claims a body of exactly the limit (so it is read) and sends 1 KiB every 100 ms.
    SlowBody,
    /// Sends a body of exactly the limit at once: 4 MiB of spaces, no JSON, read whole.
    FullBody,
}

impl Kind {
    /// Every kind; client `i` is of kind `ALL[i % ALL.len()]`.
    pub const ALL: [Kind; 5] = [
        Kind::SlowHead,
        Kind::DeclaredHuge,
        Kind::ChunkedHuge,
        Kind::SlowBody,
        Kind::FullBody,
    ];
}

/// What the server did with one abusive connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Answer {
    /// An HTTP answer with this status, with or without a `Retry-After` header.
    Status {
        /// The status code.
        code: u16,
        /// Whether the answer carried `Retry-After`.
        retry_after: bool,
    },
    /// The server closed the connection without an answer.
    Closed,
    /// The connection was still open when the abuse ended.
    StillOpen,
    /// The connection could not be made.
    ConnectFailed,
}

impl Answer {
    /// Whether this is a refusal: a 400, 408 or 413, a 503 with `Retry-After`, or no answer at
    /// all. Anything else (a verdict, another 4xx or 5xx, a 503 that does not say when to retry)
    /// is not.
    pub fn is_refusal(self) -> bool {
        match self {
            Answer::Status {
                code: 400 | 408 | 413,
                ..
            } => true,
            Answer::Status {
                code: 503,
                retry_after,
            } => retry_after,
            Answer::Status { .. } => false,
            Answer::Closed | Answer::StillOpen | Answer::ConnectFailed => true,
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Status {
                code: 503,
                retry_after: false,
            } => f.write_str("503 without Retry-After"),
            Answer::Status { code, .. } => write!(f, "{code}"),
            Answer::Closed => f.write_str("closed"),
            Answer::StillOpen => f.write_str("still open at the end"),
            Answer::ConnectFailed => f.write_str("connect failed"),
        }
    }
}

/// 64 KiB of spaces: valid JSON whitespace, and a chunk.
static SPACES: [u8; 64 << 10] = [b' '; 64 << 10];

/// One connection's worth of abuse of kind `kind` against `addr`, and what the server answered.
pub async fn abuse_once(addr: SocketAddr, kind: Kind) -> Answer {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return Answer::ConnectFailed;
    };
    let (reader, writer) = stream.into_split();
    let writing = write(writer, kind);
    let reading = read_answer(reader);
    tokio::pin!(writing);
    tokio::pin!(reading);
    tokio::select! {
        answer = &mut reading => answer,
        // The writer fails once the server has closed: what it answered before, if anything, is
        // read with a little grace.
        _ = &mut writing => tokio::time::timeout(ANSWER_GRACE, &mut reading)
            .await
            .unwrap_or(Answer::Closed),
    }
}

/// What `kind` writes on a connection, until the server stops taking it (the error).
async fn write(mut writer: OwnedWriteHalf, kind: Kind) -> std::io::Result<()> {
    let head = |extra: &str| format!("POST /v1/score HTTP/1.1\r\nhost: x\r\n{extra}");
    match kind {
        Kind::SlowHead => {
            writer.write_all(head("").as_bytes()).await?;
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                writer.write_all(b"x-slow: 1\r\n").await?;
            }
        }
        Kind::DeclaredHuge => {
            writer
                .write_all(head("content-length: 1073741824\r\n\r\n").as_bytes())
                .await?;
            loop {
                writer.write_all(&SPACES).await?;
            }
        }
        Kind::ChunkedHuge => {
            writer
                .write_all(head("transfer-encoding: chunked\r\n\r\n").as_bytes())
                .await?;
            loop {
                writer.write_all(b"10000\r\n").await?;
                writer.write_all(&SPACES).await?;
                writer.write_all(b"\r\n").await?;
            }
        }
        Kind::SlowBody => {
            let claimed = format!("content-length: {MAX_BODY}\r\n\r\n");
            writer.write_all(head(&claimed).as_bytes()).await?;
            loop {
                writer.write_all(&SPACES[..1024]).await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Kind::FullBody => {
            let claimed = format!("content-length: {MAX_BODY}\r\n\r\n");
            writer.write_all(head(&claimed).as_bytes()).await?;
            for _ in 0..MAX_BODY / SPACES.len() as u64 {
                writer.write_all(&SPACES).await?;
            }
            // Then wait for the answer (read on the other half).
            std::future::pending().await
        }
    }
}

/// Reads the answer's head (bounded) and parses its status and `Retry-After`.
async fn read_answer(mut reader: OwnedReadHalf) -> Answer {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while head.len() < MAX_ANSWER_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    parse_answer(&head)
}

/// The status and `Retry-After` of an answer's head; [`Answer::Closed`] if there is no status.
fn parse_answer(head: &[u8]) -> Answer {
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let code = lines
        .next()
        .and_then(|status| status.split(' ').nth(1))
        .and_then(|code| code.parse().ok());
    let Some(code) = code else {
        return Answer::Closed;
    };
    let retry_after = lines
        .take_while(|line| !line.is_empty())
        .any(|line| line.to_ascii_lowercase().starts_with("retry-after:"));
    Answer::Status { code, retry_after }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_from_their_head() {
        let full =
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(
            parse_answer(full),
            Answer::Status {
                code: 503,
                retry_after: true
            }
        );
        assert_eq!(
            parse_answer(b"HTTP/1.1 413 Payload Too Large\r\n\r\nretry-after: 1"),
            Answer::Status {
                code: 413,
                retry_after: false
            }
        );
        assert_eq!(parse_answer(b""), Answer::Closed);
        assert_eq!(parse_answer(b"HTTP/1.1"), Answer::Closed);
    }

    #[test]
    fn only_refusals_are_refusals() {
        let status = |code, retry_after| Answer::Status { code, retry_after };
        for refusal in [
            status(400, false),
            status(408, false),
            status(413, false),
            status(503, true),
            Answer::Closed,
            Answer::StillOpen,
            Answer::ConnectFailed,
        ] {
            assert!(refusal.is_refusal(), "{refusal}");
        }
        for answer in [
            status(200, false),
            status(404, false),
            status(500, false),
            status(503, false),
        ] {
            assert!(!answer.is_refusal(), "{answer}");
        }
    }
}
