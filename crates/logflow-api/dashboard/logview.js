// How a log looks everywhere: the table row (Explore, Live tail, Trace) and the details panel.
// Log text only ever reaches the DOM as text nodes.

import { h, fmtDateTime, highlight, copyText, toMs } from './util.js';
import { toast, onEscape } from './ui.js';

export const levelBadge = (level) => h('span', { class: `level level-${level}` }, level);

export const traceHref = (id) => `/trace?id=${encodeURIComponent(id)}`;

/** The column headings matching `logRow`'s cells. */
export const LOG_COLUMNS = ['Time', 'Level', 'Service', 'Message', 'Correlation ID'];

/** A log table (fixed layout, so 10,000 rows lay out fast) and its body. */
export function logTable(testid, bodyTestid) {
  const body = h('tbody', { 'data-testid': bodyTestid });
  const table = h('table', { class: 'log-table', 'data-testid': testid },
    h('colgroup', null, ['time', 'level', 'service', 'message', 'corr'].map((c) => h('col', { class: `col-${c}` }))),
    h('thead', null, h('tr', null, LOG_COLUMNS.map((c) => h('th', { scope: 'col' }, c)))), body);
  return { table, body };
}

/**
 * One log as a table row. `re` highlights query matches in the message; `index` is the row's
 * position in the page's array of logs, which the page's delegated click handler reads back.
 */
export function logRow(log, { re = null, testid = 'log-row', index } = {}) {
  return h('tr', { 'data-testid': testid, 'data-id': log.id, 'data-index': index, class: `row-${log.level}` },
    h('td', { class: 'cell-time' }, h('time', { datetime: log.timestamp }, fmtDateTime(log.timestamp))),
    h('td', null, levelBadge(log.level)),
    h('td', { class: 'cell-service' }, log.service),
    h('td', { class: 'cell-message' }, highlight(log.message, re)),
    h('td', { class: 'cell-corr' }, log.correlation_id
      && h('a', { href: traceHref(log.correlation_id), class: 'corr-link', title: 'Trace this request' }, log.correlation_id)));
}

/** The log row a click inside a table body landed on; null for links and buttons in it. */
export const clickedRow = (event) => (event.target.closest('a, button') ? null : event.target.closest('tr[data-id]'));

/** An explore URL around a log's time (±1 min) and service. */
function contextHref(log) {
  const t = toMs(log.timestamp);
  const p = new URLSearchParams({ service: log.service, from: new Date(t - 6e4).toISOString(), to: new Date(t + 6e4).toISOString() });
  return `/explore?${p}`;
}

const FIELDS = [
  ['id', 'ID'], ['service', 'Service'], ['host', 'Host'], ['request_id', 'Request ID'],
  ['trace_id', 'Trace ID'], ['span_id', 'Span ID'],
];

/**
 * The log details panel, appended to `root`. `show(log)` opens or updates it; Escape and the
 * close button close it and give focus back to where it was.
 */
export function detailsPanel(root, { onClose } = {}) {
  const heading = h('h2', { id: 'details-title', tabindex: '-1' }, 'Log details');
  const body = h('div', { class: 'details-body' });
  const panel = h('aside', { class: 'details', 'data-testid': 'log-details', role: 'dialog',
    'aria-labelledby': 'details-title', hidden: true },
  h('div', { class: 'details-head' }, heading,
    h('button', { type: 'button', class: 'btn', 'data-testid': 'details-copy', onclick: () => copy() }, 'Copy JSON'),
    h('button', { type: 'button', class: 'btn btn-icon', 'data-testid': 'details-close', 'aria-label': 'Close details',
      onclick: () => close() }, '×')),
  body);
  root.append(panel);
  let log = null;
  let unregister = null;
  let returnFocus = null;

  function show(next) {
    log = next;
    const dd = (value) => h('dd', null, value ?? h('span', { class: 'muted' }, '—'));
    body.replaceChildren(
      h('p', { class: 'details-message' }, levelBadge(log.level), ' ', log.message),
      h('dl', { class: 'details-fields' },
        h('dt', null, 'Time'), dd(h('span', null, fmtDateTime(log.timestamp), h('br'), h('small', { class: 'muted' }, log.timestamp))),
        FIELDS.map(([key, label]) => [h('dt', null, label), dd(log[key])]),
        h('dt', null, 'Correlation ID'), dd(log.correlation_id && h('span', null, log.correlation_id, ' ',
          h('a', { href: traceHref(log.correlation_id), 'data-testid': 'trace-link' }, 'View trace')))),
      h('h3', null, 'Attributes'),
      h('pre', { class: 'json', 'data-testid': 'details-attributes' }, JSON.stringify(log.attributes ?? {}, null, 2)),
      h('p', null, h('a', { href: contextHref(log) }, 'Logs of this service around this time')));
    if (panel.hidden) {
      returnFocus = document.activeElement;
      panel.hidden = false;
      unregister = onEscape(close);
    }
    heading.focus({ preventScroll: true });
  }

  function close() {
    if (panel.hidden) return;
    panel.hidden = true;
    unregister?.();
    if (returnFocus?.isConnected) returnFocus.focus({ preventScroll: true });
    onClose?.();
  }

  async function copy() {
    try {
      await copyText(JSON.stringify(log, null, 2));
      toast('Log copied as JSON', 'success');
    } catch (err) {
      toast(`Copy failed: ${err.message}`);
    }
  }

  return { show, close, get open() { return !panel.hidden; } };
}
