//! An incremental Server-Sent Events parser for stream decoders.
//!
//! Chunks may split lines, `\r\n` pairs and UTF-8 sequences anywhere; the parser keeps
//! only the unfinished line between calls and hands each complete event to a callback
//! as borrowed strings, so a decoder that ignores most events allocates nothing for them.
//! Lines end with `\n`, `\r\n` or a lone `\r`; lines starting with `:` are comments.

/// One dispatched event. `event` is empty when the stream named none (spec: `message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, or `""`.
    pub event: &'a str,
    /// The `data:` lines joined with `\n`.
    pub data: &'a str,
    /// The `id:` field, or `""`.
    pub id: &'a str,
}

/// Incremental SSE parser; see the module docs.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a leading `\n` belongs to it.
    skip_lf: bool,
    event: String,
    data: String,
    id: String,
    /// At least one `data:` line is pending.
    has_data: bool,
    /// Any field of the current event was seen (to report an unterminated event).
    in_event: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feed the next bytes; `on_event` is called for every event they complete, in order.
    /// An error returned by `on_event` stops parsing and is returned (the rest of the
    /// chunk is dropped).
    pub fn feed<E>(
        &mut self,
        chunk: &[u8],
        mut on_event: impl FnMut(SseEvent<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut rest = chunk;
        if self.skip_lf && !rest.is_empty() {
            self.skip_lf = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.line.extend_from_slice(rest);
                    break;
                }
                Some(i) => {
                    let term = rest[i];
                    let after = &rest[i + 1..];
                    let next = if term == b'\r' {
                        match after.first() {
                            Some(b'\n') => &after[1..],
                            Some(_) => after,
                            None => {
                                self.skip_lf = true;
                                after
                            }
                        }
                    } else {
                        after
                    };
                    if self.line.is_empty() {
                        self.process_line(&rest[..i], &mut on_event)?;
                    } else {
                        self.line.extend_from_slice(&rest[..i]);
                        let line = core::mem::take(&mut self.line);
                        let r = self.process_line(&line, &mut on_event);
                        self.line = line;
                        self.line.clear();
                        r?;
                    }
                    rest = next;
                }
            }
        }
        Ok(())
    }

    /// The stream ended. A final line without its terminator is processed and a pending
    /// event is dispatched. Returns `true` if the stream ended cleanly (no unfinished
    /// line or event was pending).
    pub fn finish<E>(
        &mut self,
        mut on_event: impl FnMut(SseEvent<'_>) -> Result<(), E>,
    ) -> Result<bool, E> {
        let mut clean = true;
        if !self.line.is_empty() {
            clean = false;
            let line = core::mem::take(&mut self.line);
            self.process_line(&line, &mut on_event)?;
        }
        if self.in_event {
            clean = false;
            self.process_line(b"", &mut on_event)?;
        }
        Ok(clean)
    }

    fn process_line<E>(
        &mut self,
        line: &[u8],
        on_event: &mut impl FnMut(SseEvent<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if line.is_empty() {
            let had = self.has_data;
            self.has_data = false;
            self.in_event = false;
            let r = if had {
                on_event(SseEvent {
                    event: &self.event,
                    data: &self.data,
                    id: &self.id,
                })
            } else {
                Ok(())
            };
            self.event.clear();
            self.data.clear();
            return r;
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
                self.in_event = true;
            }
            b"event" => {
                self.event.clear();
                self.event.push_str(&value);
                self.in_event = true;
            }
            b"id" => {
                self.id.clear();
                self.id.push_str(&value);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Append one SSE event (`event:` line if named, `data:` lines, blank line) to `out`.
pub fn write_event(out: &mut Vec<u8>, event: &str, data: &str) {
    if !event.is_empty() {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn collect(parser: &mut SseParser, chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for c in chunks {
            parser
                .feed::<()>(c, |e| {
                    out.push((e.event.to_string(), e.data.to_string()));
                    Ok(())
                })
                .unwrap();
        }
        out
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let stream = "event: a\r\ndata: {\"t\":\"héllo ✓\"}\r\n\r\n: comment\nevent: b\ndata: x\ndata: y\n\n\rdata: z\r\r"
            .as_bytes();
        let want = vec![
            ("a".to_string(), "{\"t\":\"héllo ✓\"}".to_string()),
            ("b".to_string(), "x\ny".to_string()),
            ("".to_string(), "z".to_string()),
        ];
        for i in 0..=stream.len() {
            for j in i..=stream.len() {
                let mut p = SseParser::new();
                let got = collect(&mut p, &[&stream[..i], &stream[i..j], &stream[j..]]);
                assert_eq!(got, want, "split at {i},{j}");
                assert!(p.finish::<()>(|_| Ok(())).unwrap());
            }
        }
    }

    #[test]
    fn unterminated_event_is_reported() {
        let mut p = SseParser::new();
        let got = collect(&mut p, &[b"event: x\ndata: 1"]);
        assert!(got.is_empty());
        let mut last = None;
        let clean = p
            .finish::<()>(|e| {
                last = Some(e.data.to_string());
                Ok(())
            })
            .unwrap();
        assert!(!clean);
        assert_eq!(last.as_deref(), Some("1"));
    }
}
