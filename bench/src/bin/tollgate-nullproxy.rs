//! `tollgate-nullproxy --listen ADDR --upstream URL`: the least a proxy can do, as a
//! reference row for the benchmark. A hyper HTTP/1.1 server that, like the gateway,
//! reads each request body whole, forwards it on a keep-alive upstream connection
//! (one per client connection, TCP_NODELAY both legs) and streams the answer back,
//! with no plugins, routing or records. What it adds over going direct is the cost
//! of the extra hop on this machine; what the gateway adds beyond that is its own.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::Mutex;

use tollgate_bench::client::Target;

type Upstream = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn forward(
    upstream: Arc<Mutex<Upstream>>,
    host: Arc<str>,
    req: Request<Incoming>,
) -> anyhow::Result<Response<Incoming>> {
    let (mut parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .context("reading the request")?
        .to_bytes();
    parts.headers.insert(
        http::header::HOST,
        http::HeaderValue::from_str(&host).context("host header")?,
    );
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let req = Request::from_parts(parts, Full::new(body));
    let mut sender = upstream.lock().await;
    sender.ready().await.context("upstream connection")?;
    sender
        .send_request(req)
        .await
        .context("forwarding the request")
}

async fn serve_connection(tcp: tokio::net::TcpStream, target: Target) -> anyhow::Result<()> {
    tcp.set_nodelay(true)?;
    let up = tokio::net::TcpStream::connect(target.addr).await?;
    up.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(up)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let upstream = Arc::new(Mutex::new(sender));
    let host: Arc<str> = Arc::from(target.host.as_str());
    let service = service_fn(move |req| forward(Arc::clone(&upstream), Arc::clone(&host), req));
    hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tcp), service)
        .await?;
    Ok(())
}

fn usage() -> ! {
    eprintln!("usage: tollgate-nullproxy --listen ADDR --upstream http://127.0.0.1:PORT");
    std::process::exit(2)
}

fn main() -> anyhow::Result<()> {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut upstream: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().unwrap_or_else(|| usage()).parse()?,
            "--upstream" => upstream = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let target = Target::parse(&upstream.unwrap_or_else(|| usage()))?;
    anyhow::ensure!(listen.ip().is_loopback(), "listen on loopback only");
    // The same runtime shape as the gateway: multi-thread, sized by the cores it may use.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "nullproxy listening on http://{}",
                listener.local_addr()?
            );
            let _ = out.flush();
        }
        loop {
            let (tcp, _) = listener.accept().await?;
            let target = target.clone();
            tokio::spawn(async move {
                if let Err(e) = serve_connection(tcp, target).await {
                    eprintln!("nullproxy: {e:#}");
                }
            });
        }
    })
}
