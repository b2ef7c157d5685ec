// The bell of the top bar: the signed-in agent's mentions and assignments (GET /notifications)
// with the unread count, kept live by the event stream's `notification_created` (main.js hands
// events over). Its panel opens one (which marks it read and goes to the conversation) or marks
// all read. While the tab is hidden a new one also shows as a browser notification, once the
// agent allowed them: permission is asked only when they click the panel's button.

import { get, post } from './api.js';
import { h, mount, relativeTime, toast } from './dom.js';

const SHOWN = 20;

function describe(notification) {
  const who = notification.actor_name || (notification.kind === 'assigned' ? 'Routing' : 'Someone');
  const what = notification.kind === 'mention' ? `${who} mentioned you` : `${who} assigned you a conversation`;
  const where = [notification.contact_name, notification.conversation_subject].filter(Boolean).join(' · ');
  return { what, where };
}

/** A bell drawn in SVG (an emoji needs a font the machine may not have). */
function bellIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  for (const [key, value] of Object.entries({
    viewBox: '0 0 24 24', width: '18', height: '18', fill: 'none', stroke: 'currentColor',
    'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true', class: 'bell-icon',
  })) svg.setAttribute(key, value);
  for (const d of ['M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9', 'M10.3 21a1.94 1.94 0 0 0 3.4 0']) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

function browserNotifications() {
  return typeof Notification === 'function' ? Notification : null;
}

export function createNotifications() {
  const state = { items: [], unread: 0, open: false };
  const count = h('span', { class: 'bell-count', 'aria-hidden': 'true', hidden: true }, '');
  const spoken = h('span', { class: 'visually-hidden', id: 'bell-unread' }, '');
  const button = h('button', {
    type: 'button', class: 'bell', 'aria-label': 'Notifications', 'aria-describedby': 'bell-unread',
    'aria-expanded': 'false', 'aria-controls': 'notifications-panel',
    onclick: () => toggle(!state.open),
  }, bellIcon(), count);
  const list = h('ul', { class: 'notification-list', 'aria-label': 'Notification list' });
  const allow = h('button', { type: 'button', hidden: true, onclick: askPermission }, 'Turn on desktop alerts');
  const markAll = h('button', { type: 'button', onclick: () => readAll().catch((error) => toast(error.message, 'error')) }, 'Mark all read');
  const panel = h('section', { id: 'notifications-panel', class: 'notifications-panel', 'aria-label': 'Notifications', hidden: true },
    h('div', { class: 'notifications-head' }, h('h2', {}, 'Notifications'), markAll),
    list, allow);
  const root = h('div', { class: 'notifications' }, button, spoken, panel);

  function paintCount() {
    count.hidden = state.unread === 0;
    count.textContent = state.unread > 99 ? '99+' : String(state.unread);
    spoken.textContent = state.unread === 1 ? '1 unread' : `${state.unread} unread`;
    root.dataset.unread = String(state.unread);
    markAll.disabled = state.unread === 0;
  }

  function render() {
    paintCount();
    const Browser = browserNotifications();
    allow.hidden = !Browser || Browser.permission !== 'default';
    if (!state.items.length) {
      mount(list, h('li', { class: 'muted' }, 'Nothing yet. Mentions and assignments show here.'));
      return;
    }
    mount(list, state.items.map((notification) => {
      const { what, where } = describe(notification);
      return h('li', { dataset: { unread: String(!notification.read_at) } },
        h('a', {
          href: `#/inbox/${encodeURIComponent(notification.conversation_id)}`,
          onclick: (event) => { event.preventDefault(); openOne(notification); },
        },
        h('span', { class: 'notification-what' }, what, notification.read_at ? '' : h('span', { class: 'visually-hidden' }, ' (unread)')),
        where ? h('span', { class: 'notification-where' }, where) : null,
        notification.preview ? h('span', { class: 'notification-preview' }, notification.preview) : null,
        h('time', { datetime: notification.created_at }, relativeTime(notification.created_at))));
    }));
  }

  async function load() {
    try {
      const page = await get(`/notifications?limit=${SHOWN}`);
      state.items = page.notifications;
      state.unread = page.unread_count;
      render();
    } catch {
      // The bell stays as it was; the next `ready` of the event stream loads it again.
    }
  }

  function toggle(open) {
    state.open = open;
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) render();
  }

  function markedRead(notification) {
    const item = state.items.find((known) => known.id === notification.id);
    if (item && !item.read_at) {
      item.read_at = notification.read_at || new Date().toISOString();
      state.unread = Math.max(0, state.unread - 1);
    }
    render();
  }

  async function openOne(notification) {
    toggle(false);
    location.hash = `#/inbox/${encodeURIComponent(notification.conversation_id)}`;
    if (notification.read_at) return;
    try {
      markedRead(await post(`/notifications/${encodeURIComponent(notification.id)}/read`));
    } catch (error) {
      toast(error.message, 'error');
    }
  }

  async function readAll() {
    const result = await post('/notifications/read-all');
    const now = new Date().toISOString();
    for (const item of state.items) item.read_at ||= now;
    state.unread = result.unread_count;
    render();
  }

  async function askPermission() {
    const Browser = browserNotifications();
    if (!Browser) return;
    await Browser.requestPermission();
    render();
  }

  function showInBrowser(notification) {
    const Browser = browserNotifications();
    if (!Browser || Browser.permission !== 'granted' || !document.hidden) return;
    const { what, where } = describe(notification);
    const shown = new Browser(what, { body: [where, notification.preview].filter(Boolean).join('\n'), tag: notification.id });
    shown.onclick = () => {
      window.focus();
      openOne(notification);
      shown.close();
    };
  }

  function onEvent(event) {
    if (event.type !== 'notification_created' || !event.notification) return;
    const notification = event.notification;
    if (state.items.some((known) => known.id === notification.id)) return;
    state.items = [notification, ...state.items].slice(0, SHOWN);
    if (!notification.read_at) state.unread += 1;
    render();
    showInBrowser(notification);
  }

  root.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && state.open) {
      toggle(false);
      button.focus();
    }
  });
  root.addEventListener('focusout', (event) => {
    if (state.open && event.relatedTarget && !root.contains(event.relatedTarget)) toggle(false);
  });

  render();
  load();
  return { element: root, load, onEvent };
}
