//! The [`Generator`]: service models, level sampling, and the NDJSON line writer every log
//! (flow step or standalone) goes through.

use crate::flow::{attach_hints, resolve_routes, Route};
use crate::fmt::{push_base32, push_hex, push_json_str, TsFormatter};
use crate::templates::{self, Compiled, Lvl, Seg};
use crate::values::{pick_idx, render, Ctx, Names};
use crate::{GenConfig, Spike, DEFAULT_SERVICES};
use chrono::{DateTime, Duration, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// Share of `write_ndjson` output that is standalone (no request context): health checks,
/// periodic jobs, pool stats. Real streams have plenty of these, and they carry no ids.
const STANDALONE_SHARE: f64 = 0.3;
/// Within errors, CRITICAL : ERROR is 1 : 6 (the 1% / 6% of the reference mix).
const CRITICAL_SHARE: f64 = 1.0 / 7.0;
/// Non-error mix of the reference distribution (DEBUG 10, INFO 70, WARNING 12), as shares of
/// the non-error logs. Errors take `error_rate` off the top and the rest is split so.
const DEBUG_SHARE: f64 = 10.0 / 92.0;
const WARNING_SHARE: f64 = 12.0 / 92.0;

/// One configured service with its parsed templates.
pub(crate) struct ServiceModel {
    pub name: String,
    pub hosts: Vec<String>,
    pub templates: Vec<Compiled>,
    /// Flow-step templates by level (indices into `templates`), excluding rejections.
    pub step: [Vec<usize>; 5],
    /// WARNING templates that reject the request (4xx).
    pub rejects: Vec<usize>,
    /// Standalone-only templates by level.
    pub bg: [Vec<usize>; 5],
    /// Typical latency range of one call, ms.
    pub latency: (u64, u64),
}

/// Level probabilities as cumulative thresholds.
pub(crate) struct LevelMix {
    critical: f64,
    error: f64,
    debug: f64,
    info: f64,
}

impl LevelMix {
    /// `error_rate` off the top (CRITICAL 1/7 of it); DEBUG and WARNING take their reference
    /// shares of the rest times a boost (used by flows, see `write_flow`); INFO the remainder.
    pub fn new(error_rate: f64, debug_boost: f64, warning_boost: f64) -> LevelMix {
        let err = error_rate.clamp(0.0, 1.0);
        let rest = 1.0 - err;
        let mut debug = rest * DEBUG_SHARE * debug_boost;
        let mut warn = rest * WARNING_SHARE * warning_boost;
        if debug + warn > rest {
            let k = rest / (debug + warn);
            debug *= k;
            warn *= k;
        }
        LevelMix { critical: err * CRITICAL_SHARE, error: err, debug: err + debug, info: 1.0 - warn }
    }
}

/// Everything fixed at construction.
pub(crate) struct Model {
    pub cfg: GenConfig,
    pub services: Vec<ServiceModel>,
    pub routes: Vec<Route>,
    /// Cumulative route weights for weighted picking.
    pub route_cum: Vec<u32>,
    pub caller_warn: Compiled,
    pub caller_error: Compiled,
    pub access: Compiled,
    /// Per-draw chance of a standalone log in `write_ndjson`, such that standalone logs make up
    /// [`STANDALONE_SHARE`] of lines even though a flow writes several.
    pub standalone_p: f64,
}

impl Names for Model {
    fn service(&self, idx: usize) -> &str {
        &self.services[idx].name
    }
    fn route(&self, idx: usize) -> (&str, &str) {
        let r = &self.routes[idx];
        (r.method, &r.route)
    }
}

/// Mutable per-generator state, kept apart from [`Model`] so templates can be borrowed from the
/// model while the state is mutated.
pub(crate) struct State {
    pub rng: SmallRng,
    pub spike: Spike,
    ts: TsFormatter,
    /// Rendered placeholder values of the current log: text in `vbuf`, (start, end, numeric).
    vbuf: String,
    vals: Vec<(usize, usize, bool)>,
    /// The rest of a flow that did not fit in the previous [`Generator::write_ndjson`] call:
    /// lines without their timestamp prefix in `pend_buf`, as `(time µs, start, end)` in
    /// `pend`, the next one at `pend_head`. Flows continue in the next call instead of being
    /// cut, so the sequence of logs does not depend on how a run is split into calls.
    pend_buf: String,
    pend: Vec<(i64, usize, usize)>,
    pend_head: usize,
}

impl State {
    /// Write the `{"timestamp":"…"` prefix of a line; [`emit`] writes the rest.
    pub(crate) fn push_ts(&mut self, out: &mut String, at: i64) {
        out.push_str("{\"timestamp\":\"");
        self.ts.push(out, at);
        out.push('"');
    }

    /// Start a flow line. Lines that fit (`direct`) get their timestamp `at` now; the others
    /// are queued without one (see [`State::end_line`]), and the returned mark says where
    /// the queued line starts in `out`.
    pub(crate) fn begin_line(&mut self, out: &mut String, direct: bool, at: i64) -> Option<usize> {
        if direct {
            self.push_ts(out, at);
            None
        } else {
            Some(out.len())
        }
    }

    /// Finish a flow line started by [`State::begin_line`]: a queued line moves from `out` to
    /// the pending queue with its unclamped time `t`.
    pub(crate) fn end_line(&mut self, out: &mut String, queued: Option<usize>, t: i64) {
        if let Some(mark) = queued {
            let a = self.pend_buf.len();
            self.pend_buf.push_str(&out[mark..]);
            self.pend.push((t, a, self.pend_buf.len()));
            out.truncate(mark);
        }
    }

    /// Write up to `max` pending flow lines with times clamped to `[start, end]`; returns how
    /// many. Runs pace consecutive windows, so a flow's times keep increasing across calls.
    fn drain_pending(&mut self, out: &mut String, max: usize, start: i64, end: i64) -> usize {
        let take = (self.pend.len() - self.pend_head).min(max);
        for i in self.pend_head..self.pend_head + take {
            let (t, a, b) = self.pend[i];
            self.push_ts(out, t.clamp(start, end));
            out.push_str(&self.pend_buf[a..b]);
        }
        self.pend_head += take;
        if self.pend_head == self.pend.len() {
            self.pend.clear();
            self.pend_buf.clear();
            self.pend_head = 0;
        }
        take
    }
}

/// Ids shared by all logs of one flow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowIds {
    pub correlation: u128,
    pub trace: u128,
}

/// Realistic multi-service log generator. See the crate docs.
pub struct Generator {
    pub(crate) m: Model,
    pub(crate) st: State,
}

impl Generator {
    pub fn new(mut cfg: GenConfig) -> Self {
        if cfg.services.is_empty() {
            cfg.services = DEFAULT_SERVICES.iter().map(|s| s.to_string()).collect();
        }
        let mut rng = match cfg.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_rng(&mut rand::rng()),
        };
        let services: Vec<ServiceModel> = cfg.services.iter().map(|name| service_model(name, &mut rng)).collect();
        let mut routes = resolve_routes(&cfg.services);
        attach_hints(&mut routes, &services);
        let weight: f64 = routes.iter().map(|r| r.weight as f64).sum();
        let mean_flow = routes.iter().map(|r| r.weight as f64 * (r.expected_steps + 1.0)).sum::<f64>() / weight;
        let s = STANDALONE_SHARE;
        let standalone_p = s * mean_flow / (1.0 - s + s * mean_flow);
        let mut acc = 0;
        let route_cum = routes
            .iter()
            .map(|r| {
                acc += r.weight;
                acc
            })
            .collect();
        Generator {
            m: Model {
                cfg,
                services,
                routes,
                route_cum,
                caller_warn: Compiled::new(&templates::CALLER_WARN),
                caller_error: Compiled::new(&templates::CALLER_ERROR),
                access: Compiled::new(&templates::ACCESS),
                standalone_p,
            },
            st: State {
                rng,
                spike: Spike::None,
                ts: TsFormatter::default(),
                vbuf: String::with_capacity(256),
                vals: Vec::with_capacity(8),
                pend_buf: String::new(),
                pend: Vec::new(),
                pend_head: 0,
            },
        }
    }

    pub fn set_spike(&mut self, spike: Spike) {
        self.st.spike = spike;
    }

    /// The share of ERROR+CRITICAL currently targeted (the spike's rate during an Errors spike).
    pub fn error_rate(&self) -> f64 {
        match self.st.spike {
            Spike::Errors { error_rate } => error_rate,
            _ => self.m.cfg.error_rate,
        }
        .clamp(0.0, 1.0)
    }

    /// One request flow as JSON objects (see [`crate::flow`] for the model).
    pub fn flow(&mut self, start: DateTime<Utc>) -> Vec<Value> {
        let mut buf = String::with_capacity(2048);
        self.write_flow(&mut buf, start.timestamp_micros(), usize::MAX, i64::MAX);
        parse_lines(&buf)
    }

    /// Append `n` NDJSON lines with timestamps spread over `[start, start + span)`.
    ///
    /// Flows are started at evenly spaced points (plus jitter) and their later steps follow
    /// by realistic latencies, clamped to the window; lines therefore come out roughly, not
    /// strictly, in time order, like logs shipped by many hosts.
    ///
    /// With a seed, the sequence of logs is a function of the seed and the total count alone,
    /// not of how it is split into calls: a flow that does not fit continues at the start of
    /// the next call (its times then clamped to that call's window), and the random draws do
    /// not depend on `n` or `span`. Only timestamps follow the windows. Consecutive calls are
    /// expected to cover consecutive windows, as [`crate::run`] does.
    pub fn write_ndjson(&mut self, n: usize, start: DateTime<Utc>, span: Duration, out: &mut String) {
        if n == 0 {
            return;
        }
        out.reserve(n * 300);
        let start_us = start.timestamp_micros();
        let span_us = span.num_microseconds().unwrap_or(i64::MAX).max(0);
        let end_us = if span_us == 0 { start_us } else { start_us.saturating_add(span_us - 1) };
        let slot = (span_us / n as i64).max(1);
        let mut written = self.st.drain_pending(out, n, start_us, end_us);
        while written < n {
            let base = start_us + (span_us as i128 * written as i128 / n as i128) as i64;
            // One draw whatever the slot, so the chunking cannot shift later draws.
            let jitter = (self.st.rng.random::<f64>() * slot as f64) as i64;
            let at = (base + jitter.min(slot - 1)).min(end_us);
            if self.st.rng.random::<f64>() < self.m.standalone_p {
                self.write_standalone(out, at);
                written += 1;
            } else {
                written += self.write_flow(out, at, n - written, end_us);
            }
        }
    }

    /// Like [`Generator::write_ndjson`] but as JSON objects (for in-process sinks).
    pub fn batch(&mut self, n: usize, start: DateTime<Utc>, span: Duration) -> Vec<Value> {
        let mut buf = String::new();
        self.write_ndjson(n, start, span, &mut buf);
        parse_lines(&buf)
    }

    pub(crate) fn sample_level(&mut self, mix: &LevelMix) -> Lvl {
        let r: f64 = self.st.rng.random();
        if r < mix.critical {
            Lvl::Critical
        } else if r < mix.error {
            Lvl::Error
        } else if r < mix.debug {
            Lvl::Debug
        } else if r < mix.info {
            Lvl::Info
        } else {
            Lvl::Warning
        }
    }

    /// A log outside any request: random service, background or step template, fresh values.
    fn write_standalone(&mut self, out: &mut String, at: i64) {
        let svc = pick_idx(&mut self.st.rng, self.m.services.len());
        let level = self.sample_level(&LevelMix::new(self.error_rate(), 1.0, 1.0));
        let s = &self.m.services[svc];
        let bg = &s.bg[level as usize];
        let pool = if !bg.is_empty() && self.st.rng.random::<f64>() < 0.7 { bg } else { &s.step[level as usize] };
        let pool = if pool.is_empty() { &s.bg[level as usize] } else { pool };
        let tpl = &s.templates[pool[pick_idx(&mut self.st.rng, pool.len())]];
        let mut ctx = Ctx::random(&mut self.st.rng);
        ctx.route = pick_idx(&mut self.st.rng, self.m.routes.len());
        // The gateway talks about the service its route leads to.
        ctx.downstream = self.m.routes[ctx.route].steps[0].svc;
        // Periodic jobs take a while; standalone warnings are mostly about slowness.
        if level == Lvl::Warning {
            ctx.duration_ms = self.st.rng.random_range(800..8000);
        } else if tpl.bg {
            ctx.duration_ms = self.st.rng.random_range(20..3000);
        }
        self.st.push_ts(out, at);
        emit(&self.m, &mut self.st, out, svc, tpl, level, None, &mut ctx);
    }

    pub(crate) fn new_flow_ids(&mut self) -> FlowIds {
        FlowIds { correlation: self.st.rng.random(), trace: self.st.rng.random() }
    }
}

/// Write one log line after its timestamp prefix ([`State::push_ts`]), from `,"service"` to the
/// newline. Field order follows LogFlow's own output (timestamp, service, level...).
#[allow(clippy::too_many_arguments)] // a plain function keeps `m` and `st` borrowable separately
pub(crate) fn emit(
    m: &Model,
    st: &mut State,
    out: &mut String,
    svc: usize,
    tpl: &Compiled,
    level: Lvl,
    ids: Option<&FlowIds>,
    ctx: &mut Ctx,
) {
    let s = &m.services[svc];
    st.vbuf.clear();
    st.vals.clear();
    for v in &tpl.vars {
        let a = st.vbuf.len();
        let numeric = render(v.kind, ctx, &mut st.rng, m, &mut st.vbuf);
        st.vals.push((a, st.vbuf.len(), numeric));
    }

    out.push_str(",\"service\":");
    push_json_str(out, &s.name);
    out.push_str(",\"level\":\"");
    out.push_str(level.as_str());
    out.push_str("\",\"host\":");
    push_json_str(out, &s.hosts[pick_idx(&mut st.rng, s.hosts.len())]);
    out.push_str(",\"message\":\"");
    for seg in &tpl.segs {
        match seg {
            Seg::Lit(l) => out.push_str(l),
            Seg::Var(i) => {
                let (a, b, _) = st.vals[*i];
                out.push_str(&st.vbuf[a..b]);
            }
        }
    }
    out.push('"');
    if let Some(ids) = ids {
        out.push_str(",\"correlation_id\":\"");
        push_base32(out, ids.correlation, 16);
        out.push_str("\",\"request_id\":\"req_");
        push_base32(out, st.rng.random(), 8);
        out.push_str("\",\"trace_id\":\"");
        push_hex(out, (ids.trace >> 64) as u64, 16);
        push_hex(out, ids.trace as u64, 16);
        out.push_str("\",\"span_id\":\"");
        push_hex(out, st.rng.random(), 16);
        out.push('"');
    }
    out.push_str(",\"attributes\":{");
    let mut group: Option<&str> = None;
    let mut first = true;
    let mut first_in_group = true;
    for &i in &tpl.attr_order {
        let v = &tpl.vars[i];
        if v.group != group {
            if group.is_some() {
                out.push('}');
                first = false;
            }
            if let Some(g) = v.group {
                if !first {
                    out.push(',');
                }
                push_json_str(out, g);
                out.push_str(":{");
                first = false;
                first_in_group = true;
            }
            group = v.group;
        }
        let first_here = if group.is_some() { &mut first_in_group } else { &mut first };
        if !*first_here {
            out.push(',');
        }
        *first_here = false;
        out.push('"');
        out.push_str(v.leaf);
        out.push_str("\":");
        let (a, b, numeric) = st.vals[i];
        if numeric {
            out.push_str(&st.vbuf[a..b]);
        } else {
            out.push('"');
            // Values were escaped when rendered (only service names can need it).
            out.push_str(&st.vbuf[a..b]);
            out.push('"');
        }
    }
    if group.is_some() {
        out.push('}');
    }
    out.push_str("}}\n");
}

fn service_model(name: &str, rng: &mut SmallRng) -> ServiceModel {
    let tpls = templates::for_service(name);
    let templates: Vec<Compiled> = tpls.iter().map(Compiled::new).collect();
    let mut step: [Vec<usize>; 5] = Default::default();
    let mut bg: [Vec<usize>; 5] = Default::default();
    let mut rejects = Vec::new();
    for (i, t) in templates.iter().enumerate() {
        if t.bg {
            bg[t.level as usize].push(i);
        } else if t.rejects != 0 {
            rejects.push(i);
        } else {
            step[t.level as usize].push(i);
        }
    }
    // Kubernetes-style pod names: `payment-7f9c-2` (deployment hash + ordinal), 2..4 replicas.
    let short = name.strip_suffix("-service").unwrap_or(name);
    let hash: u16 = rng.random();
    let replicas = rng.random_range(2..=4);
    let hosts = (1..=replicas).map(|i| format!("{short}-{hash:04x}-{i}")).collect();
    ServiceModel {
        name: name.to_string(),
        hosts,
        templates,
        step,
        rejects,
        bg,
        latency: crate::flow::latency_profile(name),
    }
}

fn parse_lines(buf: &str) -> Vec<Value> {
    buf.lines().map(|l| serde_json::from_str(l).expect("generator writes valid JSON")).collect()
}
