// Labels in the inbox: the organization's labels (names and colours), coloured chips for the
// list and the conversation header, and the editor that adds and removes a conversation's (in
// the header) or a contact's (in the contact panel).

import { get, put } from './api.js';
import { h, mount, toast } from './dom.js';

/** The organization's labels by name, loaded once and again after a change brings a new name. */
export function createLabelStore() {
  const byName = new Map();
  const listeners = new Set();
  async function load() {
    try {
      const labels = await get('/labels');
      byName.clear();
      for (const label of labels) byName.set(label.name, label);
      for (const listener of listeners) listener();
    } catch {
      // Without labels the chips fall back to a neutral colour.
    }
  }
  return {
    load,
    names: () => [...byName.keys()].sort(),
    color: (name) => byName.get(name)?.color || null,
    /** Loads the list again if a conversation carries a name not seen yet. */
    know(names = []) {
      if (names.some((name) => !byName.has(name))) load();
    },
    onChange(listener) { listeners.add(listener); },
  };
}

/** One label as a coloured chip. The colour is set through the CSSOM, never as markup. */
export function labelChip(name, labels, extra = null) {
  const chip = h('span', { class: 'label-chip', dataset: { label: name } }, h('span', { class: 'label-name' }, name), extra);
  const color = labels.color(name);
  if (color) chip.style.setProperty('--label-color', color);
  return chip;
}

/** The chips of a conversation's labels, for a list row. */
export function labelChips(conv, labels) {
  return (conv.labels || []).map((name) => labelChip(name, labels));
}

/**
 * A label editor: chips with a remove button each, and a text box (with the known names as
 * suggestions) that adds one on Enter. For a conversation (the header) by default; for a
 * contact (the contact panel) with `kind: 'contacts'` and its own `name` for the group.
 * `onChange(item)` gets the answer.
 */
export function labelEditor(conv, labels, { editable, onChange, kind = 'conversations', name = 'Labels' }) {
  const listId = `label-names-${conv.id}`;
  const set = async (names) => {
    try {
      const updated = await put(`/${kind}/${encodeURIComponent(conv.id)}/labels`, { labels: names });
      labels.know(updated.labels);
      onChange(updated);
    } catch (error) {
      toast(`Could not change the labels: ${error.message}`, 'error');
    }
  };
  const current = conv.labels || [];
  const chips = current.map((name) => labelChip(name, labels, editable ? h('button', {
    type: 'button', class: 'label-remove', 'aria-label': `Remove label ${name}`,
    onclick: () => set(current.filter((other) => other !== name)),
  }, '×') : null));
  if (!editable) return h('div', { class: 'labels', 'aria-label': name }, chips);
  const input = h('input', {
    type: 'text', class: 'label-input', 'aria-label': 'Add label', placeholder: '+ label', list: listId, size: '8',
    onkeydown: (event) => {
      if (event.key !== 'Enter') return;
      event.preventDefault();
      const name = input.value.trim().toLowerCase();
      if (!name || current.includes(name)) {
        input.value = '';
        return;
      }
      set([...current, name]);
    },
  });
  const suggestions = h('datalist', { id: listId }, labels.names().filter((name) => !current.includes(name))
    .map((name) => h('option', { value: name })));
  return h('div', { class: 'labels', role: 'group', 'aria-label': name }, chips, input, suggestions);
}

/** Fills a `<select>` with the label filter's options, keeping its value. */
export function fillLabelOptions(select, labels) {
  const value = select.value;
  mount(select, h('option', { value: '' }, 'Any'), labels.names().map((name) => h('option', { value: name }, name)));
  select.value = labels.names().includes(value) ? value : '';
}
