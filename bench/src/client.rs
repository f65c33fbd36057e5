//! A lean HTTP/1.1 client: one keep-alive connection per worker (hyper's connection
//! API, no pool), TCP_NODELAY, and per-request timing with `Instant`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::body::Dialect;

/// Where requests go: a loopback `host:port` (this tool refuses anything else).
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
}

impl Target {
    /// Parses `http://127.0.0.1:PORT` (a path, if any, is ignored).
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let uri: http::Uri = url
            .parse()
            .with_context(|| format!("`{url}` is not a URL"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "`{url}`: only http:// is supported"
        );
        let host = uri
            .host()
            .with_context(|| format!("`{url}` has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let ip: IpAddr = if host == "localhost" {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse()
                .with_context(|| format!("`{url}`: host must be a loopback IP address"))?
        };
        anyhow::ensure!(
            ip.is_loopback(),
            "`{url}`: benchmarks only send traffic to loopback addresses"
        );
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            host: format!("{host}:{port}"),
        })
    }
}

/// What to send, built once and cloned cheaply per request.
#[derive(Debug, Clone)]
pub struct Spec {
    pub path: String,
    pub body: Bytes,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub stream: bool,
}

impl Spec {
    /// A `POST /v1/messages` with the headers an Anthropic client sends, plus
    /// mock control headers (`x-mock-*`).
    pub fn messages(body: Bytes, stream: bool, mock_headers: &[(&str, String)]) -> Spec {
        let mut headers = vec![
            (
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                HeaderName::from_static("x-api-key"),
                HeaderValue::from_static("sk-ant-bench"),
            ),
            (
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static("2023-06-01"),
            ),
        ];
        for (name, value) in mock_headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(*name),
                HeaderValue::try_from(value.as_str()),
            ) {
                headers.push((n, v));
            }
        }
        Spec {
            path: "/v1/messages".to_owned(),
            body,
            headers,
            stream,
        }
    }

    /// A `POST` in `dialect` with the headers its clients send (Anthropic:
    /// `x-api-key` and `anthropic-version`; OpenAI: a bearer key), plus mock control
    /// headers.
    pub fn for_dialect(
        dialect: Dialect,
        body: Bytes,
        stream: bool,
        mock_headers: &[(&str, String)],
    ) -> Spec {
        let mut spec = Spec::messages(body, stream, mock_headers);
        spec.path = dialect.path().to_owned();
        if dialect != Dialect::Anthropic {
            spec.headers
                .retain(|(n, _)| n.as_str() != "x-api-key" && n.as_str() != "anthropic-version");
            spec.headers.push((
                http::header::AUTHORIZATION,
                HeaderValue::from_static("Bearer sk-bench"),
            ));
        }
        spec
    }

    fn request(&self, host: &str) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut builder = Request::post(self.path.as_str()).header(http::header::HOST, host);
        for (n, v) in &self.headers {
            builder = builder.header(n, v);
        }
        builder
            .body(Full::new(self.body.clone()))
            .context("building the request")
    }
}

/// The timing of one streamed answer.
#[derive(Debug, Clone, Default)]
pub struct StreamTiming {
    /// Request start to the arrival of the first `content_block_delta` event.
    pub ttft: Duration,
    /// How many `content_block_delta` events arrived.
    pub deltas: usize,
    /// Mean gap between consecutive delta arrivals (zero with fewer than two).
    pub mean_gap: Duration,
    /// For stamped streams (`x-mock-stamp`): each delta's one-way delivery time in ns,
    /// from the mock handing it to its socket to this client reading it.
    pub delivery_ns: Vec<i64>,
}

/// The timing of one request.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Request start to the response head.
    pub head: Duration,
    /// Request start to the end of the body.
    pub total: Duration,
    pub body_bytes: usize,
    pub stream: Option<StreamTiming>,
}

/// One keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    pub async fn connect(target: &Target) -> anyhow::Result<Conn> {
        let tcp = tokio::net::TcpStream::connect(target.addr)
            .await
            .with_context(|| format!("connecting to {}", target.addr))?;
        tcp.set_nodelay(true).context("TCP_NODELAY")?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            // The connection ends when the sender is dropped.
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            host: target.host.clone(),
        })
    }

    /// Sends one request and reads the whole answer. With `analyze`, a stream's
    /// events are located and timed (after the clock stops).
    pub async fn send(&mut self, spec: &Spec, analyze: bool) -> anyhow::Result<Outcome> {
        self.sender
            .ready()
            .await
            .context("connection closed by the server")?;
        let request = spec.request(&self.host)?;
        let start = Instant::now();
        let start_wall = SystemTime::now();
        let response = self
            .sender
            .send_request(request)
            .await
            .context("sending the request")?;
        let head = start.elapsed();
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let mut text = Vec::new();
            while let Some(frame) = body.frame().await {
                if let Some(d) = frame.context("reading the error body")?.data_ref() {
                    text.extend_from_slice(d);
                }
            }
            anyhow::bail!(
                "server answered {status}: {}",
                String::from_utf8_lossy(&text[..text.len().min(400)])
            );
        }
        if !spec.stream || !analyze {
            let mut n = 0;
            while let Some(frame) = body.frame().await {
                if let Some(d) = frame.context("reading the body")?.data_ref() {
                    n += d.len();
                }
            }
            let total = start.elapsed();
            anyhow::ensure!(n > 0, "empty response body");
            return Ok(Outcome {
                head,
                total,
                body_bytes: n,
                stream: None,
            });
        }
        // Streaming: keep every byte and when each frame arrived (ns from start).
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut frames: Vec<(u64, usize)> = Vec::with_capacity(64);
        while let Some(frame) = body.frame().await {
            if let Some(d) = frame.context("reading the stream")?.data_ref() {
                let at = nanos(start.elapsed());
                buf.extend_from_slice(d);
                frames.push((at, buf.len()));
            }
        }
        let total = start.elapsed();
        let stream = analyze_stream(&buf, &frames, start_wall);
        anyhow::ensure!(stream.deltas > 0, "stream had no content delta event");
        Ok(Outcome {
            head,
            total,
            body_bytes: buf.len(),
            stream: Some(stream),
        })
    }
}

/// A whole answer, for checking it (not timed).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: http::StatusCode,
    pub content_type: String,
    pub body: Bytes,
}

impl Conn {
    /// Sends one request and returns the answer as it is, whatever its status.
    pub async fn fetch(&mut self, spec: &Spec) -> anyhow::Result<Fetched> {
        self.sender
            .ready()
            .await
            .context("connection closed by the server")?;
        let request = spec.request(&self.host)?;
        let response = self
            .sender
            .send_request(request)
            .await
            .context("sending the request")?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading the body")?
            .to_bytes();
        Ok(Fetched {
            status,
            content_type,
            body,
        })
    }
}

pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        if &haystack[i..i + needle.len()] == needle {
            out.push(i);
            i += needle.len();
        } else {
            i += 1;
        }
    }
    out
}

/// What marks a content delta event, in each dialect's stream: Anthropic's
/// `content_block_delta`, Responses' `response.output_text.delta`, and a Chat
/// Completions chunk whose delta starts with `content` (the role chunk starts with
/// `role`; the mock's bench chunks are written this way).
const DELTA_MARKERS: &[&[u8]] = &[
    b"event: content_block_delta\n",
    b"event: response.output_text.delta\n",
    b"\"delta\":{\"content\":\"",
];

/// Locates the delta events in a received stream and times them by the frame in
/// which each event's last byte arrived.
fn analyze_stream(buf: &[u8], frames: &[(u64, usize)], start_wall: SystemTime) -> StreamTiming {
    const STAMP: &[u8] = b"\"text\":\"t";
    let start_wall_ns = start_wall
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0));
    let arrival = |end: usize| -> u64 {
        let i = frames.partition_point(|f| f.1 < end);
        frames.get(i).or(frames.last()).map_or(0, |f| f.0)
    };
    let mut times = Vec::new();
    let mut delivery_ns = Vec::new();
    let mut positions: Vec<usize> = DELTA_MARKERS
        .iter()
        .flat_map(|m| find_all(buf, m))
        .collect();
    positions.sort_unstable();
    for pos in positions {
        // The event ends at the blank line after it.
        let rest = &buf[pos..];
        let end = find_all(rest, b"\n\n")
            .first()
            .map_or(buf.len(), |e| pos + e + 2);
        let at = arrival(end);
        times.push(at);
        let event = &buf[pos..end];
        if let Some(s) = find_all(event, STAMP).first() {
            let digits: Vec<u8> = event[s + STAMP.len()..]
                .iter()
                .copied()
                .take_while(u8::is_ascii_digit)
                .collect();
            if let Some(sent) = std::str::from_utf8(&digits)
                .ok()
                .and_then(|d| d.parse::<i128>().ok())
            {
                let received = start_wall_ns + i128::from(at);
                delivery_ns.push(i64::try_from(received - sent).unwrap_or(i64::MAX));
            }
        }
    }
    let mean_gap = match (times.first(), times.last()) {
        (Some(a), Some(b)) if times.len() > 1 => {
            Duration::from_nanos((b - a) / (times.len() as u64 - 1))
        }
        _ => Duration::ZERO,
    };
    StreamTiming {
        ttft: Duration::from_nanos(times.first().copied().unwrap_or(0)),
        deltas: times.len(),
        mean_gap,
        delivery_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_be_loopback() {
        let t = Target::parse("http://127.0.0.1:8787").expect("loopback");
        assert_eq!(t.addr.port(), 8787);
        assert_eq!(t.host, "127.0.0.1:8787");
        assert!(Target::parse("http://localhost:1/x").is_ok());
        assert!(Target::parse("http://10.0.0.1:80").is_err());
        assert!(Target::parse("https://127.0.0.1:80").is_err());
    }

    #[test]
    fn stream_events_are_timed_by_their_frame() {
        let ev = |t: &str| {
            format!("event: content_block_delta\ndata: {{\"delta\":{{\"text\":\"{t}\"}}}}\n\n")
        };
        let head = "event: message_start\ndata: {}\n\n";
        let a = format!("{head}{}", ev("t1000 "));
        let b = ev("t3000 ");
        let buf = format!("{a}{b}");
        // The second event's last bytes arrive in a later frame.
        let split = a.len() + 10;
        let frames = vec![(500, split), (2500, buf.len())];
        let st = analyze_stream(buf.as_bytes(), &frames, UNIX_EPOCH);
        assert_eq!(st.deltas, 2);
        assert_eq!(st.ttft, Duration::from_nanos(500));
        assert_eq!(st.mean_gap, Duration::from_nanos(2000));
        assert_eq!(st.delivery_ns, vec![500 - 1000, 2500 - 3000]);
    }

    #[test]
    fn deltas_of_every_dialect_are_found() {
        let chat = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
                    data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"}}]}\n\n\
                    data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"}}]}\n\n\
                    data: [DONE]\n\n";
        let responses = "event: response.created\ndata: {}\n\n\
                         event: response.output_text.delta\ndata: {\"delta\":\"tok \"}\n\n\
                         event: response.output_text.done\ndata: {}\n\n";
        for (text, n) in [(chat, 2), (responses, 1)] {
            let frames = vec![(100, text.len())];
            let st = analyze_stream(text.as_bytes(), &frames, UNIX_EPOCH);
            assert_eq!(st.deltas, n, "{text}");
        }
    }
}
