//! Who may read what. With `--api-token-file`, the routes that score or show data (`POST
//! /v1/score`, `GET /api/live`, `GET /v1/model`) need `Authorization: Bearer <token>`; the probes,
//! the metrics, the pages and the API document stay open. Tokens are compared in constant time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::http::HeaderMap;
use warp::{Filter, Rejection};

/// Fewest characters a token may have: 16 random characters of a base64 alphabet are 96 bits.
pub const MIN_TOKEN_CHARS: usize = 16;

/// A mistake in `--api-token-file`; the message names the file (and line), never a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("--api-token-file {path}: cannot read it ({source})")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no token.
    #[error("--api-token-file {path}: holds no token; write one per line (for example the output of `openssl rand -hex 32`)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A token is too short to be secret.
    #[error("--api-token-file {path} line {line}: a token of {chars} characters is too easy to guess; use at least {MIN_TOKEN_CHARS} (for example `openssl rand -hex 32`)")]
    TooShort {
        /// The file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// The token's length.
        chars: usize,
    },
    /// A token holds a character a bearer token cannot carry (RFC 6750).
    #[error("--api-token-file {path} line {line}: a bearer token is made of letters, digits and -._~+/ (then = padding) only")]
    NotAToken {
        /// The file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
    },
}

/// The accepted tokens, kept as SHA-256 digests: comparing digests in constant time takes as long
/// whatever the presented token's length or content.
pub struct Tokens {
    digests: Vec<[u8; 32]>,
}

impl Tokens {
    /// Reads `path`: one token a line; blank lines and lines starting with `#` are skipped.
    pub fn load(path: &Path) -> Result<Tokens, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        let mut digests = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let token = line.trim();
            if token.is_empty() || token.starts_with('#') {
                continue;
            }
            let (path, line) = (path.to_owned(), i + 1);
            if !is_token68(token) {
                return Err(TokenFileError::NotAToken { path, line });
            }
            let chars = token.chars().count();
            if chars < MIN_TOKEN_CHARS {
                return Err(TokenFileError::TooShort { path, line, chars });
            }
            digests.push(digest(token));
        }
        if digests.is_empty() {
            return Err(TokenFileError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Tokens { digests })
    }

    /// Whether `presented` is one of the tokens. Every token is compared, each in constant time.
    pub fn admit(&self, presented: &str) -> bool {
        let presented = digest(presented);
        let found = self
            .digests
            .iter()
            .fold(subtle::Choice::from(0), |found, token| {
                found | token.ct_eq(&presented)
            });
        found.into()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// RFC 6750's `b64token`: `[A-Za-z0-9-._~+/]+ =*`.
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// What the server lets through: tokens (none: open) and whether account ids are shown whole.
#[derive(Clone, Default)]
pub struct Access {
    /// Tokens that open the protected routes; `None` leaves them open.
    pub tokens: Option<Arc<Tokens>>,
    /// Account ids on the live page whole (`--live-show-ids`) rather than masked.
    pub show_ids: bool,
}

impl Access {
    /// Whether a request with these headers may use a protected route.
    fn admit(&self, headers: &HeaderMap) -> Result<(), Unauthorized> {
        let Some(tokens) = &self.tokens else {
            return Ok(());
        };
        let Some(value) = headers.get(warp::http::header::AUTHORIZATION) else {
            return Err(Unauthorized { presented: false });
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        match token {
            Some(token) if tokens.admit(token) => Ok(()),
            _ => Err(Unauthorized { presented: true }),
        }
    }
}

/// A protected route asked without a token (`presented` false) or with a wrong one.
#[derive(Debug)]
pub struct Unauthorized {
    /// Whether an `Authorization` header came at all.
    pub presented: bool,
}

impl warp::reject::Reject for Unauthorized {}

impl Unauthorized {
    /// The `WWW-Authenticate` header of the 401 (RFC 6750 §3).
    pub fn challenge(&self) -> &'static str {
        if self.presented {
            r#"Bearer realm="aegis", error="invalid_token""#
        } else {
            r#"Bearer realm="aegis""#
        }
    }
}

/// Passes requests `access` admits; rejects others with [`Unauthorized`] before their body is read.
pub fn authorized(access: Access) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and_then(move |headers: HeaderMap| {
            let admitted = access.admit(&headers).map_err(warp::reject::custom);
            std::future::ready(admitted)
        })
        .untuple_one()
}

/// An account id as the live page shows it without `--live-show-ids`: its last four characters
/// (at most half of it) after an ellipsis.
pub fn mask_account(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let shown = (chars.len() / 2).min(4);
    let tail: String = chars[chars.len() - shown..].iter().collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Result<Tokens, TokenFileError> {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), text).expect("written");
        Tokens::load(file.path())
    }

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert("authorization", value.parse().expect("a header value"));
        }
        headers
    }

    #[test]
    fn tokens_are_read_one_a_line_and_any_of_them_admits() {
        let t = tokens(
            "# rotation: new then old\n  0123456789abcdef0123  \n\nold-token-ABCDEFGHIJ==\n",
        )
        .expect("valid");
        assert!(t.admit("0123456789abcdef0123"));
        assert!(t.admit("old-token-ABCDEFGHIJ=="));
        assert!(!t.admit("0123456789abcdef012"));
        assert!(!t.admit(""));
        assert!(!t.admit("# rotation: new then old"));
    }

    #[test]
    fn bad_token_files_name_the_file_and_line_but_never_the_token() {
        let short = tokens("sixteen-chars-ok\nshort-secret\n")
            .err()
            .expect("refused");
        assert!(matches!(
            short,
            TokenFileError::TooShort {
                line: 2,
                chars: 12,
                ..
            }
        ));
        assert!(!short.to_string().contains("short-secret"), "{short}");
        let spaced = tokens("a token with spaces in it\n")
            .err()
            .expect("refused");
        assert!(
            matches!(spaced, TokenFileError::NotAToken { line: 1, .. }),
            "{spaced}"
        );
        assert!(matches!(
            tokens("# nothing\n\n").err(),
            Some(TokenFileError::Empty { .. })
        ));
        let missing = Tokens::load(Path::new("/nonexistent/tokens"))
            .err()
            .expect("refused");
        assert!(missing
            .to_string()
            .starts_with("--api-token-file /nonexistent/tokens: cannot read it"));
    }

    #[test]
    fn a_bearer_header_with_a_listed_token_is_admitted_and_nothing_else() {
        let access = Access {
            tokens: Some(Arc::new(tokens("0123456789abcdef0123\n").expect("valid"))),
            show_ids: false,
        };
        assert!(access
            .admit(&headers(Some("Bearer 0123456789abcdef0123")))
            .is_ok());
        assert!(access
            .admit(&headers(Some("bearer 0123456789abcdef0123")))
            .is_ok());
        for (header, presented) in [
            (None, false),
            (Some("Bearer 0123456789abcdef0124"), true),
            (Some("Basic 0123456789abcdef0123"), true),
            (Some("0123456789abcdef0123"), true),
            (Some("Bearer"), true),
        ] {
            let refused = access.admit(&headers(header)).expect_err("refused");
            assert_eq!(refused.presented, presented, "{header:?}");
        }
        assert!(
            Access::default().admit(&headers(None)).is_ok(),
            "no tokens: open"
        );
    }

    #[test]
    fn masked_accounts_keep_at_most_four_characters_and_half() {
        assert_eq!(mask_account("C1305486145"), "…6145");
        assert_eq!(mask_account("C12345"), "…345");
        assert_eq!(mask_account("C9"), "…9");
        assert_eq!(mask_account("C"), "…");
        assert_eq!(mask_account(""), "…");
        assert_eq!(mask_account("Zürich-Ω-конто"), "…онто");
    }
}
