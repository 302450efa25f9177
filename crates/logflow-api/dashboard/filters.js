// Log filters shared by Explore and Live tail: their URL form, their API form, and the filter bar
// (query with help popover, services, levels, time range).

import { api } from './api.js';
import { h, options, LEVELS, RANGES, toLocalInput, fromLocalInput, isAbort } from './util.js';
import { field, onEscape } from './ui.js';

export const DEFAULT_RANGE = '1h';

const list = (value) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const validTime = (s) => Boolean(s) && !Number.isNaN(Date.parse(s));

/**
 * Filters from a URL's parameters: `q`, `service=a,b`, `level=ERROR,WARNING`, and either
 * `range=15m|1h|6h|24h|7d` or a custom `from`/`to` (RFC 3339), which wins over `range`.
 */
export function readFilters(params) {
  const [from, to] = [params.get('from'), params.get('to')];
  const custom = validTime(from) && validTime(to);
  const range = params.get('range');
  return {
    q: params.get('q') ?? '',
    services: list(params.get('service')),
    levels: list(params.get('level')).map((l) => l.toUpperCase()).filter((l) => LEVELS.includes(l)),
    range: custom ? 'custom' : RANGES[range] ? range : DEFAULT_RANGE,
    from: custom ? from : null,
    to: custom ? to : null,
  };
}

/** The URL query string (no `?`) of `f`; without the time range for the live tail. Commas in
 * lists stay readable (`level=ERROR,WARNING`); they need no escaping in a query string. */
export function filtersToQuery(f, { withRange = true } = {}) {
  const p = new URLSearchParams();
  if (f.q.trim()) p.set('q', f.q.trim());
  if (f.services.length) p.set('service', f.services.join(','));
  if (f.levels.length) p.set('level', f.levels.join(','));
  if (withRange && f.range === 'custom') {
    p.set('from', f.from);
    p.set('to', f.to);
  } else if (withRange) {
    p.set('range', f.range);
  }
  return p.toString().replaceAll('%2C', ',');
}

/** The time parameters of the search and metrics endpoints. */
export const timeParams = (f) =>
  (f.range === 'custom' ? { start_time: f.from, end_time: f.to } : { since: f.range });

/** Query, service and level parameters of the API (search, timeseries, tail). */
export const matchParams = (f) => ({ query: f.q.trim(), service: f.services, level: f.levels });

/** `[start, end]` in ms of the filters' range as of now. */
export function rangeBounds(f) {
  if (f.range === 'custom') return [Date.parse(f.from), Date.parse(f.to)];
  const now = Date.now();
  return [now - RANGES[f.range], now];
}

const HELP = [
  ['timeout', 'a word anywhere in the log'],
  ['"connection refused"', 'an exact phrase'],
  ['payment AND failed', 'both words (AND is implied between words)'],
  ['timeout OR refused', 'either word'],
  ['checkout NOT level:info', 'exclude matches'],
  ['service:payment-service', 'one service'],
  ['level:error', 'one level'],
  ['attributes.user_id:42', 'an attribute value'],
  ['pay*', 'a prefix (wildcard)'],
  ['attributes.latency_ms:>500', 'a numeric range'],
  ['(timeout OR refused) AND service:api-gateway', 'grouping'],
];

/** The query syntax popover, toggled by its button; an example click puts it in the query. */
function queryHelp(input, signal) {
  const popover = h('div', { class: 'popover', id: 'query-help-popover', 'data-testid': 'query-help-popover',
    role: 'dialog', 'aria-label': 'Query syntax', hidden: true },
  h('h2', null, 'Query syntax'),
  h('ul', { class: 'help-list' }, HELP.map(([example, meaning]) => h('li', null,
    h('button', { type: 'button', class: 'link-button', onclick: () => use(example) }, h('code', null, example)),
    ` ${meaning}`))));
  const button = h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'query-help',
    'aria-expanded': 'false', 'aria-controls': 'query-help-popover', 'aria-label': 'Query syntax help',
    onclick: () => (popover.hidden ? open() : close()) }, '?');
  let unregister = null;
  const outside = (e) => {
    if (!popover.contains(e.target) && e.target !== button) close();
  };
  function open() {
    popover.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    unregister = onEscape(close);
    document.addEventListener('pointerdown', outside);
  }
  function close() {
    popover.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    unregister?.();
    document.removeEventListener('pointerdown', outside);
  }
  function use(example) {
    input.value = example;
    close();
    input.focus();
  }
  signal?.addEventListener('abort', close);
  return h('span', { class: 'help-anchor' }, button, popover);
}

/**
 * The filter bar. Calls `onChange(filters)` when a search is submitted or a service, level or
 * range changes. `set(filters)` shows other filters (e.g. after a chart zoom) without firing.
 */
export function filterBar(initial, { withRange = true, onChange, signal }) {
  let current = { ...initial };
  const query = h('input', { type: 'search', name: 'q', 'data-testid': 'query-input', value: current.q,
    placeholder: 'Search logs, e.g. payment AND level:error', autocomplete: 'off', spellcheck: 'false',
    'aria-label': 'Query' });
  const services = h('select', { multiple: true, size: 4, 'data-testid': 'service-filter', 'aria-label': 'Services',
    onchange: () => emit() });
  const levels = h('fieldset', { class: 'levels', 'data-testid': 'level-filter' }, h('legend', null, 'Levels'),
    LEVELS.map((l) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', value: l, 'data-level': l, checked: current.levels.includes(l), onchange: () => emit() }),
      h('span', { class: `level level-${l}` }, l))));
  const rangeSelect = h('select', { 'data-testid': 'range-select', onchange: () => rangeChanged() },
    options([...Object.keys(RANGES), ['custom', 'Custom…']], current.range));
  const from = h('input', { type: 'datetime-local', step: 1, 'data-testid': 'range-from', onchange: () => customChanged() });
  const to = h('input', { type: 'datetime-local', step: 1, 'data-testid': 'range-to', onchange: () => customChanged() });
  const custom = h('div', { class: 'custom-range' }, field('From', from), field('To', to));

  const form = h('form', { class: 'filter-bar card', role: 'search', 'aria-label': 'Log filters',
    onsubmit: (e) => { e.preventDefault(); emit(); } },
  h('div', { class: 'query-row' }, query, queryHelp(query, signal),
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'search-button' }, withRange ? 'Search' : 'Apply')),
  h('div', { class: 'filter-row' }, field('Services', services, 'Ctrl/⌘-click for several'), levels,
    withRange && h('div', { class: 'range-box' }, field('Time range', rangeSelect), custom)));

  function read() {
    const f = {
      q: query.value,
      services: [...services.selectedOptions].map((o) => o.value),
      levels: [...levels.querySelectorAll('input:checked')].map((i) => i.value),
      range: current.range, from: current.from, to: current.to,
    };
    if (!withRange) return f;
    f.range = rangeSelect.value;
    if (f.range !== 'custom') return { ...f, from: null, to: null };
    const [a, b] = [fromLocalInput(from.value), fromLocalInput(to.value)];
    if (a < b) [f.from, f.to] = [new Date(a).toISOString(), new Date(b).toISOString()];
    return f;
  }

  function emit() {
    current = read();
    onChange(current);
  }

  function rangeChanged() {
    const isCustom = rangeSelect.value === 'custom';
    if (isCustom && current.range !== 'custom') {
      // Start the custom range from the preset that was shown.
      const [start, end] = rangeBounds(current);
      from.value = toLocalInput(start);
      to.value = toLocalInput(end);
    }
    custom.hidden = !isCustom;
    emit();
  }

  function customChanged() {
    const [a, b] = [fromLocalInput(from.value), fromLocalInput(to.value)];
    const valid = a < b;
    to.setCustomValidity(valid ? '' : 'The end must be after the start');
    to.reportValidity();
    if (valid) emit();
  }

  function set(f) {
    current = { ...f };
    query.value = f.q;
    for (const o of services.options) o.selected = f.services.includes(o.value);
    for (const box of levels.querySelectorAll('input')) box.checked = f.levels.includes(box.value);
    rangeSelect.value = f.range;
    custom.hidden = f.range !== 'custom';
    if (f.range === 'custom') {
      from.value = toLocalInput(f.from);
      to.value = toLocalInput(f.to);
    }
  }

  async function loadServices() {
    try {
      const names = await api.services();
      // Keep services named in the URL even when they logged nothing lately.
      const all = [...new Set([...names, ...current.services])].sort();
      services.replaceChildren(...all.map((s) => h('option', { value: s, selected: current.services.includes(s) }, s)));
    } catch (err) {
      if (!isAbort(err)) services.replaceChildren(...current.services.map((s) => h('option', { value: s, selected: true }, s)));
    }
  }

  set(current);
  loadServices();
  return { el: form, set, get: () => current };
}
