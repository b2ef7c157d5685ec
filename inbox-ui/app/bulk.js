// Bulk selection in the conversation list: a checkbox per row, shift-click for a range, "Select
// all" for every conversation of the view (pages not fetched yet included), and the action bar
// (assign, label, resolve, snooze) that sends `POST /conversations/bulk`. The selection is a set
// of ids, not of rows: rows the virtual list draws again, or that move on a live update, keep
// their tick; a conversation that leaves the view leaves the selection.

import { post } from './api.js';
import { h, mount, toast } from './dom.js';
import { snoozeMenu } from './snooze.js';

/** The API takes at most this many ids per request. */
const MAX_PER_REQUEST = 200;

/**
 * @param {object} options
 * @param {() => Array<{id: string}>} options.items the view's conversations, in list order
 * @param {() => Promise<void>} options.loadAll fetches the view's remaining pages
 * @param {HTMLElement} options.rows the element holding the drawn rows
 * @param {(conversations: object[]) => void} options.onChanged the conversations an action changed
 * @param {object} options.directory users, for the assignee menu
 * @param {object} options.labels the label store, for suggestions
 * @param {(permission: string) => boolean} options.can
 */
export function createBulk({ items, loadAll, rows, onChanged, directory, labels, can }) {
  const selected = new Set();
  let anchor = null; // the last clicked id, one end of a shift-click range
  const canReply = can('conversations:reply');
  const canAssign = can('conversations:assign');
  const enabled = canReply || canAssign;

  // Ticks the drawn rows' boxes in place: drawing the rows again would take the focus away
  // from the box just ticked with the keyboard.
  function changed() {
    const all = items();
    const count = selected.size;
    selectAll.checked = count > 0 && all.every((conv) => selected.has(conv.id));
    selectAll.indeterminate = count > 0 && !selectAll.checked;
    countEl.textContent = `${count} selected`;
    bar.hidden = count === 0;
    for (const box of rows.querySelectorAll('input.pick')) box.checked = selected.has(box.dataset.id);
  }

  function setRange(fromId, toId, on) {
    const all = items();
    const from = all.findIndex((conv) => conv.id === fromId);
    const to = all.findIndex((conv) => conv.id === toId);
    if (from < 0 || to < 0) return false;
    for (let index = Math.min(from, to); index <= Math.max(from, to); index += 1) {
      if (on) selected.add(all[index].id);
      else selected.delete(all[index].id);
    }
    return true;
  }

  function pick(id, on, { range = false } = {}) {
    if (!(range && anchor && setRange(anchor, id, on))) {
      if (on) selected.add(id);
      else selected.delete(id);
    }
    anchor = id;
    changed();
  }

  /** The row's checkbox, named after the conversation's contact. */
  function checkbox(conv, who) {
    if (!enabled) return null;
    return h('input', {
      type: 'checkbox',
      class: 'pick',
      dataset: { id: conv.id },
      'aria-label': `Select conversation with ${who}`,
      checked: selected.has(conv.id),
      // The row opens the conversation on click; ticking a box must not.
      onclick: (event) => {
        event.stopPropagation();
        pick(conv.id, event.currentTarget.checked, { range: event.shiftKey });
      },
      onkeydown: (event) => {
        // Shift+Space selects a range from the keyboard too.
        if (event.key === ' ' && event.shiftKey) {
          event.preventDefault();
          event.stopPropagation();
          pick(conv.id, !selected.has(conv.id), { range: true });
        }
      },
    });
  }

  const selectAll = h('input', {
    type: 'checkbox',
    'aria-label': 'Select all',
    hidden: !enabled,
    onclick: async (event) => {
      const on = event.currentTarget.checked;
      if (!on) {
        clear();
        return;
      }
      selectAll.disabled = true;
      try {
        await loadAll();
        for (const conv of items()) selected.add(conv.id);
        anchor = null;
        changed();
      } catch (error) {
        toast(`Could not select every conversation: ${error.message}`, 'error');
      } finally {
        selectAll.disabled = false;
      }
    },
  });

  function clear() {
    selected.clear();
    anchor = null;
    changed();
  }

  /** After the view's list changed (a page, a live update): drops the ids that left it. */
  function prune() {
    if (!selected.size) return;
    const present = new Set(items().map((conv) => conv.id));
    for (const id of selected) if (!present.has(id)) selected.delete(id);
    if (anchor && !present.has(anchor)) anchor = null;
    changed();
  }

  /** Sends `action` for the selection, 200 ids a request; reports what failed. */
  async function run(body, done) {
    const ids = [...selected];
    if (!ids.length) return;
    setBusy(true);
    const failed = [];
    let count = 0;
    try {
      for (let start = 0; start < ids.length; start += MAX_PER_REQUEST) {
        const result = await post('/conversations/bulk', { ...body, ids: ids.slice(start, start + MAX_PER_REQUEST) });
        count += result.conversations.length;
        failed.push(...result.failed);
        onChanged(result.conversations);
      }
      clear();
      toast(`${done} ${count} conversation${count === 1 ? '' : 's'}`);
      if (failed.length) {
        toast(`${failed.length} could not be changed: ${[...new Set(failed.map((f) => f.error))].join('; ')}`, 'error');
      }
    } catch (error) {
      toast(`Bulk action failed: ${error.message}`, 'error');
    } finally {
      setBusy(false);
    }
  }

  // ----- the action bar
  const countEl = h('strong', { 'aria-live': 'polite' }, '');
  const assignMenu = canAssign ? h('select', {
    'aria-label': 'Assign selected',
    onchange: () => {
      const value = assignMenu.value;
      assignMenu.value = '';
      if (!value) return;
      const assignee = value === 'nobody' ? null : value;
      run({ action: 'assign', assignee_id: assignee }, assignee ? 'Assigned' : 'Unassigned');
    },
  }) : null;
  function fillAssignees() {
    if (!assignMenu) return;
    const users = [...directory.users.values()].filter((u) => u.active && u.role !== 'knowledge_editor');
    mount(assignMenu, h('option', { value: '' }, 'Assign…'), h('option', { value: 'nobody' }, 'Nobody'),
      users.map((u) => h('option', { value: u.id }, u.name || u.email)));
  }
  const labelInput = h('input', {
    type: 'text', 'aria-label': 'Label for selected', placeholder: 'label', size: '10', list: 'bulk-label-names',
    onkeydown: (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        label('add');
      }
    },
  });
  const labelNames = h('datalist', { id: 'bulk-label-names' });
  function label(how) {
    const name = labelInput.value.trim().toLowerCase();
    if (!name) {
      labelInput.focus();
      return;
    }
    labelInput.value = '';
    run({ action: 'label', [how]: [name] }, how === 'add' ? `Labelled ${name}:` : `Removed ${name} from`);
  }
  const buttons = [];
  function button(text, onclick, attrs = {}) {
    const el = h('button', { type: 'button', ...attrs, onclick }, text);
    buttons.push(el);
    return el;
  }
  function setBusy(busy) {
    for (const el of [...buttons, assignMenu, labelInput, snooze].filter(Boolean)) el.disabled = busy;
    bar.setAttribute('aria-busy', String(busy));
  }
  const snooze = canReply ? snoozeMenu({ label: 'Snooze selected', onChoose: (body) => run({ action: 'snooze', ...body }, 'Snoozed') }) : null;
  const bar = h('section', { class: 'bulkbar', 'aria-label': 'Bulk actions', hidden: true },
    countEl,
    assignMenu,
    canReply ? h('span', { class: 'bulk-label' }, labelInput, labelNames,
      button('Add label', () => label('add')), button('Remove label', () => label('remove'))) : null,
    canReply ? button('Resolve selected', () => run({ action: 'resolve' }, 'Resolved'), { class: 'primary' }) : null,
    snooze,
    button('Clear selection', clear));

  labels.onChange(() => mount(labelNames, labels.names().map((name) => h('option', { value: name }))));
  fillAssignees();

  return {
    enabled,
    bar,
    selectAll,
    checkbox,
    prune,
    clear,
    isSelected: (id) => selected.has(id),
    /** Ticks or unticks one conversation (the `x` shortcut on the open one). */
    toggle: (id) => { if (enabled) pick(id, !selected.has(id)); },
  };
}
