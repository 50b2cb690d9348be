//! A real SMTP server for the e-mail tests: `aiosmtpd` (PyPI), installed once into
//! `/var/tmp/suyuan-test-venv` and started per test with its `Mailbox` handler, which writes
//! every message it receives into a maildir the test reads.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

const VENV: &str = "/var/tmp/suyuan-test-venv";

fn python() -> PathBuf {
    PathBuf::from(VENV).join("bin/python")
}

fn install_once() {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ok = Command::new(python()).args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
    if ok {
        return;
    }
    let status =
        Command::new("python3").args(["-m", "venv", VENV]).status().expect("python3 is needed for the e-mail tests");
    assert!(status.success(), "cannot create {VENV}");
    let status = Command::new(PathBuf::from(VENV).join("bin/pip"))
        .args(["install", "--quiet", "aiosmtpd==1.4.6"])
        .status()
        .expect("pip");
    assert!(status.success(), "pip install aiosmtpd failed");
}

/// A running SMTP server; stopped when dropped.
pub struct SmtpSink {
    /// `smtp://127.0.0.1:PORT`
    pub url: String,
    dir: TempDir,
    child: Child,
}

impl SmtpSink {
    /// Starts a server on a free port.
    ///
    /// # Panics
    /// When Python or aiosmtpd cannot be set up, or the server does not listen within 20 s.
    pub async fn start() -> Self {
        tokio::task::spawn_blocking(Self::start_blocking).await.expect("smtp start")
    }

    fn start_blocking() -> Self {
        install_once();
        let dir = tempfile::tempdir().expect("maildir");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aiosmtpd");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "aiosmtpd did not start listening");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { url: format!("smtp://127.0.0.1:{port}"), dir, child }
    }

    /// Every message received so far, raw.
    #[must_use]
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail").join(sub)) {
                for e in entries.flatten() {
                    out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
