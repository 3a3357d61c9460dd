//! Headless Chromium driving the web UI of a real `cairn daemon`, for end-to-end tests.
//!
//! [`WebUi::start`] brings up three processes, each stopped by `Drop` (also when a test
//! panics):
//! - the daemon (the built binary) with a local repository, the plans given and
//!   `[server] listen = "127.0.0.1:0"`; the address it bound is read from the one-time setup
//!   link it prints on stdout, so no port is guessed;
//! - chromedriver on a port found free by binding 127.0.0.1:0 first, in its own process
//!   group, so the browser it starts is killed with it;
//! - a WebDriver session (fantoccini over plain loopback HTTP) with headless Chromium, a
//!   1280×900 window, a profile and a download directory inside the test's scratch
//!   directory.
//!
//! The helpers find elements by CSS with a bounded wait, poll JavaScript conditions, and
//! write screenshots to `docs/screenshots/NAME.png` (overwritten each run; the README shows
//! them). A page test is: start, [`WebUi::create_admin`], `goto`, assert, `screenshot`,
//! [`WebUi::finish`].

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::daemon::DaemonSetup;

/// How long an element may take to appear, and a page to answer.
pub const ELEMENT_WAIT: Duration = Duration::from_secs(15);
/// The password of every user the tests create (the UI asks for at least 12 characters).
pub const PASSWORD: &str = "correct horse battery";

/// A running daemon with its web UI and a browser pointed at it. Fields drop in order: the
/// browser, then the daemon, then the scratch directory they used.
pub struct WebUi {
    /// The WebDriver session; use it directly for what the helpers do not cover.
    pub client: Client,
    /// `http://127.0.0.1:PORT`, where the daemon serves the UI.
    pub base: String,
    /// The one-time link that creates the first administrator.
    pub setup_link: String,
    /// Where the browser saves downloads (`download.default_directory`).
    #[allow(dead_code)] // for the download tests of the snapshot browser
    pub downloads: PathBuf,
    /// Held for its `Drop`.
    _driver: Chromedriver,
    daemon: WebDaemon,
    /// The config, repository and sources (`setup.source(plan)`); sources are read when a
    /// plan runs, so a test may fill or remove them after the start.
    pub setup: DaemonSetup,
}

impl WebUi {
    /// Starts the daemon with `plans` (each a `[plans.NAME]` body, as for [`DaemonSetup`])
    /// and `extra` top-level config, then chromedriver and a browser session.
    pub async fn start(plans: &[(&str, &str)], extra: &str) -> WebUi {
        let setup = DaemonSetup::new(
            plans,
            &format!("{extra}\n[server]\nlisten = \"127.0.0.1:0\"\n"),
        );
        let (daemon, setup_link) = WebDaemon::start(&setup);
        let base = setup_link
            .split("/setup?")
            .next()
            .expect("a setup link")
            .to_string();
        let downloads = setup.scratch.path("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let profile = setup.scratch.path("chromium-profile");
        let driver = Chromedriver::start(&setup.scratch.path("chromedriver.log"), profile.clone());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start a Chromium session through chromedriver: {e}\n{}",
                    std::fs::read_to_string(setup.scratch.path("chromedriver.log"))
                        .unwrap_or_default()
                )
            });
        WebUi {
            client,
            base,
            setup_link,
            setup,
            downloads,
            _driver: driver,
            daemon,
        }
    }

    /// Ends the browser session cleanly (the processes go in `Drop` either way).
    pub async fn finish(self) {
        let _ = self.client.clone().close().await;
    }

    /// The daemon's log so far (for assertion messages).
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(&self.daemon.log).unwrap_or_default()
    }

    /// Opens `path` (`/plans`) or a full URL.
    pub async fn goto(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits until the page shown is `path` (query ignored).
    pub async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + ELEMENT_WAIT;
        loop {
            let now = self.client.current_url().await.expect("current url");
            if now.path() == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the browser shows {now}, not {path}; page text:\n{}",
                self.page_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(ELEMENT_WAIT)
            .every(Duration::from_millis(100))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no element {css} on {} ({e}); page text:\n{}",
                self.path().await,
                self.page_text().await
            ),
        }
    }

    /// Every element matching `css` now (no wait).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// An attribute of the first element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.expect("attribute")
    }

    /// Types `value` into the field matching `css` (cleared first).
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear field");
        field.send_keys(value).await.expect("type into field");
    }

    /// Chooses the option with `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("cannot choose {value} in {css}: {e}"));
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Clicks the submit button of the form posting to `action` (`/login`,
    /// `/plans/web/run`): forms are found by where they post, which does not change with
    /// wording.
    pub async fn submit(&self, action: &str) {
        self.click(&format!("form[action=\"{action}\"] [type=submit]"))
            .await;
    }

    /// The text of the whole page (for assertion messages).
    pub async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs `script` that calls `arguments[arguments.length - 1](result)` when done.
    pub async fn js_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute_async(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Whether `condition` holds on the page shown; a script that fails (the element it reads
    /// is not there yet, the page is between loads) does not hold.
    async fn holds(&self, condition: &str) -> bool {
        matches!(
            self.client.execute(condition, vec![]).await,
            Ok(Value::Bool(true))
        )
    }

    /// Polls `condition` (a script returning a boolean) on the page shown until it holds.
    pub async fn wait_js(&self, what: &str, limit: Duration, condition: &str) {
        let deadline = Instant::now() + limit;
        while !self.holds(condition).await {
            assert!(
                Instant::now() < deadline,
                "{what}: not true after {limit:?} on {}; page text:\n{}\ndaemon log:\n{}",
                self.path().await,
                self.page_text().await,
                self.daemon_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens `path` again and again until `condition` holds on it (for pages without live
    /// updates, as the dashboard).
    pub async fn wait_reload(&self, what: &str, path: &str, limit: Duration, condition: &str) {
        let deadline = Instant::now() + limit;
        loop {
            self.goto(path).await;
            if self.holds(condition).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not true after {limit:?} on {path}; page text:\n{}\ndaemon log:\n{}",
                self.page_text().await,
                self.daemon_log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Saves what the browser shows as `docs/screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Creates the first administrator through the setup link; the browser ends signed in,
    /// on My account.
    pub async fn create_admin(&self, name: &str) {
        self.goto(&self.setup_link).await;
        self.fill("#name", name).await;
        self.fill("#password", PASSWORD).await;
        self.submit("/setup").await;
        self.wait_for_path("/account").await;
    }

    /// Signs in with the password, and with `code` when the user has a second factor; the
    /// browser ends on the dashboard.
    pub async fn sign_in(&self, name: &str, code: Option<&str>) {
        self.goto("/login").await;
        self.fill("#name", name).await;
        self.fill("#password", PASSWORD).await;
        self.submit("/login").await;
        if let Some(code) = code {
            self.wait_for_path("/login/totp").await;
            self.fill("#code", code).await;
            self.submit("/login/totp").await;
        }
        self.wait_for_path("/").await;
    }

    /// Signs out with the button in the page header; the browser ends on the login page.
    pub async fn sign_out(&self) {
        self.submit("/logout").await;
        self.wait_for_path("/login").await;
    }

    /// The CSRF token of the session, from a form's hidden field on the page shown.
    pub async fn csrf_token(&self) -> String {
        self.attr("input[name=csrf]", "value")
            .await
            .expect("the csrf field has a value")
    }

    /// `fetch(path, {method, headers: {X-CSRF-Token}})` from the page: (status, body).
    pub async fn fetch_with_csrf(&self, method: &str, path: &str) -> (u16, String) {
        let csrf = self.csrf_token().await;
        let answer = self
            .js_async(
                "const [method, path, csrf, done] = arguments;
                 fetch(path, {method, headers: {'X-CSRF-Token': csrf}})
                   .then(r => r.text().then(body => done([r.status, body])))
                   .catch(e => done([0, String(e)]));",
                vec![json!(method), json!(path), json!(csrf)],
            )
            .await;
        (
            answer[0].as_u64().expect("a status") as u16,
            answer[1].as_str().unwrap_or_default().to_string(),
        )
    }
}

/// `docs/screenshots/` of the checkout.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

/// The 6-digit TOTP code of `secret` (base32, as the enrolment page shows it) for the time
/// step `offset` steps from now (the server accepts one step either side, and a step only
/// once).
pub fn totp_code(secret: &str, offset: i64) -> String {
    let seed = cairn_access::totp::from_base32(secret).expect("a base32 secret");
    let step = cairn_access::totp::step_of(chrono::Utc::now()) + offset;
    format!("{:06}", cairn_access::totp::code_at_step(&seed, step))
}

/// `cairn daemon` with its stdout read for the setup link.
struct WebDaemon {
    child: Child,
    log: PathBuf,
}

impl WebDaemon {
    fn start(setup: &DaemonSetup) -> (WebDaemon, String) {
        let log = setup.scratch.path("daemon.log");
        let mut child = setup
            .cairn()
            .env("CAIRN_LOG", "info")
            .arg("daemon")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn cairn daemon");
        let stdout = child.stdout.take().expect("piped stdout");
        let daemon = WebDaemon { child, log };
        let (links, link) = mpsc::channel();
        // Reads to the end, so the daemon never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("http") {
                    if line.contains("/setup?token=") {
                        let _ = links.send(line[at..].trim().to_string());
                    }
                }
            }
        });
        match link.recv_timeout(Duration::from_secs(30)) {
            Ok(link) => (daemon, link),
            Err(_) => panic!(
                "the daemon printed no setup link within 30 s:\n{}",
                std::fs::read_to_string(&daemon.log).unwrap_or_default()
            ),
        }
    }
}

impl Drop for WebDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver on a free loopback port, leader of its own process group, and the
/// Chromium it starts with `profile` as its user data directory.
struct Chromedriver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl Chromedriver {
    fn start(log: &std::path::Path, profile: PathBuf) -> Chromedriver {
        let found = Command::new("chromedriver").arg("--version").output();
        assert!(
            found.as_ref().is_ok_and(|o| o.status.success()),
            "chromedriver is not installed; scripts/test-all.sh installs it (apt-get install -y chromium chromium-driver)"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn chromedriver");
        let driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group holds chromedriver and what it started in it.
        let group = self.child.id() as i32;
        // SAFETY: kill(2) on the process group of our own child.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
        // Chromium may have its own group: its browser process is the one whose command line
        // names this test's profile directory (its helpers exit with it).
        let marker = format!("--user-data-dir={}", self.profile.display());
        for pid in processes_with_argument(&marker) {
            // SAFETY: kill(2) on a browser this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The processes whose command line has `argument` (from /proc).
fn processes_with_argument(argument: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|line| {
                line.split(|b| *b == 0)
                    .any(|arg| arg == argument.as_bytes())
            })
        })
        .collect()
}
