// Alerts: rules (list, enable toggle, create/edit form for threshold and anomaly rules with each
// notification channel's settings, delete) and triggered alerts with acknowledge/resolve.
// Field names follow routes/alerts.rs and logflow-alert's validate.rs / channel.rs.

import { api } from './api.js';
import { h, options, fmtDateTime, fmtInt, isAbort } from './util.js';
import { card, confirmInline, field, noteRow, pageHead, toast, whileBusy } from './ui.js';

const CONDITIONS = [['greater_than', '>'], ['greater_than_or_equal', '≥'], ['less_than', '<'],
  ['less_than_or_equal', '≤'], ['equals', '=']];
const SYMBOL = Object.fromEntries(CONDITIONS);
const CHANNELS = ['console', 'webhook', 'slack', 'email'];
const METRICS = [['log_volume', 'Log volume'], ['error_rate', 'Error rate']];
const SEVERITIES = ['low', 'medium', 'high', 'critical'];
const STATUSES = [['', 'All'], 'triggered', 'acknowledged', 'resolved'];

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const numberOrNull = (s) => (s.trim() === '' ? null : Number(s));
const cell = (...content) => h('td', null, ...content);
const muted = (text) => h('div', { class: 'muted' }, text);

/** What a rule watches, in words. */
function conditionText(r) {
  if (r.rule_type === 'anomaly') {
    const a = r.anomaly ?? {};
    return `${a.metric === 'error_rate' ? 'error rate' : 'log volume'} anomaly ≥ ${a.min_severity ?? 'high'}`
      + `${a.service ? ` in ${a.service}` : ''} over ${r.time_window} min`;
  }
  return `count ${SYMBOL[r.condition] ?? r.condition} ${r.threshold} in ${r.time_window} min`;
}

/** Where a rule's notifications go. */
function channelText(r) {
  const c = r.notification_config ?? {};
  const to = Array.isArray(c.to) ? c.to.join(', ') : c.to;
  return [r.notification_channel, c.url ?? to];
}

export default function mountAlerts(main, ctx) {
  const { signal, user } = ctx;
  const mayChange = (rule) => user.role === 'admin' || rule.created_by === user.id;
  const rulesBody = h('tbody');
  const triggeredBody = h('tbody');
  const statusFilter = h('select', { 'data-testid': 'triggered-status', 'aria-label': 'Status',
    onchange: () => loadTriggered() }, options(STATUSES, ''));
  const form = ruleForm({ onSaved: () => loadRules() });
  const table = (testid, heads, body) => h('div', { class: 'table-wrap' }, h('table', { class: 'data-table', 'data-testid': testid },
    h('thead', null, h('tr', null, heads.map((c) => h('th', { scope: 'col' }, c)))), body));

  main.append(
    pageHead('Alerts', h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'rule-new',
      onclick: () => form.edit(null) }, 'New rule')),
    form.el,
    card('Rules', table('rules', ['Name', 'Type', 'Condition', 'Levels', 'Services', 'Channel', 'Enabled',
      'Last triggered', 'Triggers', 'Actions'], rulesBody)),
    card('Triggered alerts', table('triggered', ['Triggered', 'Rule', 'Message', 'Value', 'Status', 'Notification', 'Actions'],
      triggeredBody), { actions: [field('Status', statusFilter),
      h('button', { type: 'button', class: 'btn', onclick: () => loadTriggered() }, 'Refresh')] }));

  async function loadRules() {
    try {
      const rules = await whileBusy(rulesBody, api.rules({ signal }));
      rulesBody.replaceChildren(...rules.map(ruleRow));
      if (!rules.length) rulesBody.append(noteRow(10, 'No alert rules yet.'));
    } catch (err) {
      if (!isAbort(err)) rulesBody.replaceChildren(noteRow(10, `Could not load rules: ${err.message}`));
    }
  }

  function ruleRow(r) {
    const own = mayChange(r);
    const enabled = h('input', { type: 'checkbox', 'data-testid': 'rule-enabled', checked: r.is_active, disabled: !own,
      'aria-label': `Rule ${r.name} enabled`, onchange: () => setActive(r, enabled) });
    const del = h('button', { type: 'button', class: 'btn', 'data-testid': 'rule-delete', onclick: () => remove(r, del) }, 'Delete');
    return h('tr', { 'data-testid': 'rule-row', 'data-id': r.id },
      cell(h('strong', null, r.name), r.description && muted(r.description), r.query && h('div', null, h('code', null, r.query))),
      cell(h('span', { class: 'badge' }, r.rule_type)),
      cell(conditionText(r)),
      cell(r.levels.join(', ') || 'all'),
      cell(r.services.join(', ') || 'all'),
      cell(...channelText(r).map((x, i) => (i ? x && muted(x) : x))),
      cell(enabled),
      cell(r.last_triggered ? fmtDateTime(r.last_triggered) : h('span', { class: 'muted' }, 'never')),
      cell(fmtInt(r.trigger_count)),
      cell(own ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn', 'data-testid': 'rule-edit', onclick: () => form.edit(r) }, 'Edit'), del)
        : h('span', { class: 'muted' }, 'read only')));
  }

  async function setActive(rule, box) {
    box.disabled = true;
    try {
      const updated = await api.updateRule(rule.id, { is_active: box.checked });
      Object.assign(rule, updated);
      toast(`Rule "${rule.name}" ${updated.is_active ? 'enabled' : 'disabled'}`, 'success');
    } catch {
      box.checked = !box.checked;
    } finally {
      box.disabled = false;
    }
  }

  async function remove(rule, button) {
    if (!(await confirmInline(button, `Delete rule "${rule.name}"?`))) return;
    try {
      await api.deleteRule(rule.id);
      button.closest('tr').remove();
      toast(`Rule "${rule.name}" deleted`, 'success');
      if (form.editing === rule.id) form.close();
    } catch { /* toast shown */ }
  }

  async function loadTriggered() {
    try {
      const alerts = await whileBusy(triggeredBody, api.triggered(statusFilter.value, { signal }));
      triggeredBody.replaceChildren(...alerts.map(triggeredRow));
      if (!alerts.length) triggeredBody.append(noteRow(7, 'No triggered alerts.'));
    } catch (err) {
      if (!isAbort(err)) triggeredBody.replaceChildren(noteRow(7, `Could not load alerts: ${err.message}`));
    }
  }

  function triggeredRow(a) {
    const act = (label, testid, call) => {
      const button = h('button', { type: 'button', class: 'btn', 'data-testid': testid, async onclick() {
        try {
          const updated = await whileBusy(button, call(a.id));
          row.replaceWith(triggeredRow(updated));
          toast(`Alert ${updated.status}`, 'success');
        } catch { /* toast shown */ }
      } }, label);
      return button;
    };
    const row = h('tr', { 'data-testid': 'triggered-row', 'data-id': a.id, 'data-status': a.status },
      cell(fmtDateTime(a.triggered_at)),
      cell(a.rule_name),
      cell(a.message),
      cell(`${a.value} ${SYMBOL[a.condition] ?? a.condition} ${a.threshold}`),
      cell(h('span', { class: `status status-${a.status}` }, a.status),
        a.recovered_at && muted(`recovered ${fmtDateTime(a.recovered_at)}`)),
      cell(a.notification_status, a.notification_error && muted(a.notification_error)),
      // Only the transitions the server allows: triggered -> acknowledged -> resolved.
      cell(h('div', { class: 'actions' },
        a.status === 'triggered' && act('Acknowledge', 'alert-ack', api.acknowledge),
        a.status !== 'resolved' && act('Resolve', 'alert-resolve', api.resolve))));
    return row;
  }

  loadRules();
  loadTriggered();
}

/** The create/edit form. `edit(rule)` opens it for a rule, or empty for a new one. */
function ruleForm({ onSaved }) {
  const input = (testid, props = {}) => h('input', { type: 'text', 'data-testid': testid, ...props });
  const select = (testid, items, onchange) => h('select', { 'data-testid': testid, onchange }, options(items));
  const f = {
    name: input('rule-name', { required: true, maxlength: 200 }),
    description: h('textarea', { 'data-testid': 'rule-description', rows: 2 }),
    type: select('rule-type', [['threshold', 'Threshold'], ['anomaly', 'Anomaly']], () => sync(true)),
    condition: select('rule-condition', CONDITIONS.map(([v, s]) => [v, `${v.replaceAll('_', ' ')} (${s})`])),
    threshold: input('rule-threshold', { type: 'number', step: 'any' }),
    window: input('rule-window', { type: 'number', min: 1, max: 10080, required: true }),
    metric: select('rule-anomaly-metric', METRICS, () => sync()),
    anomalyService: input('rule-anomaly-service', { placeholder: 'all services' }),
    severity: select('rule-anomaly-severity', SEVERITIES),
    levels: input('rule-levels', { placeholder: 'e.g. ERROR, CRITICAL (empty: all)' }),
    services: input('rule-services', { placeholder: 'e.g. payment-service (empty: all)' }),
    query: input('rule-query', { placeholder: 'optional search query', spellcheck: 'false' }),
    channel: select('rule-channel', CHANNELS, () => sync()),
    url: input('rule-channel-url', { type: 'url', placeholder: 'https://…' }),
    headers: h('textarea', { 'data-testid': 'rule-channel-headers', rows: 2, placeholder: '{"Authorization": "Bearer …"}' }),
    to: input('rule-channel-to', { placeholder: 'oncall@example.com, …' }),
    cooldown: input('rule-cooldown', { type: 'number', min: 0, max: 10080, placeholder: 'server default' }),
    active: h('input', { type: 'checkbox', 'data-testid': 'rule-active' }),
  };
  const error = h('p', { class: 'form-error', 'data-testid': 'rule-error', role: 'alert', hidden: true });
  const title = h('h2', { id: 'rule-form-title' });
  const group = (...fields) => h('div', { class: 'form-grid' }, fields);
  const parts = {
    threshold: group(field('Condition', f.condition), field('Threshold (log count)', f.threshold)),
    anomaly: group(field('Metric', f.metric), field('Service', f.anomalyService),
      field('Minimum severity', f.severity)),
    levels: field('Levels', f.levels, 'Comma-separated'),
    url: field('URL', f.url),
    headers: field('Headers (JSON)', f.headers),
    to: field('Recipients', f.to, 'Comma-separated addresses'),
  };
  let editing = null;

  const el = h('form', { class: 'card rule-form', 'data-testid': 'rule-form', hidden: true, 'aria-labelledby': 'rule-form-title',
    onsubmit: (e) => { e.preventDefault(); save(); } },
  h('div', { class: 'card-head' }, title),
  group(field('Name', f.name), field('Type', f.type), field('Time window (minutes)', f.window),
    h('div', { class: 'wide' }, field('Description', f.description))),
  parts.threshold, parts.anomaly,
  group(parts.levels, field('Services', f.services, 'Comma-separated'), h('div', { class: 'wide' }, field('Query', f.query))),
  group(field('Notification channel', f.channel), parts.url, parts.headers, parts.to,
    field('Cooldown (minutes)', f.cooldown), h('label', { class: 'check' }, f.active, 'Enabled')),
  error,
  h('div', { class: 'form-actions' },
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'rule-save' }, 'Save rule'),
    h('button', { type: 'button', class: 'btn', 'data-testid': 'rule-cancel', onclick: () => close() }, 'Cancel')));

  /** Shows the fields that apply to the chosen type, metric and channel. */
  function sync(typeChanged = false) {
    const anomaly = f.type.value === 'anomaly';
    parts.threshold.hidden = anomaly;
    parts.anomaly.hidden = !anomaly;
    parts.levels.hidden = anomaly && f.metric.value === 'error_rate'; // error rates count every level
    if (typeChanged && anomaly && Number(f.window.value) < 10) f.window.value = 60; // anomaly windows: 10..1440
    const channel = f.channel.value;
    parts.url.hidden = !['webhook', 'slack'].includes(channel);
    parts.headers.hidden = channel !== 'webhook';
    parts.to.hidden = channel !== 'email';
  }

  function edit(rule) {
    editing = rule?.id ?? null;
    const r = rule ?? {};
    const a = r.anomaly ?? {};
    const c = r.notification_config ?? {};
    title.textContent = rule ? `Edit rule "${rule.name}"` : 'New alert rule';
    f.name.value = r.name ?? '';
    f.description.value = r.description ?? '';
    f.type.value = r.rule_type ?? 'threshold';
    f.condition.value = r.condition ?? 'greater_than';
    f.threshold.value = r.threshold ?? 10;
    f.window.value = r.time_window ?? 5;
    f.metric.value = a.metric ?? 'log_volume';
    f.anomalyService.value = a.service ?? '';
    f.severity.value = a.min_severity ?? 'high';
    f.levels.value = (r.levels ?? []).join(', ');
    f.services.value = (r.services ?? []).join(', ');
    f.query.value = r.query ?? '';
    f.channel.value = r.notification_channel ?? 'console';
    f.url.value = c.url ?? '';
    f.headers.value = c.headers ? JSON.stringify(c.headers) : '';
    f.to.value = Array.isArray(c.to) ? c.to.join(', ') : c.to ?? '';
    f.cooldown.value = r.cooldown_minutes ?? '';
    f.active.checked = r.is_active ?? true;
    error.hidden = true;
    sync();
    el.hidden = false;
    el.scrollIntoView({ block: 'nearest' });
    f.name.focus();
  }

  function close() {
    el.hidden = true;
    editing = null;
  }

  /** The channel's settings; blank fields are left out so the server names what is missing. */
  function notificationConfig() {
    const channel = f.channel.value;
    const config = {};
    if (['webhook', 'slack'].includes(channel) && f.url.value.trim()) config.url = f.url.value.trim();
    if (channel === 'webhook' && f.headers.value.trim()) config.headers = JSON.parse(f.headers.value);
    if (channel === 'email') config.to = list(f.to.value);
    return config;
  }

  /** The rule as the API takes it; every writable field, so it serves create and update alike. */
  function payload() {
    const anomaly = f.type.value === 'anomaly';
    const errorRate = anomaly && f.metric.value === 'error_rate';
    return {
      name: f.name.value.trim(),
      description: f.description.value.trim() || null,
      rule_type: f.type.value,
      condition: f.condition.value,
      threshold: numberOrNull(f.threshold.value),
      time_window: numberOrNull(f.window.value),
      levels: errorRate ? [] : list(f.levels.value),
      services: list(f.services.value),
      query: f.query.value.trim() || null,
      anomaly: anomaly ? { metric: f.metric.value, min_severity: f.severity.value,
        ...(f.anomalyService.value.trim() && { service: f.anomalyService.value.trim() }) } : null,
      notification_channel: f.channel.value,
      notification_config: notificationConfig(),
      is_active: f.active.checked,
      cooldown_minutes: numberOrNull(f.cooldown.value),
    };
  }

  async function save() {
    error.hidden = true;
    let body;
    try {
      body = payload();
    } catch {
      showError('Headers must be a JSON object, e.g. {"Authorization": "Bearer …"}');
      return;
    }
    try {
      await whileBusy(el, editing ? api.updateRule(editing, body) : api.createRule(body));
      toast(`Rule "${body.name}" saved`, 'success');
      close();
      onSaved();
    } catch (err) {
      showError(err.message); // the server names the field and the problem
    }
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }

  return { el, edit, close, get editing() { return editing; } };
}
