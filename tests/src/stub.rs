//! A small HTTP server a test starts to stand for a remote party (an identity provider, a
//! parent platform, an internal service that should stay out of reach): it answers every
//! request with what the test's function says and counts the requests by path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl Reply {
    /// An answer with a status and a plain-text body.
    #[must_use]
    pub fn text(status: u16, body: &str) -> Self {
        Self { status, headers: vec![("content-type".into(), "text/plain".into())], body: body.to_owned() }
    }

    /// A 200 JSON answer.
    #[must_use]
    pub fn json(body: &serde_json::Value) -> Self {
        Self { status: 200, headers: vec![("content-type".into(), "application/json".into())], body: body.to_string() }
    }

    /// A redirect to `location`.
    #[must_use]
    pub fn redirect(status: u16, location: &str) -> Self {
        Self { status, headers: vec![("location".into(), location.to_owned())], body: String::new() }
    }
}

/// A running stub; stops when dropped.
pub struct Stub {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Stub {
    /// Starts a stub on a free loopback port; `answer` gets the request's path and the
    /// stub's own URL.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start(answer: impl Fn(&str, &str) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a stub port");
        let url = format!("http://{}", listener.local_addr().expect("stub address"));
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let answer = Arc::new(answer);
        let (seen, base) = (hits.clone(), url.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (seen, answer, base) = (seen.clone(), answer.clone(), base.clone());
                tokio::spawn(async move {
                    let Some(path) = read_request(&mut conn).await else { return };
                    *seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(path.clone()).or_default() +=
                        1;
                    let reply = answer(&path, &base);
                    let mut head = format!("HTTP/1.1 {} Stub\r\n", reply.status);
                    for (k, v) in &reply.headers {
                        head.push_str(&format!("{k}: {v}\r\n"));
                    }
                    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", reply.body.len()));
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(reply.body.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Self { url, hits, task }
    }

    /// Requests seen for `path` (without the query).
    #[must_use]
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(path).copied().unwrap_or(0)
    }

    /// Requests seen in all.
    #[must_use]
    pub fn total(&self) -> usize {
        self.hits.lock().unwrap_or_else(std::sync::PoisonError::into_inner).values().sum()
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (head and `content-length` body); its path without the query.
async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf.len() - head_end;
    while body < length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body += n;
    }
    let target = head.lines().next()?.split_whitespace().nth(1)?.to_owned();
    Some(target.split('?').next().unwrap_or_default().to_owned())
}

/// A loopback port nothing listens on (bound, then let go).
///
/// # Panics
/// When no port can be bound.
#[must_use]
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    l.local_addr().expect("address").port()
}
