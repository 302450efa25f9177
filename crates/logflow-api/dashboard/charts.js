// A small canvas time chart: stacked bars or lines over evenly spaced buckets, a local-time axis,
// hover tooltip, drag-to-select and event markers. Two canvases: the base one redraws on data,
// resize and theme changes; the overlay one on pointer moves (hover column, drag selection).
// Colours come from CSS custom properties so both themes work.

import { h, fmtInt, fmtDate, fmtClock, fmtDateTime, toMs, LEVELS } from './util.js';

const PAD = { top: 10, right: 10, bottom: 24 };
const DAY = 864e5;
// Candidate spacings of time-axis ticks, finest first.
const TICK_STEPS = [1, 2, 5, 10, 15, 30].map((m) => m * 6e4)
  .concat([1, 2, 3, 6, 12].map((hr) => hr * 36e5), [DAY, 2 * DAY, 7 * DAY]);

/** One stacked series per level, coloured by `--chart-<LEVEL>`. */
export const LEVEL_SERIES = LEVELS.map((l) => ({ key: l, label: l, color: `--chart-${l}` }));

/** `TimeChart` data of a `/metrics/timeseries` answer, counts split by level. */
export function levelData(ts) {
  return {
    start: toMs(ts.buckets[0]?.timestamp ?? ts.time_range.end_time),
    step: ts.interval_seconds * 1000,
    values: Object.fromEntries(LEVELS.map((l) => [l, ts.buckets.map((b) => b.levels[l] ?? 0)])),
  };
}

/** Round y-axis ticks from 0 covering `max`: about `count` steps of 1, 2, 2.5 or 5 x 10^n. */
export function niceTicks(max, count = 4, integer = true) {
  const top = max > 0 ? max : 1;
  const raw = top / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  if (integer) step = Math.max(1, Math.ceil(step));
  const ticks = [];
  for (let v = 0; v < top + step; v += step) ticks.push(v);
  return ticks;
}

/** Tick times between `start` and `end`, aligned to the local clock, about 90 px apart. */
export function timeTicks(start, end, width) {
  const target = Math.max(2, Math.floor(width / 90));
  const step = TICK_STEPS.find((s) => (end - start) / s <= target) ?? TICK_STEPS.at(-1);
  const tz = new Date(start).getTimezoneOffset() * 6e4;
  const ticks = [];
  for (let t = Math.ceil((start - tz) / step) * step + tz; t <= end; t += step) ticks.push(t);
  return { ticks, step };
}

function tickLabel(t, step) {
  const d = new Date(t);
  const midnight = d.getHours() === 0 && d.getMinutes() === 0;
  return step >= DAY || midnight ? fmtDate(d).slice(5) : fmtClock(d, false);
}

export class TimeChart {
  /**
   * @param {HTMLElement} host  element to draw in (sized by CSS)
   * @param {object} o
   * @param {'bar'|'line'} [o.kind]
   * @param {{key: string, label: string, color: string}[]} o.series  color = a CSS custom property
   * @param {string} o.label  accessible name
   * @param {(v: number) => string} [o.format]  value format (y axis and tooltip)
   * @param {boolean} [o.integer]  y ticks are whole numbers
   * @param {(from: number, to: number) => void} [o.onSelect]  called with a dragged time range
   */
  constructor(host, { kind = 'bar', series, label, format = fmtInt, integer = true, onSelect } = {}) {
    Object.assign(this, { host, kind, series, label, format, integer, onSelect });
    this.data = null;
    this.drag = null;
    this.hover = -1;
    this.base = h('canvas', { class: 'chart-base', role: 'img', 'aria-label': label });
    this.overlay = h('canvas', { class: `chart-overlay${onSelect ? ' selectable' : ''}`, 'aria-hidden': 'true' });
    this.tip = h('div', { class: 'chart-tip', hidden: true });
    this.probe = h('span', { hidden: true });
    host.classList.add('chart');
    host.replaceChildren(this.base, this.overlay, this.tip, this.probe);
    if (series.length > 1) host.after(this.legend());

    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(host);
    this.redraw = () => this.draw();
    window.addEventListener('themechange', this.redraw);
    for (const type of ['pointerdown', 'pointermove', 'pointerup', 'pointerleave', 'pointercancel']) {
      this.overlay.addEventListener(type, (e) => this[type](e));
    }
  }

  legend() {
    this.legendEl = h('ul', { class: 'chart-legend', 'aria-hidden': 'true' }, this.series.map((s) => {
      const swatch = h('span', { class: 'swatch' });
      swatch.style.background = `var(${s.color})`;
      return h('li', null, swatch, s.label);
    }));
    return this.legendEl;
  }

  /**
   * @param {{start: number, step: number, values: Object<string, (number|null)[]>,
   *          markers?: {t: number, color: string, text: string}[]}} data
   *   `values[key][i]` is series `key` in the bucket starting at `start + i * step`; null is a gap.
   */
  setData(data) {
    this.data = data;
    this.hover = -1;
    this.tip.hidden = true;
    this.draw();
    this.drawOverlay();
  }

  destroy() {
    this.resizeObserver.disconnect();
    window.removeEventListener('themechange', this.redraw);
    this.legendEl?.remove();
  }

  resize() {
    const { width, height } = this.host.getBoundingClientRect();
    if (!width || !height) return;
    const dpr = window.devicePixelRatio || 1;
    for (const c of [this.base, this.overlay]) {
      c.width = Math.round(width * dpr);
      c.height = Math.round(height * dpr);
      c.style.width = `${width}px`;
      c.style.height = `${height}px`;
    }
    Object.assign(this, { width, height, dpr });
    this.draw();
    this.drawOverlay();
  }

  context(canvas) {
    const ctx = canvas.getContext('2d');
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.font = '11px system-ui, sans-serif';
    return ctx;
  }

  /** The computed colour of a custom property (resolves light-dark() and var() chains). */
  color(name) {
    this.probe.style.color = `var(${name})`;
    return getComputedStyle(this.probe).color;
  }

  get count() {
    return this.data ? Math.max(0, ...this.series.map((s) => this.data.values[s.key]?.length ?? 0)) : 0;
  }

  /** Total (stacked bars) or largest series value in bucket `i`. */
  bucketMax(i) {
    const vals = this.series.map((s) => this.data.values[s.key]?.[i] ?? 0);
    return this.kind === 'bar' ? vals.reduce((a, b) => a + b, 0) : Math.max(...vals);
  }

  draw() {
    if (!this.width) return;
    const ctx = this.context(this.base);
    const n = this.count;
    const text = this.color('--text-muted');
    if (!n) {
      this.geom = null;
      ctx.fillStyle = text;
      ctx.textAlign = 'center';
      ctx.fillText(this.data ? 'No data in this range' : 'Loading…', this.width / 2, this.height / 2);
      return;
    }
    const { start, step } = this.data;
    let max = 0;
    for (let i = 0; i < n; i++) max = Math.max(max, this.bucketMax(i));
    const yTicks = niceTicks(max, 4, this.integer);
    const top = yTicks.at(-1);
    const left = 8 + Math.max(...yTicks.map((v) => ctx.measureText(this.format(v)).width));
    const plot = { x: left, y: PAD.top, w: this.width - left - PAD.right, h: this.height - PAD.top - PAD.bottom };
    const xOf = (t) => plot.x + ((t - start) / (n * step)) * plot.w;
    const yOf = (v) => plot.y + plot.h - (v / top) * plot.h;
    this.geom = { plot, n, start, step };

    this.drawAxes(ctx, plot, yTicks, yOf, xOf, text);
    if (this.kind === 'bar') this.drawBars(ctx, n, xOf, yOf);
    else this.drawLines(ctx, n, xOf, yOf);
    this.drawMarkers(ctx, plot, xOf);
    this.base.setAttribute('aria-label', `${this.label}: ${n} buckets from ${fmtDateTime(start)} to `
      + `${fmtDateTime(start + n * step)}, peak ${this.format(max)}`);
  }

  drawAxes(ctx, plot, yTicks, yOf, xOf, text) {
    ctx.strokeStyle = this.color('--chart-grid');
    ctx.fillStyle = text;
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of yTicks) {
      const y = Math.round(yOf(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(plot.x, y);
      ctx.lineTo(plot.x + plot.w, y);
      ctx.stroke();
      ctx.fillText(this.format(v), plot.x - 6, y);
    }
    const { start, step, n } = this.geom;
    const { ticks, step: tickStep } = timeTicks(start, start + n * step, plot.w);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const t of ticks) {
      const x = Math.round(xOf(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, plot.y + plot.h);
      ctx.lineTo(x, plot.y + plot.h + 4);
      ctx.stroke();
      ctx.fillText(tickLabel(t, tickStep), x, plot.y + plot.h + 7);
    }
  }

  drawBars(ctx, n, xOf, yOf) {
    const { start, step } = this.geom;
    const colors = this.series.map((s) => this.color(s.color));
    const width = Math.max(1, (xOf(start + step) - xOf(start)) * 0.8);
    for (let i = 0; i < n; i++) {
      const x = xOf(start + i * step) + width * 0.125;
      let base = 0;
      this.series.forEach((s, k) => {
        const v = this.data.values[s.key]?.[i] ?? 0;
        if (!v) return;
        ctx.fillStyle = colors[k];
        ctx.fillRect(x, yOf(base + v), width, yOf(base) - yOf(base + v));
        base += v;
      });
    }
  }

  drawLines(ctx, n, xOf, yOf) {
    const { start, step } = this.geom;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    for (const s of this.series) {
      const vals = this.data.values[s.key] ?? [];
      ctx.strokeStyle = this.color(s.color);
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < n; i++) {
        if (vals[i] == null) {
          pen = false;
          continue;
        }
        const x = xOf(start + (i + 0.5) * step);
        if (pen) ctx.lineTo(x, yOf(vals[i]));
        else ctx.moveTo(x, yOf(vals[i]));
        pen = true;
      }
      ctx.stroke();
    }
  }

  drawMarkers(ctx, plot, xOf) {
    const { step } = this.geom;
    for (const m of this.data.markers ?? []) {
      const x = xOf(m.t + step / 2);
      if (x < plot.x || x > plot.x + plot.w) continue;
      ctx.strokeStyle = ctx.fillStyle = this.color(m.color);
      ctx.lineWidth = 2;
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, plot.y + 6);
      ctx.lineTo(x, plot.y + plot.h);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.beginPath();
      ctx.arc(x, plot.y + 5, 5, 0, Math.PI * 2);
      ctx.fill();
    }
  }

  // ---- interaction ------------------------------------------------------------------------

  /** Bucket index under client x, clamped to the plot; -1 without data. */
  indexAt(clientX) {
    if (!this.geom) return -1;
    const { plot, n } = this.geom;
    const x = clientX - this.overlay.getBoundingClientRect().left;
    return Math.min(n - 1, Math.max(0, Math.floor(((x - plot.x) / plot.w) * n)));
  }

  pointerdown(e) {
    if (!this.onSelect || e.button !== 0 || !this.geom) return;
    this.overlay.setPointerCapture(e.pointerId);
    this.drag = { from: this.indexAt(e.clientX), x0: e.clientX, to: this.indexAt(e.clientX) };
  }

  pointermove(e) {
    const i = this.indexAt(e.clientX);
    if (this.drag) this.drag.to = i;
    this.hover = i;
    this.drawOverlay();
    this.showTip(i, e);
  }

  pointerup(e) {
    const drag = this.drag;
    this.drag = null;
    this.drawOverlay();
    // A click (under 5 px of movement) is not a selection.
    if (!drag || Math.abs(e.clientX - drag.x0) < 5) return;
    const { start, step } = this.geom;
    const [a, b] = [drag.from, this.indexAt(e.clientX)].sort((x, y) => x - y);
    this.onSelect(start + a * step, start + (b + 1) * step);
  }

  pointerleave() {
    if (this.drag) return;
    this.hover = -1;
    this.tip.hidden = true;
    this.drawOverlay();
  }

  pointercancel() {
    this.drag = null;
    this.pointerleave();
  }

  drawOverlay() {
    if (!this.width) return;
    const ctx = this.context(this.overlay);
    if (!this.geom) return;
    const { plot, start, step, n } = this.geom;
    const column = (a, b, color) => {
      const x0 = plot.x + (a / n) * plot.w;
      ctx.fillStyle = color;
      ctx.fillRect(x0, plot.y, plot.x + ((b + 1) / n) * plot.w - x0, plot.h);
    };
    if (this.drag) {
      const [a, b] = [this.drag.from, this.drag.to].sort((x, y) => x - y);
      column(a, b, this.color('--chart-select'));
    } else if (this.hover >= 0 && start != null && step) {
      column(this.hover, this.hover, this.color('--chart-hover'));
    }
  }

  showTip(i, e) {
    if (i < 0) return;
    const { start, step } = this.geom;
    const t = start + i * step;
    const from = new Date(t);
    const to = new Date(t + step);
    const rows = this.series.map((s) => {
      const v = this.data.values[s.key]?.[i];
      const swatch = h('span', { class: 'swatch' });
      swatch.style.background = `var(${s.color})`;
      return h('div', null, swatch, `${s.label}: `, h('strong', null, v == null ? '–' : this.format(v)));
    });
    if (this.kind === 'bar' && this.series.length > 1) {
      rows.push(h('div', null, 'Total: ', h('strong', null, this.format(this.bucketMax(i)))));
    }
    const notes = (this.data.markers ?? []).filter((m) => m.t >= t && m.t < t + step)
      .map((m) => h('div', { class: 'tip-note' }, m.text));
    this.tip.replaceChildren(
      h('div', { class: 'tip-time' }, `${fmtDate(from)} ${fmtClock(from, false)}–${fmtClock(to, false)}`), ...rows, ...notes);
    this.tip.hidden = false;
    const box = this.host.getBoundingClientRect();
    const x = e.clientX - box.left;
    const w = this.tip.offsetWidth;
    this.tip.style.left = `${x + 14 + w > box.width ? Math.max(0, x - w - 14) : x + 14}px`;
    this.tip.style.top = `${Math.max(0, Math.min(e.clientY - box.top - 10, box.height - this.tip.offsetHeight))}px`;
  }
}
