// Explore: search with filters kept in the URL, a zoomable volume histogram, a results table that
// grows page by page (rows are only ever appended), details, export and saved searches.

import { api } from './api.js';
import { TimeChart, LEVEL_SERIES, levelData } from './charts.js';
import { readFilters, filtersToQuery, filterBar, matchParams, timeParams, rangeBounds } from './filters.js';
import { logTable, logRow, clickedRow, detailsPanel } from './logview.js';
import { h, fmtInt, plural, highlighter, intervalFor, isTyping, isAbort, linkedController, toCsv, download } from './util.js';
import { announce, card, noteRow, pageHead, toast, whileBusy } from './ui.js';

const PAGE_SIZE = 200;
const EXPORT_COLUMNS = ['timestamp', 'level', 'service', 'message', 'host', 'correlation_id', 'request_id',
  'trace_id', 'span_id', 'id', 'attributes'];

const sameRange = (a, b) => a.range === b.range && a.from === b.from && a.to === b.to;

export default function mountExplore(main, ctx) {
  const { signal } = ctx;
  let filters = readFilters(ctx.url.searchParams);
  let zoomedFrom = null; // the filters before the first histogram zoom
  const state = { logs: [], rows: [], selected: -1, cursor: null, re: null, search: null };

  const bar = filterBar(filters, {
    onChange(f) {
      if (!sameRange(f, filters)) zoomedFrom = null; // a range picked by hand ends the zoom
      apply(f);
    },
    signal,
  });
  const liveLink = h('a', { class: 'btn', href: '/live' }, 'Live tail these filters');
  const resetZoom = h('button', { type: 'button', class: 'btn', 'data-testid': 'reset-zoom', hidden: true,
    onclick: () => unzoom() }, 'Reset zoom');
  const histHost = h('div', { class: 'chart-box chart-short', 'data-testid': 'histogram' });
  const count = h('strong', { 'data-testid': 'result-count' }, '…');
  const meta = h('span', { class: 'muted' });
  const { table, body } = logTable('results');
  const loadMore = h('button', { type: 'button', class: 'btn', 'data-testid': 'load-more', hidden: true,
    onclick: () => nextPage() }, `Load ${PAGE_SIZE} more`);
  const saved = savedSearches(() => filtersToQuery(filters), signal);

  main.append(
    pageHead('Explore', liveLink),
    bar.el,
    saved.el,
    card('Volume', histHost, { actions: h('span', { class: 'card-actions' },
      h('small', { class: 'muted' }, 'Drag across the chart to zoom'), resetZoom) }),
    h('div', { class: 'results-bar' }, count, meta, h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'btn', 'data-testid': 'export-csv', onclick: () => exportAs('csv') }, 'Export CSV'),
      h('button', { type: 'button', class: 'btn', 'data-testid': 'export-json', onclick: () => exportAs('json') }, 'Export JSON')),
    h('div', { class: 'table-wrap' }, table),
    h('div', { class: 'center' }, loadMore));
  const chart = new TimeChart(histHost, { series: LEVEL_SERIES, label: 'Log volume of the search', onSelect: zoom });
  signal.addEventListener('abort', () => chart.destroy());
  const details = detailsPanel(main);

  body.addEventListener('click', (e) => {
    const i = Number(clickedRow(e)?.dataset.index ?? -1);
    if (i >= 0) {
      select(i);
      details.show(state.logs[i]);
    }
  });
  document.addEventListener('keydown', onKey, { signal });

  /** Shows and runs `f`; a new URL entry so Back returns to the previous search. */
  function apply(f) {
    filters = f;
    bar.set(f);
    resetZoom.hidden = !zoomedFrom;
    ctx.setUrl(filtersToQuery(f));
    search();
  }

  function zoom(from, to) {
    zoomedFrom ??= filters;
    apply({ ...filters, range: 'custom', from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  }

  function unzoom() {
    const f = zoomedFrom;
    zoomedFrom = null;
    apply(f);
  }

  function search() {
    state.search?.abort();
    state.search = linkedController(signal);
    Object.assign(state, { logs: [], rows: [], selected: -1, cursor: null, re: highlighter(filters.q) });
    liveLink.href = `/live?${filtersToQuery(filters, { withRange: false })}`;
    details.close();
    body.replaceChildren(noteRow(5, 'Searching…'));
    count.textContent = '…';
    meta.textContent = '';
    loadMore.hidden = true;
    const { signal: s } = state.search;
    whileBusy(table, firstPage(s));
    histogram(s);
  }

  const searchParams = () => ({ ...matchParams(filters), ...timeParams(filters), limit: PAGE_SIZE });

  async function firstPage(s) {
    try {
      const res = await api.search(searchParams(), { signal: s });
      body.replaceChildren();
      count.textContent = plural(res.total, 'log');
      if (!res.logs.length) body.append(noteRow(5, 'No logs match these filters.'));
      appendPage(res);
      announce(`${count.textContent} found`);
    } catch (err) {
      if (isAbort(err)) return;
      count.textContent = '—';
      body.replaceChildren(noteRow(5, `Search failed: ${err.message}`));
    }
  }

  async function nextPage() {
    if (!state.cursor || loadMore.disabled) return; // one page at a time: the cursor is per page
    loadMore.disabled = true;
    try {
      appendPage(await api.search({ ...searchParams(), cursor: state.cursor }, { signal: state.search.signal }));
    } catch {
      /* aborted by a new search, or toasted; the button stays for a retry */
    } finally {
      loadMore.disabled = false;
    }
  }

  /** Appends a page of results in one DOM operation; existing rows are never touched. */
  function appendPage(res) {
    const frag = document.createDocumentFragment();
    for (const log of res.logs) {
      const row = logRow(log, { re: state.re, index: state.logs.length });
      state.logs.push(log);
      state.rows.push(row);
      frag.append(row);
    }
    body.append(frag);
    state.cursor = res.next_cursor ?? null;
    loadMore.hidden = !state.cursor;
    meta.textContent = `${fmtInt(state.logs.length)} loaded · ${res.took_ms} ms`;
  }

  async function histogram(s) {
    const [start, end] = rangeBounds(filters);
    const [interval] = intervalFor(end - start);
    try {
      const ts = await api.timeseries({ ...matchParams(filters), ...timeParams(filters), interval }, { signal: s });
      chart.setData(levelData(ts));
    } catch (err) {
      if (!isAbort(err)) chart.setData({ start, step: 1, values: {} });
    }
  }

  /** Moves the selection to row `i` (O(1): rows are kept in an array). */
  function select(i) {
    const { rows } = state;
    if (i < 0 || i >= rows.length) return;
    const old = rows[state.selected];
    if (old) {
      old.classList.remove('selected');
      old.removeAttribute('aria-selected');
    }
    state.selected = i;
    rows[i].classList.add('selected');
    rows[i].setAttribute('aria-selected', 'true');
    rows[i].scrollIntoView({ block: 'nearest' });
    if (details.open) details.show(state.logs[i]);
  }

  function onKey(e) {
    if (isTyping(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'j' || e.key === 'k') {
      e.preventDefault();
      const step = e.key === 'j' ? 1 : -1;
      select(state.selected < 0 ? 0 : state.selected + step);
    } else if (e.key === 'Enter' && state.selected >= 0 && !e.target.closest?.('a, button, summary')) {
      e.preventDefault();
      details.show(state.logs[state.selected]);
    }
  }

  function exportAs(format) {
    if (!state.logs.length) {
      toast('No loaded logs to export', 'info');
      return;
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    if (format === 'csv') download(`logflow-${stamp}.csv`, toCsv(state.logs, EXPORT_COLUMNS), 'text/csv;charset=utf-8');
    else download(`logflow-${stamp}.json`, JSON.stringify(state.logs, null, 2), 'application/json');
    announce(`Exported ${state.logs.length} logs as ${format.toUpperCase()}`);
  }

  search();
}

/** The saved searches of the user: links to their explore URLs, save (named inline) and delete. */
function savedSearches(currentQuery, signal) {
  const list = h('ul', { class: 'chips', 'data-testid': 'saved-searches', 'aria-label': 'Saved searches' });
  const name = h('input', { type: 'text', 'data-testid': 'save-search-name', 'aria-label': 'Name of the saved search',
    placeholder: 'Name this search', maxlength: 100, required: true });
  const form = h('form', { class: 'inline-form', hidden: true, onsubmit: (e) => { e.preventDefault(); save(); } },
    name,
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-search-confirm' }, 'Save'),
    h('button', { type: 'button', class: 'btn', onclick: () => { form.hidden = true; } }, 'Cancel'));
  const open = h('button', { type: 'button', class: 'btn', 'data-testid': 'save-search',
    onclick: () => { form.hidden = false; name.focus(); } }, 'Save search');
  const el = h('section', { class: 'saved-bar', 'aria-label': 'Saved searches' },
    h('span', { class: 'muted' }, 'Saved:'), list, open, form);

  function item(s) {
    const li = h('li', { class: 'chip' },
      h('a', { href: `/explore?${s.params}`, 'data-testid': 'saved-search', title: s.params }, s.name),
      h('button', { type: 'button', class: 'btn-icon', 'data-testid': 'saved-search-delete',
        'aria-label': `Delete saved search ${s.name}`, onclick: () => remove(s, li) }, '×'));
    return li;
  }

  async function load() {
    try {
      const res = await api.savedSearches({ signal });
      list.replaceChildren(...res.saved_searches.map(item));
      if (!res.saved_searches.length) list.append(h('li', { class: 'muted' }, 'none yet'));
    } catch (err) {
      if (!isAbort(err)) list.replaceChildren(h('li', { class: 'muted' }, 'unavailable'));
    }
  }

  async function save() {
    const label = name.value.trim();
    if (!label) return;
    try {
      await api.saveSearch(label, currentQuery());
      toast(`Saved "${label}"`, 'success');
      name.value = '';
      form.hidden = true;
      load();
    } catch {
      name.focus(); // the toast says why (e.g. the name is taken)
    }
  }

  async function remove(s, li) {
    try {
      await api.deleteSavedSearch(s.id);
      li.remove();
      toast(`Deleted "${s.name}"`, 'success');
    } catch {
      /* toast shown */
    }
  }

  load();
  return { el };
}
