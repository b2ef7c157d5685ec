// Settings for admins and managers: inboxes (in settings-inboxes.js: webhook URLs, the widget
// snippet, the form built from each channel's declared config fields, dead letters), users and
// roles, teams, API keys, canned responses, escalation rules and SLA policies (those two in
// settings-routing.js), outbound webhooks (settings-webhooks.js). Each tab shows only with its
// permission.

import { del, get, patch, post } from './api.js';
import { dataTable as table, fullTime, h, mount, toast } from './dom.js';
import { inboxSettings } from './settings-inboxes.js';
import { escalationRules, slaPolicies } from './settings-routing.js';
import { webhookSettings } from './settings-webhooks.js';

const ROLES = ['admin', 'support_manager', 'support_agent', 'knowledge_editor'];

export const SETTINGS_TABS = [
  { id: 'inboxes', label: 'Inboxes', permission: 'inboxes:manage' },
  { id: 'users', label: 'Users and roles', permission: 'users:manage' },
  { id: 'teams', label: 'Teams', permission: 'settings:manage' },
  { id: 'apikeys', label: 'API keys', permission: 'apikeys:manage' },
  { id: 'canned', label: 'Canned responses', permission: 'settings:manage' },
  { id: 'rules', label: 'Escalation rules', permission: 'settings:manage' },
  { id: 'sla', label: 'SLA policies', permission: 'settings:manage' },
  { id: 'webhooks', label: 'Webhooks', permission: 'webhooks:manage' },
];

function field(label, input) {
  return h('label', {}, label, h('br'), input);
}

function guard(fn) {
  return async (event) => {
    event.preventDefault();
    try {
      await fn(event);
    } catch (error) {
      toast(error.message, 'error');
    }
  };
}

export function createSettings({ can, me }) {
  const tabs = SETTINGS_TABS.filter((tab) => can(tab.permission));
  const section = h('section', { 'aria-live': 'polite' });
  const buttons = new Map();
  const nav = h('nav', { 'aria-label': 'Settings' }, tabs.map((tab) => {
    const button = h('button', { type: 'button', 'aria-pressed': 'false', onclick: () => show(tab.id) }, tab.label);
    buttons.set(tab.id, button);
    return button;
  }));
  const root = h('div', { class: 'settings' }, nav, section);

  function show(id) {
    for (const [tabId, button] of buttons) button.setAttribute('aria-pressed', String(tabId === id));
    history.replaceState(null, '', `#/settings/${id}`);
    const inboxes = () => inboxSettings(section);
    const rules = () => escalationRules(section);
    const sla = () => slaPolicies(section);
    const webhooks = () => webhookSettings(section);
    ({ inboxes, users, teams, apikeys, canned, rules, sla, webhooks })[id]().catch((error) => mount(section, h('p', { class: 'error-text' }, error.message)));
  }

  async function users() {
    const items = await get('/users');
    const email = h('input', { type: 'email', required: true });
    const name = h('input', {});
    const role = h('select', {}, ROLES.map((r) => h('option', { value: r, selected: r === 'support_agent' }, r)));
    const password = h('input', { type: 'password', minlength: '8', required: true });
    mount(section, h('h1', {}, 'Users and roles'),
      table(['Name', 'Email', 'Role', 'Active'], items.map((user) => h('tr', {},
        h('td', {}, user.name || '—'),
        h('td', {}, user.email),
        h('td', {}, user.id === me.user?.id ? user.role : h('select', {
          'aria-label': `Role of ${user.email}`,
          onchange: guard(async (event) => { await patch(`/users/${user.id}`, { role: event.target.value }); toast('Role changed'); }),
        }, ROLES.map((r) => h('option', { value: r, selected: r === user.role }, r)))),
        h('td', {}, user.id === me.user?.id ? 'yes (you)' : h('button', {
          type: 'button',
          onclick: guard(async () => { await patch(`/users/${user.id}`, { active: !user.active }); await users(); }),
        }, user.active ? 'Deactivate' : 'Activate'))))),
      h('form', { 'aria-label': 'Add user', onsubmit: guard(async () => {
        await post('/users', { email: email.value, name: name.value, role: role.value, password: password.value });
        toast('User added');
        await users();
      }) }, field('Email', email), field('Name', name), field('Role', role), field('Password', password),
      h('button', { class: 'primary' }, 'Add user')));
  }

  async function teams() {
    const items = await get('/teams');
    const name = h('input', { required: true });
    mount(section, h('h1', {}, 'Teams'),
      table(['Team', 'Created'], items.map((team) => h('tr', {}, h('td', {}, team.name), h('td', {}, fullTime(team.created_at))))),
      h('form', { 'aria-label': 'Create team', onsubmit: guard(async () => {
        await post('/teams', { name: name.value });
        toast('Team created');
        await teams();
      }) }, field('Team name', name), h('button', { class: 'primary' }, 'Create team')));
  }

  async function apikeys() {
    const items = await get('/api-keys');
    const me_ = await get('/auth/me');
    const name = h('input', { required: true });
    const scopes = me_.permissions.map((permission) => h('label', { style: 'display:inline-flex;gap:4px;margin-right:8px' },
      h('input', { type: 'checkbox', value: permission }), permission));
    const secretBox = h('div');
    mount(section, h('h1', {}, 'API keys'), secretBox,
      table(['Name', 'Prefix', 'Scopes', 'Last used', ''], items.map((key) => h('tr', {},
        h('td', {}, key.name), h('td', {}, h('code', {}, key.prefix)), h('td', {}, key.scopes.join(', ')),
        h('td', {}, key.last_used_at ? fullTime(key.last_used_at) : 'never'),
        h('td', {}, key.revoked_at ? 'revoked' : h('button', {
          type: 'button', class: 'danger',
          onclick: guard(async () => { await del(`/api-keys/${key.id}`); await apikeys(); }),
        }, 'Revoke'))))),
      h('form', { 'aria-label': 'Create API key', onsubmit: guard(async () => {
        const chosen = scopes.map((label) => label.querySelector('input')).filter((box) => box.checked).map((box) => box.value);
        const created = await post('/api-keys', { name: name.value, scopes: chosen });
        await apikeys();
        mount(section.querySelector('div') || secretBox, h('p', { class: 'secret-once' },
          'The key, shown this once: ', h('code', {}, created.secret)));
      }) }, field('Name', name), h('div', {}, scopes), h('button', { class: 'primary' }, 'Create API key')));
  }

  async function canned() {
    const items = await get('/canned-responses');
    const shortcut = h('input', { required: true, placeholder: 'refund' });
    const title = h('input', {});
    const text = h('textarea', { rows: '3', cols: '48', required: true });
    mount(section, h('h1', {}, 'Canned responses'),
      table(['Shortcut', 'Title', 'Text', ''], items.map((item) => h('tr', {},
        h('td', {}, h('code', {}, `/${item.shortcut}`)), h('td', {}, item.title), h('td', {}, item.text),
        h('td', {}, h('button', { type: 'button', class: 'danger', onclick: guard(async () => { await del(`/canned-responses/${item.id}`); await canned(); }) }, 'Delete'))))),
      h('form', { 'aria-label': 'Add canned response', onsubmit: guard(async () => {
        await post('/canned-responses', { shortcut: shortcut.value, title: title.value, text: text.value });
        await canned();
      }) }, field('Shortcut', shortcut), field('Title', title), field('Text', text), h('button', { class: 'primary' }, 'Add')));
  }

  return {
    element: root,
    start: (tab) => { if (tabs.length) show(tabs.some((t) => t.id === tab) ? tab : tabs[0].id); },
    stop: () => {},
  };
}
