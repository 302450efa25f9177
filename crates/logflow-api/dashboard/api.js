// The LogFlow HTTP API: the session token, one request function that turns every failure into a
// toast with the API's `error` message, and one named function per endpoint the dashboard uses.

import { toast } from './ui.js';

const TOKEN_KEY = 'logflow.token';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

let unauthorized = () => {};
/** Called when the API refuses the session's token (expired or revoked). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** A query string of `params` without empty values; arrays are comma-joined. */
export function qs(params) {
  const out = new URLSearchParams();
  for (const [key, value] of Object.entries(params ?? {})) {
    const v = Array.isArray(value) ? value.join(',') : value;
    if (v != null && v !== '') out.set(key, v);
  }
  return out.toString();
}

async function readBody(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return { error: text.slice(0, 200) };
  }
}

/**
 * Sends one request. Resolves with the parsed JSON (`{data, headers}` with `withHeaders`);
 * rejects with an ApiError after showing its message in a toast. Aborts reject silently.
 */
export async function request(method, path, { params, body, signal, withHeaders = false } = {}) {
  const token = session.token;
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const query = qs(params);
  let res;
  try {
    res = await fetch(query ? `${path}?${query}` : path, {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw fail(new ApiError(0, `Cannot reach the LogFlow server (${err.message})`));
  }
  const data = await readBody(res);
  if (!res.ok) {
    if (res.status === 401 && token) {
      session.token = null;
      unauthorized();
    }
    throw fail(new ApiError(res.status, data?.error || `${res.status} ${res.statusText}`, data));
  }
  return withHeaders ? { data, headers: res.headers } : data;
}

function fail(err) {
  toast(err.message);
  return err;
}

const get = (path, params, opts) => request('GET', path, { params, ...opts });
const enc = encodeURIComponent;

// Services seen in the last 7 days, shared by every filter (refetched after a minute).
let services = { at: 0, promise: null };

export const api = {
  login: (username, password) => request('POST', '/api/v1/auth/login', { body: { username, password } }),
  me: (opts) => get('/api/v1/auth/me', null, opts),
  users: (opts) => get('/api/v1/auth/users', { limit: 100 }, opts),

  search: (params, opts) => get('/api/v1/logs/search', params, opts),
  /** URL of the live tail's event stream (EventSource sends no auth header; none is needed). */
  tailUrl: (params) => `/api/v1/logs/tail?${qs(params)}`,
  /** The tail endpoint as a plain request: only to read why it refused a stream (e.g. a bad query). */
  tailError: (params, opts) => get('/api/v1/logs/tail', params, opts),
  trace: (id, opts) => get(`/api/v1/correlation/trace/${enc(id)}`, null, opts),

  overview: (params, opts) => get('/api/v1/metrics/overview', params, opts),
  timeseries: (params, opts) => get('/api/v1/metrics/timeseries', params, opts),
  system: (opts) => get('/api/v1/metrics/system', null, opts),
  clearCache: () => request('DELETE', '/api/v1/cache/clear'),

  /** Names of the services that logged in the last 7 days. */
  services() {
    if (!services.promise || Date.now() - services.at > 60_000) {
      services = {
        at: Date.now(),
        promise: get('/api/v1/metrics/overview', { since: '7d' }).then(
          (o) => o.services.map((s) => s.service),
          (err) => {
            services.promise = null;
            throw err;
          }),
      };
    }
    return services.promise;
  },

  rules: (opts) => get('/api/v1/alerts/rules', null, opts),
  createRule: (rule) => request('POST', '/api/v1/alerts/rules', { body: rule }),
  updateRule: (id, patch) => request('PUT', `/api/v1/alerts/rules/${id}`, { body: patch }),
  deleteRule: (id) => request('DELETE', `/api/v1/alerts/rules/${id}`),
  triggered: (status, opts) => get('/api/v1/alerts/triggered', { status, limit: 200 }, opts),
  acknowledge: (id) => request('POST', `/api/v1/alerts/triggered/${id}/acknowledge`),
  resolve: (id) => request('POST', `/api/v1/alerts/triggered/${id}/resolve`),

  /** Anomalies of `metric` (`log-volume` or `error-rate`), with the response headers. */
  anomalies: (metric, params, opts) => get(`/api/v1/anomaly/detect/${metric}`, params, { ...opts, withHeaders: true }),

  savedSearches: (opts) => get('/api/v1/saved-searches', null, opts),
  saveSearch: (name, params) => request('POST', '/api/v1/saved-searches', { body: { name, params } }),
  deleteSavedSearch: (id) => request('DELETE', `/api/v1/saved-searches/${enc(id)}`),
};
