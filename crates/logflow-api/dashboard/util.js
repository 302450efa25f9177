// DOM, formatting and data helpers shared by every page. No network, no global state.

/** Log levels in severity order. */
export const LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];

/** Range presets and their length in ms. */
export const RANGES = { '15m': 9e5, '1h': 36e5, '6h': 216e5, '24h': 864e5, '7d': 6048e5 };

// Keys of `h` props assigned as DOM properties rather than attributes.
const PROPS = new Set(['value', 'checked', 'selected', 'disabled', 'hidden', 'multiple', 'required', 'open']);

/**
 * Creates an element. Props: `class`, `text`, `on<event>` listeners, DOM properties (value,
 * checked, ...) and any other attribute (data-*, aria-*). `null`/`false` props are skipped.
 * Children are nodes, strings (always text nodes, never parsed as HTML), arrays or null.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children as `h` accepts them. */
export function append(parent, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
  return parent;
}

/** `<option>`s from `[value, label]` pairs or plain values. */
export function options(items, selected) {
  return items.map((item) => {
    const [value, label] = Array.isArray(item) ? item : [item, item];
    return h('option', { value, selected: value === selected }, label);
  });
}

/** True when a key press is aimed at a text control, so page shortcuts must not fire. */
export function isTyping(event) {
  const t = event.target;
  return t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
}

// ---- numbers and time --------------------------------------------------------------------

const intFormat = new Intl.NumberFormat('en-US');
const pad = (n, width = 2) => String(n).padStart(width, '0');

export const fmtInt = (n) => intFormat.format(Math.round(n ?? 0));
export const fmtFixed = (n, digits = 1) => (n ?? 0).toFixed(digits);
export const fmtPercent = (n) => `${fmtFixed(n, 2)} %`;
/** `1 log`, `1,234 logs`. */
export const plural = (n, word) => `${fmtInt(n)} ${word}${n === 1 ? '' : 's'}`;

export function fmtBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

/** Milliseconds since the epoch of an RFC 3339 string (microseconds are truncated) or a number. */
export const toMs = (t) => (typeof t === 'number' ? t : Date.parse(t));

/** Local `YYYY-MM-DD HH:mm:ss.SSS`. */
export function fmtDateTime(t) {
  const d = new Date(toMs(t));
  return `${fmtDate(d)} ${fmtClock(d)}.${pad(d.getMilliseconds(), 3)}`;
}

export const fmtDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
export const fmtClock = (d, seconds = true) =>
  `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ''}`;

/** `850 ms`, `1.25 s`, `3 min 5 s`, `2 h 10 min`. */
export function fmtDuration(ms) {
  if (ms < 1000) return `${+ms.toFixed(1)} ms`;
  if (ms < 60e3) return `${+(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function fmtAgo(t) {
  const s = Math.max(0, Math.round((Date.now() - toMs(t)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** Value for an `<input type=datetime-local step=1>` (local time). */
export function toLocalInput(t) {
  const d = new Date(toMs(t));
  return `${fmtDate(d)}T${fmtClock(d)}`;
}

/** Ms of a datetime-local value (local time); NaN when empty or invalid. */
export const fromLocalInput = (value) => (value ? new Date(value).getTime() : NaN);

const INTERVALS = [['1m', 6e4], ['5m', 3e5], ['15m', 9e5], ['1h', 36e5], ['1d', 864e5]];

/**
 * The finest time-series interval giving at most 180 buckets over `spanMs`, which maps the
 * presets as 15m and 1h -> 1m, 6h -> 5m, 24h -> 15m, 7d -> 1h.
 */
export function intervalFor(spanMs) {
  return INTERVALS.find(([, ms]) => spanMs / ms <= 180) ?? INTERVALS[INTERVALS.length - 1];
}

// ---- query highlighting -------------------------------------------------------------------

const OPERATORS = new Set(['AND', 'OR', 'NOT']);
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A regex matching the free-text words and phrases of a search query (those the message is
 * searched for), or null. Operators, negated terms and field filters other than `message:` are
 * left out; `pay*` becomes a prefix match.
 */
export function highlighter(query) {
  const patterns = [];
  let skipNext = false; // the term after NOT or after a `field:` other than message:
  for (const [, field, phrase, word] of (query ?? '').matchAll(/([\w.]+):|"((?:[^"\\]|\\.)*)"|([^\s()"]+)/g)) {
    const skip = skipNext;
    skipNext = (field && field !== 'message') || word === 'NOT';
    if (skip || field || OPERATORS.has(word) || word?.startsWith('-')) continue;
    const value = (phrase ?? word.replace(/^[+!]+/, '')).trim();
    if (!/[^*?\s]/.test(value)) continue;
    const pattern = phrase != null
      ? value.split(/\s+/).map(escapeRe).join('\\s+')
      : escapeRe(value).replace(/\\\*/g, '\\w*').replace(/\\\?/g, '\\w');
    // Word boundaries only where the term itself starts or ends with a word character.
    patterns.push(`${/^\w/.test(value) ? '\\b' : ''}${pattern}${/\w$/.test(value) ? '\\b' : ''}`);
  }
  return patterns.length ? new RegExp(patterns.sort((a, b) => b.length - a.length).join('|'), 'gi') : null;
}

/** `text` as text nodes, with the matches of `re` in `<mark>`s. */
export function highlight(text, re) {
  if (!re) return document.createTextNode(text);
  const frag = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (!m[0]) continue;
    if (m.index > last) frag.append(text.slice(last, m.index));
    frag.append(h('mark', null, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) frag.append(text.slice(last));
  return frag;
}

// ---- export and clipboard -----------------------------------------------------------------

/** One CSV field (RFC 4180): quoted when it holds a quote, comma, line break or edge space. */
export function csvField(value) {
  const s = value == null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** CSV text of `rows` (objects) with a header of `columns`. */
export function toCsv(rows, columns) {
  const lines = [columns.map(csvField).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvField(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Saves `content` as a file through a temporary Blob URL. */
export function download(filename, content, type) {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Copies text; falls back to a hidden textarea where the async clipboard is unavailable. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h('textarea', { class: 'visually-hidden', readonly: true, value: text });
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    if (!ok) throw new Error('the clipboard is not available');
  }
}

// ---- timing -------------------------------------------------------------------------------

/** Runs `fn` every `ms` until `signal` aborts. */
export function every(ms, fn, signal) {
  const id = setInterval(fn, ms);
  signal.addEventListener('abort', () => clearInterval(id), { once: true });
}

export const isAbort = (err) => err?.name === 'AbortError';

/** An AbortController that also aborts when `parent` (a signal) does. */
export function linkedController(parent) {
  const ctl = new AbortController();
  parent.addEventListener('abort', () => ctl.abort(), { once: true, signal: ctl.signal });
  return ctl;
}
