//! A real OpenID Connect provider (npm `oidc-provider`, run by node) that SSO tests start
//! themselves. `npm ci` runs once in `tests/oidc/` when its `node_modules` is missing; node and
//! npm come from the machine (missing → the test fails, loudly).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The client registered at the provider.
pub const CLIENT_ID: &str = "suyuan";
/// Its secret.
pub const CLIENT_SECRET: &str = "suyuan-test-secret";

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

fn install_once() {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if folder().join("node_modules/oidc-provider/package.json").is_file() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(folder())
        .status()
        .expect("npm is needed for the SSO tests");
    assert!(status.success(), "npm ci in tests/oidc failed");
}

/// A running provider; stopped when dropped.
pub struct OidcProvider {
    /// Issuer URL, `http://127.0.0.1:PORT`.
    pub issuer: String,
    child: Child,
}

impl OidcProvider {
    /// Starts a provider whose client `suyuan` may redirect to `redirect_uri` (the blocking
    /// work runs off the async runtime).
    ///
    /// # Panics
    /// When node is missing or the provider does not come up within 30 s.
    pub async fn start(redirect_uri: &str) -> Self {
        let redirect_uri = redirect_uri.to_owned();
        tokio::task::spawn_blocking(move || Self::start_blocking(&redirect_uri)).await.expect("provider start")
    }

    fn start_blocking(redirect_uri: &str) -> Self {
        install_once();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(folder())
            .env("PORT", port.to_string())
            .env("REDIRECT_URI", redirect_uri)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node is needed for the SSO tests");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("ready") {
                    let _ = tx.send(());
                }
            }
        });
        let started = Instant::now();
        rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the OIDC provider did not start within 30 s ({:?})", started.elapsed())
        });
        Self { issuer: format!("http://127.0.0.1:{port}"), child }
    }

    /// Drives the provider's login and consent screens as a person would, starting from the
    /// authorization URL, and returns the callback URL (with `code` and `state`) it redirects
    /// the browser to — without visiting it.
    ///
    /// # Panics
    /// When the screens do not behave as expected.
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        authorize_url: &str,
        login: &str,
        callback_prefix: &str,
    ) -> String {
        let mut url = url::Url::parse(authorize_url).expect("authorize URL");
        for _ in 0..20 {
            if url.as_str().starts_with(callback_prefix) {
                return url.to_string();
            }
            let res = browser.get(url.clone()).send().await.expect("provider request");
            if res.status().is_redirection() {
                let location = res.headers()["location"].to_str().expect("location").to_owned();
                url = url.join(&location).expect("redirect URL");
                continue;
            }
            assert_eq!(res.status(), 200, "provider page {url}");
            let html = res.text().await.expect("page");
            let form: &[(&str, &str)] = if html.contains("name=\"login\"") {
                &[("prompt", "login"), ("login", login), ("password", "any")]
            } else {
                &[("prompt", "consent")]
            };
            let res = browser.post(url.clone()).form(form).send().await.expect("form post");
            assert!(res.status().is_redirection(), "form answered {}", res.status());
            let location = res.headers()["location"].to_str().expect("location").to_owned();
            url = url.join(&location).expect("redirect URL");
        }
        panic!("the provider never redirected back")
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
