//! The dashboard end to end in a real headless Chromium (Debian's `chromium` + `chromium-driver`,
//! installed by `scripts/services.sh`), against the real binary: log in, search with filters and
//! see exactly the rows the API returns, open a row, drag-select on the histogram, export, save a
//! search, live tail a newly ingested log, open a trace, create an alert rule and work a triggered
//! alert, roles, dark mode, a phone-sized screen, 10,000 rows, and log out.
//!
//! Every test saves screenshots under `target/screenshots/` for a person to look at.

mod common;

use chrono::{Duration as ChronoDuration, DurationRound, Utc};
use common::*;
use logflow_testkit::browser::{Browser, Chromedriver};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";

fn login_ui(b: &Browser, base: &str, user: &str, password: &str) {
    b.goto(&format!("{base}/login"));
    let form_user = b.testid("login-username");
    form_user.clear();
    form_user.send_keys(user);
    b.testid("login-password").send_keys(password);
    b.testid("login-submit").click();
    b.wait_for("leaving the login page", || (!b.current_url().contains("/login")).then_some(()));
    b.wait_for("the user to be shown", || b.testid("current-user").text().contains(user).then_some(()));
}

/// Ids of the result rows, in order.
fn row_ids(b: &Browser, testid: &str) -> Vec<String> {
    let v = b.execute(
        "return [...document.querySelectorAll(`[data-testid='${arguments[0]}']`)].map(r => r.dataset.id);",
        vec![json!(testid)],
    );
    v.as_array().unwrap().iter().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

fn wait_rows(b: &Browser, want: &[String]) {
    let want: BTreeSet<_> = want.iter().cloned().collect();
    b.wait_for(&format!("exactly {} expected rows", want.len()), || {
        let got: BTreeSet<_> = row_ids(b, "log-row").into_iter().collect();
        (got == want).then_some(())
    });
}

fn url_param(url: &str, key: &str) -> Option<String> {
    let qs = url.split_once('?')?.1;
    serde_urlencoded::from_str::<Vec<(String, String)>>(qs).ok()?.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Logs over the last 50 minutes, newest first in the API; the ids of those matching
/// `payment` at ERROR.
fn seed(base: &str) -> Vec<String> {
    let now = Utc::now();
    let mut logs = Vec::new();
    for i in 0..40 {
        let (service, level, message) = match i % 4 {
            0 => ("checkout", "ERROR", format!("payment declined for order {i}")),
            1 => ("checkout", "INFO", format!("payment accepted for order {i}")),
            2 => ("auth", "WARNING", format!("token expires soon for user {i}")),
            _ => ("search", "ERROR", format!("index shard {i} unavailable")),
        };
        logs.push(json!({"timestamp": ts(now - ChronoDuration::seconds(75 * i + 30)), "service": service,
            "level": level, "message": message, "correlation_id": format!("order-{i}"),
            "attributes": {"order_id": i, "region": "eu-west"}}));
    }
    ingest_ok(base, &Value::Array(logs));
    wait_total(base, "", 40);
    search_ids(base, &enc(&[("query", "payment"), ("level", "ERROR"), ("since", "1h"), ("limit", "1000")]))
}

#[test]
fn search_details_histogram_export_saved_search_and_logout() {
    let Some(driver) = Chromedriver::start() else { return };
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.as_str();
    let expected = seed(base);
    assert_eq!(expected.len(), 10);
    let b = driver.session(1280, 800);

    // Unauthenticated visits go to the login page; a wrong password is reported there.
    b.goto(&format!("{base}/explore"));
    b.wait_for("the login redirect", || b.current_url().contains("/login").then_some(()));
    b.testid("login-username").send_keys("admin");
    b.testid("login-password").send_keys("wrong-password");
    b.testid("login-submit").click();
    assert!(!b.testid("login-error").text().is_empty());
    b.screenshot_to_target("dashboard-login-error");
    login_ui(&b, base, "admin", "admin123");

    // Search with a query and a level filter: exactly the API's rows, with the match highlighted.
    b.goto(&format!("{base}/explore?range=1h"));
    let q = b.testid("query-input");
    q.send_keys("payment");
    b.find("[data-testid='level-filter'] input[data-level='ERROR']").click();
    b.testid("search-button").click();
    wait_rows(&b, &expected);
    assert!(b.testid("result-count").text().contains("10"), "{}", b.testid("result-count").text());
    let url = b.current_url();
    assert_eq!(url_param(&url, "q").as_deref(), Some("payment"), "{url}");
    assert_eq!(url_param(&url, "level").as_deref(), Some("ERROR"), "{url}");
    let first = b.find("[data-testid='log-row']");
    assert_eq!(first.try_find("mark").expect("a highlighted match").text().to_lowercase(), "payment");
    assert!(first.try_find(".level.level-ERROR").is_some(), "colour-coded level badge");
    b.screenshot_to_target("dashboard-explore-search");

    // A shared URL restores the same search.
    b.goto(&url);
    wait_rows(&b, &expected);
    assert_eq!(b.testid("query-input").prop("value"), "payment");

    // Row details: every field and attribute, and a link to the trace.
    b.find("[data-testid='log-row']").click();
    let details = b.testid("log-details");
    let top = b.execute("const r = document.querySelector(\"[data-testid='log-row']\"); return r.dataset.id;", vec![]);
    let log = get(base, &format!("/api/v1/logs/{}", top.as_str().unwrap())).json["log"].clone();
    let text = details.text();
    for field in ["id", "message", "correlation_id"] {
        assert!(text.contains(log[field].as_str().unwrap()), "details show {field}: {text}");
    }
    assert!(text.contains("eu-west") && text.contains("order_id"), "attributes: {text}");
    let link = b.testid("trace-link").attr("href").unwrap();
    assert!(link.contains(&format!("/trace?id={}", log["correlation_id"].as_str().unwrap())), "{link}");
    b.screenshot_to_target("dashboard-explore-details");
    b.press(ESCAPE);
    b.wait_for("details to close", || (!b.testid_displayed("log-details")).then_some(()));

    // Keyboard: `/` focuses the query, j/k move the selection (from the row clicked above, the first).
    assert_eq!(row_ids(&b, "log-row"), expected, "newest first, as the API orders them");
    b.execute("document.activeElement.blur();", vec![]);
    b.press("/");
    b.wait_js("document.activeElement && document.activeElement.dataset.testid === 'query-input'");
    b.execute("document.activeElement.blur();", vec![]);
    b.press("j");
    b.press("j");
    b.press("k");
    b.press("j");
    let selected = b.execute("return document.querySelector(\"[data-testid='log-row'].selected\")?.dataset.id", vec![]);
    assert_eq!(selected.as_str(), Some(expected[2].as_str()), "two rows down");
    b.press(ENTER);
    assert!(b.testid("log-details").text().contains(&expected[2]));
    b.press(ESCAPE);

    // Drag across the left half of the histogram: a custom range and exactly the rows inside it.
    b.testid("query-input").clear();
    b.goto(&format!("{base}/explore?range=1h"));
    let all = search_ids(base, &enc(&[("since", "1h"), ("limit", "1000")]));
    wait_rows(&b, &all);
    let hist = b.testid("histogram");
    b.drag_across(&hist, 0.05, 0.6);
    b.wait_for("a custom range in the URL", || url_param(&b.current_url(), "from").map(|_| ()));
    let url = b.current_url();
    let (from, to) = (url_param(&url, "from").unwrap(), url_param(&url, "to").unwrap());
    let inside = search_ids(base, &enc(&[("start_time", &from), ("end_time", &to), ("limit", "1000")]));
    assert!(!inside.is_empty() && inside.len() < all.len(), "{} of {} logs in {from}..{to}", inside.len(), all.len());
    wait_rows(&b, &inside);
    b.screenshot_to_target("dashboard-explore-drag-select");

    // Export what is loaded as JSON and CSV.
    let exported = b.execute(
        "const out = {}; const orig = URL.createObjectURL; \
         URL.createObjectURL = (blob) => { blob.text().then(t => out[blob.type] = t); return orig(blob); }; \
         window.__exports = out; return true;",
        vec![],
    );
    assert_eq!(exported, true);
    b.testid("export-json").click();
    b.testid("export-csv").click();
    b.wait_js("window.__exports && Object.keys(window.__exports).length === 2");
    let exports = b.execute("return window.__exports;", vec![]);
    let (mut json_rows, mut csv_lines) = (None, None);
    for (kind, body) in exports.as_object().unwrap() {
        let body = body.as_str().unwrap();
        if kind.contains("json") {
            json_rows = Some(serde_json::from_str::<Vec<Value>>(body).expect("exported JSON is an array of logs"));
        } else {
            csv_lines = Some(body.lines().count());
        }
    }
    let json_ids: BTreeSet<_> = json_rows.unwrap().iter().map(|l| l["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(json_ids, inside.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(csv_lines, Some(inside.len() + 1), "a header and one line a log");

    // Save the search; it is listed after a reload (stored on the server, per user).
    b.testid("save-search").click();
    b.testid("save-search-name").send_keys("left half");
    b.testid("save-search-confirm").click();
    b.wait_for("the saved search", || b.testid("saved-searches").text().contains("left half").then_some(()));
    b.goto(&format!("{base}/explore"));
    b.wait_for("the saved search after reload", || {
        b.testid("saved-searches").text().contains("left half").then_some(())
    });
    let admin = token(base, "admin", "admin123");
    let saved = call("GET", base, "/api/v1/saved-searches", Some(&admin), None).json;
    assert!(saved["saved_searches"][0]["params"].as_str().unwrap().contains("from="), "{saved}");

    // Log out: back to the login page, and protected pages redirect again.
    b.testid("logout").click();
    b.wait_for("the login page", || b.current_url().contains("/login").then_some(()));
    assert_eq!(b.execute("return sessionStorage.getItem('logflow.token');", vec![]), Value::Null);
    b.goto(&format!("{base}/alerts"));
    b.wait_for("the login redirect", || b.current_url().contains("/login").then_some(()));
    b.screenshot_to_target("dashboard-logged-out");
}

#[test]
fn live_tail_trace_and_alerts() {
    let Some(driver) = Chromedriver::start() else { return };
    let dir = tempdir();
    let server = Server::start(dir.path(), &[("LOGFLOW_ALERTING_CHECK_INTERVAL_SECS", "1")]);
    let base = server.url.as_str();
    let b = driver.session(1280, 800);
    login_ui(&b, base, "admin", "admin123");

    // Live tail: a log ingested after the start appears; while paused it waits, then shows.
    b.goto(&format!("{base}/live?service=payments"));
    b.wait_for("the tail to be live", || b.testid("live-status").text().to_lowercase().contains("live").then_some(()));
    let first = ingest_ok(
        base,
        &json!([
            {"service": "payments", "level": "INFO", "message": "tail me please"},
            {"service": "other", "level": "INFO", "message": "not for this tail"},
        ]),
    );
    b.wait_for("the new log in the tail", || row_ids(&b, "live-row").contains(&first[0]).then_some(()));
    assert!(!row_ids(&b, "live-row").contains(&first[1]), "the service filter applies");
    assert!(b.testid("live-rate").text().contains("/s"), "{}", b.testid("live-rate").text());
    b.testid("live-pause").click();
    let paused = ingest_ok(base, &json!({"service": "payments", "level": "ERROR", "message": "arrived while paused"}));
    wait_indexed(base);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!row_ids(&b, "live-row").contains(&paused[0]), "paused: nothing new is shown");
    b.screenshot_to_target("dashboard-live-paused");
    b.testid("live-pause").click();
    b.wait_for("the buffered log after resume", || row_ids(&b, "live-row").contains(&paused[0]).then_some(()));
    b.screenshot_to_target("dashboard-live");
    b.testid("live-toggle").click();
    b.wait_for("the tail to stop", || b.testid("live-status").text().contains("stopped").then_some(()));

    // Trace: three services, the time in each, and the first error highlighted.
    let t0 = Utc::now() - ChronoDuration::seconds(20);
    let at = |ms: i64| ts(t0 + ChronoDuration::milliseconds(ms));
    ingest_ok(
        base,
        &json!([
            {"timestamp": at(0), "service": "gateway", "level": "INFO", "message": "request received", "correlation_id": "req-77"},
            {"timestamp": at(40), "service": "orders", "level": "INFO", "message": "order created", "correlation_id": "req-77"},
            {"timestamp": at(90), "service": "orders", "level": "INFO", "message": "calling payments", "correlation_id": "req-77"},
            {"timestamp": at(150), "service": "payments", "level": "ERROR", "message": "card processor timeout", "correlation_id": "req-77"},
            {"timestamp": at(400), "service": "payments", "level": "CRITICAL", "message": "giving up", "correlation_id": "req-77"},
            {"timestamp": at(420), "service": "gateway", "level": "ERROR", "message": "502 returned", "correlation_id": "req-77"},
        ]),
    );
    wait_total(base, &enc(&[("query", "correlation_id:req-77")]), 6);
    b.goto(&format!("{base}/trace?id=req-77"));
    b.testid("trace-timeline");
    let services = b.execute(
        "return [...document.querySelectorAll(\"[data-testid='trace-span']\")].map(s => s.dataset.service);",
        vec![],
    );
    let services: BTreeSet<_> = services.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    assert_eq!(services, ["gateway", "orders", "payments"].map(String::from).into_iter().collect());
    assert!(b.testid("trace-first-error").text().contains("card processor timeout"));
    b.screenshot_to_target("dashboard-trace");

    // Alerts: create a threshold rule in the form; the engine fires it; acknowledge, then resolve.
    b.goto(&format!("{base}/alerts"));
    b.testid("rule-new").click();
    b.testid("rule-name").send_keys("payments errors");
    let threshold = b.testid("rule-threshold");
    threshold.clear();
    threshold.send_keys("2");
    let window = b.testid("rule-window");
    window.clear();
    window.send_keys("5");
    b.testid("rule-services").send_keys("payments");
    b.testid("rule-levels").send_keys("ERROR");
    b.screenshot_to_target("dashboard-alert-form");
    b.testid("rule-save").click();
    b.wait_for("the new rule row", || {
        b.find_all("[data-testid='rule-row']").into_iter().find(|r| r.text().contains("payments errors")).map(|_| ())
    });
    let rules = get(base, "/api/v1/alerts/rules").json;
    let rule = rules.as_array().unwrap().iter().find(|r| r["name"] == "payments errors").expect("rule stored").clone();
    assert_eq!(rule["threshold"], 2.0);
    assert_eq!(rule["services"], json!(["payments"]));
    assert_eq!(rule["levels"], json!(["ERROR"]));
    ingest_ok(
        base,
        &json!([
            {"service": "payments", "level": "ERROR", "message": "charge failed 1"},
            {"service": "payments", "level": "ERROR", "message": "charge failed 2"},
            {"service": "payments", "level": "ERROR", "message": "charge failed 3"},
        ]),
    );
    let alert_id = poll_until("the rule to fire", Duration::from_secs(30), || {
        let t = get(base, "/api/v1/alerts/triggered").json;
        t.as_array()?.iter().find(|a| a["rule_id"] == rule["id"]).map(|a| a["id"].as_i64().unwrap())
    });
    let row = format!("[data-testid='triggered-row'][data-id='{alert_id}']");
    b.wait_for("the triggered alert on the page", || {
        if b.try_find(&row).is_none() {
            b.goto(&format!("{base}/alerts"));
        }
        b.try_find(&row).map(|_| ())
    });
    b.find(&format!("{row} [data-testid='alert-ack']")).click();
    b.wait_for("acknowledged", || (b.find(&row).attr("data-status").as_deref() == Some("acknowledged")).then_some(()));
    b.find(&format!("{row} [data-testid='alert-resolve']")).click();
    b.wait_for("resolved", || (b.find(&row).attr("data-status").as_deref() == Some("resolved")).then_some(()));
    let alert = get(base, &format!("/api/v1/alerts/triggered?rule_id={}", rule["id"])).json;
    assert_eq!(alert[0]["status"], "resolved", "{alert}");
    b.screenshot_to_target("dashboard-alerts");

    // Disable the rule from its row.
    let rule_row = format!("[data-testid='rule-row'][data-id='{}']", rule["id"]);
    b.find(&format!("{rule_row} [data-testid='rule-enabled']")).click();
    poll_until("the rule to be disabled", Duration::from_secs(10), || {
        (get(base, &format!("/api/v1/alerts/rules/{}", rule["id"])).json["is_active"] == false).then_some(())
    });

    // Anomalies: an hour of a steady service with one burst; the page lists and marks it.
    let end = Utc::now().duration_trunc(ChronoDuration::minutes(1)).unwrap();
    let burst = end - ChronoDuration::minutes(20);
    let mut series = Vec::new();
    for m in 1..=60 {
        let minute = end - ChronoDuration::minutes(m);
        let n = if minute == burst { 400 } else { 20 + m % 3 };
        for i in 0..n {
            let at = minute + ChronoDuration::milliseconds((i * 997) % 60_000);
            series.push(json!({"service": "pay", "level": "INFO", "message": "charge", "timestamp": ts(at)}));
        }
    }
    let n = series.len() as u64;
    ingest_ok(base, &Value::Array(series));
    wait_total(base, "service=pay&since=2h", n);
    b.goto(&format!("{base}/anomalies?service=pay&window=60"));
    b.testid("anomaly-volume-chart");
    b.testid("anomaly-error-chart");
    let item = b.wait_for("the burst in the anomaly list", || {
        b.find_all("[data-testid='anomaly-item']").into_iter().find(|i| i.text().contains("400 (expected"))
    });
    let text = item.text();
    assert!(text.contains("Log volume spike") && text.contains("pay"), "{text}");
    assert!(["high", "critical"].contains(&item.attr("data-severity").unwrap_or_default().as_str()), "{text}");
    b.screenshot_to_target("dashboard-anomalies");
}

#[test]
fn overview_roles_theme_phone_and_ten_thousand_rows() {
    let Some(driver) = Chromedriver::start() else { return };
    let dir = tempdir();
    let server = Server::start_with_args(dir.path(), &["--demo"], &[]);
    let base = server.url.as_str();
    let now = Utc::now();
    let bulk: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({"timestamp": ts(now - ChronoDuration::milliseconds(i * 500)), "service": "bulk",
            "level": if i % 10 == 0 { "ERROR" } else { "INFO" }, "message": format!("bulk log number {i}")})
        })
        .collect();
    ingest_ok(base, &Value::Array(bulk));
    poll_until("demo history and the bulk logs", Duration::from_secs(60), || {
        (search_total(base, "since=24h") > 11_000).then_some(())
    });
    let b = driver.session(1280, 800);
    login_ui(&b, base, "admin", "admin123");

    // Overview with the demo data: cards, the stacked volume chart and service health.
    let started = Instant::now();
    b.goto(&format!("{base}/"));
    b.wait_for("the total card", || b.testid("card-total").text().chars().any(|c| c.is_ascii_digit()).then_some(()));
    let first_load = started.elapsed();
    let nav = b.execute(
        "const n = performance.getEntriesByType('navigation')[0]; \
         const bytes = performance.getEntriesByType('resource').reduce((s, r) => s + r.transferSize, n.transferSize); \
         return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, bytes};",
        vec![],
    );
    eprintln!("DASHBOARD overview first load: cards filled after {first_load:?} (navigation {nav})");
    for card in ["card-rate", "card-services", "card-error-rate"] {
        assert!(b.testid(card).text().chars().any(|c| c.is_ascii_digit()), "{card}");
    }
    b.testid("volume-chart");
    b.wait_for("service health", || {
        (!b.find_all("[data-testid='service-health'] [data-service]").is_empty()).then_some(())
    });
    assert!(b.try_find("[data-testid='system-card']").is_some(), "admins see the system card");
    b.screenshot_to_target("dashboard-overview");

    // Dark mode, kept across reloads.
    let theme = || b.execute("return document.documentElement.dataset.theme;", vec![]);
    let before = theme();
    b.testid("theme-toggle").click();
    let after = theme();
    assert_ne!(before, after);
    b.goto(&format!("{base}/"));
    b.testid("card-total");
    assert_eq!(theme(), after);
    b.screenshot_to_target("dashboard-overview-theme");

    // 10,000 rows loaded page by page stay responsive: j moves the selection at once.
    b.goto(&format!("{base}/explore?range=24h"));
    b.find("[data-testid='log-row']");
    let loading = Instant::now();
    b.wait_for_within("10,000 rows", Duration::from_secs(120), || {
        let n = b.execute(
            "const more = document.querySelector(\"[data-testid='load-more']\"); \
             const rows = document.querySelectorAll(\"[data-testid='log-row']\").length; \
             if (rows < 10000 && more && more.offsetParent !== null && !more.disabled) more.click(); return rows;",
            vec![],
        );
        (n.as_u64().unwrap_or(0) >= 10_000).then_some(())
    });
    eprintln!("DASHBOARD 10,000 rows loaded in {:?} (50 pages)", loading.elapsed());
    let timing = b.execute_async(
        "const done = arguments[arguments.length - 1]; \
         const rows = () => document.querySelectorAll(\"[data-testid='log-row']\").length; \
         const before = rows(); const t0 = performance.now(); \
         document.querySelector(\"[data-testid='load-more']\").click(); \
         const wait = () => rows() > before \
           ? requestAnimationFrame(() => done({ms_load_more_at_10k: performance.now() - t0, rows: rows()})) \
           : setTimeout(wait, 5); \
         wait();",
        vec![],
    );
    eprintln!("DASHBOARD one more page at 10,000 rows: {timing}");
    let layout = b.execute(
        "const body = document.querySelector(\"[data-testid='log-row']\").parentElement; \
         const rows = [...body.querySelectorAll('tr')].slice(0, 200).map(r => r.cloneNode(true)); \
         const t0 = performance.now(); const frag = document.createDocumentFragment(); frag.append(...rows); \
         body.append(frag); void document.body.offsetHeight; const ms = performance.now() - t0; \
         rows.forEach(r => r.remove()); return ms;",
        vec![],
    );
    eprintln!("DASHBOARD appending and laying out 200 rows at 10,200 rows: {layout} ms");
    let timing = b.execute(
        "const t0 = performance.now(); \
         for (let i = 0; i < 50; i++) document.dispatchEvent(new KeyboardEvent('keydown', {key: 'j', bubbles: true})); \
         const rows = document.querySelectorAll(\"[data-testid='log-row']\"); \
         const sel = [...rows].findIndex(r => r.classList.contains('selected')); \
         return {ms_per_key: (performance.now() - t0) / 50, selected: sel};",
        vec![],
    );
    eprintln!("DASHBOARD 10,000 rows: {timing}");
    assert_eq!(timing["selected"], 49, "{timing}");
    b.screenshot_to_target("dashboard-explore-10k");
    b.testid("logout").click();

    // A user without the admin role: no admin-only parts.
    register_user(base, "viewer");
    login_ui(&b, base, "viewer", "secure123");
    b.goto(&format!("{base}/"));
    b.testid("card-total");
    assert!(b.try_find("[data-testid='system-card']").is_none(), "users do not see the system card");
    assert!(b.testid("current-user").text().contains("user"));

    // A phone-sized screen: nothing wider than the viewport.
    b.set_window_size(390, 844);
    b.goto(&format!("{base}/explore?range=1h"));
    b.find("[data-testid='log-row']");
    let overflow = b.execute("return document.documentElement.scrollWidth - window.innerWidth;", vec![]);
    assert!(overflow.as_f64().unwrap() <= 1.0, "the page scrolls sideways by {overflow} px");
    b.screenshot_to_target("dashboard-phone-explore");
    b.goto(&format!("{base}/"));
    b.testid("card-total");
    b.screenshot_to_target("dashboard-phone-overview");
}
