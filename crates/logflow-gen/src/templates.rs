//! Per-service message templates.
//!
//! A template is a message with `{placeholders}`; every placeholder also becomes an attribute
//! (dotted keys such as `http.status` nest: `{"http": {"status": 201}}`), so the structured data
//! always agrees with the text. Placeholders after a `|` go to the attributes only, which keeps
//! messages short while still carrying e.g. `duration_ms`; `{~key}` is the opposite, text only
//! (keeps lines near the ~250-byte budget). `{key=kind}` picks a value kind other than the one
//! named by the key. Templates are parsed once per [`crate::Generator`]; rendering
//! is then a walk over pre-split segments.

use crate::values::Kind;

/// Log levels as written on the wire (same names LogFlow normalises to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lvl {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Lvl {
    #[cfg(test)]
    pub const ALL: [Lvl; 5] = [Lvl::Debug, Lvl::Info, Lvl::Warning, Lvl::Error, Lvl::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Lvl::Debug => "DEBUG",
            Lvl::Info => "INFO",
            Lvl::Warning => "WARNING",
            Lvl::Error => "ERROR",
            Lvl::Critical => "CRITICAL",
        }
    }

    pub fn is_error(self) -> bool {
        matches!(self, Lvl::Error | Lvl::Critical)
    }
}

/// A template as written in the tables below.
#[derive(Debug, Clone, Copy)]
pub struct Tpl {
    pub level: Lvl,
    pub text: &'static str,
    /// Background-only (periodic jobs, health checks): never used as a step of a request flow.
    pub bg: bool,
    /// When non-zero and used in a flow, the request is rejected here and the entry service
    /// answers with this (4xx) status: e.g. an expired token stops a checkout at auth.
    pub rejects: u16,
}

const fn t(level: Lvl, text: &'static str) -> Tpl {
    Tpl { level, text, bg: false, rejects: 0 }
}
const fn bg(level: Lvl, text: &'static str) -> Tpl {
    Tpl { level, text, bg: true, rejects: 0 }
}
const fn rej(status: u16, text: &'static str) -> Tpl {
    Tpl { level: Lvl::Warning, text, bg: false, rejects: status }
}

use Lvl::{Critical as C, Debug as D, Error as E, Info as I, Warning as W};

const GATEWAY: &[Tpl] = &[
    t(I, "proxying {http.method} {http.route} to {downstream}"),
    t(D, "matched route {http.route} -> {downstream}|{client_ip}"),
    t(W, "retrying {downstream} after {duration_ms}ms (attempt {attempt})"),
    t(E, "upstream {downstream} error: {cause}"),
    t(C, "no healthy upstream for {downstream}|{cause}"),
    bg(I, "upstream {downstream} healthy: {pool.active}/{pool.max} connections"),
    bg(D, "route table reloaded: {count} routes|{version}"),
    bg(W, "rate limit exceeded for {client_ip}: {count} req/min"),
    bg(W, "slow upstream {downstream}: p99 {duration_ms}ms over last 60s"),
    bg(E, "health check failed for {downstream}: {cause}"),
    bg(C, "all instances of {downstream} unhealthy, circuit open"),
];

const AUTH: &[Tpl] = &[
    t(I, "validated token for user {user_id}|{auth_method}{duration_ms}"),
    t(I, "user {user_id} logged in via {auth_method}|{client_ip}"),
    t(I, "issued session for user {user_id}|{auth_method}"),
    t(D, "token cache hit for user {user_id}|{cache.hit_ratio}"),
    rej(401, "rejected token for user {user_id}: {reason}"),
    rej(429, "too many failed logins for {email}, locked|{client_ip}"),
    t(W, "slow key lookup from vault: {duration_ms}ms"),
    t(E, "token validation failed: {cause}|{user_id}"),
    t(C, "signing key {key_id} unavailable: {cause}"),
    bg(I, "rotated signing key {key_id}"),
    bg(D, "purged {count} expired sessions|{duration_ms}"),
];

const ORDER: &[Tpl] = &[
    t(I, "created order {order_id} for user {user_id}: {amount} {currency}, qty {qty}"),
    t(I, "order {order_id} status changed to {order_status}|{user_id}"),
    t(I, "fetched order {order_id} for user {user_id}|{duration_ms}"),
    t(D, "loaded order {order_id} in {duration_ms}ms|{db.table}"),
    t(W, "slow query on {db.table}: {duration_ms}ms|{db.rows}"),
    t(W, "payment pending for order {order_id}, retry {attempt}"),
    rej(404, "order {order_id} not found for user {user_id}"),
    t(E, "failed to persist order {order_id}: {cause}"),
    t(C, "orders db primary unreachable: {cause}"),
    bg(I, "outbox relay published {count} events|{duration_ms}"),
    bg(W, "{count} orders pending for more than 15m"),
];

const INVENTORY: &[Tpl] = &[
    t(I, "reserved {qty} x {sku} in {warehouse}|{stock}"),
    t(I, "stock for {sku}: {stock} units|{warehouse}"),
    t(D, "cache miss for {sku}, loaded in {duration_ms}ms"),
    rej(409, "insufficient stock for {sku}: requested {qty}, available {stock=stock_short}"),
    t(W, "low stock for {sku}: {stock=stock_low} units left|{warehouse}"),
    t(E, "reservation for {sku} failed: {cause}|{qty}"),
    t(C, "lost connection to inventory db: {cause}"),
    bg(I, "sync imported {count} SKUs from {warehouse}|{duration_ms}"),
    bg(D, "released {count} expired reservations"),
];

const PAYMENT: &[Tpl] = &[
    t(I, "charged {amount} {currency} to {card_brand} *{card_last4} for order {order_id}|{provider}{duration_ms}"),
    t(I, "payment authorized for order {order_id}|{provider}{amount}"),
    t(D, "fraud score {fraud_score} for user {user_id}, below threshold"),
    rej(402, "card declined for order {order_id}: {decline_reason}|{card_brand}"),
    t(W, "{provider} slow: {duration_ms}ms (attempt {attempt})"),
    t(E, "charge failed for order {order_id}: {cause}|{provider}{amount}"),
    t(C, "{provider} circuit breaker open after {count} failures|{cause}"),
    bg(I, "settlement batch sent to {provider}: {count} transactions"),
    bg(W, "webhook from {provider} rejected: bad signature|{client_ip}"),
    t(I, "refunded {amount} {currency} for order {order_id}|{provider}"),
];

const NOTIFICATION: &[Tpl] = &[
    t(I, "sent {template} {channel} to user {user_id}|{duration_ms}"),
    t(I, "queued {template} for user {user_id}|{channel}"),
    t(D, "rendered {template} in {duration_ms}ms"),
    t(W, "{provider=notify_provider} throttled, retry in {duration_ms}ms"),
    t(W, "email to {email} bounced|{template}"),
    t(E, "delivery of {template} to user {user_id} failed: {cause}"),
    t(C, "queue {queue} backlog {queue_depth}, dropping messages|{cause}"),
    bg(I, "digest job sent {count} emails|{duration_ms}"),
    bg(D, "queue {queue} depth {queue_depth}"),
];

const USER: &[Tpl] = &[
    t(I, "loaded profile for user {user_id}|{duration_ms}"),
    t(I, "updated {field} for user {user_id}"),
    t(I, "registered user {user_id} ({email})"),
    t(D, "user {user_id} served from cache|{cache.hit_ratio}"),
    rej(409, "email {email} already registered"),
    t(W, "slow query on users: {duration_ms}ms"),
    t(E, "failed to load user {user_id}: {cause}"),
    t(C, "users db pool exhausted ({pool.max} connections)|{cause}{duration_ms}"),
    bg(I, "GDPR export for user {user_id} done ({count} records)"),
];

const SEARCH: &[Tpl] = &[
    t(I, "query '{query}' returned {hits} hits in {duration_ms}ms"),
    t(D, "query '{query}' expanded with {count} synonyms"),
    t(W, "slow query '{query}': {duration_ms}ms|{hits}"),
    t(W, "index {index} shard {shard} degraded, partial results"),
    t(E, "search failed for '{query}': {cause}"),
    t(C, "index {index} unavailable: {cause}"),
    bg(I, "reindexed {count} products into {index}|{duration_ms}"),
    bg(D, "index {index} refresh took {duration_ms}ms"),
];

/// Used for services outside [`crate::DEFAULT_SERVICES`].
const GENERIC: &[Tpl] = &[
    t(I, "handled request in {duration_ms}ms|{user_id}"),
    t(I, "processed job {job} ({count} items)"),
    t(D, "cache lookup for user {user_id} hit|{cache.hit_ratio}"),
    t(W, "slow operation: {duration_ms}ms"),
    t(W, "retrying after {cause} (attempt {attempt})"),
    t(E, "request failed: {cause}"),
    t(C, "dependency unavailable: {cause}"),
    bg(I, "heartbeat ok|{memory_mb}{version}"),
];

pub fn for_service(name: &str) -> &'static [Tpl] {
    match name {
        "api-gateway" => GATEWAY,
        "auth-service" => AUTH,
        "order-service" => ORDER,
        "inventory-service" => INVENTORY,
        "payment-service" => PAYMENT,
        "notification-service" => NOTIFICATION,
        "user-service" => USER,
        "search-service" => SEARCH,
        _ => GENERIC,
    }
}

/// Logged by the caller of a failed step (failure propagation).
pub const CALLER_WARN: Tpl = t(W, "call to {downstream} failed after {duration_ms}ms: {cause}");
pub const CALLER_ERROR: Tpl = t(E, "aborting request, {downstream} failed: {cause}");
/// Logged by the flow's entry service when the response is sent; level follows the status.
pub const ACCESS: Tpl = t(I, "{http.method} {~http.route} {http.status} {duration_ms}ms|{client_ip}");

/// A placeholder after parsing.
#[derive(Debug, Clone)]
pub struct Var {
    pub kind: Kind,
    /// Attribute group for dotted keys (`http` for `http.status`).
    pub group: Option<&'static str>,
    pub leaf: &'static str,
    /// False for `{~key}`: rendered into the message only.
    pub attr: bool,
}

#[derive(Debug, Clone)]
pub enum Seg {
    Lit(&'static str),
    Var(usize),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub level: Lvl,
    pub rejects: u16,
    pub bg: bool,
    pub segs: Vec<Seg>,
    pub vars: Vec<Var>,
    /// Order in which vars are written as attributes: grouped so each nested object is written
    /// once (`http.method` and `http.status` end up side by side even if apart in the text).
    pub attr_order: Vec<usize>,
}

impl Compiled {
    /// Parse a template. Panics on a malformed table entry: templates are static, and a test
    /// compiles every one of them.
    pub fn new(tpl: &Tpl) -> Compiled {
        let (msg, hidden) = match tpl.text.split_once('|') {
            Some((m, h)) => (m, h),
            None => (tpl.text, ""),
        };
        let mut c = Compiled {
            level: tpl.level,
            rejects: tpl.rejects,
            bg: tpl.bg,
            segs: Vec::new(),
            vars: Vec::new(),
            attr_order: Vec::new(),
        };
        let mut rest = msg;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                c.segs.push(Seg::Lit(&rest[..open]));
            }
            let close = rest[open..].find('}').expect("unclosed placeholder") + open;
            let idx = c.var(&rest[open + 1..close]);
            c.segs.push(Seg::Var(idx));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            c.segs.push(Seg::Lit(rest));
        }
        let mut rest = hidden;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').expect("unclosed placeholder") + open;
            c.var(&rest[open + 1..close]);
            rest = &rest[close + 1..];
        }
        // Grouped keys are emitted together at their first member's position, so each nested
        // object (`"http": {...}`) is written once.
        let mut order: Vec<usize> = Vec::with_capacity(c.vars.len());
        for (i, v) in c.vars.iter().enumerate() {
            if !v.attr || order.contains(&i) {
                continue;
            }
            match v.group {
                None => order.push(i),
                Some(g) => order.extend((i..c.vars.len()).filter(|&j| c.vars[j].attr && c.vars[j].group == Some(g))),
            }
        }
        c.attr_order = order;
        c
    }

    /// Register a placeholder (deduplicated by key) and return its index.
    fn var(&mut self, spec: &'static str) -> usize {
        let (attr, spec) = match spec.strip_prefix('~') {
            Some(rest) => (false, rest),
            None => (true, spec),
        };
        let (key, kind_name) = spec.split_once('=').unwrap_or((spec, spec));
        let kind = Kind::from_name(kind_name).unwrap_or_else(|| panic!("unknown placeholder {{{spec}}}"));
        let (group, leaf) = match key.split_once('.') {
            Some((g, l)) => (Some(g), l),
            None => (None, key),
        };
        if let Some(i) = self.vars.iter().position(|v| v.group == group && v.leaf == leaf) {
            self.vars[i].attr |= attr;
            return i;
        }
        self.vars.push(Var { kind, group, leaf, attr });
        self.vars.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_is_json_safe() {
        let mut all: Vec<Tpl> = vec![CALLER_WARN, CALLER_ERROR, ACCESS];
        for name in crate::DEFAULT_SERVICES.iter().chain(["custom"].iter()) {
            all.extend_from_slice(for_service(name));
        }
        for tpl in &all {
            assert!(!tpl.text.contains(['"', '\\']), "literal needs escaping: {}", tpl.text);
            let c = Compiled::new(tpl);
            let attrs = c.vars.iter().filter(|v| v.attr).count();
            assert_eq!(c.attr_order.len(), attrs, "{}", tpl.text);
            let mut sorted = c.attr_order.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), attrs, "{}", tpl.text);
            assert!(tpl.rejects == 0 || (400..500).contains(&tpl.rejects));
            // Callers repeat the failing step's cause, so failures must record one.
            if tpl.level.is_error() && !tpl.bg {
                assert!(c.vars.iter().any(|v| v.kind == Kind::Cause), "no cause: {}", tpl.text);
            }
        }
    }

    #[test]
    fn every_service_covers_every_level_for_flow_steps() {
        for name in crate::DEFAULT_SERVICES.iter().chain(["custom"].iter()) {
            let tpls = for_service(name);
            assert!(tpls.len() >= 8, "{name} has only {} templates", tpls.len());
            for lvl in Lvl::ALL {
                assert!(
                    tpls.iter().any(|t| !t.bg && t.level == lvl && t.rejects == 0),
                    "{name} lacks a {lvl:?} step template"
                );
            }
        }
    }

    #[test]
    fn grouped_attributes_are_contiguous() {
        let c = Compiled::new(&t(I, "{http.method} {duration_ms} {~query} {http.status}|{user_id}{http.route}"));
        let keys: Vec<_> = c.attr_order.iter().map(|&i| (c.vars[i].group, c.vars[i].leaf)).collect();
        assert_eq!(
            keys,
            vec![
                (Some("http"), "method"),
                (Some("http"), "status"),
                (Some("http"), "route"),
                (None, "duration_ms"),
                (None, "user_id"),
            ]
        );
    }
}
