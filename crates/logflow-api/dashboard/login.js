// Login: username and password for a JWT, then back to the page that asked for it (`?next=`).

import { api } from './api.js';
import { h } from './util.js';
import { field } from './ui.js';

export default function mountLogin(main, ctx) {
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true,
    'data-testid': 'login-username' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true,
    'data-testid': 'login-password' });
  const error = h('p', { class: 'form-error', 'data-testid': 'login-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'login-submit' }, 'Log in');

  const form = h('form', { class: 'card login-card', 'data-testid': 'login-form', 'aria-labelledby': 'login-title',
    async onsubmit(e) {
      e.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      try {
        const res = await api.login(username.value.trim(), password.value);
        ctx.login(res.access_token, ctx.url.searchParams.get('next'));
      } catch (err) {
        error.textContent = err.status === 401 ? 'Wrong username or password.' : err.message;
        error.hidden = false;
        password.select();
      } finally {
        submit.disabled = false;
      }
    } },
  h('h1', { id: 'login-title' }, 'Log in to ', h('span', { class: 'brand' }, 'Log', h('span', null, 'Flow'))),
  field('Username', username), field('Password', password), error, submit);

  main.append(h('div', { class: 'login-page' }, form));
  username.focus();
}
