// Trace: every log of one correlation id as a timeline of the services it crossed (one bar per
// service from its first to its last log, a tick per log) above the logs themselves.

import { api } from './api.js';
import { logTable, logRow, clickedRow, detailsPanel, levelBadge } from './logview.js';
import { h, plural, fmtDuration, fmtDateTime, toMs, isAbort } from './util.js';
import { card, field, pageHead } from './ui.js';

const isError = (log) => log.level === 'ERROR' || log.level === 'CRITICAL';

export default function mountTrace(main, ctx) {
  const { signal } = ctx;
  const input = h('input', { type: 'text', 'data-testid': 'trace-input', required: true, autocomplete: 'off',
    spellcheck: 'false', pattern: '[A-Za-z0-9._:\\-]{1,128}', value: ctx.url.searchParams.get('id') ?? '',
    placeholder: 'e.g. B5P21WCEQE7K5JVA' });
  const result = h('div', { 'aria-live': 'polite' });
  main.append(pageHead('Trace'),
    h('form', { class: 'trace-form card', role: 'search', onsubmit(e) {
      e.preventDefault();
      const id = input.value.trim();
      ctx.setUrl(`id=${encodeURIComponent(id)}`);
      load(id);
    } }, field('Correlation ID', input), h('button', { type: 'submit', class: 'btn btn-primary' }, 'Trace')),
    result);
  const details = detailsPanel(main);

  async function load(id) {
    if (!id) {
      result.replaceChildren(h('p', { class: 'muted' }, 'Enter a correlation ID, or follow one from a log.'));
      return;
    }
    result.replaceChildren(h('p', { class: 'muted' }, 'Loading trace…'));
    try {
      render(await api.trace(id, { signal }));
    } catch (err) {
      if (!isAbort(err)) result.replaceChildren(h('p', { class: 'form-error' }, err.message));
    }
  }

  function render(t) {
    const start = toMs(t.start_time);
    const pct = (ts) => (t.duration_ms > 0 ? ((toMs(ts) - start) / t.duration_ms) * 100 : 0);
    const firstErrorId = t.first_error?.id;
    const { table, body } = logTable('trace-logs');
    t.logs.forEach((log, i) => {
      const first = log.id === firstErrorId;
      const row = logRow(log, { index: i, testid: first ? 'trace-first-error' : 'log-row' });
      if (first) row.classList.add('first-error');
      body.append(row);
    });
    body.addEventListener('click', (e) => {
      const row = clickedRow(e);
      if (row) details.show(t.logs[row.dataset.index]);
    });
    const focusRow = (id) => {
      const row = body.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
      row?.scrollIntoView({ block: 'center' });
      details.show(t.logs[row.dataset.index]);
    };

    result.replaceChildren(
      h('p', { class: 'trace-summary' },
        h('strong', null, plural(t.total_logs, 'log')), ` across ${plural(t.services.length, 'service')} in `,
        h('strong', null, fmtDuration(t.duration_ms)), `, from ${fmtDateTime(t.start_time)}.`,
        t.truncated && h('span', { class: 'badge status-degraded' }, ' Truncated: only the newest 50,000 logs')),
      t.first_error && card('First error', h('p', null, levelBadge(t.first_error.level), ` ${t.first_error.service} +`,
        fmtDuration(toMs(t.first_error.timestamp) - start), ': ', t.first_error.message, ' ',
        h('button', { type: 'button', class: 'link-button', onclick: () => focusRow(firstErrorId) }, 'Show log')),
      { cls: 'first-error-note' }),
      card('Timeline', timeline(t, pct, firstErrorId, focusRow)),
      card('Logs', h('div', { class: 'table-wrap' }, table)));
  }

  load(input.value.trim());
}

/** One row per service: its bar (first to last log, with the duration) and a tick per log. */
function timeline(t, pct, firstErrorId, onTick) {
  const start = toMs(t.start_time);
  const byService = Map.groupBy(t.logs, (log) => log.service);
  const rows = t.service_breakdown.flatMap((b) => {
    const [from, to] = [pct(b.first_seen), pct(b.last_seen)];
    const width = to - from;
    const label = h('span', { class: 'span-label' }, fmtDuration(b.time_ms));
    // The duration goes inside a wide bar, else beside it on the side with room.
    if (width > 20) label.style.left = '4px';
    else if (from > 60) label.style.right = '100%';
    else label.style.left = '100%';
    const bar = h('div', { class: 'span-bar', 'data-testid': 'trace-span', 'data-service': b.service,
      title: `${b.service}: ${b.log_count} logs in ${fmtDuration(b.time_ms)}` }, label);
    bar.style.left = `${from}%`;
    bar.style.width = `${width}%`;
    const ticks = (byService.get(b.service) ?? []).map((log) => {
      const first = log.id === firstErrorId;
      const tick = h('button', { type: 'button', class: `tick${isError(log) ? ' tick-error' : ''}${first ? ' first-error' : ''}`,
        title: `+${fmtDuration(toMs(log.timestamp) - start)} ${log.level} ${log.message}`,
        'aria-label': `${log.level} log at +${fmtDuration(toMs(log.timestamp) - start)}: ${log.message}`,
        onclick: () => onTick(log.id) });
      tick.style.left = `${pct(log.timestamp)}%`;
      return tick;
    });
    return [h('div', { class: 'timeline-label', title: b.service }, b.service, h('br'),
      h('small', { class: 'muted' }, plural(b.log_count, 'log'))), h('div', { class: 'track' }, bar, ticks)];
  });
  const axis = h('div', { class: 'timeline-axis', 'aria-hidden': 'true' },
    [0, 0.25, 0.5, 0.75, 1].map((f) => h('span', null, fmtDuration(t.duration_ms * f))));
  return h('div', { class: 'timeline', 'data-testid': 'trace-timeline' }, rows, h('span'), axis);
}
