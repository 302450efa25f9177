// Live tail: logs pushed by the server (Server-Sent Events) as they are indexed, newest on top.
// Memory stays bounded: at most 1,000 rows in the table and 1,000 buffered while paused, and rows
// are added once per animation frame whatever the rate.

import { api } from './api.js';
import { readFilters, filtersToQuery, filterBar, matchParams } from './filters.js';
import { logTable, logRow, clickedRow, detailsPanel } from './logview.js';
import { h, every, fmtInt, fmtFixed, highlighter, linkedController } from './util.js';
import { announce, noteRow, pageHead } from './ui.js';

const MAX_ROWS = 1000;
const RATE_WINDOW_S = 5;

/** Arrivals per second over a sliding window of whole seconds. */
function rateMeter() {
  const counts = new Map(); // epoch second -> arrivals
  let since = 0;
  return {
    hit() {
      const s = Math.floor(Date.now() / 1000);
      counts.set(s, (counts.get(s) ?? 0) + 1);
    },
    reset() {
      counts.clear();
      since = Date.now();
    },
    /** Logs per second over the last 5 s (or since the start, when more recent). */
    rate() {
      const now = Date.now();
      const oldest = Math.floor(now / 1000) - RATE_WINDOW_S + 1;
      let total = 0;
      for (const [s, n] of counts) {
        if (s < oldest) counts.delete(s);
        else total += n;
      }
      const span = Math.min(RATE_WINDOW_S, Math.max(1, (now - since) / 1000));
      return total / span;
    },
  };
}

export default function mountLive(main, ctx) {
  const { signal } = ctx;
  let filters = readFilters(ctx.url.searchParams);
  let source = null; // the EventSource while started
  let paused = false;
  let buffer = []; // arrivals while paused, oldest first, at most MAX_ROWS
  let pending = []; // arrivals waiting for the next frame
  let frame = 0;
  let unseen = 0; // arrivals while paused, including the ones the buffer had to drop
  let dropped = 0; // logs the server skipped (lagged events)
  let re = highlighter(filters.q);
  const meter = rateMeter();
  const logOf = new WeakMap(); // row -> log, for the details panel

  const bar = filterBar(filters, { withRange: false, signal, onChange(f) {
    filters = f;
    re = highlighter(f.q);
    ctx.setUrl(filtersToQuery(f, { withRange: false }), { replace: true });
    exploreLink.href = `/explore?${filtersToQuery({ ...f, range: '15m' })}`;
    if (source) start();
  } });
  const toggle = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'live-toggle',
    onclick: () => (source ? stop() : start()) });
  const pause = h('button', { type: 'button', class: 'btn', 'data-testid': 'live-pause', 'aria-pressed': 'false',
    onclick: () => setPaused(!paused) }, 'Pause');
  const status = h('span', { class: 'live-status', 'data-testid': 'live-status', role: 'status' });
  const rate = h('span', { 'data-testid': 'live-rate' }, '0.0 logs/s');
  const unseenNote = h('button', { type: 'button', class: 'btn', 'data-testid': 'live-new', hidden: true,
    onclick: () => setPaused(false) });
  const droppedNote = h('span', { class: 'badge status-triggered', 'data-testid': 'live-dropped', hidden: true,
    title: 'The server skipped these logs because this page could not keep up' });
  const exploreLink = h('a', { class: 'btn', href: `/explore?${filtersToQuery({ ...filters, range: '15m' })}` }, 'Search these filters');
  const { table, body } = logTable('live-table', 'live-rows');
  const wrap = h('div', { class: 'table-wrap live-wrap' }, table);

  main.append(pageHead('Live tail', exploreLink), bar.el,
    h('div', { class: 'live-controls' }, toggle, pause, status, h('span', { class: 'muted' }, '·'), rate,
      unseenNote, droppedNote, h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'btn', onclick: clear }, 'Clear')),
    wrap);
  const details = detailsPanel(main);
  body.addEventListener('click', (e) => {
    const row = clickedRow(e);
    if (row) details.show(logOf.get(row));
  });

  function setStatus(state) {
    status.textContent = state;
    status.dataset.state = state;
  }

  function start() {
    stop();
    setStatus('connecting');
    meter.reset();
    toggle.textContent = 'Stop';
    pause.disabled = false;
    if (!body.rows.length) body.replaceChildren(noteRow(5, 'Waiting for logs…'));
    source = new EventSource(api.tailUrl(matchParams(filters)));
    source.addEventListener('open', () => setStatus(paused ? 'paused' : 'live'));
    source.addEventListener('log', onLog);
    source.addEventListener('lagged', onLagged);
    source.addEventListener('error', onError);
  }

  function stop() {
    source?.close();
    source = null;
    setPaused(false);
    setStatus('stopped');
    toggle.textContent = 'Start';
    pause.disabled = true;
  }

  function onError() {
    if (source?.readyState === EventSource.CONNECTING) {
      setStatus('reconnecting'); // EventSource retries by itself
      return;
    }
    // Closed for good: the server answered with something else than a stream, e.g. a 400 for a
    // bad query. Ask again as a plain request to show its message (toasted by the API layer).
    stop();
    const probe = linkedController(signal);
    setTimeout(() => probe.abort(), 3000);
    api.tailError(matchParams(filters), { signal: probe.signal }).catch(() => {}).finally(() => probe.abort());
  }

  function onLog(e) {
    let log;
    try {
      log = JSON.parse(e.data);
    } catch {
      return;
    }
    meter.hit();
    if (!paused) {
      enqueue([log]);
      return;
    }
    buffer.push(log);
    if (buffer.length > MAX_ROWS) buffer.splice(0, buffer.length - MAX_ROWS);
    unseen++;
    unseenNote.textContent = `${fmtInt(unseen)} new`;
    unseenNote.hidden = false;
  }

  function onLagged(e) {
    try {
      dropped += JSON.parse(e.data).dropped ?? 0;
    } catch {
      return;
    }
    droppedNote.textContent = `${fmtInt(dropped)} dropped`;
    droppedNote.hidden = false;
  }

  function setPaused(value) {
    if (paused === value) return;
    paused = value;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
    if (source) setStatus(paused ? 'paused' : 'live');
    if (!paused) {
      enqueue(buffer);
      buffer = [];
      unseen = 0;
      unseenNote.hidden = true;
    }
  }

  /** Queues logs (oldest first) for the next frame; only the newest MAX_ROWS can ever show. */
  function enqueue(logs) {
    if (!logs.length) return;
    pending.push(...logs);
    if (pending.length > MAX_ROWS) pending = pending.slice(-MAX_ROWS);
    frame ||= requestAnimationFrame(flush);
  }

  function flush() {
    frame = 0;
    const atTop = wrap.scrollTop < 4;
    const frag = document.createDocumentFragment();
    for (let i = pending.length - 1; i >= 0; i--) {
      const row = logRow(pending[i], { re, testid: 'live-row' });
      logOf.set(row, pending[i]);
      frag.append(row);
    }
    pending = [];
    body.querySelector('.note-row')?.remove();
    body.prepend(frag);
    while (body.rows.length > MAX_ROWS) body.lastElementChild.remove();
    if (atTop) wrap.scrollTop = 0; // follow the newest unless the reader scrolled away
  }

  function clear() {
    body.replaceChildren(noteRow(5, source ? 'Waiting for logs…' : 'Stopped.'));
    buffer = [];
    unseen = 0;
    unseenNote.hidden = true;
    dropped = 0;
    droppedNote.hidden = true;
    announce('Live tail cleared');
  }

  every(1000, () => { rate.textContent = `${fmtFixed(meter.rate())} logs/s`; }, signal);
  signal.addEventListener('abort', () => {
    stop();
    cancelAnimationFrame(frame);
  });
  start();
}
