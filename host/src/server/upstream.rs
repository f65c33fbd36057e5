//! The HTTP client for upstreams: hyper's pooled HTTP/1.1 client over TCP
//! (TCP_NODELAY) or rustls, without the layers of a general-purpose client —
//! what a proxy needs per request is a URI parse, a pooled connection and the
//! bytes.

use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use bytes::Bytes;
use futures::Stream;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::proxy::error_chain;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Why an upstream exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("bad upstream URL `{0}`")]
    Url(String),
    #[error("{0}")]
    Request(String),
    #[error("{0}")]
    Body(String),
}

/// A pooled upstream client.
#[derive(Clone)]
pub struct UpstreamClient {
    client: Client<Connector, Full<Bytes>>,
}

/// An upstream answer whose body has not been read yet.
pub struct UpstreamResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: hyper::body::Incoming,
}

impl UpstreamClient {
    /// A client with TCP_NODELAY, keep-alive pooling and the given connect timeout.
    pub fn new(connect_timeout: Duration) -> anyhow::Result<UpstreamClient> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .build(https);
        Ok(UpstreamClient { client })
    }

    /// Send one request.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|_| UpstreamError::Url(url.to_string()))?;
        let mut req = hyper::Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| UpstreamError::Request(error_chain(&e)))?;
        let (parts, body) = resp.into_parts();
        Ok(UpstreamResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

impl UpstreamResponse {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, UpstreamError> {
        self.body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| UpstreamError::Body(error_chain(&e)))
    }

    /// The body as it arrives.
    pub fn bytes_stream(self) -> impl Stream<Item = Result<Bytes, UpstreamError>> + Send + 'static {
        use futures::StreamExt;
        self.body
            .into_data_stream()
            .map(|r| r.map_err(|e| UpstreamError::Body(error_chain(&e))))
    }
}
