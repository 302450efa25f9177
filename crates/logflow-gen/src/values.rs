//! Value pools and the placeholder kinds templates draw from.
//!
//! A few values are *flow-scoped* ([`Ctx`]): the order id, user, amount and SKU stay the same
//! across every log of one request flow, so the order-service log and the payment-service log
//! of the same checkout talk about the same order. Everything else is drawn fresh per log.

use crate::fmt::{push_cents, push_hex, push_json_inner, push_u64};
use rand::rngs::SmallRng;
use rand::Rng;

pub const CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "CAD"];
pub const CARD_BRANDS: &[&str] = &["visa", "mastercard", "amex", "discover"];
pub const WAREHOUSES: &[&str] = &["wh-us-east-1", "wh-us-west-2", "wh-eu-central-1", "wh-ap-south-1"];
/// Infrastructure failure causes, with the latency they imply (0 = fails fast). A timeout that
/// shows up after 3 ms would look fake, so flows use this to set the failing step's duration.
pub const CAUSES: &[(&str, u64)] = &[
    ("connection refused", 0),
    ("timeout after 3000ms", 3000),
    ("deadlock detected", 0),
    ("connection reset by peer", 0),
    ("too many connections", 0),
    ("read timeout after 5000ms", 5000),
    ("TLS handshake timeout", 10000),
    ("DNS resolution failed", 0),
    ("no route to host", 0),
    ("broken pipe", 0),
    ("out of memory", 0),
    ("pool timed out while waiting for an open connection", 30000),
];
pub const DECLINE_REASONS: &[&str] =
    &["insufficient funds", "card expired", "do not honor", "suspected fraud", "incorrect cvc"];
pub const AUTH_REASONS: &[&str] =
    &["token expired", "signature mismatch", "token revoked", "malformed token", "unknown key id"];
pub const AUTH_METHODS: &[&str] = &["password", "oauth_google", "oauth_github", "sso_saml", "magic_link"];
pub const PAY_PROVIDERS: &[&str] = &["stripe", "adyen", "braintree", "paypal"];
pub const NOTIFY_PROVIDERS: &[&str] = &["sendgrid", "twilio", "firebase", "ses"];
pub const CHANNELS: &[&str] = &["email", "sms", "push"];
pub const NOTIFY_TEMPLATES: &[&str] = &[
    "order_confirmation",
    "password_reset",
    "shipping_update",
    "welcome",
    "refund_issued",
    "weekly_digest",
    "account_updated",
];
pub const DB_TABLES: &[&str] = &["orders", "order_items", "users", "sessions", "stock_levels", "payments"];
pub const EMAIL_DOMAINS: &[&str] =
    &["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me", "hotmail.co.uk", "example.org"];
pub const ORDER_STATUSES: &[&str] = &["confirmed", "paid", "packed", "shipped", "delivered", "cancelled"];
pub const PROFILE_FIELDS: &[&str] = &["email", "shipping_address", "phone", "display_name", "password"];
pub const SEARCH_QUERIES: &[&str] = &[
    "wireless headphones",
    "running shoes",
    "usb-c cable",
    "coffee grinder",
    "4k monitor",
    "yoga mat",
    "mechanical keyboard",
    "air fryer",
    "standing desk",
    "phone case",
    "water bottle",
    "led strip",
];
pub const INDEXES: &[&str] = &["products-v7", "products-v8", "suggestions-v3"];
pub const QUEUES: &[&str] = &["notify.email", "notify.sms", "notify.push"];
pub const JOBS: &[&str] = &["cleanup-sessions", "export-invoices", "sync-prices", "rebuild-sitemap", "compact-events"];

/// What a `{placeholder}` produces. The name inside the braces is the attribute key; the kind is
/// looked up from it (or from an explicit `{key=kind}`), see [`Kind::from_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    UserId,
    OrderId,
    Amount,
    Currency,
    CardBrand,
    CardLast4,
    Sku,
    Qty,
    Stock,
    /// Below the requested quantity (for "insufficient stock").
    StockShort,
    /// A handful of units (for "low stock").
    StockLow,
    Warehouse,
    DurationMs,
    HttpMethod,
    HttpRoute,
    HttpStatus,
    ClientIp,
    Email,
    Cause,
    DeclineReason,
    AuthReason,
    AuthMethod,
    Downstream,
    Attempt,
    Query,
    Hits,
    PayProvider,
    NotifyProvider,
    Channel,
    NotifyTemplate,
    PoolActive,
    PoolMax,
    DbTable,
    Rows,
    HitRatio,
    FraudScore,
    Count,
    KeyId,
    OrderStatus,
    Field,
    Index,
    Shard,
    Queue,
    QueueDepth,
    LagMs,
    Job,
    Version,
    MemoryMb,
}

impl Kind {
    pub fn from_name(name: &str) -> Option<Kind> {
        use Kind::*;
        Some(match name {
            "user_id" => UserId,
            "order_id" => OrderId,
            "amount" => Amount,
            "currency" => Currency,
            "card_brand" => CardBrand,
            "card_last4" => CardLast4,
            "sku" => Sku,
            "qty" => Qty,
            "stock" => Stock,
            "stock_short" => StockShort,
            "stock_low" => StockLow,
            "warehouse" => Warehouse,
            "duration_ms" => DurationMs,
            "http.method" => HttpMethod,
            "http.route" => HttpRoute,
            "http.status" => HttpStatus,
            "client_ip" => ClientIp,
            "email" => Email,
            "cause" => Cause,
            "decline_reason" => DeclineReason,
            "reason" => AuthReason,
            "auth_method" => AuthMethod,
            "downstream" => Downstream,
            "attempt" => Attempt,
            "query" => Query,
            "hits" => Hits,
            "provider" => PayProvider,
            "notify_provider" => NotifyProvider,
            "channel" => Channel,
            "template" => NotifyTemplate,
            "pool.active" => PoolActive,
            "pool.max" => PoolMax,
            "db.table" => DbTable,
            "db.rows" => Rows,
            "cache.hit_ratio" => HitRatio,
            "fraud_score" => FraudScore,
            "count" => Count,
            "key_id" => KeyId,
            "order_status" => OrderStatus,
            "field" => Field,
            "index" => Index,
            "shard" => Shard,
            "queue" => Queue,
            "queue_depth" => QueueDepth,
            "lag_ms" => LagMs,
            "job" => Job,
            "version" => Version,
            "memory_mb" => MemoryMb,
            _ => return None,
        })
    }
}

/// Values shared by the logs of one flow (or drawn once for a standalone log).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ctx {
    pub user_id: u64,
    pub order_id: u64,
    pub amount_cents: u64,
    pub currency: usize,
    pub card_brand: usize,
    pub card_last4: u64,
    pub sku: u64,
    pub qty: u64,
    pub client_ip: u32,
    pub email_user: u8,
    pub email_domain: usize,
    pub provider: usize,
    /// Step latency (or total request time for the access log).
    pub duration_ms: u64,
    /// Index into the generator's routes (method, route pattern).
    pub route: usize,
    pub status: u16,
    /// Service index of the dependency a caller talks about.
    pub downstream: usize,
    /// Index into [`CAUSES`], fixed once a flow fails so every log blames the same thing.
    pub cause: Option<usize>,
    /// Notification a flow sends (a checkout confirms the order), index into [`NOTIFY_TEMPLATES`].
    pub template: Option<usize>,
}

impl Ctx {
    pub fn random(rng: &mut SmallRng) -> Ctx {
        // Amounts skew low like real baskets: most under $100, a long tail up to ~$600.
        let u: f64 = rng.random();
        Ctx {
            user_id: rng.random_range(1000..100_000),
            order_id: rng.random_range(1_000_000..10_000_000),
            amount_cents: 499 + (u * u * 60_000.0) as u64,
            currency: skewed_idx(rng, CURRENCIES.len()),
            card_brand: skewed_idx(rng, CARD_BRANDS.len()),
            card_last4: rng.random_range(0..10_000),
            sku: rng.random_range(10_000..100_000),
            qty: 1 + (rng.random::<u32>() % 4) as u64,
            client_ip: rng.random(),
            email_user: rng.random_range(b'a'..=b'z'),
            email_domain: skewed_idx(rng, EMAIL_DOMAINS.len()),
            provider: skewed_idx(rng, PAY_PROVIDERS.len()),
            duration_ms: rng.random_range(2..150),
            route: 0,
            status: 200,
            downstream: 0,
            cause: None,
            template: None,
        }
    }
}

#[inline]
pub fn pick_idx(rng: &mut SmallRng, len: usize) -> usize {
    rng.random_range(0..len)
}

/// Pick with a skew towards the front of the pool (pools list the most common value first:
/// USD, visa, gmail.com...): the first of four entries gets about half the picks.
#[inline]
pub fn pick_skewed<'a>(rng: &mut SmallRng, pool: &[&'a str]) -> &'a str {
    pool[skewed_idx(rng, pool.len())]
}

#[inline]
pub fn skewed_idx(rng: &mut SmallRng, len: usize) -> usize {
    let u: f64 = rng.random();
    ((u * u * len as f64) as usize).min(len - 1)
}

#[inline]
pub fn pick<'a>(rng: &mut SmallRng, pool: &[&'a str]) -> &'a str {
    pool[pick_idx(rng, pool.len())]
}

/// Names the renderer needs from the generator (services and route patterns).
pub trait Names {
    fn service(&self, idx: usize) -> &str;
    fn route(&self, idx: usize) -> (&str, &str);
}

/// Append the value of `kind` to `out` (JSON-escaped body, no quotes) and return whether it is a
/// JSON number (written bare in `attributes`) rather than a string.
pub fn render(kind: Kind, ctx: &mut Ctx, rng: &mut SmallRng, names: &impl Names, out: &mut String) -> bool {
    use Kind::*;
    let s: &str = match kind {
        UserId => return num(out, ctx.user_id),
        OrderId => {
            out.push_str("ORD-");
            return str_num(out, ctx.order_id);
        }
        Amount => {
            push_cents(out, ctx.amount_cents);
            return true;
        }
        Currency => CURRENCIES[ctx.currency],
        CardBrand => CARD_BRANDS[ctx.card_brand],
        CardLast4 => {
            let v = ctx.card_last4;
            for d in [v / 1000, v / 100 % 10, v / 10 % 10, v % 10] {
                out.push((b'0' + d as u8) as char);
            }
            return false;
        }
        Sku => {
            out.push_str("SKU-");
            return str_num(out, ctx.sku);
        }
        Qty => return num(out, ctx.qty),
        Stock => return num(out, rng.random_range(0..400)),
        StockShort => return num(out, rng.random_range(0..ctx.qty.max(1))),
        StockLow => return num(out, rng.random_range(1..15)),
        Warehouse => pick_skewed(rng, WAREHOUSES),
        DurationMs => return num(out, ctx.duration_ms),
        HttpMethod => names.route(ctx.route).0,
        HttpRoute => {
            // Generic routes embed configured service names, which may need escaping.
            push_json_inner(out, names.route(ctx.route).1);
            return false;
        }
        HttpStatus => return num(out, ctx.status as u64),
        ClientIp => {
            // Keep octets away from 0 and 255 so addresses look like ordinary clients.
            let b = ctx.client_ip.to_be_bytes();
            for (i, o) in b.iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_u64(out, 1 + (*o as u64 % 253));
            }
            return false;
        }
        Email => {
            out.push(ctx.email_user as char);
            out.push_str("***@");
            EMAIL_DOMAINS[ctx.email_domain]
        }
        Cause => {
            let i = *ctx.cause.get_or_insert_with(|| pick_idx(rng, CAUSES.len()));
            CAUSES[i].0
        }
        DeclineReason => pick_skewed(rng, DECLINE_REASONS),
        AuthReason => pick(rng, AUTH_REASONS),
        AuthMethod => pick_skewed(rng, AUTH_METHODS),
        Downstream => {
            push_json_inner(out, names.service(ctx.downstream));
            return false;
        }
        Attempt => return num(out, rng.random_range(1..=4)),
        Query => pick_skewed(rng, SEARCH_QUERIES),
        Hits => return num(out, rng.random_range(0..2500)),
        PayProvider => PAY_PROVIDERS[ctx.provider],
        NotifyProvider => pick_skewed(rng, NOTIFY_PROVIDERS),
        Channel => pick(rng, CHANNELS),
        NotifyTemplate => match ctx.template {
            Some(i) => NOTIFY_TEMPLATES[i],
            None => pick(rng, NOTIFY_TEMPLATES),
        },
        PoolActive => return num(out, rng.random_range(1..=50)),
        PoolMax => return num(out, 50),
        DbTable => pick(rng, DB_TABLES),
        Rows => return num(out, rng.random_range(1..200_000)),
        HitRatio => {
            out.push_str("0.");
            push_u64(out, rng.random_range(70..99));
            return true;
        }
        FraudScore => {
            out.push_str("0.");
            push_u64(out, rng.random_range(10..40));
            return true;
        }
        Count => return num(out, rng.random_range(2..500)),
        KeyId => {
            out.push_str("kid-");
            push_hex(out, rng.random(), 6);
            return false;
        }
        OrderStatus => pick(rng, ORDER_STATUSES),
        Field => pick(rng, PROFILE_FIELDS),
        Index => pick(rng, INDEXES),
        Shard => return num(out, rng.random_range(0..12)),
        Queue => pick(rng, QUEUES),
        QueueDepth => return num(out, rng.random_range(1000..250_000)),
        LagMs => return num(out, rng.random_range(500..30_000)),
        Job => pick(rng, JOBS),
        Version => {
            out.push_str("v2.");
            push_u64(out, rng.random_range(14..21));
            out.push('.');
            push_u64(out, rng.random_range(0..10));
            return false;
        }
        MemoryMb => return num(out, rng.random_range(180..2048)),
    };
    out.push_str(s);
    false
}

#[inline]
fn num(out: &mut String, v: u64) -> bool {
    push_u64(out, v);
    true
}

/// Numeric text inside a string value (ids like `ORD-1234567`).
#[inline]
fn str_num(out: &mut String, v: u64) -> bool {
    push_u64(out, v);
    false
}
