// Entry point: the shell (header, theme, user), the login gate and pushState routing.
// Pages are modules loaded on first visit; each exports `default (main, ctx)` and stops its
// timers, streams and listeners when `ctx.signal` aborts (on leaving the page).

import { api, session, onUnauthorized } from './api.js';
import { announce, dismissTop } from './ui.js';
import { h, isTyping } from './util.js';

const ROUTES = {
  '/': { title: 'Overview', load: () => import('./overview.js') },
  '/login': { title: 'Log in', load: () => import('./login.js'), open: true },
  '/explore': { title: 'Explore', load: () => import('./explore.js') },
  '/live': { title: 'Live tail', load: () => import('./live.js') },
  '/trace': { title: 'Trace', load: () => import('./trace.js') },
  '/alerts': { title: 'Alerts', load: () => import('./alerts.js') },
  '/anomalies': { title: 'Anomalies', load: () => import('./anomalies.js') },
};
const THEME_KEY = 'logflow.theme';

const main = document.getElementById('main');
const header = document.querySelector('.app-header');
const navToggle = header.querySelector('.nav-toggle');
const themeToggle = header.querySelector('[data-testid="theme-toggle"]');

let user = null; // GET /auth/me of the session, loaded once per login
let page = null; // AbortController of the mounted page
let renders = 0; // guards against an older, slower render finishing last

const here = () => location.pathname + location.search;
const loginHref = () => `/login?next=${encodeURIComponent(here())}`;

export function navigate(href, { replace = false } = {}) {
  history[replace ? 'replaceState' : 'pushState'](null, '', href);
  render({ focus: true });
}

/** Changes the current page's query string without re-rendering it. */
function setUrl(query, { replace = false } = {}) {
  const href = location.pathname + (query ? `?${query}` : '');
  if (href !== here()) history[replace ? 'replaceState' : 'pushState'](null, '', href);
}

/** Where to go after logging in: `next` when it is a page of this dashboard, else the overview. */
function safeNext(next) {
  const url = new URL(next || '/', location.origin); // `//evil.example` resolves to another origin
  const route = ROUTES[url.pathname];
  return url.origin === location.origin && route && !route.open ? url.pathname + url.search : '/';
}

function login(token, next) {
  session.token = token;
  user = null;
  navigate(safeNext(next), { replace: true });
}

function logout() {
  session.token = null;
  user = null;
  navigate('/login');
}

async function render({ focus = false } = {}) {
  const seq = ++renders;
  page?.abort();
  page = null;
  header.classList.remove('nav-open');
  navToggle.setAttribute('aria-expanded', 'false');
  const route = ROUTES[location.pathname];
  if (!route) return show(notFound(), 'Not found', focus);
  if (!route.open && !session.token) return navigate(loginHref(), { replace: true });
  if (route.open && session.token) return navigate('/', { replace: true });
  if (!route.open && !user) {
    try {
      user = await api.me();
    } catch (err) {
      // A 401 already sent us to the login page; anything else is worth a retry button.
      if (seq === renders && err.status !== 401) show(unreachable(err), 'Error', focus);
      return;
    }
  }
  const module = await route.load();
  if (seq !== renders) return;
  page = new AbortController();
  showShell(!route.open);
  main.replaceChildren();
  module.default(main, { user, url: new URL(location.href), signal: page.signal, navigate, setUrl, login });
  finish(route.title, focus);
}

function show(content, title, focus) {
  showShell(Boolean(user));
  main.replaceChildren(content);
  finish(title, focus);
}

function finish(title, focus) {
  document.title = `${title} · LogFlow`;
  document.body.classList.remove('is-booting');
  if (focus) {
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    announce(`${title} page`);
  }
}

function showShell(loggedIn) {
  document.body.classList.toggle('logged-out', !loggedIn);
  const who = header.querySelector('[data-testid="current-user"]');
  who.replaceChildren(...(user ? [user.username, ' ', h('span', { class: `role role-${user.role}` }, user.role)] : []));
  for (const link of header.querySelectorAll('.primary-nav a')) {
    if (new URL(link.href).pathname === location.pathname) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

const notFound = () => h('div', { class: 'empty' }, h('h1', null, 'Page not found'), h('a', { href: '/' }, 'Go to the overview'));

const unreachable = (err) => h('div', { class: 'empty' }, h('h1', null, 'LogFlow is not reachable'),
  h('p', null, err.message), h('button', { type: 'button', class: 'btn btn-primary', onclick: () => render() }, 'Retry'));

// ---- theme: data-theme on <html>, persisted; the CSS follows the system until one is chosen ----

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  themeToggle.setAttribute('aria-pressed', String(theme === 'dark'));
  window.dispatchEvent(new Event('themechange'));
}

const systemDark = matchMedia('(prefers-color-scheme: dark)');
applyTheme(localStorage.getItem(THEME_KEY) ?? (systemDark.matches ? 'dark' : 'light'));
systemDark.addEventListener('change', (e) => {
  if (!localStorage.getItem(THEME_KEY)) applyTheme(e.matches ? 'dark' : 'light');
});
themeToggle.addEventListener('click', () => {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
});

// ---- global wiring --------------------------------------------------------------------------

header.querySelector('[data-testid="logout"]').addEventListener('click', logout);
navToggle.addEventListener('click', () => {
  const open = header.classList.toggle('nav-open');
  navToggle.setAttribute('aria-expanded', String(open));
});

// Internal links navigate without a page load; modified clicks keep the browser's behaviour.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || !ROUTES[url.pathname]) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') {
    // Close the newest popover or panel; with none open, leave the text field so j/k work again.
    if (dismissTop()) e.preventDefault();
    else if (isTyping(e)) e.target.blur();
  } else if (e.key === '/' && !isTyping(e) && !e.ctrlKey && !e.metaKey && !e.altKey) {
    const query = document.querySelector('[data-testid="query-input"]');
    if (query) {
      e.preventDefault();
      query.focus();
      query.select();
    }
  }
});

window.addEventListener('popstate', () => render());
onUnauthorized(() => {
  user = null;
  if (location.pathname !== '/login') navigate(loginHref(), { replace: true });
});

render();
