//! Request flows: a request enters through the gateway and fans out to services in a plausible
//! call order. Each hop logs once, in call order, at `previous + latency`; the entry service
//! writes an access log last (when the response is sent) with the total duration and status.
//!
//! Failure model (why the shape looks like this): when a step fails (ERROR/CRITICAL) its caller
//! logs the failure too (WARNING or ERROR, naming the same cause), the request stops there and
//! the entry answers 5xx. A rejecting WARNING (expired token, out of stock, card declined) stops
//! the request with a 4xx. Fire-and-forget steps (notifications) can fail without failing the
//! request, as they do in real systems.

use crate::generator::{emit, Generator, LevelMix, ServiceModel};
use crate::templates::{self, Lvl};
use crate::values::{pick_idx, skewed_idx, Ctx, CAUSES, NOTIFY_TEMPLATES};
use rand::Rng;

/// Upper bound on logs per flow (the longest route is 5 hops + the access log).
pub const MAX_FLOW_LOGS: usize = 6;
/// A failing step produces about two error-level logs (its own ERROR/CRITICAL, the caller's
/// ERROR part of the time, the entry's 5xx access log). Per-step failure odds are divided by
/// this so the overall ERROR+CRITICAL share matches `error_rate`; checked by the test
/// `error_share_matches_error_rate`.
const FLOW_ERROR_AMPLIFICATION: f64 = 2.0;
/// Flows also produce WARNINGs without drawing them (callers reporting a failure, 4xx and some
/// 503 access logs), so steps draw fewer; calibrated like the amplification above.
const FLOW_WARNING_DAMPING: f64 = 0.8;
/// Chance that a WARNING step is a rejection (4xx) when the service has rejection templates.
const REJECT_SHARE: f64 = 0.3;
/// Chance an optional step is skipped (e.g. search without a stock lookup).
const SKIP_OPTIONAL: f64 = 0.4;

/// A resolved route: service indices into the generator's configured services.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub method: &'static str,
    pub route: String,
    pub ok_status: u16,
    pub weight: u32,
    pub entry: usize,
    pub steps: Vec<Step>,
    /// Expected number of steps (optional ones count partially); logs per flow is this + 1.
    pub expected_steps: f64,
    /// Index into `NOTIFY_TEMPLATES` for the flow's notification.
    pub notify: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub svc: usize,
    /// Index into `steps` of the caller; `None` = the entry service.
    pub caller: Option<usize>,
    /// Failures do not fail the request (async side effects).
    pub fire_and_forget: bool,
    pub optional: bool,
    /// See [`StepDef`]; resolved to `info_tpl` by [`attach_hints`].
    pub hint: &'static str,
    /// Template index used for INFO on this step (`None`: any INFO template).
    pub info_tpl: Option<usize>,
}

/// `(service, caller, flags, hint)`; caller is a chain index: 0 = entry, k = k-th step
/// (1-based). `hint` is the start of the INFO template the step logs when all goes well, so a
/// checkout *reserves* stock while a product page only *reads* it.
type StepDef = (&'static str, usize, u8, &'static str);
const ASYNC: u8 = 1;
const OPT: u8 = 2;

struct RouteDef {
    method: &'static str,
    route: &'static str,
    ok: u16,
    weight: u32,
    steps: &'static [StepDef],
    /// Notification template the flow sends, if it has a notification step.
    notify: Option<&'static str>,
}

const GW: &str = "api-gateway";
const AUTH: &str = "auth-service";
const ORDER: &str = "order-service";
const INV: &str = "inventory-service";
const PAY: &str = "payment-service";
const NOTIFY: &str = "notification-service";
const USER: &str = "user-service";
const SEARCH: &str = "search-service";

/// Weights roughly follow an e-commerce traffic mix: browsing dominates, checkouts are rarer.
#[rustfmt::skip]
const ROUTES: &[RouteDef] = &[
    RouteDef { method: "POST", route: "/api/v1/checkout", ok: 201, weight: 10, steps: &[
        (AUTH, 0, 0, "validated token"), (ORDER, 0, 0, "created order"), (INV, 2, 0, "reserved"),
        (PAY, 2, 0, "charged"), (NOTIFY, 2, ASYNC, "sent")], notify: Some("order_confirmation") },
    RouteDef { method: "POST", route: "/api/v1/auth/login", ok: 200, weight: 12, steps: &[
        (AUTH, 0, 0, "user {user_id} logged in"), (USER, 1, 0, "loaded profile")], notify: None },
    RouteDef { method: "GET", route: "/api/v1/search", ok: 200, weight: 20, steps: &[
        (SEARCH, 0, 0, "query '"), (INV, 1, OPT, "stock for")], notify: None },
    RouteDef { method: "GET", route: "/api/v1/products/:sku", ok: 200, weight: 20, steps: &[
        (INV, 0, 0, "stock for"), (SEARCH, 0, OPT, "query '")], notify: None },
    RouteDef { method: "GET", route: "/api/v1/orders/:id", ok: 200, weight: 10, steps: &[
        (AUTH, 0, 0, "validated token"), (ORDER, 0, 0, "fetched order")], notify: None },
    RouteDef { method: "PUT", route: "/api/v1/users/me", ok: 200, weight: 6, steps: &[
        (AUTH, 0, 0, "validated token"), (USER, 0, 0, "updated"), (NOTIFY, 2, ASYNC | OPT, "queued")], notify: Some("account_updated") },
    RouteDef { method: "POST", route: "/api/v1/orders/:id/refund", ok: 202, weight: 3, steps: &[
        (AUTH, 0, 0, "validated token"), (ORDER, 0, 0, "order {order_id} status"),
        (PAY, 2, 0, "refunded"), (NOTIFY, 2, ASYNC, "sent")], notify: Some("refund_issued") },
    RouteDef { method: "POST", route: "/api/v1/auth/register", ok: 201, weight: 4, steps: &[
        (USER, 0, 0, "registered"), (AUTH, 1, 0, "issued session"), (NOTIFY, 1, ASYNC, "queued")], notify: Some("welcome") },
    RouteDef { method: "POST", route: "/api/v1/cart/items", ok: 200, weight: 15, steps: &[
        (AUTH, 0, 0, "validated token"), (INV, 0, 0, "reserved")], notify: None },
];

/// Typical (min, max) latency of one call to a service, in ms.
pub(crate) fn latency_profile(name: &str) -> (u64, u64) {
    match name {
        "api-gateway" => (1, 8),
        "auth-service" => (2, 25),
        "order-service" => (8, 90),
        "inventory-service" => (4, 60),
        // External card processors are the slow part of any checkout.
        "payment-service" => (120, 900),
        "notification-service" => (15, 250),
        "user-service" => (3, 40),
        "search-service" => (10, 220),
        _ => (2, 120),
    }
}

/// Map the route tables onto the configured services. Missing services are dropped from a route
/// (their callees re-attach to the nearest present caller; a missing gateway promotes the first
/// present step to entry). Services the tables don't know get simple generic routes, so any
/// service list yields flows.
pub(crate) fn resolve_routes(services: &[String]) -> Vec<Route> {
    let idx = |name: &str| services.iter().position(|s| s == name);
    let mut routes = Vec::new();
    for def in ROUTES {
        // chain[0] = entry, chain[k] = steps[k-1]; parent[k] = caller chain index.
        let chain: Vec<Option<usize>> = std::iter::once(idx(GW)).chain(def.steps.iter().map(|s| idx(s.0))).collect();
        let parent = |k: usize| if k == 0 { None } else { Some(def.steps[k - 1].1) };
        let Some(entry_k) = chain.iter().position(Option::is_some) else { continue };
        let mut new_index = vec![None; chain.len()];
        let mut steps = Vec::new();
        for k in entry_k + 1..chain.len() {
            let Some(svc) = chain[k] else { continue };
            let mut c = parent(k);
            while let Some(ck) = c {
                if chain[ck].is_some() {
                    break;
                }
                c = parent(ck);
            }
            let caller = match c {
                Some(ck) if ck != entry_k => new_index[ck],
                _ => None,
            };
            let (_, _, flags, hint) = def.steps[k - 1];
            new_index[k] = Some(steps.len());
            steps.push(Step {
                svc,
                caller,
                fire_and_forget: flags & ASYNC != 0,
                optional: flags & OPT != 0 && !steps.is_empty(),
                hint,
                info_tpl: None,
            });
        }
        if !steps.is_empty() {
            routes.push(Route {
                method: def.method,
                route: def.route.to_string(),
                ok_status: def.ok,
                weight: def.weight,
                entry: chain[entry_k].unwrap_or_default(),
                expected_steps: expected_steps(&steps),
                steps,
                notify: def.notify.and_then(|n| NOTIFY_TEMPLATES.iter().position(|t| *t == n)),
            });
        }
    }
    let known = |s: &String| crate::DEFAULT_SERVICES.contains(&s.as_str());
    let custom: Vec<usize> = (0..services.len()).filter(|&i| !known(&services[i])).collect();
    for (n, &c) in custom.iter().enumerate() {
        let entry = idx(GW).or_else(|| (0..services.len()).find(|&i| i != c)).unwrap_or(c);
        let mut steps = vec![plain_step(c, None, false)];
        if let Some(&next) = custom.get(n + 1) {
            steps.push(plain_step(next, Some(0), true));
        }
        routes.push(Route {
            method: if n % 2 == 0 { "GET" } else { "POST" },
            route: format!("/api/v1/{}", services[c]),
            ok_status: 200,
            weight: 10,
            entry,
            expected_steps: expected_steps(&steps),
            steps,
            notify: None,
        });
    }
    if routes.is_empty() && !services.is_empty() {
        // A lone known service (e.g. only `payment-service`): it serves requests itself.
        let step = if services.len() > 1 { 1 } else { 0 };
        routes.push(Route {
            method: "GET",
            route: "/api/v1/status".to_string(),
            ok_status: 200,
            weight: 1,
            entry: 0,
            expected_steps: 1.0,
            steps: vec![plain_step(step, None, false)],
            notify: None,
        });
    }
    routes
}

fn plain_step(svc: usize, caller: Option<usize>, optional: bool) -> Step {
    Step { svc, caller, fire_and_forget: false, optional, hint: "", info_tpl: None }
}

fn expected_steps(steps: &[Step]) -> f64 {
    steps.iter().map(|s| if s.optional { 1.0 - SKIP_OPTIONAL } else { 1.0 }).sum()
}

/// Resolve each step's hint to the index of the matching INFO template of its service.
pub(crate) fn attach_hints(routes: &mut [Route], services: &[ServiceModel]) {
    for step in routes.iter_mut().flat_map(|r| r.steps.iter_mut()) {
        if step.hint.is_empty() {
            continue;
        }
        let tables = templates::for_service(&services[step.svc].name);
        step.info_tpl = tables.iter().position(|t| t.level == Lvl::Info && !t.bg && t.text.starts_with(step.hint));
    }
}

impl Generator {
    fn pick_route(&mut self) -> usize {
        let total = *self.m.route_cum.last().unwrap_or(&1);
        let x = self.st.rng.random_range(0..total);
        self.m.route_cum.partition_point(|&c| c <= x)
    }

    /// Latency of one call, skewed towards the fast end; WARNING steps are the slow tail.
    fn latency_ms(&mut self, svc: usize, slow: bool) -> u64 {
        let (lo, hi) = self.m.services[svc].latency;
        let u: f64 = self.st.rng.random();
        let base = lo + ((hi - lo) as f64 * u * u) as u64;
        if slow {
            base + hi * self.st.rng.random_range(3..8) + self.st.rng.random_range(150..1500)
        } else {
            base
        }
    }

    /// Write one whole flow starting at `start` (µs). The first `room` lines go to `out` with
    /// timestamps clamped to `end`; the rest are queued for the next `write_ndjson` call
    /// (the flow itself never depends on `room`). Returns the number of lines put in `out`.
    pub(crate) fn write_flow(&mut self, out: &mut String, start: i64, room: usize, end: i64) -> usize {
        let r = self.pick_route();
        let ids = self.new_flow_ids();
        let mut ctx = Ctx::random(&mut self.st.rng);
        ctx.route = r;
        ctx.template = self.m.routes[r].notify;
        // Only steps draw levels (the access log's level follows the outcome), so steps carry
        // the non-INFO share of the whole flow: scale it by logs per step.
        let dilution = (self.m.routes[r].expected_steps + 1.0) / self.m.routes[r].expected_steps;
        let mix = LevelMix::new(
            self.error_rate() * dilution / FLOW_ERROR_AMPLIFICATION,
            dilution,
            dilution * FLOW_WARNING_DAMPING,
        );
        let nsvc = self.m.services.len();
        let mut t = start;
        let mut n = 0;
        let mut status = self.m.routes[r].ok_status;
        for k in 0..self.m.routes[r].steps.len() {
            let step = self.m.routes[r].steps[k];
            if step.optional && self.st.rng.random::<f64>() < SKIP_OPTIONAL {
                continue;
            }
            ctx.downstream = pick_idx(&mut self.st.rng, nsvc);
            let level = self.sample_level(&mix);

            if level.is_error() {
                let cause = skewed_idx(&mut self.st.rng, CAUSES.len());
                ctx.cause = Some(cause);
                let lat = match CAUSES[cause].1 {
                    0 => self.latency_ms(step.svc, false),
                    timeout => timeout + self.st.rng.random_range(0..40),
                };
                t += lat as i64 * 1000;
                ctx.duration_ms = lat;
                let svc = &self.m.services[step.svc];
                let pool = &svc.step[level as usize];
                let tpl = &svc.templates[pool[pick_idx(&mut self.st.rng, pool.len())]];
                let q = self.st.begin_line(out, n < room, t.min(end));
                emit(&self.m, &mut self.st, out, step.svc, tpl, level, Some(&ids), &mut ctx);
                self.st.end_line(out, q, t);
                n += 1;
                if step.fire_and_forget {
                    continue;
                }
                status = if CAUSES[cause].1 > 0 { 504 } else { [500, 500, 502, 503][pick_idx(&mut self.st.rng, 4)] };
                if let Some(caller) = step.caller {
                    let extra = self.st.rng.random_range(1..6);
                    t += extra as i64 * 1000;
                    ctx.downstream = step.svc;
                    ctx.duration_ms = lat + extra;
                    let (tpl, lvl) = if self.st.rng.random::<f64>() < 0.6 {
                        (&self.m.caller_warn, Lvl::Warning)
                    } else {
                        (&self.m.caller_error, Lvl::Error)
                    };
                    let caller_svc = self.m.routes[r].steps[caller].svc;
                    let q = self.st.begin_line(out, n < room, t.min(end));
                    emit(&self.m, &mut self.st, out, caller_svc, tpl, lvl, Some(&ids), &mut ctx);
                    self.st.end_line(out, q, t);
                    n += 1;
                }
                break;
            }

            let lat = self.latency_ms(step.svc, level == Lvl::Warning);
            t += lat as i64 * 1000;
            ctx.duration_ms = lat;
            let svc = &self.m.services[step.svc];
            let rejects =
                level == Lvl::Warning && !svc.rejects.is_empty() && self.st.rng.random::<f64>() < REJECT_SHARE;
            let pool = if rejects { &svc.rejects } else { &svc.step[level as usize] };
            let ti = match step.info_tpl {
                Some(ti) if level == Lvl::Info => ti,
                _ => pool[pick_idx(&mut self.st.rng, pool.len())],
            };
            let tpl = &svc.templates[ti];
            let q = self.st.begin_line(out, n < room, t.min(end));
            emit(&self.m, &mut self.st, out, step.svc, tpl, level, Some(&ids), &mut ctx);
            self.st.end_line(out, q, t);
            n += 1;
            if rejects {
                status = tpl.rejects;
                break;
            }
        }

        // The entry's access log, written when the response goes out.
        t += self.st.rng.random_range(1..5) * 1000;
        ctx.status = status;
        ctx.duration_ms = ((t - start) / 1000) as u64;
        let level = match status {
            0..=399 => Lvl::Info,
            400..=499 => Lvl::Warning,
            // Load shedding (503) is often logged as a warning; other 5xx are errors.
            503 if self.st.rng.random::<f64>() < 0.5 => Lvl::Warning,
            _ => Lvl::Error,
        };
        let entry = self.m.routes[r].entry;
        let q = self.st.begin_line(out, n < room, t.min(end));
        emit(&self.m, &mut self.st, out, entry, &self.m.access, level, Some(&ids), &mut ctx);
        self.st.end_line(out, q, t);
        debug_assert!(n < MAX_FLOW_LOGS);
        (n + 1).min(room)
    }
}
