//! A real headless Chromium for the browser tests: Debian's `/usr/bin/chromium` driven by
//! npm `playwright-core` (installed once in `tests/browser/` by `npm ci`). Nothing is
//! downloaded at test time but that package; a missing Chromium fails the test loudly with
//! the command that installs it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The browser the tests drive (override with `SUYUAN_CHROMIUM`).
#[must_use]
pub fn chromium() -> String {
    std::env::var("SUYUAN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// The folder of the browser test scripts.
#[must_use]
pub fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Installs playwright-core once and checks Chromium is there.
///
/// # Panics
/// When Chromium, node or npm is missing, or `npm ci` fails.
pub fn prepare() {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(
        std::path::Path::new(&chromium()).is_file(),
        "the browser tests need Chromium at {} (Debian: `apt-get install -y chromium fonts-wqy-zenhei`; \
         or set SUYUAN_CHROMIUM)",
        chromium()
    );
    if folder().join("node_modules/playwright-core/package.json").is_file() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(folder())
        .status()
        .expect("npm is needed for the browser tests");
    assert!(status.success(), "npm ci in tests/browser failed");
}

/// Runs one browser script with `env`; returns its exit success and its output.
///
/// # Panics
/// When node cannot be started.
pub async fn run(script: &str, env: Vec<(String, String)>) -> (bool, String) {
    let script = script.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("node")
            .arg(&script)
            .current_dir(folder())
            .env("CHROMIUM", chromium())
            .envs(env)
            .output()
            .expect("node is needed for the browser tests");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    })
    .await
    .expect("browser script")
}
