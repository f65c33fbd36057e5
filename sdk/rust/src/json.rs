//! JSON helpers: a byte-level scanner that finds a top-level string value without
//! parsing the document (for byte-exact edits such as a model rename), and small
//! utilities for error messages.

use core::ops::Range;

/// Why [`top_level_string`] could not scan a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    /// Byte offset where scanning failed.
    pub offset: usize,
    /// What was wrong.
    pub message: &'static str,
}

impl core::fmt::Display for ScanError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.message)
    }
}

/// Where a top-level key's value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The key is absent.
    Missing,
    /// The value is a string; the range covers it including its quotes.
    String(Range<usize>),
    /// The value is not a string; the range covers it.
    Other(Range<usize>),
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn err(&self, message: &'static str) -> ScanError {
        ScanError {
            offset: self.i,
            message,
        }
    }
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }
    /// At a `"`: skip the string; returns whether it contained escapes.
    fn string(&mut self) -> Result<bool, ScanError> {
        self.i += 1;
        let mut escaped = false;
        loop {
            match self.b.get(self.i) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.i += 2;
                }
                Some(_) => self.i += 1,
            }
        }
    }
    /// Skip any value.
    fn value(&mut self) -> Result<(), ScanError> {
        self.ws();
        match self.b.get(self.i) {
            None => Err(self.err("expected a value")),
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') | Some(b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.b.get(self.i) {
                        None => return Err(self.err("unterminated object or array")),
                        Some(b'"') => {
                            self.string()?;
                            continue;
                        }
                        Some(b'{') | Some(b'[') => depth += 1,
                        Some(b'}') | Some(b']') => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        Some(_) => {}
                    }
                    self.i += 1;
                }
            }
            Some(_) => {
                let start = self.i;
                while let Some(&c) = self.b.get(self.i) {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == start {
                    Err(self.err("expected a value"))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Find the value of top-level key `key` in the JSON object `body` without parsing it.
/// Escaped keys are compared after unescaping. If a key repeats, the last one wins (as
/// serde_json does). Errors if `body` is not an object or is malformed along the way.
pub fn top_level_value(body: &[u8], key: &str) -> Result<Found, ScanError> {
    let mut s = Scanner { b: body, i: 0 };
    // Skip a UTF-8 BOM.
    if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
        s.i = 3;
    }
    s.ws();
    if s.b.get(s.i) != Some(&b'{') {
        return Err(s.err("expected a JSON object"));
    }
    s.i += 1;
    let mut found = Found::Missing;
    s.ws();
    if s.b.get(s.i) == Some(&b'}') {
        return Ok(found);
    }
    loop {
        s.ws();
        if s.b.get(s.i) != Some(&b'"') {
            return Err(s.err("expected an object key"));
        }
        let kstart = s.i;
        let escaped = s.string()?;
        let raw = &body[kstart + 1..s.i - 1];
        let matches = if escaped {
            serde_json::from_slice::<String>(&body[kstart..s.i]).is_ok_and(|k| k == key)
        } else {
            raw == key.as_bytes()
        };
        s.ws();
        if s.b.get(s.i) != Some(&b':') {
            return Err(s.err("expected ':'"));
        }
        s.i += 1;
        s.ws();
        let vstart = s.i;
        let is_string = s.b.get(s.i) == Some(&b'"');
        s.value()?;
        if matches {
            found = if is_string {
                Found::String(vstart..s.i)
            } else {
                Found::Other(vstart..s.i)
            };
        }
        s.ws();
        match s.b.get(s.i) {
            Some(b',') => s.i += 1,
            Some(b'}') => return Ok(found),
            _ => return Err(s.err("expected ',' or '}'")),
        }
    }
}

/// Replace bytes `range` of `body` with `replacement`, leaving every other byte as is.
pub fn splice(body: &[u8], range: Range<usize>, replacement: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + replacement.len());
    out.extend_from_slice(&body[..range.start]);
    out.extend_from_slice(replacement);
    out.extend_from_slice(&body[range.end..]);
    out
}

/// `s` as a JSON string literal, quotes included.
pub fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// An optional string field taken out of a parsed body (`key` and `path` name it in
/// the error): the string is moved, not copied; `null` is absent; another type is an
/// invalid-request error.
pub fn owned_str(
    v: Option<serde_json::Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, crate::error::ApiError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(crate::error::ApiError::invalid_request(format!(
            "{path}.{key}: expected string, got {}",
            type_name(&v)
        ))),
    }
}

/// The JSON type name of a value, for error messages ("expected string, got number").
pub fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// A short, printable prefix of a body for error messages (at most `max` bytes,
/// cut on a char boundary).
pub fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(max)]);
    let mut s: String = text.trim().chars().filter(|c| !c.is_control()).collect();
    if body.len() > max {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_top_level_model_only() {
        let body = br#" { "messages": [{"model": "inner", "x": "a\"}"}], "m\u006fdel" : "claude-x" , "z": {"model": 1} }"#;
        let Found::String(r) = top_level_value(body, "model").unwrap() else {
            panic!("not found")
        };
        assert_eq!(&body[r.clone()], br#""claude-x""#);
        let out = splice(body, r, quote("new").as_bytes());
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#" { "messages": [{"model": "inner", "x": "a\"}"}], "m\u006fdel" : "new" , "z": {"model": 1} }"#
        );
    }

    #[test]
    fn missing_and_non_string() {
        assert_eq!(top_level_value(b"{}", "model").unwrap(), Found::Missing);
        assert_eq!(
            top_level_value(br#"{"model": 12}"#, "model").unwrap(),
            Found::Other(10..12)
        );
        assert!(top_level_value(b"[1]", "model").is_err());
        assert!(top_level_value(br#"{"model": "x"#, "model").is_err());
    }
}
