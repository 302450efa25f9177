//! The server side of the dashboard through the real binary: the embedded files and their headers,
//! the size of everything the first page downloads, live tail over Server-Sent Events, and saved
//! searches per user. The browser itself is driven in `dashboard.rs`.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn pages_and_assets_are_served_with_a_strict_policy() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    for page in ["/", "/login", "/explore?q=error&range=1h", "/live", "/trace?id=abc", "/alerts", "/anomalies"] {
        let r = get(&server.url, page);
        assert_eq!(r.status, 200, "{page}");
        assert_eq!(r.header("content-type").as_deref(), Some("text/html; charset=utf-8"), "{page}");
        let csp = r.header("content-security-policy").expect("a CSP header");
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(r.text.contains("/assets/app.js"), "{page} serves the dashboard's index");
    }
    // Unknown paths keep the API's JSON 404, in and out of the API.
    for path in ["/nope", "/assets/nope.js", "/api/v1/nope"] {
        let r = get(&server.url, path);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.error().is_empty(), "{path}: {}", r.text);
    }
    let doc = get(&server.url, "/openapi.json");
    for path in ["/api/v1/logs/tail", "/api/v1/saved-searches", "/api/v1/saved-searches/{id}"] {
        assert!(doc.json["paths"].get(path).is_some(), "{path} is documented in /openapi.json");
    }
    let js = get(&server.url, "/assets/app.js");
    assert_eq!(js.header("content-type").as_deref(), Some("text/javascript; charset=utf-8"));
    let etag = js.header("etag").expect("an ETag");
    let again = get_with_headers(&server.url, "/assets/app.js", &[("if-none-match", &etag)]);
    assert_eq!(again.status, 304);
}

/// Every file the first page needs: the index, its stylesheets and scripts, and every module those
/// scripts import, followed recursively.
fn first_page_files(base: &str) -> Vec<(String, usize)> {
    let index = get(base, "/");
    let mut todo: Vec<String> = refs(&index.text, r#"href=""#)
        .into_iter()
        .chain(refs(&index.text, r#"src=""#))
        .filter(|p| p.starts_with("/assets/"))
        .collect();
    let mut seen = BTreeSet::new();
    let mut files = vec![("/".to_string(), index.text.len())];
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let r = get(base, &path);
        assert_eq!(r.status, 200, "{path} is referenced but not served");
        if path.ends_with(".js") {
            for m in
                refs(&r.text, "from '").into_iter().chain(refs(&r.text, "from \"")).chain(refs(&r.text, "import('"))
            {
                todo.push(format!("/assets/{}", m.trim_start_matches("./").trim_start_matches("/assets/")));
            }
        }
        files.push((path, r.text.len()));
    }
    files
}

/// The strings that follow `marker` up to the next quote.
fn refs(text: &str, marker: &str) -> Vec<String> {
    let quote = marker.chars().last().unwrap();
    text.match_indices(marker)
        .filter_map(|(i, _)| text[i + marker.len()..].split(quote).next().map(str::to_string))
        .collect()
}

#[test]
fn the_first_page_downloads_well_under_300_kb() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let files = first_page_files(&server.url);
    let total: usize = files.iter().map(|(_, n)| n).sum();
    let gz: usize = files
        .iter()
        .map(|(p, _)| {
            let r = client().get(format!("{}{p}", server.url)).header("accept-encoding", "gzip").send().unwrap();
            r.bytes().unwrap().len()
        })
        .sum();
    eprintln!("first page: {} files, {total} bytes, {gz} bytes gzip-compressed: {files:?}", files.len());
    assert!(files.len() >= 3, "index, a stylesheet and a script at least: {files:?}");
    assert!(total < 300 * 1024, "the first page downloads {total} bytes");
}

/// Opens a live tail and forwards each SSE event as `(event, data)`.
fn open_tail(base: &str, qs: &str) -> mpsc::Receiver<(String, String)> {
    let resp = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
        .get(format!("{base}/api/v1/logs/tail?{qs}"))
        .send()
        .expect("opening the tail");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut event, mut data) = (String::new(), String::new());
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { break };
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim_start());
            } else if line.is_empty()
                && !event.is_empty()
                && tx.send((std::mem::take(&mut event), std::mem::take(&mut data))).is_err()
            {
                break;
            }
        }
        let _ = tx.send(("end".into(), String::new()));
    });
    rx
}

fn next_event(rx: &mpsc::Receiver<(String, String)>) -> (String, Value) {
    let (event, data) = rx.recv_timeout(Duration::from_secs(20)).expect("an event within 20 s");
    (event, serde_json::from_str(&data).unwrap_or(Value::Null))
}

#[test]
fn live_tail_streams_matching_logs_as_they_are_indexed() {
    let dir = tempdir();
    let mut server = Server::start(dir.path(), &[]);
    let before =
        ingest_ok(&server.url, &json!({"service": "checkout", "level": "ERROR", "message": "payment declined"}));
    wait_indexed(&server.url);

    let rx =
        open_tail(&server.url, &enc(&[("query", "payment"), ("service", "checkout"), ("level", "ERROR,CRITICAL")]));
    let wanted = ingest_ok(
        &server.url,
        &json!([
            {"service": "checkout", "level": "INFO", "message": "payment accepted"},
            {"service": "billing", "level": "ERROR", "message": "payment failed"},
            {"service": "checkout", "level": "ERROR", "message": "disk full"},
            {"service": "checkout", "level": "ERROR", "message": "payment failed: card expired", "attributes": {"user_id": 7}},
        ]),
    )[3]
        .clone();
    let (event, log) = next_event(&rx);
    assert_eq!(event, "log");
    assert_eq!(log["id"], wanted.as_str(), "only the matching log, not the one indexed before: {log}");
    assert_ne!(log["id"], before[0].as_str());
    assert_eq!(log["attributes"]["user_id"], 7);
    let later =
        ingest_ok(&server.url, &json!({"service": "checkout", "level": "CRITICAL", "message": "payment outage"}));
    let (event, log) = next_event(&rx);
    assert_eq!((event.as_str(), log["id"].as_str()), ("log", Some(later[0].as_str())), "nothing unmatched in between");

    // A bad query is refused before the stream starts.
    let r = get(&server.url, "/api/v1/logs/tail?query=(broken");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("invalid query"), "{}", r.text);

    // An open tail does not hold up a graceful shutdown; the stream ends.
    let status = server.terminate();
    assert!(status.success(), "{status:?}\n{}", server.stderr());
    assert_eq!(next_event(&rx).0, "end");
}

#[test]
fn saved_searches_belong_to_their_user() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let base = server.url.as_str();
    let alice = register_user(base, "alice");
    let bob = register_user(base, "bob");
    let path = "/api/v1/saved-searches";

    let r = call("GET", base, path, None, None);
    assert_eq!(r.status, 401);
    let body = json!({"name": "checkout errors", "params": "q=payment&service=checkout&level=ERROR&range=1h"});
    let r = call("POST", base, path, Some(&alice), Some(&body));
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(r.json["params"], "q=payment&service=checkout&level=ERROR&range=1h");
    let r = call("POST", base, path, Some(&alice), Some(&body));
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.error().contains("checkout errors"), "{}", r.text);
    // Bob may use the same name; he sees only his own and cannot delete Alice's.
    assert_eq!(call("POST", base, path, Some(&bob), Some(&body)).status, 201);
    let mine = |t: &str| call("GET", base, path, Some(t), None).json["saved_searches"].as_array().unwrap().clone();
    assert_eq!(mine(&bob).len(), 1);
    assert_ne!(mine(&bob)[0]["id"], json!(id));
    assert_eq!(call("DELETE", base, &format!("{path}/{id}"), Some(&bob), None).status, 404);
    for (bad, why) in [
        (json!({"name": "", "params": "q=a"}), "name"),
        (json!({"name": "x", "params": "q".repeat(5000)}), "params"),
        (json!({"name": "x"}), "params"),
    ] {
        let r = call("POST", base, path, Some(&alice), Some(&bad));
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.error().contains(why), "{bad}: {}", r.text);
    }
    let r = call("POST", base, path, Some(&alice), Some(&json!({"name": "b-second", "params": "range=7d"})));
    assert_eq!(r.status, 201);
    let names: Vec<_> = mine(&alice).iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["b-second", "checkout errors"], "listed by name");
    assert_eq!(call("DELETE", base, &format!("{path}/{id}"), Some(&alice), None).status, 204);
    assert_eq!(mine(&alice).len(), 1);
}
