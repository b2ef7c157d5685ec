// Small DOM helpers: build elements without innerHTML, so text from the API is never markup.

/** h('button', {class: 'primary', onclick}, 'Send') */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value') {
      el.value = value;
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table of `rows` (tr elements) under `headers`, or one row saying `empty`. */
export function dataTable(headers, rows, { empty = 'Nothing yet.', label } = {}) {
  return h('table', { 'aria-label': label }, h('thead', {}, h('tr', {}, headers.map((text) => h('th', {}, text)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: String(headers.length), class: 'muted' }, empty))));
}

export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div', { class: `toast ${kind}` }, text);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 6000 : 3000);
}

const units = [
  ['y', 365 * 24 * 3600], ['mo', 30 * 24 * 3600], ['d', 24 * 3600], ['h', 3600], ['m', 60],
];

/** "now", "5 m", "3 h", "2 d" — short, so that list rows keep their width. */
export function relativeTime(iso, now = Date.now()) {
  if (!iso) return '';
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (seconds < 45) return 'now';
  for (const [unit, size] of units) {
    if (seconds >= size) return `${Math.floor(seconds / size)} ${unit}`;
  }
  return '1 m';
}

export function fullTime(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

const channelGlyphs = {
  webchat: ['W', 'Web chat'], email: ['@', 'Email'], slack: ['S', 'Slack'],
  whatsapp: ['WA', 'WhatsApp'], telegram: ['T', 'Telegram'], zendesk: ['Z', 'Zendesk'],
  freshdesk: ['F', 'Freshdesk'],
};

export function channelName(channel) {
  return (channelGlyphs[channel] || [channel, channel])[1];
}

export function channelIcon(channel) {
  const [glyph, name] = channelGlyphs[channel] || ['?', channel];
  return h('span', { class: 'chan', dataset: { channel }, role: 'img', 'aria-label': name, title: name }, glyph);
}

/** 0–100 → a word, as the list and the conversation show it. */
export function sentimentLabel(score) {
  if (score === null || score === undefined) return null;
  if (score <= 35) return 'negative';
  if (score >= 65) return 'positive';
  return 'neutral';
}

/** 3600 → "1 h", 5400 → "1 h 30 min", 90 → "1 min 30 s": SLA targets and countdowns, in
 * words an agent reads at a glance. Countdowns pass `seconds: false` (they tick every 30 s, a
 * seconds figure would already be wrong) and `parts: 2` ("1 d 3 h", not "1 d 3 h 12 min"). */
export function humanDuration(totalSeconds, { seconds = true, parts = 4 } = {}) {
  let rest = Math.max(0, Math.round(totalSeconds));
  const words = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['min', 60]]) {
    if (rest >= size) {
      words.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
  }
  if (seconds && rest) words.push(`${rest} s`);
  if (words.length) return words.slice(0, parts).join(' ');
  return seconds ? '0 s' : '< 1 min';
}

/** How a contact is shown: the name the API gives (`display_name`: their name, email or phone,
 * or an anonymous visitor's generated name, hub/model/src/display_name.rs); for a contact
 * object without it (one not loaded yet), what it holds. */
export function contactDisplayName(contact, fallback = 'Customer') {
  if (!contact) return '…';
  return contact.display_name || contact.name || contact.email || contact.phone
    || contact.identities?.[0]?.external_id || fallback;
}

/** A round avatar with the initials of `name` on `colour` (the API's avatar colour, which
 * white text reads on); decorative, the name stands beside it. */
export function avatar(name, colour, { small = false } = {}) {
  const initials = String(name || '?').split(/[\s@.]+/).filter(Boolean).slice(0, 2)
    .map((word) => word[0].toUpperCase()).join('');
  const el = h('span', { class: small ? 'avatar small' : 'avatar', 'aria-hidden': 'true' }, small ? '' : initials);
  if (colour) el.style.setProperty('--avatar-color', colour);
  return el;
}
