//! Bearer-token authentication.
//!
//! Tokens are kept as SHA-256 digests and the presented token's digest is
//! compared with every one of them without early exit, so the time taken
//! tells nothing about how much of a token was right (nor its length).

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// The accepted tokens, as digests.
#[derive(Debug, Clone)]
pub struct Tokens(Vec<[u8; 32]>);

impl Tokens {
    /// Accept exactly `tokens` (none: every request is refused).
    pub fn new(tokens: &[String]) -> Tokens {
        Tokens(tokens.iter().map(|t| digest(t.as_bytes())).collect())
    }

    /// True when `presented` is one of the tokens (constant time in the
    /// token's content).
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let d = digest(presented);
        let mut any = 0u8;
        for t in &self.0 {
            let diff = t.iter().zip(&d).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            any |= u8::from(diff == 0);
        }
        any == 1
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Middleware: pass the request on when it carries
/// `Authorization: Bearer <token>` with an accepted token, else 401.
pub async fn require_token(State(tokens): State<Tokens>, req: Request, next: Next) -> Response {
    let mut given = req.headers().get_all(header::AUTHORIZATION).iter();
    let Some(value) = given.next() else {
        return ApiError::unauthorized("missing Authorization: Bearer <token> header")
            .into_response();
    };
    // Which of two would count is up to whoever reads them: neither.
    if given.next().is_some() {
        return ApiError {
            status: axum::http::StatusCode::BAD_REQUEST,
            field: Some("Authorization".into()),
            message: "the Authorization header is given more than once".into(),
        }
        .into_response();
    }
    let bytes = value.as_bytes();
    let token = match bytes.split_first_chunk::<7>() {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case(b"bearer ") => rest.trim_ascii(),
        _ => {
            return ApiError::unauthorized("the Authorization header must be Bearer <token>")
                .into_response()
        }
    };
    if !tokens.accepts(token) {
        return ApiError::unauthorized("invalid token").into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_tokens() {
        let t = Tokens::new(&["s3cret".into(), "other-token".into()]);
        assert!(t.accepts(b"s3cret"));
        assert!(t.accepts(b"other-token"));
        assert!(!t.accepts(b"s3cre"));
        assert!(!t.accepts(b"s3cret "));
        assert!(!t.accepts(b""));
        assert!(!Tokens::new(&[]).accepts(b""));
    }
}
