// DOM helpers. Every string that reaches the page goes through a text node or
// an attribute set with setAttribute: nothing here parses HTML, so a name like
// <img src=x onerror=alert(1)> is shown as those characters and never run.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h('tag.class1.class2', {attr: value, onclick: fn}, child, ...)
// Children: strings/numbers (as text), nodes, arrays of children, null/false (skipped).
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.classList.add(...classes);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'style' || name === 'innerHTML' || name === 'outerHTML') {
      throw new Error(`h(): '${name}' is not allowed (CSP and text-only rendering)`);
    }
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      for (const c of String(value).split(/\s+/)) if (c) el.classList.add(c);
    } else if (name === 'value' && 'value' in el) {
      el.value = String(value);
    } else if (name === 'checked' || name === 'disabled' || name === 'selected') {
      el[name] = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

// append(el, child) or append(el, [children...]).
export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// Small inline icons built as SVG nodes (no markup strings, no external files).
const ICONS = {
  trash: [
    ['path', { d: 'M4 7h16' }],
    ['path', { d: 'M10 11v6M14 11v6' }],
    ['path', { d: 'M6 7l1 13h10l1-13' }],
    ['path', { d: 'M9 7V4h6v3' }],
  ],
  copy: [
    ['rect', { x: '9', y: '9', width: '11', height: '11', rx: '2' }],
    ['path', { d: 'M5 15V5a2 2 0 0 1 2-2h8' }],
  ],
  search: [
    ['circle', { cx: '11', cy: '11', r: '6' }],
    ['path', { d: 'M20 20l-4.5-4.5' }],
  ],
};

export function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', `icon icon-${name}`);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const [tag, attrs] of ICONS[name]) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    svg.append(el);
  }
  return svg;
}

// ---- time ------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, '0');

// "2025-06-01" in the browser's time zone.
export function localDate(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// "2025-06-01 14:03" in the browser's time zone.
export function localDateTime(d) {
  return `${localDate(d)} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// A <time> element: the local date and time as text, the exact instant in
// datetime= and as the tooltip.
export function timeEl(iso, { seconds = false } = {}) {
  if (!iso) return h('span.muted', null, 'never');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', null, iso);
  const text = seconds ? `${localDateTime(d)}:${pad(d.getSeconds())}` : localDateTime(d);
  return h('time', { datetime: iso, title: iso }, text);
}

// RFC 3339 UTC with seconds, no fraction: what the API takes.
export function isoSeconds(d) {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// The value of <input type=datetime-local> (local time) as RFC 3339 UTC, or ''.
export function fromLocalInput(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : isoSeconds(d);
}

export function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${localDate(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// 5400 -> "1 h 30 min"; '' for less than a minute (the number says it already).
export function duration(seconds) {
  let s = Number(seconds);
  if (!Number.isInteger(s) || s < 60) return '';
  const parts = [];
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]]) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)} ${unit}`);
      s %= n;
    }
  }
  return parts.join(' ');
}

// ---- dialogs -----------------------------------------------------------------

// A modal <dialog> appended to <body>; removed from the DOM when it closes,
// so nothing it showed stays in the page. Returns {dialog, body, close}.
export function modal({ title, labelId, className = '', onClose } = {}) {
  const id = labelId || `dlg-${Math.random().toString(36).slice(2)}`;
  const heading = h('h2', { id }, title);
  const body = h('div.dialog-body');
  const dialog = h(`dialog${className ? '.' + className : ''}`, { 'aria-labelledby': id },
    heading, body);
  dialog.addEventListener('close', () => {
    if (onClose) onClose();
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body, close: () => dialog.close() };
}

// Asks a yes/no question in a modal <dialog> (never window.confirm).
// Resolves true if the action button was pressed.
export function confirmDialog({ title, message, action = 'Delete', danger = true }) {
  return new Promise((resolve) => {
    let ok = false;
    const m = modal({ title, className: 'confirm', onClose: () => resolve(ok) });
    const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => m.close() },
      'Cancel');
    const go = h('button', {
      type: 'button',
      class: danger ? 'danger' : 'primary',
      onclick: () => { ok = true; m.close(); },
    }, action);
    append(m.body, [h('p', null, message), h('div.actions', null, cancel, go)]);
    cancel.focus();
  });
}

// A "Copy" button for the value shown in `el`; `getText()` gives the value (null:
// gone). Without clipboard permission it selects the value for Ctrl+C.
export function copyButton(label, el, getText) {
  const b = h('button.secondary.small.copy', { type: 'button', 'aria-label': `Copy the ${label}` },
    icon('copy'), h('span', null, 'Copy'));
  b.addEventListener('click', async () => {
    const text = getText();
    if (text === null) return;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const range = document.createRange();
      range.selectNodeContents(el);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      b.lastChild.textContent = 'Selected: press Ctrl+C';
      return;
    }
    b.lastChild.textContent = 'Copied';
    setTimeout(() => { b.lastChild.textContent = 'Copy'; }, 2000);
  });
  return b;
}

// A status line for results and errors, announced to screen readers.
export function statusLine() {
  const el = h('p.status', { role: 'status', 'aria-live': 'polite' });
  return {
    el,
    ok(text) { el.className = 'status ok'; el.textContent = text; },
    error(text) { el.className = 'status error'; el.textContent = text; },
    info(text) { el.className = 'status'; el.textContent = text; },
    clear() { el.className = 'status'; el.textContent = ''; },
  };
}

// A labelled form field: <div class=field><label for=id>..</label>control hint</div>
export function field(label, control, hint) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2)}`;
  let hintEl = null;
  if (hint) {
    hintEl = h('p.hint', { id: `${control.id}-hint` }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div.field', null, h('label', { for: control.id }, label), control, hintEl);
}
