// The agent inbox's entry point: sign in, the shell with what the signed-in role may see
// (PRODUCT.md §8), hash routes (#/inbox[/id], #/knowledge, #/analytics, #/settings[/tab]), the live event
// feed (also to the notifications bell and the availability control) and the keyboard shortcuts.

import { createAnalytics } from './analytics.js';
import { ApiError, get, post, session, whenUnauthorized } from './api.js';
import { h, mount, toast } from './dom.js';
import { connectEvents } from './events.js';
import { createInbox } from './inbox.js';
import { createKnowledge } from './kb.js';
import { createNotifications } from './notifications.js';
import { createPresence } from './presence.js';
import { createSearch } from './search.js';
import { SETTINGS_TABS, createSettings } from './settings.js';

const app = document.getElementById('app');

// ----- keyboard shortcuts: single keys, never while typing
const SHORTCUT_HELP = [
  ['j', 'Next conversation'], ['k', 'Previous conversation'], ['r', 'Reply'],
  ['n', 'Private note'], ['e', 'Resolve'], ['x', 'Select the open conversation'], ['/', 'Search'], ['?', 'Show these shortcuts'], ['Esc', 'Leave a text box'],
];
const shortcuts = {
  handlers: {},
  set(handlers) { this.handlers = handlers; },
};
let search = null; // the top bar's search box, once signed in
let presence = null; // the top bar's availability control, for an agent who takes conversations

function typing(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && typing(event.target)) {
    event.target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  if (document.querySelector('dialog[open]')) return;
  if (event.key === '?') {
    event.preventDefault();
    showHelp();
    return;
  }
  if (event.key === '/' && search) {
    event.preventDefault();
    search.focus();
    return;
  }
  const handler = shortcuts.handlers[event.key];
  if (handler) {
    event.preventDefault();
    handler();
  }
});

function showHelp() {
  const dialog = h('dialog', { 'aria-label': 'Keyboard shortcuts' },
    h('h2', {}, 'Keyboard shortcuts'),
    h('table', {}, h('tbody', {}, SHORTCUT_HELP.map(([key, what]) => h('tr', {}, h('td', {}, h('kbd', {}, key)), h('td', {}, what))))),
    h('form', { method: 'dialog' }, h('button', { class: 'primary' }, 'Close')));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

// ----- sign in
function signIn(message = '') {
  const email = h('input', { id: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const remember = h('input', { id: 'remember', type: 'checkbox' });
  const error = h('p', { class: 'error-text', role: 'alert' }, message);
  const button = h('button', { class: 'primary', type: 'submit', style: 'width:100%' }, 'Sign in');
  const form = h('form', {
    onsubmit: async (event) => {
      event.preventDefault();
      button.disabled = true;
      error.textContent = '';
      try {
        const { token } = await post('/auth/login', { email: email.value, password: password.value });
        session.save(token, remember.checked);
        await boot();
      } catch (err) {
        error.textContent = err instanceof ApiError && err.status === 401 ? 'Wrong email or password.' : err.message;
      } finally {
        button.disabled = false;
      }
    },
  },
  h('h1', {}, 'Switchboard'),
  h('div', { class: 'field' }, h('label', { for: 'email' }, h('span', {}, 'Email')), email),
  h('div', { class: 'field' }, h('label', { for: 'password' }, h('span', {}, 'Password')), password),
  h('label', { class: 'check' }, remember, 'Keep me signed in on this device'),
  error, button);
  mount(app, h('main', { class: 'signin' }, form));
  email.focus();
}

// ----- the signed-in shell
let current = null; // { page, name }
let stopEvents = null;

async function loadDirectory(can) {
  const directory = { users: new Map(), inboxes: new Map(), teams: new Map() };
  const load = async (path, map, allowed) => {
    if (!allowed) return;
    try {
      for (const item of await get(path)) map.set(item.id, item);
    } catch {
      // Without the permission or on error the names fall back to ids.
    }
  };
  await Promise.all([
    load('/users', directory.users, can('users:read')),
    load('/inboxes', directory.inboxes, can('inboxes:read')),
    load('/teams', directory.teams, can('users:read')),
  ]);
  directory.userName = (id) => {
    const user = directory.users.get(id);
    return user ? (user.name || user.email) : 'Agent';
  };
  return directory;
}

async function boot() {
  if (!session.token) {
    signIn();
    return;
  }
  let me;
  try {
    me = await get('/auth/me');
  } catch (error) {
    session.clear();
    signIn(error instanceof ApiError && error.status === 401 ? '' : error.message);
    return;
  }
  const permissions = new Set(me.permissions);
  const can = (permission) => permissions.has(permission);
  const directory = await loadDirectory(can);
  const pages = {
    inbox: can('conversations:read') ? { label: 'Inbox', make: () => createInbox({ me, can, directory, shortcuts }) } : null,
    knowledge: can('knowledge:read') ? { label: 'Knowledge base', make: () => createKnowledge({ can }) } : null,
    analytics: can('analytics:read') ? { label: 'Analytics', make: () => createAnalytics({ can, directory }) } : null,
    settings: SETTINGS_TABS.some((tab) => can(tab.permission)) ? { label: 'Settings', make: () => createSettings({ can, me }) } : null,
  };
  const links = new Map();
  const nav = h('nav', { 'aria-label': 'Main' }, Object.entries(pages).filter(([, page]) => page).map(([name, page]) => {
    const link = h('a', { href: `#/${name}` }, page.label);
    links.set(name, link);
    return link;
  }));
  const live = h('span', { class: 'live', dataset: { state: 'connecting' } }, 'Connecting');
  search = createSearch();
  // Mentions and assignments are people's, and about conversations.
  const bell = pages.inbox && me.user ? createNotifications() : null;
  // Online or away: for those whom routing may assign conversations (an API key has no presence).
  presence = pages.inbox && me.user && can('conversations:reply') ? createPresence({ userId: me.user.id }) : null;
  const main = h('main', {});
  const signOut = h('button', {
    type: 'button',
    onclick: async () => {
      try { await post('/auth/logout'); } catch { /* the session may have ended already */ }
      end();
      signIn();
    },
  }, 'Sign out');
  mount(app, h('div', { class: 'shell' },
    h('header', { class: 'topbar' }, h('span', { class: 'brand' }, 'Switchboard'), nav, search.element, h('span', { class: 'spacer' }),
      pages.inbox ? live : null, bell?.element, presence?.element,
      h('span', { class: 'whoami', title: me.user?.email }, me.user ? `${me.user.name || me.user.email} · ${me.user.role.replace('_', ' ')}` : 'API key'),
      h('button', { type: 'button', 'aria-label': 'Keyboard shortcuts', onclick: showHelp }, '?'),
      signOut),
    main));

  function route() {
    const [, name = '', arg = ''] = location.hash.split('/');
    const fallback = Object.keys(pages).find((key) => pages[key]);
    const target = pages[name] ? name : fallback;
    if (!target) {
      mount(main, h('p', { class: 'placeholder' }, 'Your role has nothing to show here.'));
      return;
    }
    for (const [key, link] of links) link.setAttribute('aria-current', key === target ? 'page' : 'false');
    if (current?.name === target) {
      if (target === 'inbox') current.page.open(decodeURIComponent(arg));
      return;
    }
    current?.page.stop();
    const page = pages[target].make();
    current = { name: target, page };
    mount(main, page.element);
    page.start(decodeURIComponent(arg));
  }
  window.onhashchange = route;
  route();

  if (pages.inbox) {
    stopEvents = connectEvents({
      onEvent: (event) => {
        bell?.onEvent(event);
        if (current?.name === 'inbox') current.page.onEvent(event);
      },
      onReady: () => {
        bell?.load();
        presence?.load();
        if (current?.name === 'inbox') current.page.onReady();
      },
      onState: (state) => {
        live.dataset.state = state;
        live.textContent = { live: 'Live', connecting: 'Connecting', down: 'Reconnecting' }[state];
        live.title = live.textContent;
      },
    });
  }
}

function end() {
  search = null;
  presence?.stop();
  presence = null;
  stopEvents?.();
  stopEvents = null;
  current?.page.stop();
  current = null;
  window.onhashchange = null;
  session.clear();
}

whenUnauthorized(() => {
  if (!session.token) return;
  end();
  signIn('Your session ended. Please sign in again.');
  toast('Signed out');
});

boot();
