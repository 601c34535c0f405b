//! Mithril's error bodies.
//!
//! FastAPI answers 422 with `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}` and other
//! errors with `{"detail": "..."}`. Anything else (a proxy's HTML page, an empty body) is kept as
//! a short excerpt so the error still says what came back.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest body excerpt kept in an error.
const EXCERPT_CHARS: usize = 300;

/// One FastAPI validation failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationIssue {
    /// Where the problem is, e.g. `["body", "limit_price"]` or `["query", "limit"]`.
    pub loc: Vec<LocSegment>,
    /// Human-readable message.
    pub msg: String,
    /// Machine-readable error type, e.g. `missing`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A `loc` element: a field name or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LocSegment {
    Field(String),
    Index(i64),
}

impl fmt::Display for LocSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocSegment::Field(name) => f.write_str(name),
            LocSegment::Index(index) => write!(f, "{index}"),
        }
    }
}

impl fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.loc.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{segment}")?;
        }
        write!(f, ": {} ({})", self.msg, self.kind)
    }
}

/// What Mithril said about a failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorDetail {
    /// `{"detail": "..."}`.
    Message(String),
    /// `{"detail": [ ... ]}` (422).
    Validation(Vec<ValidationIssue>),
    /// A body in neither shape, truncated.
    Raw(String),
    /// No body.
    Empty,
}

impl ErrorDetail {
    /// Reads an error body.
    pub fn from_body(body: &[u8]) -> Self {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Detail {
            Message(String),
            Validation(Vec<ValidationIssue>),
        }
        #[derive(Deserialize)]
        struct Body {
            detail: Detail,
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return ErrorDetail::Empty;
        }
        match serde_json::from_slice::<Body>(body) {
            Ok(Body {
                detail: Detail::Message(message),
            }) => ErrorDetail::Message(message),
            Ok(Body {
                detail: Detail::Validation(issues),
            }) => ErrorDetail::Validation(issues),
            Err(_) => ErrorDetail::Raw(excerpt(body)),
        }
    }

    /// The validation issues of a 422, empty otherwise.
    pub fn validation_issues(&self) -> &[ValidationIssue] {
        match self {
            ErrorDetail::Validation(issues) => issues,
            _ => &[],
        }
    }
}

impl fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorDetail::Message(message) => f.write_str(message),
            ErrorDetail::Validation(issues) => {
                for (i, issue) in issues.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{issue}")?;
                }
                Ok(())
            }
            ErrorDetail::Raw(text) => write!(f, "unexpected body {text:?}"),
            ErrorDetail::Empty => f.write_str("no detail given"),
        }
    }
}

/// A short, lossless-enough excerpt of a body for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fastapi_validation_errors() {
        let body = br#"{"detail":[{"loc":["body","limit_price"],"msg":"Field required","type":"missing"},{"loc":["body","volumes",2],"msg":"bad","type":"value_error"}]}"#;
        let detail = ErrorDetail::from_body(body);
        assert_eq!(detail.validation_issues().len(), 2);
        assert_eq!(
            detail.to_string(),
            "body.limit_price: Field required (missing); body.volumes.2: bad (value_error)"
        );
    }

    #[test]
    fn reads_message_errors() {
        let detail = ErrorDetail::from_body(br#"{"detail":"Bid not found"}"#);
        assert_eq!(detail, ErrorDetail::Message("Bid not found".into()));
    }

    #[test]
    fn keeps_an_excerpt_of_anything_else() {
        assert_eq!(ErrorDetail::from_body(b"  "), ErrorDetail::Empty);
        assert_eq!(
            ErrorDetail::from_body(b"<html>Bad Gateway</html>"),
            ErrorDetail::Raw("<html>Bad Gateway</html>".into())
        );
        let long = "x".repeat(1000);
        match ErrorDetail::from_body(long.as_bytes()) {
            ErrorDetail::Raw(text) => assert_eq!(text.chars().count(), EXCERPT_CHARS + 1),
            other => panic!("{other:?}"),
        }
    }
}
