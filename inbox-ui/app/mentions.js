// `@` mentions in the note composer. Typing `@` opens a list of the organization's agents
// (a listbox the textarea points at with aria-activedescendant: arrows move, Enter or Tab
// picks, Escape closes, a click picks); picking writes `@Display Name ` into the note and
// remembers the agent's id, which the note sends as `mentions` (the hub also reads `@name`s
// typed by hand: docs/inbox.md).

import { h, mount } from './dom.js';

const READERS = new Set(['admin', 'support_manager', 'support_agent']);
const MAX_SHOWN = 8;
let lists = 0;

/** The handle a mention of `user` writes: their display name, else their email's local part. */
export function mentionLabel(user) {
  return (user.name || '').trim() || user.email.split('@')[0];
}

/** The `@query` being typed just before `caret`, or null. */
export function mentionQuery(text, caret) {
  const before = text.slice(0, caret);
  const match = /(?:^|[^\p{L}\p{N}])@([^@\n]{0,40})$/u.exec(before);
  return match ? { query: match[1], start: caret - match[1].length - 1 } : null;
}

/** The agents whose name or email begins with `query` (or a word of their name does). */
export function matchingUsers(users, query, myId) {
  const wanted = query.toLowerCase();
  return users
    .filter((user) => user.active && READERS.has(user.role) && user.id !== myId)
    .filter((user) => {
      const name = (user.name || '').toLowerCase();
      return !wanted || name.startsWith(wanted) || user.email.toLowerCase().startsWith(wanted)
        || name.split(/\s+/).some((word) => word.startsWith(wanted));
    })
    .sort((a, b) => mentionLabel(a).localeCompare(mentionLabel(b)))
    .slice(0, MAX_SHOWN);
}

/** Adds the autocomplete to `textarea`. `users`: the directory's Map of users. Returns
 * `mentions()`, the ids of the agents picked whose `@name` is still in the text, and
 * `reset()` for after the note is sent. */
export function attachMentions(textarea, { users, myId }) {
  const id = `mention-list-${++lists}`;
  const list = h('ul', { id, class: 'mention-list', role: 'listbox', 'aria-label': 'Mention an agent', hidden: true });
  const picked = new Map(); // user id → label written
  let shown = [];
  let active = 0;
  let typed = null;

  textarea.setAttribute('aria-autocomplete', 'list');
  textarea.setAttribute('aria-controls', id);

  function close() {
    list.hidden = true;
    shown = [];
    typed = null;
    textarea.removeAttribute('aria-activedescendant');
  }

  function render() {
    mount(list, shown.map((user, index) => h('li', {
      id: `${id}-${index}`, role: 'option', 'aria-selected': String(index === active),
      onmousedown: (event) => { event.preventDefault(); pick(index); },
    }, h('span', { class: 'mention-name' }, mentionLabel(user)), ' ', h('span', { class: 'muted' }, user.email))));
    textarea.setAttribute('aria-activedescendant', `${id}-${active}`);
  }

  function update() {
    typed = mentionQuery(textarea.value, textarea.selectionStart);
    shown = typed ? matchingUsers([...users.values()], typed.query, myId) : [];
    if (!shown.length) {
      close();
      return;
    }
    active = Math.min(active, shown.length - 1);
    if (!list.isConnected) textarea.after(list);
    list.hidden = false;
    render();
  }

  function pick(index) {
    const user = shown[index];
    if (!user || !typed) return;
    const label = mentionLabel(user);
    const caret = textarea.selectionStart;
    const text = `@${label} `;
    textarea.value = textarea.value.slice(0, typed.start) + text + textarea.value.slice(caret);
    const at = typed.start + text.length;
    textarea.setSelectionRange(at, at);
    picked.set(user.id, label);
    close();
    textarea.focus();
  }

  textarea.addEventListener('input', () => { active = 0; update(); });
  textarea.addEventListener('click', update);
  textarea.addEventListener('blur', close);
  textarea.addEventListener('keydown', (event) => {
    if (list.hidden || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      active = (active + (event.key === 'ArrowDown' ? 1 : shown.length - 1)) % shown.length;
      render();
    } else if (event.key === 'Enter' || event.key === 'Tab') {
      event.preventDefault();
      pick(active);
    } else if (event.key === 'Escape') {
      // The list closes; the text box keeps the focus (main.js blurs it on Escape otherwise).
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  });

  return {
    mentions: () => [...picked].filter(([, label]) => textarea.value.includes(`@${label}`)).map(([userId]) => userId),
    reset: () => { picked.clear(); close(); },
  };
}
