// Anomalies: log volume and error rate per minute over a window, with the anomalies the server
// detected marked on them by severity, and the list of those anomalies. The detect endpoints
// return only the anomalies, so the series come from /metrics/timeseries over the same minutes.

import { api } from './api.js';
import { TimeChart } from './charts.js';
import { h, options, fmtDateTime, fmtFixed, fmtInt, toMs, isAbort } from './util.js';
import { card, field, pageHead } from './ui.js';

const WINDOWS = [[60, '1 hour'], [180, '3 hours'], [360, '6 hours'], [1440, '24 hours']];
const SEVERITY_RANK = { critical: 3, high: 2, medium: 1, low: 0 };
const MINUTE = 6e4;
const METRIC_LABEL = { log_volume: 'Log volume', error_rate: 'Error rate' };

const percent = (v) => `${fmtFixed(v, v < 10 ? 1 : 0)} %`;
const marker = (a) => ({ t: toMs(a.detected_at), color: `--sev-${a.severity}`, text: `${a.severity}: ${a.description}` });

/** Explore URL of the ten minutes around an anomaly. */
function exploreHref(a) {
  const t = toMs(a.detected_at);
  const p = new URLSearchParams({ from: new Date(t - 5 * MINUTE).toISOString(), to: new Date(t + 6 * MINUTE).toISOString() });
  if (a.service) p.set('service', a.service);
  if (a.metric_name === 'error_rate') p.set('level', 'ERROR,CRITICAL');
  return `/explore?${p}`;
}

export default function mountAnomalies(main, ctx) {
  const { signal } = ctx;
  const params = ctx.url.searchParams;
  const minutes = Number(params.get('window'));
  const state = { service: params.get('service') ?? '', window: WINDOWS.some(([w]) => w === minutes) ? minutes : 60 };

  const serviceSelect = h('select', { 'data-testid': 'anomaly-service', onchange: () => change() },
    options([['', 'All services'], ...(state.service ? [state.service] : [])], state.service));
  const windowSelect = h('select', { 'data-testid': 'anomaly-window', onchange: () => change() },
    options(WINDOWS.map(([w, label]) => [String(w), label]), String(state.window)));
  const notes = h('div', { class: 'muted', 'aria-live': 'polite' });
  const volumeHost = h('div', { class: 'chart-box', 'data-testid': 'anomaly-volume-chart' });
  const errorHost = h('div', { class: 'chart-box', 'data-testid': 'anomaly-error-chart' });
  const list = h('ul', { class: 'anomaly-list', 'data-testid': 'anomaly-list' });

  main.append(
    pageHead('Anomalies', field('Service', serviceSelect), field('Window', windowSelect),
      h('button', { type: 'button', class: 'btn', onclick: () => load() }, 'Refresh')),
    notes,
    h('div', { class: 'grid-2' }, card('Logs per minute', volumeHost), card('Error rate per minute', errorHost)),
    card('Detected anomalies', list));
  const charts = {
    volume: new TimeChart(volumeHost, { series: [{ key: 'v', label: 'Logs', color: '--chart-INFO' }], label: 'Logs per minute' }),
    errors: new TimeChart(errorHost, { kind: 'line', series: [{ key: 'v', label: 'Error rate', color: '--chart-ERROR' }],
      label: 'Error rate per minute', format: percent, integer: false }),
  };
  signal.addEventListener('abort', () => Object.values(charts).forEach((c) => c.destroy()));

  api.services().then((names) => {
    serviceSelect.replaceChildren(...options([['', 'All services'], ...new Set([...names, state.service].filter(Boolean))], state.service));
  }, () => {});

  function change() {
    state.service = serviceSelect.value;
    state.window = Number(windowSelect.value);
    const p = new URLSearchParams({ window: state.window });
    if (state.service) p.set('service', state.service);
    ctx.setUrl(p.toString(), { replace: true });
    load();
  }

  async function load() {
    // The detectors analyse whole minutes ending at the last full one; the series match them.
    const end = Math.floor(Date.now() / MINUTE) * MINUTE;
    const start = end - state.window * MINUTE;
    const detect = { window_minutes: state.window, service: state.service };
    list.replaceChildren(h('li', { class: 'muted' }, 'Analysing…'));
    const [volume, errors, series] = await Promise.allSettled([
      api.anomalies('log-volume', detect, { signal }),
      api.anomalies('error-rate', detect, { signal }),
      api.timeseries({ interval: '1m', start_time: new Date(start).toISOString(), end_time: new Date(end).toISOString(),
        service: state.service }, { signal }),
    ]);
    if ([volume, errors, series].some((r) => isAbort(r.reason))) return;
    const found = (r) => (r.status === 'fulfilled' ? r.value.data : []);
    const buckets = series.status === 'fulfilled' ? series.value.buckets : [];
    const errorRates = buckets.map((b) => (b.total ? ((b.levels.ERROR + b.levels.CRITICAL) * 100) / b.total : null));
    charts.volume.setData({ start, step: MINUTE, values: { v: buckets.map((b) => b.total) }, markers: found(volume).map(marker) });
    charts.errors.setData({ start, step: MINUTE, values: { v: errorRates }, markers: found(errors).map(marker) });
    // Too few points to analyse: the detectors say why in a header.
    notes.replaceChildren(...[['Log volume', volume], ['Error rate', errors]]
      .map(([label, r]) => [label, r.status === 'fulfilled' && r.value.headers.get('x-anomaly-skipped')])
      .filter(([, reason]) => reason)
      .map(([label, reason]) => h('p', null, `${label} not analysed: ${reason}`)));
    renderList([...found(volume), ...found(errors)]);
  }

  function renderList(anomalies) {
    anomalies.sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || toMs(b.detected_at) - toMs(a.detected_at));
    const value = (a, v) => (a.metric_name === 'error_rate' ? percent(v) : fmtInt(v));
    list.replaceChildren(...anomalies.map((a) => h('li', { class: 'anomaly-item', 'data-testid': 'anomaly-item',
      'data-severity': a.severity },
    h('span', { class: `sev sev-${a.severity}` }, a.severity),
    h('strong', null, `${METRIC_LABEL[a.metric_name] ?? a.metric_name} ${a.anomaly_type.replaceAll('_', ' ')}`,
      h('span', { class: 'muted' }, ` · ${a.service ?? 'all services'} · ${fmtDateTime(a.detected_at)}`)),
    h('a', { href: exploreHref(a) }, 'View logs'),
    h('span', { class: 'muted' }, `${value(a, a.actual_value)} (expected ~${value(a, a.expected_value)}`
      + `${a.deviation_percent == null ? '' : `, ${a.deviation_percent > 0 ? '+' : ''}${fmtFixed(a.deviation_percent)} %`})`
      + ` · ${a.method.replaceAll('_', ' ')} · score ${fmtFixed(a.score, 2)}`))));
    if (!anomalies.length) list.append(h('li', { class: 'muted' }, 'No anomalies in this window.'));
  }

  load();
}
