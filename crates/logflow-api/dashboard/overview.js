// Overview: headline figures with trends, log volume by level, service health and top errors
// over a preset range, refreshed every 30 s; admins also see the system and users cards.

import { api } from './api.js';
import { TimeChart, LEVEL_SERIES, levelData } from './charts.js';
import { h, RANGES, every, fmtInt, fmtFixed, fmtPercent, fmtAgo, fmtBytes, fmtDuration, fmtClock, fmtDateTime,
  intervalFor, isAbort } from './util.js';
import { card, confirmInline, pageHead, toast, whileBusy } from './ui.js';

const REFRESH_MS = 30_000;
const STATUS_ORDER = { unhealthy: 0, degraded: 1, healthy: 2 };

/** A headline figure: `set(text, ...details)`. */
function stat(label, testid) {
  const value = h('div', { class: 'stat-value' }, '—');
  const sub = h('div', { class: 'stat-sub' });
  const el = h('section', { class: 'card stat', 'data-testid': testid }, h('h2', { class: 'stat-label' }, label), value, sub);
  return { el, set: (text, ...details) => { value.textContent = text; sub.replaceChildren(...details); } };
}

/** ▲/▼ with the change; `upIsBad` colours a rise as bad (errors) instead of neutral. */
function trend(delta, unit, vs, upIsBad = false) {
  if (delta == null) return h('span', { class: 'muted' }, `no data ${vs}`);
  const dir = delta > 0 ? 'up' : delta < 0 ? 'down' : 'flat';
  const tone = !upIsBad || dir === 'flat' ? '' : dir === 'up' ? ' trend-bad' : ' trend-good';
  const arrow = { up: '▲', down: '▼', flat: '▶' }[dir];
  return h('span', { class: `trend trend-${dir}${tone}`, 'aria-label': `${dir} ${Math.abs(delta)}${unit} ${vs}` },
    h('span', { 'aria-hidden': 'true' }, `${arrow} ${delta > 0 ? '+' : ''}${fmtFixed(delta, 1)}${unit}`), ` ${vs}`);
}

export default function mountOverview(main, ctx) {
  const { signal, user } = ctx;
  const requested = ctx.url.searchParams.get('range');
  let range = RANGES[requested] ? requested : '1h';

  const presets = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time range' },
    Object.keys(RANGES).map((r) => h('button', { type: 'button', class: 'btn', 'data-range': r,
      'aria-pressed': String(r === range), onclick: () => setRange(r) }, r)));
  const updated = h('span', { class: 'muted', 'aria-live': 'polite' });
  const refreshButton = h('button', { type: 'button', class: 'btn', onclick: () => refresh() }, 'Refresh');
  const cards = {
    total: stat('Logs', 'card-total'),
    rate: stat('Logs / minute', 'card-rate'),
    services: stat('Active services', 'card-services'),
    errors: stat('Error rate', 'card-error-rate'),
  };
  const volumeHost = h('div', { class: 'chart-box', 'data-testid': 'volume-chart' });
  const health = h('ul', { class: 'health-list', 'data-testid': 'service-health', 'aria-label': 'Service health' });
  const topErrors = h('ol', { class: 'top-errors' });

  main.append(
    pageHead('Overview', presets, updated, refreshButton),
    h('div', { class: 'stats' }, Object.values(cards).map((c) => c.el)),
    card('Log volume by level', volumeHost),
    h('div', { class: 'grid-2' },
      card('Service health', health, { testid: 'service-health-card' }),
      card('Top errors', topErrors)));
  const chart = new TimeChart(volumeHost, { series: LEVEL_SERIES, label: 'Log volume by level' });
  signal.addEventListener('abort', () => chart.destroy());
  const admin = user.role === 'admin' ? adminSection(main, signal) : null;

  function setRange(r) {
    range = r;
    for (const b of presets.children) b.setAttribute('aria-pressed', String(b.dataset.range === r));
    ctx.setUrl(`range=${r}`, { replace: true });
    refresh();
  }

  async function refresh() {
    await whileBusy(main, Promise.allSettled([loadFigures(), loadVolume(), admin?.refresh()]));
    if (!signal.aborted) updated.textContent = `Updated ${fmtClock(new Date())}`;
  }

  async function loadFigures() {
    const span = RANGES[range];
    const now = Date.now();
    const previous = { start_time: new Date(now - 2 * span).toISOString(), end_time: new Date(now - span).toISOString() };
    const previousReq = api.overview(previous, { signal }).catch(() => null); // only for the trend
    const cur = await api.overview({ since: range }, { signal }).catch(() => null);
    const prev = await previousReq;
    if (!cur) return;
    cards.total.set(fmtInt(cur.total_logs), `in the last ${range}`);
    cards.rate.set(fmtInt(cur.logs_per_minute), trend(cur.trend_percent, ' %', 'vs previous minute'));
    cards.services.set(fmtInt(cur.active_services), `${cur.services.filter((s) => s.status !== 'healthy').length} need attention`);
    const errorDelta = prev?.total_logs ? +(cur.error_rate - prev.error_rate).toFixed(2) : null;
    cards.errors.set(fmtPercent(cur.error_rate), trend(errorDelta, ' pt', `vs previous ${range}`, true));
    renderHealth(cur.services);
    renderTopErrors(cur.top_errors);
  }

  function renderHealth(services) {
    const sorted = [...services].sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status] || a.service.localeCompare(b.service));
    health.replaceChildren(...sorted.map((s) => h('li', { 'data-service': s.service, class: `health health-${s.status}` },
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      h('a', { href: `/explore?service=${encodeURIComponent(s.service)}&range=${range}` }, s.service),
      h('span', { class: `status status-${s.status}` }, s.status),
      h('span', { class: 'muted' }, `${fmtInt(s.total_logs)} logs · ${fmtPercent(s.error_rate)} errors · last seen ${fmtAgo(s.last_seen)}`))));
    if (!services.length) health.append(h('li', { class: 'muted' }, 'No service logged in this range.'));
  }

  function renderTopErrors(groups) {
    topErrors.replaceChildren(...groups.map((g) => h('li', null,
      h('span', { class: 'top-error-msg' }, g.message),
      h('span', { class: 'muted' }, `${fmtInt(g.count)}× · ${g.services.join(', ')} · last ${fmtAgo(g.last_seen)}`))));
    if (!groups.length) topErrors.append(h('li', { class: 'muted' }, 'No errors in this range.'));
  }

  async function loadVolume() {
    const [interval] = intervalFor(RANGES[range]);
    try {
      chart.setData(levelData(await api.timeseries({ since: range, interval }, { signal })));
    } catch (err) {
      if (!isAbort(err)) chart.setData({ start: 0, step: 1, values: {} });
    }
  }

  refresh();
  every(REFRESH_MS, () => {
    if (!document.hidden) refresh(); // no point refreshing a background tab
  }, signal);
}

/** Admin only: system metrics with a cache clear button, and the users. */
function adminSection(main, signal) {
  const system = h('dl', { class: 'kv' });
  const users = h('tbody');
  const clear = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'cache-clear', async onclick() {
    if (!(await confirmInline(clear, 'Clear the analytics cache?', 'Clear'))) return;
    try {
      const res = await api.clearCache();
      toast(`Cache cleared (${fmtInt(res.cleared)} entries)`, 'success');
    } catch { /* toast shown */ }
  } }, 'Clear cache');
  main.append(h('div', { class: 'grid-2' },
    card('System', system, { testid: 'system-card', actions: clear }),
    card('Users', h('div', { class: 'table-wrap' }, h('table', { class: 'data-table', 'data-testid': 'users' },
      h('thead', null, h('tr', null, ['User', 'Email', 'Role', 'Last login'].map((c) => h('th', { scope: 'col' }, c)))),
      users)))));

  const kv = (pairs) => pairs.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]);
  async function refresh() {
    const [s, u] = await Promise.allSettled([api.system({ signal }), api.users({ signal })]);
    if (s.status === 'fulfilled') {
      const m = s.value;
      system.replaceChildren(...kv([
        ['Ingest', `${fmtFixed(m.ingest.logs_per_second)} logs/s`],
        ['Indexed', fmtInt(m.ingest.indexed_total)],
        ['Rejected (backpressure)', fmtInt(m.ingest.rejected_backpressure_total)],
        ['Indexer', m.ingest.indexer_healthy ? 'healthy' : `unhealthy (${m.ingest.indexer_errors} errors)`],
        ['WAL backlog', `${fmtBytes(m.wal.pending_bytes)} (${fmtFixed(m.wal.backlog_ratio * 100)} %)`],
        ['Index', `${fmtInt(m.index.documents)} docs · ${fmtBytes(m.index.bytes_on_disk)} · ${m.index.partitions.length} partitions`],
        ['Memory', fmtBytes(m.memory.resident_bytes)],
        ['Cache', `${m.cache.engine} (${m.cache.status})`],
        ['Uptime', fmtDuration(m.uptime_seconds * 1000)],
        ['Version', m.version],
      ]));
    }
    if (u.status === 'fulfilled') {
      users.replaceChildren(...u.value.users.map((x) => h('tr', null, h('td', null, x.username), h('td', null, x.email),
        h('td', null, h('span', { class: `role role-${x.role}` }, x.role)),
        h('td', null, x.last_login ? fmtDateTime(x.last_login) : '—'))));
    }
  }
  return { refresh };
}
