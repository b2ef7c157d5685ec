// Settings for routing (docs/routing.md): escalation rules in evaluation order, with a form for
// each trigger type, and SLA policies per priority and team, with their business hours.

import { del, get, patch, post, put } from './api.js';
import { dataTable, h, humanDuration, mount, toast } from './dom.js';

const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const DAYS = [
  ['mon', 'Monday'], ['tue', 'Tuesday'], ['wed', 'Wednesday'], ['thu', 'Thursday'],
  ['fri', 'Friday'], ['sat', 'Saturday'], ['sun', 'Sunday'],
];
const COMMON_TIME_ZONES = [
  'UTC', 'Europe/London', 'Europe/Dublin', 'Europe/Lisbon', 'Europe/Paris', 'Europe/Berlin',
  'Europe/Madrid', 'Europe/Rome', 'Europe/Amsterdam', 'Europe/Stockholm', 'Europe/Warsaw',
  'Europe/Athens', 'Europe/Istanbul', 'Africa/Lagos', 'Africa/Johannesburg', 'Asia/Dubai',
  'Asia/Kolkata', 'Asia/Singapore', 'Asia/Shanghai', 'Asia/Tokyo', 'Australia/Sydney',
  'Pacific/Auckland', 'America/Sao_Paulo', 'America/Mexico_City', 'America/New_York',
  'America/Chicago', 'America/Denver', 'America/Los_Angeles', 'America/Toronto',
];

/** Each trigger type: its label, its parameters as form inputs, and its reading in words. */
const TRIGGERS = {
  human_request: { label: 'Customer asks for a person', fields: [], words: () => 'the customer asks for a person' },
  sentiment_below: {
    label: 'Sentiment below', fields: [{ key: 'value', label: 'Sentiment below (0–100)', kind: 'number', min: 0, max: 100, required: true }],
    words: (t) => `sentiment below ${t.value}`,
  },
  sentiment_falling: {
    label: 'Sentiment falling', fields: [{ key: 'min_drop', label: 'Minimum drop in points (optional)', kind: 'number', min: 1, max: 100 }],
    words: (t) => (t.min_drop ? `sentiment fell by ${t.min_drop} points or more` : 'sentiment falling fast'),
  },
  keywords: {
    label: 'Keywords', fields: [{ key: 'any', label: 'Keywords (comma-separated)', kind: 'list', required: true }],
    words: (t) => `the message says ${t.any.map((word) => `“${word}”`).join(' or ')}`,
  },
  regex: {
    label: 'Regular expression', fields: [{ key: 'pattern', label: 'Pattern', kind: 'text', required: true }],
    words: (t) => `matches /${t.pattern}/`,
  },
  topic: {
    label: 'Topic', fields: [{ key: 'any', label: 'Topics (comma-separated)', kind: 'list', required: true }],
    words: (t) => `topic is ${t.any.join(' or ')}`,
  },
  customer_tier: {
    label: 'Customer tier', fields: [{ key: 'any', label: 'Tiers (comma-separated)', kind: 'list', required: true }],
    words: (t) => `customer tier is ${t.any.join(' or ')}`,
  },
  customer_value_at_least: {
    label: 'Customer value at least', fields: [{ key: 'value', label: 'Customer value at least', kind: 'number', min: 0, step: 'any', required: true }],
    words: (t) => `customer value is at least ${t.value}`,
  },
  ai_failures: {
    label: 'AI failures', fields: [{ key: 'at_least', label: 'AI failures in a row, at least', kind: 'number', min: 1, required: true }],
    words: (t) => `the AI failed ${t.at_least} times in a row`,
  },
  customer_messages: {
    label: 'Customer messages', fields: [{ key: 'at_least', label: 'Customer messages, at least', kind: 'number', min: 1, required: true }],
    words: (t) => `the customer wrote ${t.at_least} messages or more`,
  },
};

const splitList = (text) => text.split(',').map((item) => item.trim()).filter(Boolean);

/** A rule's triggers and actions in one sentence, for the list. */
export function describeRule(rule, teams = new Map()) {
  const triggers = rule.triggers.map((t) => (TRIGGERS[t.type] ? TRIGGERS[t.type].words(t) : t.type));
  const joiner = rule.match === 'all' ? ' and ' : ' or ';
  const actions = [];
  const a = rule.actions || {};
  if (a.escalate) actions.push('escalate');
  if (a.priority) actions.push(`priority ${a.priority}`);
  if (a.team_id) actions.push(`team ${teams.get(a.team_id)?.name || a.team_id}`);
  if (a.tags?.length) actions.push(`tag ${a.tags.join(', ')}`);
  return `When ${triggers.join(joiner) || 'never'} → ${actions.join(', ') || 'nothing'}`
    + (rule.continue ? '; then keep evaluating' : '; then stop');
}

/** A modal question; resolves true when the user confirms. */
function confirmDanger(question, confirmLabel = 'Delete') {
  return new Promise((resolve) => {
    const dialog = h('dialog', { 'aria-label': 'Confirm' },
      h('p', {}, question),
      h('form', { method: 'dialog', class: 'actions' },
        h('button', { value: 'yes', class: 'danger' }, confirmLabel),
        h('button', { value: 'no', autofocus: true }, 'Cancel')));
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

function labelled(text, input) {
  return h('label', {}, text, h('br'), input);
}

/** A form's last row: its submit button, and Cancel, which closes the form. */
function formEnd(saveLabel, formSlot) {
  return h('div', { class: 'form-row' },
    h('button', { class: 'primary' }, saveLabel),
    h('button', { type: 'button', onclick: () => mount(formSlot) }, 'Cancel'));
}

/** Runs a form's submit, showing the server's refusal (422, 409) next to the form. */
function submitter(errorBox, fn) {
  return async (event) => {
    event.preventDefault();
    errorBox.textContent = '';
    const button = event.submitter;
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (error) {
      errorBox.textContent = error.message;
    } finally {
      if (button) button.disabled = false;
    }
  };
}

async function teamsById() {
  try {
    return new Map((await get('/teams')).map((team) => [team.id, team]));
  } catch {
    return new Map();
  }
}

// ----- escalation rules

function triggerEditor(initial, onRemove) {
  const type = h('select', {},
    Object.entries(TRIGGERS).map(([value, spec]) => h('option', { value, selected: value === initial.type }, spec.label)));
  const params = h('span', { class: 'trigger-params' });
  let inputs = [];
  const draw = (values) => {
    inputs = TRIGGERS[type.value].fields.map((field) => {
      const value = values[field.key];
      const input = h('input', {
        type: field.kind === 'number' ? 'number' : 'text',
        min: field.min, max: field.max, step: field.step, required: field.required,
        value: value === undefined || value === null ? '' : (Array.isArray(value) ? value.join(', ') : String(value)),
        size: field.kind === 'number' ? '6' : '28',
      });
      return { field, input };
    });
    mount(params, inputs.map(({ field, input }) => labelled(field.label, input)));
  };
  type.addEventListener('change', () => draw({}));
  draw(initial);
  const element = h('fieldset', { class: 'trigger' }, h('legend', {}, 'Trigger'),
    labelled('Trigger type', type), params,
    h('button', { type: 'button', onclick: () => onRemove(element) }, 'Remove trigger'));
  return {
    element,
    value() {
      const trigger = { type: type.value };
      for (const { field, input } of inputs) {
        const text = input.value.trim();
        if (field.kind === 'list') trigger[field.key] = splitList(text);
        else if (field.kind === 'number') { if (text !== '') trigger[field.key] = Number(text); }
        else trigger[field.key] = text;
      }
      return trigger;
    },
  };
}

export async function escalationRules(section) {
  const [rules, teams] = await Promise.all([get('/escalation-rules'), teamsById()]);
  const formSlot = h('div');

  async function reorder(index, step) {
    const ids = rules.map((rule) => rule.id);
    [ids[index], ids[index + step]] = [ids[index + step], ids[index]];
    await post('/escalation-rules/reorder', { ids });
    await escalationRules(section);
  }

  function ruleItem(rule, index) {
    const act = (fn) => async () => {
      try {
        await fn();
      } catch (error) {
        toast(error.message, 'error');
      }
    };
    return h('li', { class: 'rule', dataset: { id: rule.id }, 'aria-label': rule.name },
      h('div', { class: 'rule-head' },
        h('strong', {}, rule.name),
        h('label', { class: 'inline' }, h('input', {
          type: 'checkbox', checked: rule.enabled,
          onchange: act(async () => { await patch(`/escalation-rules/${rule.id}`, { enabled: !rule.enabled }); await escalationRules(section); }),
        }), 'Enabled'),
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', disabled: index === 0, onclick: act(() => reorder(index, -1)) }, 'Move up'),
        h('button', { type: 'button', disabled: index === rules.length - 1, onclick: act(() => reorder(index, 1)) }, 'Move down'),
        h('button', { type: 'button', onclick: () => showForm(rule) }, 'Edit'),
        h('button', {
          type: 'button', class: 'danger',
          onclick: act(async () => {
            if (!await confirmDanger(`Delete the rule “${rule.name}”?`)) return;
            await del(`/escalation-rules/${rule.id}`);
            toast('Rule deleted');
            await escalationRules(section);
          }),
        }, 'Delete')),
      h('div', { class: 'muted' }, describeRule(rule, teams)));
  }

  function showForm(rule) {
    const editing = Boolean(rule);
    const r = rule || { name: '', enabled: true, match: 'any', triggers: [{ type: 'keywords', any: [] }], actions: { escalate: true }, continue: false };
    const a = r.actions || {};
    const name = h('input', { required: true, maxlength: '100', value: r.name, size: '32' });
    const enabled = h('input', { type: 'checkbox', checked: r.enabled });
    const match = h('select', {},
      h('option', { value: 'any', selected: r.match !== 'all' }, 'Any trigger'),
      h('option', { value: 'all', selected: r.match === 'all' }, 'All triggers'));
    const triggerList = h('div', { class: 'triggers' });
    const editors = [];
    const addTrigger = (initial) => {
      const editor = triggerEditor(initial, (element) => {
        editors.splice(editors.indexOf(editor), 1);
        element.remove();
      });
      editors.push(editor);
      triggerList.append(editor.element);
    };
    r.triggers.forEach(addTrigger);
    const escalate = h('input', { type: 'checkbox', checked: a.escalate });
    const tags = h('input', { value: (a.tags || []).join(', '), size: '24' });
    const team = h('select', {}, h('option', { value: '' }, 'No team'),
      [...teams.values()].map((t) => h('option', { value: t.id, selected: t.id === a.team_id }, t.name)));
    const priority = h('select', {}, h('option', { value: '' }, 'Unchanged'),
      PRIORITIES.map((p) => h('option', { value: p, selected: p === a.priority }, p)));
    const keepGoing = h('input', { type: 'checkbox', checked: r.continue });
    const error = h('p', { class: 'error-text', role: 'alert' });
    const form = h('form', {
      class: 'rule-form', 'aria-label': editing ? `Edit rule ${r.name}` : 'New rule',
      onsubmit: submitter(error, async () => {
        const body = {
          name: name.value.trim(),
          enabled: enabled.checked,
          match: match.value,
          triggers: editors.map((editor) => editor.value()),
          actions: {
            escalate: escalate.checked,
            tags: splitList(tags.value),
            team_id: team.value || null,
            priority: priority.value || null,
          },
          continue: keepGoing.checked,
        };
        if (editing) await patch(`/escalation-rules/${rule.id}`, body);
        else await post('/escalation-rules', body);
        toast(editing ? 'Rule saved' : 'Rule added');
        await escalationRules(section);
      }),
    },
    h('div', { class: 'form-row' }, labelled('Name', name),
      h('label', { class: 'inline' }, enabled, 'Enabled'), labelled('Match', match)),
    h('h3', {}, 'Triggers'), triggerList,
    h('button', { type: 'button', onclick: () => addTrigger({ type: 'keywords' }) }, 'Add trigger'),
    h('h3', {}, 'Actions'),
    h('div', { class: 'form-row' },
      h('label', { class: 'inline' }, escalate, 'Escalate to a person'),
      labelled('Tags (comma-separated)', tags), labelled('Team', team), labelled('Priority', priority),
      h('label', { class: 'inline' }, keepGoing, 'Continue with later rules')),
    formEnd('Save rule', formSlot),
    error);
    mount(formSlot, form);
    name.focus();
  }

  mount(section, h('h1', {}, 'Escalation rules'),
    h('p', { class: 'muted' }, 'Rules run top to bottom on each customer message the AI holds; the first that matches fires and stops the others unless it says to continue.'),
    h('ol', { class: 'rules', 'aria-label': 'Escalation rules' }, rules.map(ruleItem)),
    rules.length ? null : h('p', { class: 'muted' }, 'No rules: conversations stay with the AI unless the customer presses “Talk to a human”.'),
    h('button', { type: 'button', class: 'primary', onclick: () => showForm(null) }, 'Add rule'),
    formSlot);
}

// ----- SLA policies

/** Seconds as a number and a unit for the form: whole hours in hours, the rest in minutes. */
function durationInputs(label, seconds) {
  const inHours = seconds && seconds % 3600 === 0;
  const amount = h('input', {
    type: 'number', min: '1', step: 'any', required: true, size: '6',
    value: seconds ? String(inHours ? seconds / 3600 : seconds / 60) : '',
  });
  const unit = h('select', { 'aria-label': `${label} unit` },
    h('option', { value: '60', selected: !inHours }, 'minutes'),
    h('option', { value: '3600', selected: inHours }, 'hours'));
  return {
    element: h('span', { class: 'duration' }, labelled(label, amount), unit),
    seconds: () => Math.round(Number(amount.value) * Number(unit.value)),
  };
}

function businessHoursEditor(initial) {
  const defaults = {
    time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
    weekly: Object.fromEntries(DAYS.map(([day]) => [day, ['sat', 'sun'].includes(day) ? [] : [['09:00', '17:00']]])),
    holidays: [],
  };
  const start = initial || defaults;
  const on = h('input', { type: 'checkbox', checked: Boolean(initial) });
  const zoneList = h('datalist', { id: 'time-zones' },
    [...new Set([defaults.time_zone, ...COMMON_TIME_ZONES])].map((zone) => h('option', { value: zone })));
  const zone = h('input', { list: 'time-zones', value: start.time_zone, size: '24', required: true });
  const days = new Map();
  const dayRows = DAYS.map(([day, dayName]) => {
    const ranges = h('span', { class: 'ranges' });
    const rows = [];
    const addRange = ([from, to]) => {
      const opens = h('input', { type: 'time', value: from, required: true, 'aria-label': `${dayName} opens` });
      const closes = h('input', { type: 'time', value: to, required: true, 'aria-label': `${dayName} closes` });
      const row = h('span', { class: 'range' }, opens, '–', closes,
        h('button', {
          type: 'button', 'aria-label': `Remove ${dayName} hours`,
          onclick: () => { rows.splice(rows.indexOf(entry), 1); row.remove(); },
        }, '×'));
      const entry = { opens, closes };
      rows.push(entry);
      ranges.append(row);
    };
    (start.weekly?.[day] || []).forEach(addRange);
    days.set(day, rows);
    return h('div', { class: 'day' }, h('span', { class: 'day-name' }, dayName), ranges,
      h('button', { type: 'button', 'aria-label': `Add ${dayName} hours`, onclick: () => addRange(['09:00', '17:00']) }, '+ hours'));
  });
  const holidays = h('input', {
    value: (start.holidays || []).join(', '), size: '36', placeholder: '2026-12-25, 2026-12-26',
    pattern: '^\\s*(\\d{4}-\\d{2}-\\d{2}\\s*(,\\s*\\d{4}-\\d{2}-\\d{2}\\s*)*)?$',
  });
  const details = h('div', { class: 'business-hours', hidden: !initial },
    labelled('Time zone', zone), zoneList, h('div', { class: 'days', role: 'group', 'aria-label': 'Opening hours' }, dayRows),
    labelled('Holidays (YYYY-MM-DD, comma-separated)', holidays));
  on.addEventListener('change', () => { details.hidden = !on.checked; });
  // Hidden inputs must not block submitting when business hours are off.
  const syncRequired = () => {
    for (const input of details.querySelectorAll('input')) input.disabled = !on.checked;
  };
  on.addEventListener('change', syncRequired);
  syncRequired();
  return {
    element: h('fieldset', { class: 'bh' }, h('legend', {}, 'Business hours'),
      h('label', { class: 'inline' }, on, 'Count only business hours'), details),
    /** null when the clock runs around the clock. */
    value() {
      if (!on.checked) return null;
      return {
        time_zone: zone.value.trim(),
        weekly: Object.fromEntries([...days].map(([day, rows]) => [day, rows.map(({ opens, closes }) => [opens.value, closes.value])])),
        holidays: splitList(holidays.value),
      };
    },
  };
}

function describeHours(hours) {
  if (!hours) return 'Around the clock';
  const open = DAYS.filter(([day]) => hours.weekly?.[day]?.length)
    .map(([day, name]) => `${name.slice(0, 3)} ${hours.weekly[day].map(([from, to]) => `${from}–${to}`).join(', ')}`);
  return `${open.join('; ') || 'Never open'} (${hours.time_zone})${hours.holidays?.length ? `; ${hours.holidays.length} holidays` : ''}`;
}

export async function slaPolicies(section) {
  const [policies, teams] = await Promise.all([get('/sla-policies'), teamsById()]);
  const formSlot = h('div');
  const order = (p) => [PRIORITIES.indexOf(p.priority), p.team_id ? teams.get(p.team_id)?.name || p.team_id : ''];
  policies.sort((x, y) => {
    const [a, b] = [order(x), order(y)];
    return b[0] - a[0] || String(a[1]).localeCompare(String(b[1]));
  });

  function showForm(policy) {
    const editing = Boolean(policy);
    const p = policy || { name: '', priority: 'normal', team_id: null, first_response_seconds: 3600, resolution_seconds: 8 * 3600, business_hours: null };
    const name = h('input', { required: true, maxlength: '100', value: p.name, size: '28' });
    const priority = h('select', {}, PRIORITIES.map((value) => h('option', { value, selected: value === p.priority }, value)));
    const team = h('select', {}, h('option', { value: '' }, 'Every team'),
      [...teams.values()].map((t) => h('option', { value: t.id, selected: t.id === p.team_id }, t.name)));
    const first = durationInputs('First response', p.first_response_seconds);
    const resolution = durationInputs('Resolution', p.resolution_seconds);
    const hours = businessHoursEditor(p.business_hours || null);
    const error = h('p', { class: 'error-text', role: 'alert' });
    const form = h('form', {
      class: 'policy-form', 'aria-label': editing ? `Edit SLA policy ${p.name}` : 'New SLA policy',
      onsubmit: submitter(error, async () => {
        const body = {
          name: name.value.trim(),
          priority: priority.value,
          team_id: team.value || null,
          first_response_seconds: first.seconds(),
          resolution_seconds: resolution.seconds(),
        };
        // The server refuses fields it does not know: send business hours only when set, or
        // null to clear hours the policy already has.
        const businessHours = hours.value();
        if (businessHours || p.business_hours) body.business_hours = businessHours;
        if (editing) await put(`/sla-policies/${policy.id}`, body);
        else await post('/sla-policies', body);
        toast(editing ? 'Policy saved' : 'Policy added');
        await slaPolicies(section);
      }),
    },
    h('div', { class: 'form-row' }, labelled('Name', name), labelled('Priority', priority), labelled('Team', team)),
    h('div', { class: 'form-row' }, first.element, resolution.element),
    hours.element,
    formEnd('Save policy', formSlot),
    error);
    mount(formSlot, form);
    name.focus();
  }

  const rows = policies.map((policy) => h('tr', { dataset: { id: policy.id } },
    h('td', {}, policy.name),
    h('td', {}, policy.priority),
    h('td', {}, policy.team_id ? teams.get(policy.team_id)?.name || policy.team_id : 'Every team'),
    h('td', {}, humanDuration(policy.first_response_seconds)),
    h('td', {}, humanDuration(policy.resolution_seconds)),
    h('td', {}, describeHours(policy.business_hours)),
    h('td', { class: 'row-actions' },
      h('button', { type: 'button', 'aria-label': `Edit ${policy.name}`, onclick: () => showForm(policy) }, 'Edit'),
      h('button', {
        type: 'button', class: 'danger',
        onclick: async () => {
          try {
            if (!await confirmDanger(`Delete the SLA policy “${policy.name}”?`)) return;
            await del(`/sla-policies/${policy.id}`);
            toast('Policy deleted');
            await slaPolicies(section);
          } catch (error) {
            toast(error.message, 'error');
          }
        },
      }, 'Delete'))));
  mount(section, h('h1', {}, 'SLA policies'),
    h('p', { class: 'muted' }, 'When a conversation is handed to a person, the policy for its priority and team (the team’s own, else the one for every team) sets when the first reply and the resolution are due.'),
    dataTable(['Name', 'Priority', 'Team', 'First response', 'Resolution', 'Hours', ''], rows,
      { label: 'SLA policies', empty: 'No policies: escalations start no clock.' }),
    h('button', { type: 'button', class: 'primary', onclick: () => showForm(null) }, 'Add SLA policy'),
    formSlot);
}
