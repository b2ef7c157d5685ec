// Settings → Inboxes: each inbox with its webhook URL or widget snippet, the form that
// creates or edits one, and the dead letters: what the channels sent that was not stored. The
// form is built from `GET /api/v1/channels` — the channels this hub has connectors for, and the
// config fields each connector reads — so no channel or field is listed here. Secrets are write-only: an edit leaves a secret left empty as it is.

import { get, patch, post } from './api.js';
import { channelIcon, dataTable, h, mount, toast } from './dom.js';

export function webhookUrl(inbox) {
  return `${location.origin}/webhooks/${inbox.channel}/${inbox.id}`;
}

export function widgetSnippet(inbox) {
  return `<script src="${location.origin}/widget.js" data-inbox="${inbox.id}" async></script>`;
}

const KEEP_SECRET = 'set — leave empty to keep';

/** The inboxes tab, drawn into `section`. */
export async function inboxSettings(section) {
  const [inboxes, channels] = await Promise.all([get('/inboxes'), get('/channels')]);
  const formSlot = h('div');
  const showCreate = () => mount(formSlot, inboxForm({ channels, onSaved: reload }));
  const showEdit = (inbox) => {
    const form = inboxForm({ channels, inbox, onSaved: reload, onCancel: showCreate });
    mount(formSlot, form);
    form.scrollIntoView({ block: 'nearest' });
    form.querySelector('input')?.focus();
  };
  async function reload() {
    await inboxSettings(section);
  }
  mount(section, h('h1', {}, 'Inboxes'),
    dataTable(['Channel', 'Name', 'Connect it', ''], inboxes.map((inbox) => h('tr', {},
      h('td', {}, channelIcon(inbox.channel), ' ', inbox.channel),
      h('td', {}, h('strong', {}, inbox.name), h('br'), h('code', {}, inbox.id)),
      h('td', {}, inbox.channel === 'webchat'
        ? [h('div', {}, 'Widget snippet:'), h('pre', { 'aria-label': `Widget snippet for ${inbox.name}` }, widgetSnippet(inbox))]
        : [h('div', {}, 'Webhook URL:'), h('code', { 'aria-label': `Webhook URL for ${inbox.name}` }, webhookUrl(inbox))],
      inbox.secrets_set?.length ? h('div', { class: 'muted' }, `Secrets set: ${inbox.secrets_set.join(', ')}`) : null),
      h('td', { class: 'row-actions' }, h('button', {
        type: 'button', 'aria-label': `Edit ${inbox.name}`, onclick: () => showEdit(inbox),
      }, 'Edit'))))),
    formSlot, deadLetters(inboxes));
  showCreate();
}

/** What the channels sent that the hub acknowledged and did not store (`GET /dead-letters`),
 * newest first, a page at a time, each body behind a disclosure. */
function deadLetters(inboxes) {
  const names = new Map(inboxes.map((inbox) => [inbox.id, inbox.name]));
  const rows = h('tbody');
  const more = h('button', { type: 'button' }, 'Older');
  let cursor = null;
  async function page() {
    const query = cursor ? `?limit=20&cursor=${encodeURIComponent(cursor)}` : '?limit=20';
    const { dead_letters: letters, next_cursor: next } = await get(`/dead-letters${query}`);
    if (!cursor && !letters.length) rows.append(h('tr', {}, h('td', { colspan: '5', class: 'muted' }, 'Nothing dropped.')));
    for (const letter of letters) {
      const cut = letter.body_bytes > letter.body.length ? ` (first ${letter.body.length} of ${letter.body_bytes} bytes)` : '';
      rows.append(h('tr', {},
        h('td', {}, new Date(letter.created_at).toLocaleString()),
        h('td', {}, channelIcon(letter.channel), ' ', names.get(letter.inbox_id) ?? letter.channel),
        h('td', {}, letter.reason.replace('_', ' ')),
        h('td', {}, letter.detail, letter.event_id ? h('div', { class: 'muted' }, h('code', {}, letter.event_id)) : null),
        h('td', {}, h('details', {}, h('summary', {}, `Body${cut}`), h('pre', {}, letter.body)))));
    }
    cursor = next ?? null;
    more.hidden = !cursor;
  }
  more.addEventListener('click', () => page().catch((error) => toast(error.message, 'error')));
  page().catch((error) => rows.append(h('tr', {}, h('td', { colspan: '5', class: 'error-text' }, error.message))));
  return h('div', {}, h('h2', {}, 'Dead letters'),
    h('p', { class: 'muted' }, 'What the channels sent that was acknowledged but not stored: a payload that does not parse, a shape or a kind of event the hub does not read.'),
    h('table', { 'aria-label': 'Dead letters' },
      h('thead', {}, h('tr', {}, ['When', 'Inbox', 'Reason', 'What', 'Body'].map((text) => h('th', {}, text)))), rows),
    more);
}

let forms = 0;

/** The create form, or with `inbox` the edit form of that inbox. */
function inboxForm({ channels, inbox, onSaved, onCancel }) {
  forms += 1;
  const prefix = `inbox-form-${forms}`;
  const editing = Boolean(inbox);
  const name = h('input', { id: `${prefix}-name`, required: true, value: inbox?.name });
  const channel = editing
    ? null
    : h('select', { id: `${prefix}-channel` }, channels.map(({ channel: c }) => h('option', { value: c }, c)));
  const fieldsBox = h('div', { class: 'config-fields' });
  const extras = h('textarea', { id: `${prefix}-extras`, rows: '4', cols: '48', spellcheck: 'false' });
  const advanced = h('details', {},
    h('summary', {}, 'Advanced (JSON)'),
    h('label', { for: extras.id }, 'Other config fields (JSON)'),
    h('div', { class: 'muted' }, 'An object merged into the config; the fields above take precedence.'),
    extras);
  const errors = h('p', { class: 'error-text', role: 'alert' });
  let controls = [];

  function draw() {
    const channelName = inbox?.channel ?? channel.value;
    const fields = channels.find((c) => c.channel === channelName)?.fields ?? [];
    const current = inbox?.config ?? {};
    controls = fields.map((field) => fieldControl(field, {
      prefix, current: current[field.name], secretSet: inbox?.secrets_set?.includes(field.name) ?? false,
    }));
    const declared = new Set(fields.map((field) => field.name));
    const rest = Object.fromEntries(Object.entries(current).filter(([key]) => !declared.has(key)));
    extras.value = Object.keys(rest).length ? JSON.stringify(rest, null, 2) : '';
    advanced.open = !fields.length || Boolean(extras.value);
    mount(fieldsBox, fields.length
      ? controls.map((control) => control.element)
      : h('p', { class: 'muted' }, `No form for ${channelName} on this hub: write its config as JSON below.`));
    errors.textContent = '';
  }
  channel?.addEventListener('change', draw);
  draw();

  async function submit(event) {
    event.preventDefault();
    errors.textContent = '';
    const missing = [];
    if (!name.value.trim()) missing.push('name');
    let config;
    try {
      config = extras.value.trim() ? JSON.parse(extras.value) : {};
    } catch {
      config = null;
    }
    if (!config || typeof config !== 'object' || Array.isArray(config)) {
      errors.textContent = 'Other config fields (JSON) must be a JSON object.';
      advanced.open = true;
      extras.focus();
      return;
    }
    const invalid = [];
    for (const control of controls) {
      const read = control.read();
      control.input.setAttribute('aria-invalid', String(Boolean(read.missing || read.problem)));
      if (read.missing) missing.push(control.field.name);
      else if (read.problem) invalid.push(read.problem);
      else if (read.value !== undefined) config[control.field.name] = read.value;
      else if (!control.field.secret) delete config[control.field.name];
    }
    if (missing.length || invalid.length) {
      errors.textContent = [missing.length ? `Required: ${missing.join(', ')}.` : '', ...invalid].join(' ').trim();
      const first = missing[0] === 'name' ? name : controls.find((c) => c.input.getAttribute('aria-invalid') === 'true')?.input;
      first?.focus();
      return;
    }
    try {
      if (editing) {
        await patch(`/inboxes/${inbox.id}`, { name: name.value.trim(), config });
        toast('Inbox saved');
      } else {
        await post('/inboxes', { name: name.value.trim(), channel: channel.value, config });
        toast('Inbox created');
      }
    } catch (error) {
      errors.textContent = error.message;
      return;
    }
    await onSaved();
  }

  return h('form', { class: 'inbox-form', novalidate: true, 'aria-label': editing ? `Edit inbox ${inbox.name}` : 'Create inbox', onsubmit: submit },
    h('h2', {}, editing ? `Edit ${inbox.name} (${inbox.channel})` : 'New inbox'),
    h('p', { class: 'muted' }, h('span', { class: 'required-mark', 'aria-hidden': 'true' }, '*'), ' required'),
    h('div', { class: 'form-row' },
      h('label', {}, 'Name', requiredMark(), h('br'), name),
      channel ? h('label', {}, 'Channel', h('br'), channel) : null),
    fieldsBox, advanced, errors,
    h('div', { class: 'form-row' },
      h('button', { class: 'primary' }, editing ? 'Save inbox' : 'Create inbox'),
      editing ? h('button', { type: 'button', onclick: onCancel }, 'Cancel') : null));
}

function requiredMark() {
  return h('span', { class: 'required-mark', 'aria-hidden': 'true' }, ' *');
}

/** One labelled input for a config field, its help as the description, and how to read it. */
function fieldControl(field, { prefix, current, secretSet }) {
  const id = `${prefix}-${field.name}`;
  const keeps = field.secret && secretSet;
  const required = field.required && !keeps;
  const shownDefault = field.default === null || field.default === undefined || field.type === 'boolean'
    ? null
    : [field.default].flat().join(', ');
  const described = [h('span', { id: `${id}-help` }, field.help, shownDefault === null ? '' : ` Default: ${shownDefault}.`)];
  if (keeps) described.push(h('span', { id: `${id}-kept` }, ` Set — leave empty to keep it.`));
  const attrs = {
    id, name: field.name, required, 'aria-describedby': described.map((span) => span.id).join(' '),
  };
  let input;
  if (field.type === 'boolean') {
    input = h('input', { ...attrs, type: 'checkbox', checked: typeof current === 'boolean' ? current : field.default === true });
  } else if (field.type === 'string_list') {
    input = h('textarea', { ...attrs, rows: '3', cols: '40', placeholder: 'One per line', value: Array.isArray(current) ? current.join('\n') : undefined });
  } else if (field.type === 'integer') {
    input = h('input', { ...attrs, type: 'number', step: '1', placeholder: shownDefault, value: current === undefined || current === null ? undefined : String(current) });
  } else {
    const type = field.secret ? 'password' : field.type === 'url' ? 'url' : 'text';
    input = h('input', {
      ...attrs, type, size: '40', autocomplete: field.secret ? 'new-password' : 'off',
      placeholder: keeps ? KEEP_SECRET : shownDefault, value: field.secret || typeof current !== 'string' ? undefined : current,
    });
  }
  // The mark stays outside the label, so that the accessible name is the field's name alone.
  const label = h('span', {}, h('label', { for: id }, h('code', {}, field.name)), required ? requiredMark() : null);
  const help = h('small', { class: 'muted' }, described);
  const element = field.type === 'boolean'
    ? h('div', { class: 'config-field' }, h('span', { class: 'inline' }, input, ' ', label), help)
    : h('div', { class: 'config-field' }, label, input, help);

  function read() {
    if (field.type === 'boolean') return { value: input.checked };
    if (field.type === 'string_list') {
      const items = input.value.split('\n').map((line) => line.trim()).filter(Boolean);
      return items.length ? { value: items } : { missing: required };
    }
    const text = input.value.trim();
    if (!text) return { missing: required };
    if (field.type === 'integer') {
      return /^-?\d+$/.test(text) ? { value: Number(text) } : { problem: `${field.name} must be a whole number.` };
    }
    return { value: text };
  }
  return { field, input, element, read };
}
