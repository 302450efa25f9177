//! The `MetaStore` conformance suite. Every case is written once, as `async fn case(db: Db)`, and
//! [`conformance!`] runs it against SQLite (`sqlite::case`, a file in a temp dir) and PostgreSQL
//! (`postgres::case`, a fresh database; skipped without `LOGFLOW_TEST_DATABASE_URL`, a failure with
//! `LOGFLOW_REQUIRE_SERVICES=1`). `cargo test -p logflow-meta postgres::` runs one backend.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use logflow_meta::{
    alert_status, notification_status, open, AlertRule, AlertRulePatch, MetaDump, MetaError, MetaStore, NewAlertRule,
    NewSavedSearch, NewTriggeredAlert, NewUser, OpenOptions, QueryObserver, RuleFilter, SavedSearch, TriggeredAlert,
    TriggeredFilter, UserUpdate,
};
use serde_json::json;

/// Generates `sqlite::<case>` and `postgres::<case>` for each case.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Db::create(super::Backend::Sqlite).await.unwrap()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    // `None`: no server, test skipped (the testkit said why).
                    if let Some(db) = super::Db::create(super::Backend::Postgres).await {
                        super::$case(db).await;
                    }
                }
            )*
        }
    };
}

conformance! {
    health_and_pool_stats,
    migrations_listed_and_applied_once,
    reopening_keeps_data_and_migrates_nothing,
    observer_hears_each_operation,
    user_crud,
    user_conflicts,
    saved_search_crud,
    saved_searches_are_private_to_their_user,
    saved_search_names_are_unique_per_user,
    saved_searches_are_deleted_with_their_user,
    hostile_strings_round_trip,
    rule_crud_and_patch,
    deleting_rules_and_users_keeps_alert_history,
    claim_rule_check_has_one_winner_per_tick,
    record_trigger_keeps_one_open_alert,
    alert_transitions,
    concurrent_resolves_have_one_winner,
    recovery_and_notification_bookkeeping,
    list_triggered_filters_and_order,
    config_get_set_overwrite,
    dump_round_trips_into_both_backends,
    dump_without_saved_searches_still_imports,
    import_refuses_non_empty_store_and_foreign_dumps,
    reset_empties_and_restarts_ids,
}

// ---------------------------------------------------------------------------------------------
// Fixtures

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated store and the URL it was opened from.
struct Db {
    backend: Backend,
    url: String,
    store: Arc<dyn MetaStore>,
    /// Where a SQLite file lives, removed on drop.
    _dir: Option<tempfile::TempDir>,
    /// A PostgreSQL database, dropped on drop.
    _pg: Option<logflow_testkit::PgDatabase>,
}

/// Small pools: many tests share one PostgreSQL server (and its 100 connections).
fn opts() -> OpenOptions {
    OpenOptions { max_connections: 4, ..OpenOptions::default() }
}

impl Db {
    /// An empty database of `backend`, opened with [`opts`]; `None` when PostgreSQL is missing.
    async fn create(backend: Backend) -> Option<Db> {
        Db::create_with(backend, opts()).await
    }

    async fn create_with(backend: Backend, options: OpenOptions) -> Option<Db> {
        let (url, dir, pg) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                (format!("sqlite://{}", dir.path().join("meta.db").display()), Some(dir), None)
            }
            Backend::Postgres => {
                let pg = logflow_testkit::pg_database().await?;
                (pg.url.clone(), None, Some(pg))
            }
        };
        let store = open(&url, options).await.unwrap();
        assert_eq!(
            store.backend(),
            match backend {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgres",
            }
        );
        Some(Db { backend, url, store, _dir: dir, _pg: pg })
    }

    /// Another store on the same database, as a second LogFlow process would open it.
    async fn reopen(&self, options: OpenOptions) -> Arc<dyn MetaStore> {
        open(&self.url, options).await.unwrap()
    }
}

/// Runs `n` copies of `op` at once, alternately on each of two stores (two "processes").
async fn race<T, F, Fut>(stores: [&Arc<dyn MetaStore>; 2], n: usize, op: F) -> Vec<T>
where
    F: Fn(Arc<dyn MetaStore>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        set.spawn(op(stores[i % 2].clone()));
    }
    set.join_all().await
}

fn t(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_string(),
        email: format!("{name}@example.com"),
        full_name: Some(format!("{name} full")),
        hashed_password: format!("$argon2id$hash-of-{name}"),
        is_admin: false,
    }
}

fn new_search(user_id: i64, name: &str) -> NewSavedSearch {
    NewSavedSearch {
        user_id,
        name: name.to_string(),
        params: format!(r#"{{"query":"level:ERROR {name}","range":"24h","services":["api"]}}"#),
    }
}

fn new_rule(name: &str, created_by: Option<i64>) -> NewAlertRule {
    NewAlertRule {
        name: name.to_string(),
        description: Some(format!("{name} description")),
        rule_type: "threshold".into(),
        condition: "greater_than".into(),
        threshold: 50.5,
        time_window: 5,
        levels: vec!["ERROR".into(), "CRITICAL".into()],
        services: vec!["payment-service".into()],
        query: Some("message:timeout".into()),
        anomaly: None,
        notification_channel: "webhook".into(),
        notification_config: json!({"url": "https://hooks.example.com/x", "headers": {"b": 1, "a": [true, null]}}),
        is_active: true,
        cooldown_minutes: Some(10),
        created_by,
    }
}

fn new_alert(rule_id: i64, at: DateTime<Utc>) -> NewTriggeredAlert {
    NewTriggeredAlert {
        rule_id,
        rule_name: format!("rule {rule_id}"),
        triggered_at: at,
        value: 120.0,
        threshold: 50.5,
        condition: "greater_than".into(),
        time_window: 5,
        sample_log_ids: vec!["01HZX0000000000000000000AA".into(), "01HZX0000000000000000000AB".into()],
        message: "120 errors in 5 minutes".into(),
    }
}

/// Records an alert, which the rule must allow (no open alert).
async fn trigger(store: &Arc<dyn MetaStore>, rule_id: i64, at: DateTime<Utc>) -> TriggeredAlert {
    store.record_trigger(new_alert(rule_id, at)).await.unwrap().expect("the rule had an open alert")
}

fn expect_invalid_transition(result: Result<TriggeredAlert, MetaError>, from: &str, to: &str) {
    match result {
        Err(MetaError::InvalidTransition { from: f, to: t }) => assert_eq!((f.as_str(), t.as_str()), (from, to)),
        other => panic!("expected {from} -> {to} to be refused, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Store and schema

async fn health_and_pool_stats(db: Db) {
    db.store.health().await.unwrap();
    let stats = db.store.pool_stats();
    assert!(stats.size >= 1 && stats.size <= 4, "{stats:?}");
    assert!(stats.idle <= stats.size as usize, "{stats:?}");
}

async fn migrations_listed_and_applied_once(db: Db) {
    let listed = db.store.migrations().await.unwrap();
    let listed: Vec<_> = listed.iter().map(|m| (m.version, m.description.as_str(), m.applied)).collect();
    assert_eq!(listed, [(1, "init", true), (2, "saved searches", true)]);
    assert_eq!(db.store.migrate().await.unwrap(), 0);

    let bare = Db::create_with(db.backend, OpenOptions { run_migrations: false, ..opts() }).await.unwrap();
    assert!(bare.store.migrations().await.unwrap().iter().all(|m| !m.applied));
    assert!(bare.store.count_users().await.is_err(), "no schema without migrations");
    assert_eq!(bare.store.migrate().await.unwrap(), 2);
    assert!(bare.store.migrations().await.unwrap().iter().all(|m| m.applied));
    assert_eq!(bare.store.count_users().await.unwrap(), 0);
    assert_eq!(bare.store.migrate().await.unwrap(), 0);
}

async fn reopening_keeps_data_and_migrates_nothing(db: Db) {
    let user = db.store.create_user(new_user("ada")).await.unwrap();
    let again = db.reopen(opts()).await;
    let third = db.reopen(opts()).await;
    assert_eq!(again.user_by_id(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(third.migrate().await.unwrap(), 0);
    assert!(third.migrations().await.unwrap().iter().all(|m| m.applied));
    // Both see each other's writes.
    let rule = third.create_rule(new_rule("r", Some(user.id))).await.unwrap();
    assert_eq!(db.store.get_rule(rule.id).await.unwrap(), Some(rule));
}

#[derive(Default)]
struct Recorder(Mutex<Vec<&'static str>>);

impl QueryObserver for Recorder {
    fn query(&self, operation: &'static str) {
        self.0.lock().unwrap().push(operation);
    }
}

async fn observer_hears_each_operation(db: Db) {
    let recorder = Arc::new(Recorder::default());
    let store = db.reopen(OpenOptions { observer: Some(recorder.clone()), ..opts() }).await;
    assert_eq!(recorder.0.lock().unwrap().drain(..).collect::<Vec<_>>(), ["migrate"]);

    let user = store.create_user(new_user("ada")).await.unwrap();
    store.user_by_username("ada").await.unwrap();
    let rule = store.create_rule(new_rule("r", Some(user.id))).await.unwrap();
    store.claim_rule_check(rule.id, Utc::now(), Duration::from_secs(60)).await.unwrap();
    store.set_config("k", &json!(1)).await.unwrap();
    let search = store.create_saved_search(new_search(user.id, "s")).await.unwrap();
    store.list_saved_searches(user.id).await.unwrap();
    store.delete_saved_search(search.id, user.id).await.unwrap();
    assert_eq!(
        *recorder.0.lock().unwrap(),
        [
            "create_user",
            "user_by_username",
            "create_rule",
            "claim_rule_check",
            "set_config",
            "create_saved_search",
            "list_saved_searches",
            "delete_saved_search"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Users

async fn user_crud(db: Db) {
    let s = &db.store;
    let before = Utc::now() - TimeDelta::seconds(1);
    let ada = s.create_user(NewUser { is_admin: true, ..new_user("ada") }).await.unwrap();
    assert_eq!((ada.username.as_str(), ada.email.as_str()), ("ada", "ada@example.com"));
    assert_eq!(ada.full_name.as_deref(), Some("ada full"));
    assert_eq!(ada.hashed_password, "$argon2id$hash-of-ada");
    assert!(ada.is_active && ada.is_admin);
    assert!(ada.created_at > before && ada.created_at <= Utc::now());
    assert_eq!((ada.updated_at, ada.last_login), (ada.created_at, None));

    let bob = s.create_user(NewUser { full_name: None, ..new_user("bob") }).await.unwrap();
    let cy = s.create_user(new_user("cy")).await.unwrap();
    assert!(ada.id < bob.id && bob.id < cy.id);
    assert_eq!((bob.full_name.clone(), bob.is_admin), (None, false));

    assert_eq!(s.user_by_id(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(s.user_by_username("bob").await.unwrap(), Some(bob.clone()));
    assert_eq!(s.user_by_username("BOB").await.unwrap(), None);
    assert_eq!(s.user_by_id(cy.id + 100).await.unwrap(), None);
    assert_eq!(s.count_users().await.unwrap(), 3);
    assert_eq!(s.list_users(10, 0).await.unwrap(), [ada.clone(), bob.clone(), cy.clone()]);
    assert_eq!(s.list_users(2, 1).await.unwrap(), [bob.clone(), cy.clone()]);
    assert_eq!(s.list_users(10, 3).await.unwrap(), []);

    // A partial update changes what it names and nothing else.
    let update = UserUpdate { full_name: Some(None), is_admin: Some(true), ..UserUpdate::default() };
    let ada2 = s.update_user(ada.id, update).await.unwrap();
    assert_eq!((ada2.full_name.clone(), ada2.is_admin, ada2.email.clone()), (None, true, ada.email.clone()));
    assert_eq!((ada2.created_at, ada2.hashed_password.clone()), (ada.created_at, ada.hashed_password.clone()));
    assert!(ada2.updated_at >= ada.updated_at);
    let full = UserUpdate {
        email: Some("ada@new.example".into()),
        full_name: Some(Some("Ada L.".into())),
        hashed_password: Some("new-hash".into()),
        is_active: Some(false),
        is_admin: Some(false),
    };
    let ada3 = s.update_user(ada.id, full).await.unwrap();
    assert_eq!(ada3.email, "ada@new.example");
    assert_eq!(ada3.full_name.as_deref(), Some("Ada L."));
    assert_eq!(ada3.hashed_password, "new-hash");
    assert!(!ada3.is_active && !ada3.is_admin);
    assert_eq!(s.user_by_id(ada.id).await.unwrap(), Some(ada3.clone()));
    assert!(matches!(s.update_user(cy.id + 100, UserUpdate::default()).await, Err(MetaError::NotFound)));

    let login = t("2024-05-01T12:00:00.123456Z");
    s.set_last_login(bob.id, login).await.unwrap();
    assert_eq!(s.user_by_id(bob.id).await.unwrap().unwrap().last_login, Some(login));
    assert!(matches!(s.set_last_login(cy.id + 100, login).await, Err(MetaError::NotFound)));

    // Ids are never reused, even the largest one's.
    assert!(s.delete_user(cy.id).await.unwrap());
    assert!(!s.delete_user(cy.id).await.unwrap());
    assert_eq!(s.user_by_id(cy.id).await.unwrap(), None);
    assert_eq!(s.count_users().await.unwrap(), 2);
    let dee = s.create_user(new_user("cy")).await.unwrap();
    assert!(dee.id > cy.id, "id {} reused", dee.id);
}

async fn user_conflicts(db: Db) {
    let s = &db.store;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let bob = s.create_user(new_user("bob")).await.unwrap();
    let conflict = |r: Result<_, MetaError>| match r {
        Err(MetaError::Conflict(msg)) => msg,
        other => panic!("expected a conflict, got {other:?}"),
    };
    let same_name = NewUser { email: "other@example.com".into(), ..new_user("ada") };
    assert_eq!(conflict(s.create_user(same_name).await), "username already exists");
    let same_email = NewUser { email: "ada@example.com".into(), ..new_user("zed") };
    assert_eq!(conflict(s.create_user(same_email).await), "email already registered");
    let taken = UserUpdate { email: Some("ada@example.com".into()), ..UserUpdate::default() };
    assert_eq!(conflict(s.update_user(bob.id, taken).await), "email already registered");
    // Nothing changed; keeping one's own email is no conflict.
    assert_eq!(s.user_by_id(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(s.count_users().await.unwrap(), 2);
    let own = UserUpdate { email: Some("ada@example.com".into()), ..UserUpdate::default() };
    assert_eq!(s.update_user(ada.id, own).await.unwrap().email, "ada@example.com");
    // A rule naming a user that does not exist is the caller's mistake, not a server error.
    assert!(matches!(s.create_rule(new_rule("r", Some(bob.id + 100))).await, Err(MetaError::Invalid(_))));
}

/// Strings that break string-built SQL, escaping or encodings.
const HOSTILE: &[&str] = &[
    "'; DROP TABLE users; --",
    "\" OR 1=1 --",
    "\\",
    "\\'; --",
    "Robert'); DELETE FROM alert_rules WHERE ('1'='1",
    "ünïcødé ログ 日本語 🚀 \u{202e}rtl",
    "%_* LIKE wildcards",
    "$1 ?1 :name @p",
    "line\nbreak\ttab\r",
    "",
];

async fn hostile_strings_round_trip(db: Db) {
    let s = &db.store;
    for (i, text) in HOSTILE.iter().map(|t| t.to_string()).enumerate() {
        let user = s
            .create_user(NewUser {
                username: text.clone(),
                email: format!("{i}{text}"),
                full_name: Some(text.clone()),
                hashed_password: text.clone(),
                is_admin: false,
            })
            .await
            .unwrap();
        let read = s.user_by_username(&text).await.unwrap().unwrap();
        assert_eq!(read, user);
        assert_eq!(
            (read.username.as_str(), read.email.clone(), read.full_name.as_deref()),
            (text.as_str(), format!("{i}{text}"), Some(text.as_str()))
        );
        assert_eq!(read.hashed_password, text);

        let rule = s
            .create_rule(NewAlertRule {
                name: text.clone(),
                description: Some(text.clone()),
                rule_type: text.clone(),
                condition: text.clone(),
                levels: vec![text.clone(), "ERROR".into()],
                services: vec![text.clone()],
                query: Some(text.clone()),
                anomaly: Some(json!({ text.clone(): text.clone() })),
                notification_channel: text.clone(),
                notification_config: json!({"url": text.clone(), "list": [text.clone()]}),
                ..new_rule("x", Some(user.id))
            })
            .await
            .unwrap();
        let read = s.get_rule(rule.id).await.unwrap().unwrap();
        assert_eq!(read, rule);
        assert_eq!(
            (read.name.as_str(), read.condition.as_str(), read.query.as_deref()),
            (text.as_str(), text.as_str(), Some(text.as_str()))
        );
        assert_eq!(read.levels, [text.clone(), "ERROR".to_string()]);
        assert_eq!(read.anomaly, Some(json!({ text.clone(): text.clone() })));
        assert_eq!(read.notification_config["url"], json!(text));

        let alert = s
            .record_trigger(NewTriggeredAlert {
                rule_name: text.clone(),
                condition: text.clone(),
                sample_log_ids: vec![text.clone()],
                message: text.clone(),
                ..new_alert(rule.id, Utc::now())
            })
            .await
            .unwrap()
            .unwrap();
        s.update_notification(alert.id, &text, 1, Some(&text)).await.unwrap();
        let read = s.get_triggered(alert.id).await.unwrap().unwrap();
        assert_eq!(
            (read.rule_name.as_str(), read.condition.as_str(), read.message.as_str()),
            (text.as_str(), text.as_str(), text.as_str())
        );
        assert_eq!(read.sample_log_ids, std::slice::from_ref(&text));
        assert_eq!(
            (read.notification_status.as_str(), read.notification_error.as_deref()),
            (text.as_str(), Some(text.as_str()))
        );

        s.set_config(&text, &json!(text)).await.unwrap();
        assert_eq!(s.get_config(&text).await.unwrap(), Some(json!(text)));

        let search = s
            .create_saved_search(NewSavedSearch { user_id: user.id, name: text.clone(), params: text.clone() })
            .await
            .unwrap();
        assert_eq!((search.name.as_str(), search.params.as_str()), (text.as_str(), text.as_str()));
        assert_eq!(s.list_saved_searches(user.id).await.unwrap(), [search]);
    }
    // Every row is there: no statement was cut short or widened by a string.
    let n = HOSTILE.len();
    assert_eq!(s.count_users().await.unwrap() as usize, n);
    assert_eq!(s.list_rules(RuleFilter::default()).await.unwrap().len(), n);
    assert_eq!(s.list_config().await.unwrap().len(), n);
    assert_eq!(s.export().await.unwrap().saved_searches.len(), n);
    let all = TriggeredFilter { limit: 1000, ..TriggeredFilter::default() };
    assert_eq!(s.list_triggered(all.clone()).await.unwrap().len(), n);
    let by_status = TriggeredFilter { status: Some("' OR 1=1 --".into()), ..all };
    assert_eq!(s.list_triggered(by_status).await.unwrap(), []);
    assert_eq!(s.user_by_username("' OR '1'='1").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Saved searches

fn names(searches: &[SavedSearch]) -> Vec<&str> {
    searches.iter().map(|s| s.name.as_str()).collect()
}

async fn saved_search_crud(db: Db) {
    let s = &db.store;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    assert_eq!(s.list_saved_searches(ada.id).await.unwrap(), []);

    let before = Utc::now() - TimeDelta::seconds(1);
    let errors = s.create_saved_search(new_search(ada.id, "errors")).await.unwrap();
    assert_eq!((errors.user_id, errors.name.as_str()), (ada.id, "errors"));
    assert_eq!(errors.params, new_search(ada.id, "errors").params);
    assert!(errors.created_at > before && errors.created_at <= Utc::now());

    // By name, in byte order on both backends (upper case before lower case).
    let mut created = vec![errors.clone()];
    for name in ["b", "Zeta", "a", "Alpha"] {
        let search = s.create_saved_search(new_search(ada.id, name)).await.unwrap();
        assert!(search.id > created.last().unwrap().id);
        created.push(search);
    }
    let listed = s.list_saved_searches(ada.id).await.unwrap();
    assert_eq!(names(&listed), ["Alpha", "Zeta", "a", "b", "errors"]);
    assert_eq!(listed[4], errors, "listed as created");

    assert!(s.delete_saved_search(errors.id, ada.id).await.unwrap());
    assert!(!s.delete_saved_search(errors.id, ada.id).await.unwrap());
    assert!(!s.delete_saved_search(created.last().unwrap().id + 100, ada.id).await.unwrap());
    assert_eq!(names(&s.list_saved_searches(ada.id).await.unwrap()), ["Alpha", "Zeta", "a", "b"]);
    // Ids are never reused.
    let again = s.create_saved_search(new_search(ada.id, "errors")).await.unwrap();
    assert!(again.id > created.last().unwrap().id, "id {} reused", again.id);

    // A search for a user that does not exist is the caller's mistake, not a server error.
    let orphan = s.create_saved_search(new_search(ada.id + 100, "x")).await;
    assert!(matches!(orphan, Err(MetaError::Invalid(_))), "{orphan:?}");
    assert_eq!(s.list_saved_searches(ada.id + 100).await.unwrap(), []);
}

async fn saved_searches_are_private_to_their_user(db: Db) {
    let s = &db.store;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let bob = s.create_user(new_user("bob")).await.unwrap();
    let mine = s.create_saved_search(new_search(ada.id, "mine")).await.unwrap();
    let also = s.create_saved_search(new_search(ada.id, "also mine")).await.unwrap();
    let his = s.create_saved_search(new_search(bob.id, "his")).await.unwrap();

    assert_eq!(s.list_saved_searches(ada.id).await.unwrap(), [also.clone(), mine.clone()]);
    assert_eq!(s.list_saved_searches(bob.id).await.unwrap(), std::slice::from_ref(&his));

    // Bob cannot delete Ada's search, nor Ada Bob's; the searches stay.
    assert!(!s.delete_saved_search(mine.id, bob.id).await.unwrap());
    assert!(!s.delete_saved_search(his.id, ada.id).await.unwrap());
    assert_eq!(s.list_saved_searches(ada.id).await.unwrap(), [also.clone(), mine.clone()]);
    assert_eq!(s.list_saved_searches(bob.id).await.unwrap(), std::slice::from_ref(&his));

    assert!(s.delete_saved_search(mine.id, ada.id).await.unwrap());
    assert_eq!(s.list_saved_searches(ada.id).await.unwrap(), [also]);
    assert_eq!(s.list_saved_searches(bob.id).await.unwrap(), [his]);
}

async fn saved_search_names_are_unique_per_user(db: Db) {
    let s = &db.store;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let bob = s.create_user(new_user("bob")).await.unwrap();
    let first = s.create_saved_search(new_search(ada.id, "errors")).await.unwrap();

    let again = NewSavedSearch { params: "{}".into(), ..new_search(ada.id, "errors") };
    match s.create_saved_search(again).await {
        Err(MetaError::Conflict(msg)) => assert_eq!(msg, "a saved search named 'errors' already exists"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        s.list_saved_searches(ada.id).await.unwrap(),
        std::slice::from_ref(&first),
        "the refused write changed nothing"
    );

    // Names are exact: another case is another name.
    s.create_saved_search(new_search(ada.id, "Errors")).await.unwrap();
    // Another user may use the same name.
    let bobs = s.create_saved_search(new_search(bob.id, "errors")).await.unwrap();
    assert_eq!((bobs.user_id, bobs.name.as_str()), (bob.id, "errors"));
    assert_eq!(s.list_saved_searches(bob.id).await.unwrap(), [bobs]);

    // Once deleted, the name is free again.
    assert!(s.delete_saved_search(first.id, ada.id).await.unwrap());
    let reused = s.create_saved_search(new_search(ada.id, "errors")).await.unwrap();
    assert_eq!(names(&s.list_saved_searches(ada.id).await.unwrap()), ["Errors", "errors"]);
    assert!(reused.id > first.id);
}

async fn saved_searches_are_deleted_with_their_user(db: Db) {
    let s = &db.store;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let bob = s.create_user(new_user("bob")).await.unwrap();
    let gone = s.create_saved_search(new_search(ada.id, "a1")).await.unwrap();
    s.create_saved_search(new_search(ada.id, "a2")).await.unwrap();
    let kept = s.create_saved_search(new_search(bob.id, "b1")).await.unwrap();

    assert!(s.delete_user(ada.id).await.unwrap());
    assert_eq!(s.list_saved_searches(ada.id).await.unwrap(), []);
    assert_eq!(s.list_saved_searches(bob.id).await.unwrap(), std::slice::from_ref(&kept));
    assert_eq!(s.export().await.unwrap().saved_searches, [kept]);
    assert!(!s.delete_saved_search(gone.id, ada.id).await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Rules

async fn rule_crud_and_patch(db: Db) {
    let s = &db.store;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let bob = s.create_user(new_user("bob")).await.unwrap();
    let spec = NewAlertRule {
        rule_type: "anomaly".into(),
        anomaly: Some(json!({"sensitivity": 2.5, "baseline_hours": 24})),
        ..new_rule("errors", Some(ada.id))
    };
    let r1 = s.create_rule(spec.clone()).await.unwrap();
    assert_eq!(r1.name, spec.name);
    assert_eq!((r1.description.clone(), r1.rule_type.clone()), (spec.description.clone(), spec.rule_type.clone()));
    assert_eq!((r1.condition.clone(), r1.threshold, r1.time_window), (spec.condition.clone(), 50.5, 5));
    assert_eq!((r1.levels.clone(), r1.services.clone()), (spec.levels.clone(), spec.services.clone()));
    assert_eq!((r1.query.clone(), r1.anomaly.clone()), (spec.query.clone(), spec.anomaly.clone()));
    assert_eq!(r1.notification_channel, spec.notification_channel);
    assert_eq!(r1.notification_config, spec.notification_config);
    assert_eq!((r1.is_active, r1.cooldown_minutes, r1.created_by), (true, Some(10), Some(ada.id)));
    assert_eq!((r1.last_checked, r1.last_triggered, r1.trigger_count), (None, None, 0));
    assert_eq!(r1.updated_at, r1.created_at);

    let bare = NewAlertRule {
        description: None,
        levels: vec![],
        services: vec![],
        query: None,
        cooldown_minutes: None,
        is_active: false,
        ..new_rule("quiet", Some(bob.id))
    };
    let r2 = s.create_rule(bare).await.unwrap();
    assert_eq!((r2.description.clone(), r2.query.clone(), r2.anomaly.clone()), (None, None, None));
    assert!(r2.levels.is_empty() && r2.services.is_empty() && !r2.is_active);
    let r3 = s.create_rule(new_rule("orphan", None)).await.unwrap();
    assert_eq!(s.get_rule(r1.id).await.unwrap(), Some(r1.clone()));
    assert_eq!(s.get_rule(r3.id + 100).await.unwrap(), None);

    let ids = |rules: Vec<AlertRule>| rules.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_rules(RuleFilter::default()).await.unwrap()), [r1.id, r2.id, r3.id]);
    let active = RuleFilter { active_only: true, created_by: None };
    assert_eq!(ids(s.list_rules(active).await.unwrap()), [r1.id, r3.id]);
    let by_bob = RuleFilter { active_only: false, created_by: Some(bob.id) };
    assert_eq!(ids(s.list_rules(by_bob).await.unwrap()), [r2.id]);
    let active_by_bob = RuleFilter { active_only: true, created_by: Some(bob.id) };
    assert!(ids(s.list_rules(active_by_bob).await.unwrap()).is_empty());

    // An empty patch changes nothing but updated_at.
    let same = s.update_rule(r1.id, AlertRulePatch::default()).await.unwrap();
    assert!(same.updated_at >= r1.updated_at);
    assert_eq!(AlertRule { updated_at: r1.updated_at, ..same }, r1);

    let patch = AlertRulePatch {
        name: Some("errors v2".into()),
        description: Some(None),
        threshold: Some(7.25),
        levels: Some(vec!["WARNING".into()]),
        anomaly: Some(None),
        query: Some(Some("service:api".into())),
        cooldown_minutes: Some(None),
        notification_config: Some(json!({"to": ["ops@example.com"]})),
        is_active: Some(false),
        ..AlertRulePatch::default()
    };
    let p = s.update_rule(r1.id, patch).await.unwrap();
    assert_eq!((p.name.as_str(), p.description.clone(), p.threshold), ("errors v2", None, 7.25));
    assert_eq!(
        (p.levels.clone(), p.anomaly.clone(), p.query.as_deref()),
        (vec!["WARNING".to_string()], None, Some("service:api"))
    );
    assert_eq!((p.cooldown_minutes, p.is_active), (None, false));
    assert_eq!(p.notification_config, json!({"to": ["ops@example.com"]}));
    // Untouched fields kept.
    assert_eq!(
        (p.rule_type.clone(), p.condition.clone(), p.time_window),
        (r1.rule_type.clone(), r1.condition.clone(), 5)
    );
    assert_eq!(
        (p.services.clone(), p.notification_channel.clone()),
        (r1.services.clone(), r1.notification_channel.clone())
    );
    assert_eq!((p.created_by, p.created_at, p.trigger_count), (r1.created_by, r1.created_at, 0));
    assert_eq!(s.get_rule(r1.id).await.unwrap(), Some(p.clone()));

    let rest = AlertRulePatch {
        description: Some(Some("back".into())),
        rule_type: Some("threshold".into()),
        condition: Some("less_than".into()),
        time_window: Some(60),
        services: Some(vec![]),
        anomaly: Some(Some(json!({"k": 1}))),
        notification_channel: Some("email".into()),
        cooldown_minutes: Some(Some(0)),
        ..AlertRulePatch::default()
    };
    let q = s.update_rule(r1.id, rest).await.unwrap();
    assert_eq!(
        (q.description.as_deref(), q.rule_type.as_str(), q.condition.as_str()),
        (Some("back"), "threshold", "less_than")
    );
    assert_eq!((q.time_window, q.services.len(), q.anomaly.clone()), (60, 0, Some(json!({"k": 1}))));
    assert_eq!((q.notification_channel.as_str(), q.cooldown_minutes, q.name.as_str()), ("email", Some(0), "errors v2"));

    assert!(matches!(s.update_rule(r3.id + 100, AlertRulePatch::default()).await, Err(MetaError::NotFound)));
    assert!(s.delete_rule(r2.id).await.unwrap());
    assert!(!s.delete_rule(r2.id).await.unwrap());
    assert_eq!(s.get_rule(r2.id).await.unwrap(), None);
    assert_eq!(ids(s.list_rules(RuleFilter::default()).await.unwrap()), [r1.id, r3.id]);
}

async fn deleting_rules_and_users_keeps_alert_history(db: Db) {
    let s = &db.store;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let rule = s.create_rule(new_rule("doomed", Some(ada.id))).await.unwrap();
    let other = s.create_rule(new_rule("kept", Some(ada.id))).await.unwrap();
    let alert = trigger(&db.store, rule.id, t("2024-05-01T12:00:00Z")).await;
    s.acknowledge(alert.id, ada.id, t("2024-05-01T12:01:00Z")).await.unwrap();

    assert!(s.delete_rule(rule.id).await.unwrap());
    let kept = s.get_triggered(alert.id).await.unwrap().unwrap();
    assert_eq!((kept.rule_id, kept.rule_name.as_str()), (None, alert.rule_name.as_str()));
    assert_eq!(kept.acknowledged_by, Some(ada.id));

    assert!(s.delete_user(ada.id).await.unwrap());
    let kept = s.get_triggered(alert.id).await.unwrap().unwrap();
    assert_eq!((kept.acknowledged_by, kept.status.as_str()), (None, alert_status::ACKNOWLEDGED));
    assert_eq!(s.get_rule(other.id).await.unwrap().unwrap().created_by, None);
}

async fn claim_rule_check_has_one_winner_per_tick(db: Db) {
    let s = &db.store;
    let second = db.reopen(opts()).await;
    let rule = s.create_rule(new_rule("r", None)).await.unwrap();
    let interval = Duration::from_secs(60);
    let base = t("2024-05-01T12:00:00Z");
    for tick in 0..5 {
        let now = base + TimeDelta::seconds(60 * tick);
        let claims =
            race(
                [s, &second],
                24,
                |store| async move { store.claim_rule_check(rule.id, now, interval).await.unwrap() },
            )
            .await;
        let wins = claims.into_iter().filter(|won| *won).count();
        assert_eq!(wins, 1, "tick {tick}");
        assert_eq!(s.get_rule(rule.id).await.unwrap().unwrap().last_checked, Some(now));
        // Within the interval nobody wins, from either process.
        assert!(!second.claim_rule_check(rule.id, now + TimeDelta::seconds(59), interval).await.unwrap());
        assert!(!s.claim_rule_check(rule.id, now - TimeDelta::seconds(30), interval).await.unwrap());
    }
    // Inactive and missing rules are never claimed.
    let off = s.create_rule(NewAlertRule { is_active: false, ..new_rule("off", None) }).await.unwrap();
    assert!(!s.claim_rule_check(off.id, base, interval).await.unwrap());
    assert!(!s.claim_rule_check(off.id + 100, base, interval).await.unwrap());
    assert_eq!(s.get_rule(off.id).await.unwrap().unwrap().last_checked, None);
}

async fn record_trigger_keeps_one_open_alert(db: Db) {
    let s = &db.store;
    let second = db.reopen(opts()).await;
    let rule = s.create_rule(new_rule("r", None)).await.unwrap();
    let at = t("2024-05-01T12:00:00.000001Z");
    assert_eq!(s.open_alert_for_rule(rule.id).await.unwrap(), None);

    let recorded: Vec<TriggeredAlert> =
        race([s, &second], 24, |store| async move { store.record_trigger(new_alert(rule.id, at)).await.unwrap() })
            .await
            .into_iter()
            .flatten()
            .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let first = &recorded[0];
    let expected = new_alert(rule.id, at);
    assert_eq!(
        (first.rule_id, first.rule_name.as_str(), first.triggered_at),
        (Some(rule.id), expected.rule_name.as_str(), at)
    );
    assert_eq!((first.value, first.threshold, first.condition.as_str()), (120.0, 50.5, "greater_than"));
    assert_eq!(
        (first.time_window, first.sample_log_ids.clone(), first.message.clone()),
        (5, expected.sample_log_ids, expected.message)
    );
    assert_eq!(
        (first.status.as_str(), first.notification_status.as_str()),
        (alert_status::TRIGGERED, notification_status::PENDING)
    );
    assert_eq!((first.notification_attempts, first.notification_error.clone()), (0, None));
    assert_eq!((first.acknowledged_by, first.resolved_by, first.recovered_at), (None, None, None));
    assert!(first.is_open());
    assert_eq!(s.open_alert_for_rule(rule.id).await.unwrap().as_ref(), Some(first));
    let counted = s.get_rule(rule.id).await.unwrap().unwrap();
    assert_eq!((counted.trigger_count, counted.last_triggered), (1, Some(at)));

    // Acknowledged is still open; resolved is not.
    s.acknowledge(first.id, 0, at).await.expect_err("no user 0");
    let ada = s.create_user(new_user("ada")).await.unwrap();
    s.acknowledge(first.id, ada.id, at).await.unwrap();
    assert_eq!(s.record_trigger(new_alert(rule.id, at)).await.unwrap(), None);
    s.resolve(first.id, ada.id, at).await.unwrap();
    assert_eq!(s.open_alert_for_rule(rule.id).await.unwrap(), None);
    let later = at + TimeDelta::minutes(5);
    let next = trigger(&second, rule.id, later).await;
    assert!(next.id > first.id);
    // Recovered is closed too.
    assert!(s.mark_recovered(next.id, later).await.unwrap());
    let third = trigger(&db.store, rule.id, later + TimeDelta::minutes(1)).await;
    let counted = s.get_rule(rule.id).await.unwrap().unwrap();
    assert_eq!((counted.trigger_count, counted.last_triggered), (3, Some(third.triggered_at)));
    assert_eq!(s.open_alert_for_rule(rule.id).await.unwrap().map(|a| a.id), Some(third.id));
    assert!(matches!(s.record_trigger(new_alert(rule.id + 100, at)).await, Err(MetaError::NotFound)));
}

// ---------------------------------------------------------------------------------------------
// Alert lifecycle

async fn alert_transitions(db: Db) {
    let s = &db.store;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let bob = s.create_user(new_user("bob")).await.unwrap();
    let r1 = s.create_rule(new_rule("r1", None)).await.unwrap();
    let r2 = s.create_rule(new_rule("r2", None)).await.unwrap();
    let at = t("2024-05-01T12:00:00Z");
    let ack_at = t("2024-05-01T12:03:00.5Z");
    let res_at = t("2024-05-01T12:07:00Z");

    // triggered -> acknowledged -> resolved
    let a = trigger(&db.store, r1.id, at).await;
    let acked = s.acknowledge(a.id, ada.id, ack_at).await.unwrap();
    assert_eq!(
        (acked.status.as_str(), acked.acknowledged_by, acked.acknowledged_at),
        (alert_status::ACKNOWLEDGED, Some(ada.id), Some(ack_at))
    );
    assert_eq!((acked.resolved_by, acked.resolved_at), (None, None));
    assert_eq!(s.get_triggered(a.id).await.unwrap(), Some(acked.clone()));
    expect_invalid_transition(s.acknowledge(a.id, bob.id, res_at).await, "acknowledged", "acknowledged");
    let resolved = s.resolve(a.id, bob.id, res_at).await.unwrap();
    assert_eq!(
        (resolved.status.as_str(), resolved.resolved_by, resolved.resolved_at),
        (alert_status::RESOLVED, Some(bob.id), Some(res_at))
    );
    assert_eq!((resolved.acknowledged_by, resolved.acknowledged_at), (Some(ada.id), Some(ack_at)));
    expect_invalid_transition(s.acknowledge(a.id, ada.id, res_at).await, "resolved", "acknowledged");
    expect_invalid_transition(s.resolve(a.id, ada.id, res_at).await, "resolved", "resolved");
    assert_eq!(s.get_triggered(a.id).await.unwrap(), Some(resolved), "refused moves change nothing");

    // triggered -> resolved directly
    let b = trigger(&db.store, r2.id, at).await;
    let resolved = s.resolve(b.id, ada.id, res_at).await.unwrap();
    assert_eq!(
        (resolved.status.as_str(), resolved.acknowledged_by, resolved.resolved_by),
        (alert_status::RESOLVED, None, Some(ada.id))
    );
    expect_invalid_transition(s.acknowledge(b.id, ada.id, res_at).await, "resolved", "acknowledged");

    let missing = resolved.id + 100;
    assert!(matches!(s.acknowledge(missing, ada.id, at).await, Err(MetaError::NotFound)));
    assert!(matches!(s.resolve(missing, ada.id, at).await, Err(MetaError::NotFound)));
    assert_eq!(s.get_triggered(missing).await.unwrap(), None);
}

async fn concurrent_resolves_have_one_winner(db: Db) {
    let s = &db.store;
    let second = db.reopen(opts()).await;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let rule = s.create_rule(new_rule("r", None)).await.unwrap();
    let alert = trigger(&db.store, rule.id, Utc::now()).await;
    let results =
        race([s, &second], 16, |store| async move { store.resolve(alert.id, ada.id, Utc::now()).await }).await;
    let (mut won, mut refused) = (0, 0);
    for result in results {
        match result {
            Ok(a) => {
                assert_eq!(a.status, alert_status::RESOLVED);
                won += 1;
            }
            Err(MetaError::InvalidTransition { from, .. }) if from == alert_status::RESOLVED => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((won, refused), (1, 15));
}

async fn recovery_and_notification_bookkeeping(db: Db) {
    let s = &db.store;
    let rule = s.create_rule(new_rule("r", None)).await.unwrap();
    let alert = trigger(&db.store, rule.id, t("2024-05-01T12:00:00Z")).await;
    let first = t("2024-05-01T12:10:00Z");
    assert!(s.mark_recovered(alert.id, first).await.unwrap());
    assert!(!s.mark_recovered(alert.id, first + TimeDelta::minutes(1)).await.unwrap());
    let read = s.get_triggered(alert.id).await.unwrap().unwrap();
    assert_eq!((read.recovered_at, read.status.as_str()), (Some(first), alert_status::TRIGGERED));
    assert!(!read.is_open());
    assert!(matches!(s.mark_recovered(alert.id + 100, first).await, Err(MetaError::NotFound)));

    s.update_notification(alert.id, notification_status::FAILED, 3, Some("connection refused")).await.unwrap();
    let read = s.get_triggered(alert.id).await.unwrap().unwrap();
    assert_eq!((read.notification_status.as_str(), read.notification_attempts), (notification_status::FAILED, 3));
    assert_eq!(read.notification_error.as_deref(), Some("connection refused"));
    s.update_notification(alert.id, notification_status::SENT, 4, None).await.unwrap();
    let read = s.get_triggered(alert.id).await.unwrap().unwrap();
    assert_eq!(
        (read.notification_status.as_str(), read.notification_attempts, read.notification_error),
        (notification_status::SENT, 4, None)
    );
    let missing = s.update_notification(alert.id + 100, notification_status::SENT, 1, None).await;
    assert!(matches!(missing, Err(MetaError::NotFound)));
}

async fn list_triggered_filters_and_order(db: Db) {
    let s = &db.store;
    let ada = s.create_user(new_user("ada")).await.unwrap();
    let r1 = s.create_rule(new_rule("r1", None)).await.unwrap();
    let r2 = s.create_rule(new_rule("r2", None)).await.unwrap();
    let noon = t("2024-05-01T12:00:00Z");
    // (rule, minutes after noon); a rule's alerts are recovered so the next one may open.
    let plan = [(r1.id, 0), (r2.id, 10), (r1.id, 10), (r2.id, 10), (r1.id, 30), (r2.id, 45)];
    let mut alerts = Vec::new();
    for (rule, minutes) in plan {
        let at = noon + TimeDelta::minutes(minutes);
        if let Some(open) = s.open_alert_for_rule(rule).await.unwrap() {
            s.mark_recovered(open.id, at).await.unwrap();
        }
        alerts.push(trigger(&db.store, rule, at).await);
    }
    // Sub-second precision matters in the order: this one is 1 µs after the 12:10 alerts.
    if let Some(open) = s.open_alert_for_rule(r1.id).await.unwrap() {
        s.mark_recovered(open.id, noon).await.unwrap();
    }
    alerts.push(trigger(&db.store, r1.id, noon + TimeDelta::minutes(10) + TimeDelta::microseconds(1)).await);
    let id = |i: usize| alerts[i].id;
    s.acknowledge(id(1), ada.id, noon).await.unwrap();
    s.resolve(id(4), ada.id, noon).await.unwrap();

    let list = |filter: TriggeredFilter| async move {
        s.list_triggered(filter).await.unwrap().into_iter().map(|a| a.id).collect::<Vec<_>>()
    };
    let all = TriggeredFilter::default();
    // Newest first; equal times by id, descending.
    assert_eq!(list(all.clone()).await, [id(5), id(4), id(6), id(3), id(2), id(1), id(0)]);
    assert_eq!(list(TriggeredFilter { rule_id: Some(r1.id), ..all.clone() }).await, [id(4), id(6), id(2), id(0)]);
    assert_eq!(list(TriggeredFilter { status: Some("acknowledged".into()), ..all.clone() }).await, [id(1)]);
    assert!(list(TriggeredFilter { status: Some("resolved".into()), rule_id: Some(r2.id), ..all.clone() })
        .await
        .is_empty());
    let triggered = TriggeredFilter { status: Some("triggered".into()), rule_id: Some(r2.id), ..all.clone() };
    assert_eq!(list(triggered).await, [id(5), id(3)]);
    // `since` is inclusive, `until` exclusive.
    let window = TriggeredFilter {
        since: Some(noon + TimeDelta::minutes(10)),
        until: Some(noon + TimeDelta::minutes(30)),
        ..all.clone()
    };
    assert_eq!(list(window).await, [id(6), id(3), id(2), id(1)]);
    assert_eq!(list(TriggeredFilter { since: Some(noon + TimeDelta::minutes(45)), ..all.clone() }).await, [id(5)]);
    assert_eq!(list(TriggeredFilter { until: Some(noon + TimeDelta::minutes(10)), ..all.clone() }).await, [id(0)]);
    // Pages concatenate to the whole list.
    let mut paged = Vec::new();
    for offset in (0..8).step_by(3) {
        paged.extend(list(TriggeredFilter { limit: 3, offset, ..all.clone() }).await);
    }
    assert_eq!(paged, list(all).await);
}

// ---------------------------------------------------------------------------------------------
// System config

async fn config_get_set_overwrite(db: Db) {
    let s = &db.store;
    assert_eq!(s.get_config("retention_days").await.unwrap(), None);
    let values = [json!(30), json!("text"), json!({"a": {"b": [1, 2.5, null, true]}}), json!([]), json!(null)];
    for (i, value) in values.iter().enumerate() {
        s.set_config(&format!("key{i}"), value).await.unwrap();
    }
    for (i, value) in values.iter().enumerate() {
        assert_eq!(s.get_config(&format!("key{i}")).await.unwrap().as_ref(), Some(value));
    }
    let before = s.list_config().await.unwrap();
    s.set_config("key0", &json!(7)).await.unwrap();
    assert_eq!(s.get_config("key0").await.unwrap(), Some(json!(7)));
    let after = s.list_config().await.unwrap();
    assert_eq!(after.len(), values.len(), "overwrite, not insert");
    assert!(after[0].updated_at >= before[0].updated_at);
    // By key, in byte order on both backends.
    s.set_config("B", &json!(1)).await.unwrap();
    s.set_config("a", &json!(1)).await.unwrap();
    let keys: Vec<_> = s.list_config().await.unwrap().into_iter().map(|c| c.key).collect();
    assert_eq!(keys, ["B", "a", "key0", "key1", "key2", "key3", "key4"]);
}

// ---------------------------------------------------------------------------------------------
// Backup, restore, reset

/// Fills a store with users, rules and alerts in every state, settings, and gaps in the ids.
async fn populate(s: &Arc<dyn MetaStore>) {
    let ada = s.create_user(NewUser { is_admin: true, ..new_user("ada") }).await.unwrap();
    let gone = s.create_user(new_user("gone")).await.unwrap();
    let bob = s.create_user(NewUser { full_name: None, ..new_user("bob") }).await.unwrap();
    s.set_last_login(ada.id, t("2024-05-01T08:00:00.654321Z")).await.unwrap();
    s.update_user(bob.id, UserUpdate { is_active: Some(false), ..UserUpdate::default() }).await.unwrap();
    s.create_saved_search(new_search(gone.id, "gone with its user")).await.unwrap();
    s.delete_user(gone.id).await.unwrap();

    let anomaly = NewAlertRule {
        rule_type: "anomaly".into(),
        anomaly: Some(json!({"sensitivity": 3, "method": "zscore"})),
        ..new_rule("spikes", Some(ada.id))
    };
    let r1 = s.create_rule(anomaly).await.unwrap();
    let r2 = s
        .create_rule(NewAlertRule { is_active: false, description: None, ..new_rule("quiet", Some(bob.id)) })
        .await
        .unwrap();
    let r3 = s.create_rule(new_rule("deleted later", None)).await.unwrap();
    s.claim_rule_check(r1.id, t("2024-05-01T09:00:00Z"), Duration::from_secs(60)).await.unwrap();

    let a1 = trigger(s, r1.id, t("2024-05-01T09:00:00.000001Z")).await;
    s.acknowledge(a1.id, bob.id, t("2024-05-01T09:01:00Z")).await.unwrap();
    s.resolve(a1.id, ada.id, t("2024-05-01T09:02:00Z")).await.unwrap();
    let a2 = trigger(s, r1.id, t("2024-05-01T10:00:00Z")).await;
    s.update_notification(a2.id, notification_status::SENT, 1, None).await.unwrap();
    let a3 = trigger(s, r2.id, t("2024-05-01T10:30:00Z")).await;
    s.mark_recovered(a3.id, t("2024-05-01T10:35:00Z")).await.unwrap();
    s.update_notification(a3.id, notification_status::FAILED, 3, Some("timeout")).await.unwrap();
    trigger(s, r3.id, t("2024-05-01T11:00:00Z")).await;
    s.delete_rule(r3.id).await.unwrap();

    s.set_config("retention_days", &json!(14)).await.unwrap();
    s.set_config("smtp", &json!({"host": "mail", "port": 25, "tls": false})).await.unwrap();

    // Gaps in the ids here too, and a deleted user's searches went with it.
    let reconsidered = s.create_saved_search(new_search(ada.id, "reconsidered")).await.unwrap();
    s.create_saved_search(new_search(ada.id, "errors")).await.unwrap();
    s.create_saved_search(new_search(bob.id, "errors")).await.unwrap();
    s.create_saved_search(new_search(bob.id, "slow requests")).await.unwrap();
    s.delete_saved_search(reconsidered.id, ada.id).await.unwrap();
}

fn max_id(ids: impl Iterator<Item = i64>) -> i64 {
    ids.max().expect("the dump has rows")
}

async fn dump_round_trips_into_both_backends(db: Db) {
    populate(&db.store).await;
    let dump = db.store.export().await.unwrap();
    assert_eq!((dump.format.as_str(), dump.version, dump.backend.as_str()), (MetaDump::FORMAT, 1, db.store.backend()));
    assert_eq!(
        (dump.users.len(), dump.alert_rules.len(), dump.triggered_alerts.len(), dump.system_config.len()),
        (2, 2, 4, 2)
    );
    let searches: Vec<_> = dump.saved_searches.iter().map(|s| (s.user_id, s.name.as_str())).collect();
    let (ada, bob) = (dump.users[0].id, dump.users[1].id);
    assert_eq!(searches, [(ada, "errors"), (bob, "errors"), (bob, "slow requests")]);
    // Through the JSON file `logflow db backup` writes.
    let dump: MetaDump = serde_json::from_str(&serde_json::to_string_pretty(&dump).unwrap()).unwrap();

    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(target) = Db::create(backend).await else { continue };
        target.store.import(&dump).await.unwrap();
        let back = target.store.export().await.unwrap();
        assert_eq!(back.backend, target.store.backend());
        assert_eq!(back.users, dump.users, "users into {backend:?}");
        assert_eq!(back.alert_rules, dump.alert_rules, "rules into {backend:?}");
        assert_eq!(back.triggered_alerts, dump.triggered_alerts, "alerts into {backend:?}");
        assert_eq!(back.system_config, dump.system_config, "config into {backend:?}");
        assert_eq!(back.saved_searches, dump.saved_searches, "saved searches into {backend:?}");

        // The restored store keeps working: new rows get ids after the restored ones.
        let t = &target.store;
        let user = t.create_user(new_user("new")).await.unwrap();
        assert!(user.id > max_id(dump.users.iter().map(|u| u.id)), "{backend:?}");
        let rule = t.create_rule(new_rule("new", Some(user.id))).await.unwrap();
        assert!(rule.id > max_id(dump.alert_rules.iter().map(|r| r.id)), "{backend:?}");
        let alert = trigger(t, rule.id, Utc::now()).await;
        assert!(alert.id > max_id(dump.triggered_alerts.iter().map(|a| a.id)), "{backend:?}");
        let search = t.create_saved_search(new_search(user.id, "new")).await.unwrap();
        assert!(search.id > max_id(dump.saved_searches.iter().map(|s| s.id)), "{backend:?}");
        // ...the restored names are still taken...
        let owner = dump.saved_searches[0].user_id;
        let taken = t.create_saved_search(new_search(owner, &dump.saved_searches[0].name)).await;
        assert!(matches!(taken, Err(MetaError::Conflict(_))), "{backend:?}: {taken:?}");
        // ...and the restored open alert still blocks its rule.
        let open = dump.triggered_alerts.iter().find(|a| a.is_open() && a.rule_id.is_some()).unwrap();
        assert_eq!(t.record_trigger(new_alert(open.rule_id.unwrap(), Utc::now())).await.unwrap(), None);
    }
}

async fn import_refuses_non_empty_store_and_foreign_dumps(db: Db) {
    let source = Db::create(db.backend).await.unwrap();
    populate(&source.store).await;
    let dump = source.store.export().await.unwrap();
    let refused = |r: Result<(), MetaError>| assert!(matches!(r, Err(MetaError::Invalid(_))), "{r:?}");

    refused(db.store.import(&MetaDump { format: "pg_dump".into(), ..dump.clone() }).await);
    refused(db.store.import(&MetaDump { version: 2, ..dump.clone() }).await);
    assert_eq!(db.store.count_users().await.unwrap(), 0, "refused imports write nothing");

    // Any row makes the store non-empty, even a setting alone.
    db.store.set_config("k", &json!(true)).await.unwrap();
    refused(db.store.import(&dump).await);
    assert_eq!(db.store.count_users().await.unwrap(), 0);
    assert_eq!(db.store.list_config().await.unwrap().len(), 1);

    // A dump that fails at its last row leaves nothing behind (one transaction).
    db.store.reset().await.unwrap();
    let mut broken = dump.clone();
    broken.system_config.push(broken.system_config[0].clone());
    assert!(db.store.import(&broken).await.is_err());
    assert_eq!(db.store.count_users().await.unwrap(), 0);
    assert_eq!(db.store.list_config().await.unwrap(), []);
    // So does one whose saved search names a user it does not hold.
    let mut dangling = dump.clone();
    dangling.saved_searches[0].user_id = max_id(dump.users.iter().map(|u| u.id)) + 100;
    assert!(matches!(db.store.import(&dangling).await, Err(MetaError::Invalid(_))));
    assert_eq!(db.store.count_users().await.unwrap(), 0);
    db.store.import(&dump).await.unwrap();
    assert_eq!(db.store.count_users().await.unwrap(), 2);
    assert_eq!(db.store.export().await.unwrap().saved_searches, dump.saved_searches);
}

/// A backup written before saved searches existed has no `saved_searches` field.
async fn dump_without_saved_searches_still_imports(db: Db) {
    let source = Db::create(db.backend).await.unwrap();
    populate(&source.store).await;
    let dump = source.store.export().await.unwrap();
    let mut json = serde_json::to_value(&dump).unwrap();
    json.as_object_mut().unwrap().remove("saved_searches").expect("dumps carry saved searches");
    let old: MetaDump = serde_json::from_value(json).unwrap();
    assert_eq!(old.saved_searches, []);

    db.store.import(&old).await.unwrap();
    let back = db.store.export().await.unwrap();
    assert_eq!((&back.users, &back.alert_rules), (&dump.users, &dump.alert_rules));
    assert_eq!(back.saved_searches, []);
    let ada = back.users[0].id;
    let search = db.store.create_saved_search(new_search(ada, "errors")).await.unwrap();
    assert_eq!(db.store.list_saved_searches(ada).await.unwrap(), [search]);
}

async fn reset_empties_and_restarts_ids(db: Db) {
    let s = &db.store;
    populate(s).await;
    s.reset().await.unwrap();
    assert_eq!(s.count_users().await.unwrap(), 0);
    assert_eq!(s.list_rules(RuleFilter::default()).await.unwrap(), []);
    assert_eq!(s.list_triggered(TriggeredFilter::default()).await.unwrap(), []);
    assert_eq!(s.list_config().await.unwrap(), []);
    assert_eq!(s.export().await.unwrap().saved_searches, []);
    let admin = s.create_user(NewUser { is_admin: true, ..new_user("admin") }).await.unwrap();
    let rule = s.create_rule(new_rule("r", Some(admin.id))).await.unwrap();
    let alert = trigger(s, rule.id, Utc::now()).await;
    let search = s.create_saved_search(new_search(admin.id, "errors")).await.unwrap();
    assert_eq!((admin.id, rule.id, alert.id, search.id), (1, 1, 1, 1));
    // The emptied store accepts a restore.
    let dump = s.export().await.unwrap();
    s.reset().await.unwrap();
    s.import(&dump).await.unwrap();
    let users: HashSet<_> = s.list_users(10, 0).await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(users, HashSet::from(["admin".to_string()]));
    assert_eq!(s.list_saved_searches(admin.id).await.unwrap(), [search]);
}

// ---------------------------------------------------------------------------------------------
// Backend-specific

/// The SQLite file as the contract describes it: WAL, and timestamps whose text order is time order.
#[tokio::test]
async fn sqlite_file_is_wal_with_fixed_width_timestamps() {
    use sqlx::Connection;
    let db = Db::create(Backend::Sqlite).await.unwrap();
    let ada = db.store.create_user(new_user("ada")).await.unwrap();
    db.store.set_last_login(ada.id, t("2024-05-01T12:00:00Z")).await.unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await.unwrap();
    assert_eq!(mode, "wal");
    let (created, login): (String, String) =
        sqlx::query_as("SELECT created_at, last_login FROM users").fetch_one(&mut conn).await.unwrap();
    assert_eq!(login, "2024-05-01T12:00:00.000000Z");
    assert_eq!(created.len(), login.len(), "{created}");
    assert!(created.ends_with('Z'));
}

#[tokio::test]
async fn open_reports_bad_urls_and_unreachable_servers() {
    let invalid = open("mysql://root:s3cret@db/meta", opts()).await.err().unwrap();
    assert!(matches!(invalid, MetaError::Invalid(_)) && !invalid.to_string().contains("s3cret"), "{invalid}");
    let quick = OpenOptions { acquire_timeout: Duration::from_secs(2), ..opts() };
    let down = open("postgres://logflow:s3cret@127.0.0.1:1/meta", quick.clone()).await.err().unwrap();
    assert!(matches!(down, MetaError::Unavailable(_)) && !down.to_string().contains("s3cret"), "{down}");
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("sqlite://{}/missing-dir/meta.db", dir.path().display());
    assert!(matches!(open(&nowhere, quick).await, Err(MetaError::Unavailable(_))));
}
