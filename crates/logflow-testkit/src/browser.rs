//! A real headless Chromium for end-to-end tests, driven over the W3C WebDriver protocol.
//!
//! [`Chromedriver`] runs Debian's `chromedriver` on a free port; [`Browser`] is one browser session
//! (its own throwaway profile) with the handful of commands the dashboard tests need: navigate,
//! find (with waiting), click, type, keys, pointer drags, scripts, window size and screenshots. It
//! speaks the protocol directly over `reqwest` (a few dozen lines of JSON) rather than through a
//! WebDriver crate, whose TLS and Unicode dependencies would double the test build.
//!
//! The browser runs with the flags that keep it off the (closed) network: no background
//! networking, component updates or sync.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key of an element reference in WebDriver JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long `wait_*` helpers poll before failing the test.
pub const WAIT: Duration = Duration::from_secs(15);

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// A running `chromedriver`; killed when dropped.
pub struct Chromedriver {
    child: Child,
    url: String,
    chromium: PathBuf,
    http: reqwest::blocking::Client,
}

impl Chromedriver {
    /// Starts `chromedriver` (package `chromium-driver`) for `chromium`; `None` (skip) when either is
    /// not installed, or a panic under `LOGFLOW_REQUIRE_SERVICES=1`.
    pub fn start() -> Option<Chromedriver> {
        let (Some(driver), Some(chromium)) = (which("chromedriver"), which("chromium")) else {
            return crate::missing(
                "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
            );
        };
        let port = crate::free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning chromedriver");
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let d = Chromedriver { child, url: format!("http://127.0.0.1:{port}"), chromium, http };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = d
                .http
                .get(format!("{}/status", d.url))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return Some(d);
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A new headless browser session with a window of `width` x `height` CSS pixels.
    pub fn session(&self, width: u32, height: u32) -> Browser {
        let profile = std::env::temp_dir().join(format!("logflow-chromium-{}", uuid::Uuid::new_v4()));
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.chromium, "args": args},
        }}});
        let resp = self.http.post(format!("{}/session", self.url)).json(&caps).send().expect("creating a session");
        let v: Value = resp.json().expect("session JSON");
        let id = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_string();
        let b = Browser { base: format!("{}/session/{id}", self.url), http: self.http.clone(), profile };
        b.set_window_size(width, height);
        b
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session; closed (and its profile removed) when dropped.
pub struct Browser {
    base: String,
    http: reqwest::blocking::Client,
    profile: PathBuf,
}

/// An element of the current page.
#[derive(Clone)]
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

/// A WebDriver command that failed: the protocol's error code and message.
#[derive(Debug)]
pub struct WebDriverError {
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl Browser {
    fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().map_err(|e| WebDriverError { error: "transport".into(), message: e.to_string() })?;
        let v: Value = resp.json().map_err(|e| WebDriverError { error: "bad json".into(), message: e.to_string() })?;
        match v["value"].get("error").and_then(Value::as_str) {
            Some(error) => Err(WebDriverError {
                error: error.to_string(),
                message: v["value"]["message"].as_str().unwrap_or("").lines().next().unwrap_or("").to_string(),
            }),
            None => Ok(v["value"].clone()),
        }
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    pub fn current_url(&self) -> String {
        self.get("/url").as_str().unwrap_or_default().to_string()
    }

    pub fn set_window_size(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }));
    }

    /// The first element matching `css`, if there is one now.
    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let found =
            self.command(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})));
        found.ok().map(|v| self.element(&v))
    }

    /// Every element matching `css` now.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let v = self.post("/elements", json!({"using": "css selector", "value": css}));
        v.as_array().map(|a| a.iter().map(|e| self.element(e)).collect()).unwrap_or_default()
    }

    /// The first element matching `css` that is displayed, waiting up to [`WAIT`] for it.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.wait_for(&format!("element {css:?} to be displayed"), || {
            self.find_all(css).into_iter().find(|e| e.is_displayed())
        })
    }

    /// Whether an element with this `data-testid` is displayed now.
    pub fn testid_displayed(&self, id: &str) -> bool {
        self.find_all(&format!("[data-testid=\"{id}\"]")).iter().any(Element::is_displayed)
    }

    /// Shorthand for `find("[data-testid=...]")`.
    pub fn testid(&self, id: &str) -> Element<'_> {
        self.find(&format!("[data-testid=\"{id}\"]"))
    }

    fn element(&self, v: &Value) -> Element<'_> {
        let id = v[ELEMENT_KEY].as_str().unwrap_or_else(|| panic!("not an element: {v}")).to_string();
        Element { browser: self, id }
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its result.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Runs an asynchronous `script`: it calls its last argument with the result.
    pub fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/async", json!({ "script": script, "args": args }))
    }

    /// Polls `probe` until it gives `Some`, failing the test after [`WAIT`] with `what`.
    pub fn wait_for<T>(&self, what: &str, probe: impl FnMut() -> Option<T>) -> T {
        self.wait_for_within(what, WAIT, probe)
    }

    /// [`Browser::wait_for`] with another deadline.
    pub fn wait_for_within<T>(&self, what: &str, wait: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(v) = probe() {
                return v;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot_to_target("timeout");
                panic!("timed out waiting for {what} (page {}; screenshot {})", self.current_url(), shot.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the JavaScript expression `expr` is truthy in the page.
    pub fn wait_js(&self, expr: &str) {
        self.wait_for(expr, || self.execute(&format!("return !!({expr});"), vec![]).as_bool().filter(|b| *b));
    }

    /// Presses and releases `key` (a character or a WebDriver key code such as `"\u{E007}"` for
    /// Enter) on whatever has the focus.
    pub fn press(&self, key: &str) {
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]}),
        );
        self.command(reqwest::Method::DELETE, "/actions", None).ok();
    }

    /// Drags the mouse across `el` from `from` to `to`, each a fraction (0..1) of its width, at
    /// mid height.
    pub fn drag_across(&self, el: &Element<'_>, from: f64, to: f64) {
        let rect = el.rect();
        let origin = json!({ ELEMENT_KEY: el.id });
        // Pointer offsets with an element origin are relative to the element's centre.
        let x = |f: f64| ((f - 0.5) * rect.2).round() as i64;
        self.post(
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
                {"type": "pointerMove", "origin": origin, "x": x(from), "y": 0},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerMove", "origin": origin, "x": x((from + to) / 2.0), "y": 0, "duration": 100},
                {"type": "pointerMove", "origin": origin, "x": x(to), "y": 0, "duration": 100},
                {"type": "pointerUp", "button": 0}]}]}),
        );
        self.command(reqwest::Method::DELETE, "/actions", None).ok();
    }

    /// PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = self.get("/screenshot");
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or_default()).expect("base64 PNG")
    }

    /// Saves a screenshot as `target/screenshots/<name>.png` (next to the build output) and returns
    /// its path.
    pub fn screenshot_to_target(&self, name: &str) -> PathBuf {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("creating the screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.screenshot()).expect("writing a screenshot");
        path
    }
}

/// `<target dir>/screenshots`: `CARGO_TARGET_DIR` when set, else the `target` folder above the
/// running test binary (`target/debug/deps/...`).
pub fn screenshot_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("screenshots");
    }
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors().nth(3).map(|t| t.join("screenshots")).unwrap_or_else(|| PathBuf::from("target/screenshots"))
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.command(reqwest::Method::DELETE, "", None);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Element<'_> {
    fn path(&self, tail: &str) -> String {
        format!("/element/{}{tail}", self.id)
    }

    pub fn click(&self) {
        self.browser.post(&self.path("/click"), json!({}));
    }

    /// Types `text` into the element (appending to what it holds).
    pub fn send_keys(&self, text: &str) {
        self.browser.post(&self.path("/value"), json!({ "text": text }));
    }

    pub fn clear(&self) {
        self.browser.post(&self.path("/clear"), json!({}));
    }

    /// The rendered text.
    pub fn text(&self) -> String {
        self.browser.get(&self.path("/text")).as_str().unwrap_or_default().to_string()
    }

    pub fn attr(&self, name: &str) -> Option<String> {
        self.browser.get(&self.path(&format!("/attribute/{name}"))).as_str().map(str::to_string)
    }

    /// A DOM property, e.g. `value` or `checked`.
    pub fn prop(&self, name: &str) -> Value {
        self.browser.get(&self.path(&format!("/property/{name}")))
    }

    pub fn is_displayed(&self) -> bool {
        self.browser
            .command(reqwest::Method::GET, &self.path("/displayed"), None)
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }

    /// `(x, y, width, height)` in CSS pixels.
    pub fn rect(&self) -> (f64, f64, f64, f64) {
        let r = self.browser.get(&self.path("/rect"));
        let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
        (f("x"), f("y"), f("width"), f("height"))
    }

    /// The first descendant matching `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let found = self.browser.command(
            reqwest::Method::POST,
            &self.path("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        found.ok().map(|v| self.browser.element(&v))
    }

    /// Reference passed to [`Browser::execute`] as an argument (`arguments[i]` is the element).
    pub fn as_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }
}
