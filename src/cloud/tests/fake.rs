//! A scripted fake HTTP server recording every request.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// Decoded query pairs (`+` is a space, as the service decodes it).
    pub fn query(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
    pub fn query_get(&self, key: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    pub fn body_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// A canned response.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Canned {
    pub fn json(status: u16, body: &str) -> Self {
        Canned {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }
    /// A response that never comes (the client must time out).
    pub fn hang() -> Self {
        Canned {
            status: 0,
            headers: Vec::new(),
            body: String::new(),
        }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Canned>,
    fallback: Option<Canned>,
    seen: Vec<Recorded>,
}

/// The fake server handle.
#[derive(Clone)]
pub struct Fake {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
}

impl Fake {
    /// Starts a server that answers with `script` in order, then with `fallback`
    /// (or 599 if none).
    pub async fn start(script: Vec<Canned>, fallback: Option<Canned>) -> Fake {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            fallback,
            seen: Vec::new(),
        }));
        let app = Router::new()
            .fallback(handler)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { inner, addr }
    }

    pub fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.addr)).unwrap()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().seen.clone()
    }

    pub fn push(&self, c: Canned) {
        self.inner.lock().unwrap().script.push_back(c);
    }
}

async fn handler(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let canned = {
        let mut g = inner.lock().unwrap();
        g.seen.push(Recorded {
            method,
            uri,
            headers,
            body,
        });
        g.script.pop_front().or_else(|| g.fallback.clone())
    };
    match canned {
        Some(c) if c.status == 0 => std::future::pending::<Response>().await,
        Some(c) => {
            let mut resp = (StatusCode::from_u16(c.status).unwrap(), c.body).into_response();
            for (k, v) in c.headers {
                resp.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    axum::http::HeaderValue::from_str(&v).unwrap(),
                );
            }
            resp
        }
        None => (StatusCode::from_u16(599).unwrap(), "no script").into_response(),
    }
}
