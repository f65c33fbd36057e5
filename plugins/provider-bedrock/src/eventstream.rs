//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`) that
//! ConverseStream answers with: a frame writer and an incremental, CRC-checked reader.
//!
//! A frame is: total length (u32 BE), headers length (u32 BE), CRC32 of those 8 bytes,
//! the headers, the payload, and the CRC32 of everything before it. A header is a
//! 1-byte name length, the name, a 1-byte type and a typed value.

use tollgate_sdk::provider::ApiError;

/// Frames larger than this are refused (the service's own limit is 16 MiB).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Prelude (12 bytes) plus the trailing message CRC (4 bytes).
const OVERHEAD: usize = 16;

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) lookup table.
const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// Continue a CRC-32 over more bytes (start with `0`).
pub fn crc32_update(crc: u32, bytes: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in bytes {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// CRC-32 of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32_update(0, bytes)
}

/// A header value. Only strings are written; the reader keeps strings and skips the
/// other types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    String(String),
    /// Any non-string value (booleans, integers, byte arrays, timestamps, UUIDs).
    Other,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A string header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| match v {
            HeaderValue::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }
}

/// Append one frame with string headers to `out`.
pub fn write_frame(out: &mut Vec<u8>, headers: &[(&str, &str)], payload: &[u8]) {
    let mut hdr = Vec::with_capacity(64);
    for (name, value) in headers {
        // Names are ours (short ASCII); values are bounded by the u16 length.
        let name = &name.as_bytes()[..name.len().min(255)];
        let value = &value.as_bytes()[..value.len().min(usize::from(u16::MAX))];
        hdr.push(name.len() as u8);
        hdr.extend_from_slice(name);
        hdr.push(7);
        hdr.extend_from_slice(&(value.len() as u16).to_be_bytes());
        hdr.extend_from_slice(value);
    }
    let total = (OVERHEAD + hdr.len() + payload.len()) as u32;
    let start = out.len();
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(hdr.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out[start..start + 8]);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(payload);
    let message_crc = crc32(&out[start..]);
    out.extend_from_slice(&message_crc.to_be_bytes());
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn bad(msg: String) -> ApiError {
    ApiError::bad_gateway(format!("upstream event stream: {msg}"))
}

fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, HeaderValue)>, ApiError> {
    let mut out = Vec::new();
    let short = || bad("a header runs past the end of its frame".to_string());
    while !b.is_empty() {
        let n = usize::from(b[0]);
        let name = b.get(1..1 + n).ok_or_else(short)?;
        let name = String::from_utf8_lossy(name).into_owned();
        let ty = *b.get(1 + n).ok_or_else(short)?;
        let rest = &b[2 + n..];
        let (value, used) = match ty {
            0 | 1 => (HeaderValue::Other, 0),
            2 => (HeaderValue::Other, 1),
            3 => (HeaderValue::Other, 2),
            4 => (HeaderValue::Other, 4),
            5 | 8 => (HeaderValue::Other, 8),
            9 => (HeaderValue::Other, 16),
            6 | 7 => {
                let len = rest.get(..2).ok_or_else(short)?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                let v = rest.get(2..2 + len).ok_or_else(short)?;
                let value = if ty == 7 {
                    HeaderValue::String(String::from_utf8_lossy(v).into_owned())
                } else {
                    HeaderValue::Other
                };
                (value, 2 + len)
            }
            t => return Err(bad(format!("header `{name}` has unknown type {t}"))),
        };
        if rest.len() < used {
            return Err(short());
        }
        out.push((name, value));
        b = &rest[used..];
    }
    Ok(out)
}

/// Incremental frame reader: feed bytes split anywhere, take whole frames out.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    pos: usize,
    /// A framing error was seen: the stream cannot be resynchronized.
    failed: bool,
}

impl FrameReader {
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Add bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, `None` when more bytes are needed. CRC mismatches and
    /// impossible lengths are errors, and every later call repeats the failure.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ApiError> {
        if self.failed {
            return Err(bad("the stream was already corrupt".to_string()));
        }
        let r = self.read();
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn read(&mut self) -> Result<Option<Frame>, ApiError> {
        let b = &self.buf[self.pos..];
        if b.len() < 12 {
            return Ok(None);
        }
        let total = be32(&b[0..4]) as usize;
        let headers_len = be32(&b[4..8]) as usize;
        let prelude_crc = be32(&b[8..12]);
        let want = crc32(&b[..8]);
        if prelude_crc != want {
            return Err(bad(format!(
                "prelude CRC mismatch (frame says {prelude_crc:08x}, bytes give {want:08x})"
            )));
        }
        if !(OVERHEAD..=MAX_FRAME).contains(&total) || headers_len > total - OVERHEAD {
            return Err(bad(format!(
                "impossible frame lengths (total {total}, headers {headers_len})"
            )));
        }
        if b.len() < total {
            return Ok(None);
        }
        let frame = &b[..total];
        let message_crc = be32(&frame[total - 4..]);
        let want = crc32(&frame[..total - 4]);
        if message_crc != want {
            return Err(bad(format!(
                "message CRC mismatch (frame says {message_crc:08x}, bytes give {want:08x})"
            )));
        }
        let headers = parse_headers(&frame[12..12 + headers_len])?;
        let payload = frame[12 + headers_len..total - 4].to_vec();
        self.pos += total;
        Ok(Some(Frame { headers, payload }))
    }

    /// Bytes received that do not yet form a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32_update(crc32(b"1234"), b"56789"), 0xCBF4_3926);
    }

    #[test]
    fn the_reference_frame_decodes_and_reencodes() {
        // The one-header frame of the event-stream reference tests
        // (awslabs/aws-c-event-stream, message_deserializer_test.c).
        let mut bytes = vec![
            0x00, 0x00, 0x00, 0x3D, 0x00, 0x00, 0x00, 0x20, 0x07, 0xFD, 0x83, 0x96, 0x0C,
        ];
        bytes.extend_from_slice(b"content-type");
        bytes.extend_from_slice(&[0x07, 0x00, 0x10]);
        bytes.extend_from_slice(b"application/json");
        bytes.extend_from_slice(b"{'foo':'bar'}");
        bytes.extend_from_slice(&[0x8D, 0x9C, 0x08, 0xB1]);
        let mut r = FrameReader::new();
        r.push(&bytes);
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(f.header("content-type"), Some("application/json"));
        assert_eq!(f.payload, b"{'foo':'bar'}");
        assert_eq!(r.pending(), 0);
        let mut again = Vec::new();
        write_frame(
            &mut again,
            &[("content-type", "application/json")],
            b"{'foo':'bar'}",
        );
        assert_eq!(again, bytes);
    }

    #[test]
    fn frames_round_trip_at_every_split() {
        let mut bytes = Vec::new();
        write_frame(
            &mut bytes,
            &[(":event-type", "a"), (":message-type", "event")],
            b"{\"x\":1}",
        );
        write_frame(&mut bytes, &[], b"");
        write_frame(&mut bytes, &[(":event-type", "b")], "héllo".as_bytes());
        for i in 0..=bytes.len() {
            let mut r = FrameReader::new();
            let mut got = Vec::new();
            for part in [&bytes[..i], &bytes[i..]] {
                r.push(part);
                while let Some(f) = r.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got.len(), 3, "split at {i}");
            assert_eq!(got[0].header(":event-type"), Some("a"));
            assert_eq!(got[0].header(":message-type"), Some("event"));
            assert_eq!(got[1].payload, b"");
            assert_eq!(got[2].payload, "héllo".as_bytes());
            assert_eq!(r.pending(), 0);
        }
    }

    #[test]
    fn typed_headers_are_skipped() {
        let mut hdr = Vec::new();
        for (name, ty, value) in [
            ("t", 0u8, vec![]),
            ("b", 2, vec![1]),
            ("i", 4, vec![0, 0, 0, 1]),
            ("u", 9, vec![0; 16]),
            ("bytes", 6, vec![0, 2, 9, 9]),
            ("s", 7, vec![0, 2, b'o', b'k']),
        ] {
            hdr.push(name.len() as u8);
            hdr.extend_from_slice(name.as_bytes());
            hdr.push(ty);
            hdr.extend_from_slice(&value);
        }
        let headers = parse_headers(&hdr).unwrap();
        assert_eq!(headers.len(), 6);
        assert_eq!(
            headers[5],
            ("s".to_string(), HeaderValue::String("ok".into()))
        );
        assert!(parse_headers(&hdr[..hdr.len() - 1]).is_err());
        assert!(parse_headers(&[1, b'x', 42]).is_err());
    }

    #[test]
    fn corruption_is_detected() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &[(":event-type", "a")], b"payload");
        for (at, what) in [
            (2, "prelude CRC"),
            (20, "message CRC"),
            (bytes.len() - 1, "message CRC"),
        ] {
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            let mut r = FrameReader::new();
            r.push(&b);
            let e = r.next_frame().unwrap_err();
            assert_eq!(e.status, 502);
            assert!(e.message.contains(what), "{at}: {}", e.message);
            assert!(r.next_frame().is_err(), "stays failed");
        }
        // A prelude with a valid CRC but an impossible length.
        let mut b = vec![0, 0, 0, 8, 0, 0, 0, 0];
        let crc = crc32(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        let mut r = FrameReader::new();
        r.push(&b);
        assert!(r.next_frame().unwrap_err().message.contains("impossible"));
    }
}
