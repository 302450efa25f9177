// Shared UI pieces: toasts, screen-reader announcements, the Escape stack, inline confirms,
// labelled form fields and busy states.

import { h } from './util.js';

const TOAST_MS = 6000;
const MAX_TOASTS = 4;

/** Shows a transient message; errors are announced assertively. */
export function toast(message, kind = 'error') {
  const box = document.getElementById('toasts');
  const close = () => item.remove();
  const item = h('div', { class: `toast toast-${kind}`, 'data-testid': 'toast', role: kind === 'error' ? 'alert' : 'status' },
    h('span', null, message),
    h('button', { type: 'button', class: 'btn-icon', 'aria-label': 'Dismiss', onclick: close }, '×'));
  box.append(item);
  while (box.children.length > MAX_TOASTS) box.firstElementChild.remove();
  setTimeout(close, kind === 'error' ? TOAST_MS * 1.5 : TOAST_MS);
}

/** Reads `text` out through the polite live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  region.textContent = '';
  // A fresh text node in the next frame makes screen readers repeat identical messages.
  requestAnimationFrame(() => { region.textContent = text; });
}

// ---- Escape: closes the most recently opened popover, dialog or confirm --------------------

const dismissers = [];

/** Registers `close` for Escape; returns the function that unregisters it. */
export function onEscape(close) {
  dismissers.push(close);
  return () => {
    const i = dismissers.lastIndexOf(close);
    if (i >= 0) dismissers.splice(i, 1);
  };
}

/** Handles Escape; true when something was closed. */
export function dismissTop() {
  const close = dismissers.pop();
  close?.();
  return Boolean(close);
}

/**
 * Asks for confirmation inline, right after `anchor` (tests can click `confirm-yes`, unlike
 * window.confirm). Resolves true on yes; false on no, Escape or when another confirm opens.
 */
let openConfirm = null;
export function confirmInline(anchor, question, yesLabel = 'Delete') {
  openConfirm?.(false);
  return new Promise((resolve) => {
    const finish = (answer) => {
      box.remove();
      unregister();
      openConfirm = null;
      resolve(answer);
      if (!answer) anchor.focus();
    };
    const unregister = onEscape(() => finish(false));
    const box = h('div', { class: 'confirm', role: 'alertdialog', 'aria-label': question },
      h('span', null, question),
      h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'confirm-yes', onclick: () => finish(true) }, yesLabel),
      h('button', { type: 'button', class: 'btn', 'data-testid': 'confirm-no', onclick: () => finish(false) }, 'Cancel'));
    openConfirm = finish;
    anchor.after(box);
    box.querySelector('button').focus();
  });
}

/** A label wrapping its control, with an optional hint below. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control,
    hint && h('small', { class: 'muted' }, hint));
}

/** Marks `el` busy while `promise` runs; always clears it, whatever the outcome. */
export async function whileBusy(el, promise) {
  el.setAttribute('aria-busy', 'true');
  try {
    return await promise;
  } finally {
    el.removeAttribute('aria-busy');
  }
}

/** A table row spanning every column with a note (loading, empty, error). */
export const noteRow = (colspan, text) => h('tr', { class: 'note-row' }, h('td', { colspan }, text));

/** A card with a heading; `actions` go to the right of the heading. */
export function card(title, body, { actions, testid, cls = '' } = {}) {
  return h('section', { class: `card ${cls}`, 'data-testid': testid },
    h('div', { class: 'card-head' }, h('h2', null, title), actions), body);
}

/** A page heading row with optional controls. */
export const pageHead = (title, ...controls) =>
  h('div', { class: 'page-head' }, h('h1', null, title), h('div', { class: 'page-tools' }, controls));
