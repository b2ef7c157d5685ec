// The inbox: views and filters, the live conversation list, one conversation with its history
// and composer, and the contact panel.

import { ApiError, get, post, query } from './api.js';
import { attachmentList, attachmentPicker } from './attachments.js';
import { createBulk } from './bulk.js';
import {
  avatar, channelIcon, channelName, contactDisplayName, fullTime, h, mount, relativeTime, sentimentLabel, toast,
} from './dom.js';
import { createLabelStore, fillLabelOptions, labelChips, labelEditor } from './labels.js';
import { attachMentions } from './mentions.js';
import { duplicatesSection } from './merge.js';
import { slaCountdown, slaSummary } from './sla.js';
import { snoozeMenu } from './snooze.js';
import { VirtualList } from './virtual-list.js';

const PAGE = 100;
const ROW_HEIGHT = 76;
const OPEN = ['bot', 'escalated', 'assigned'];

const VIEWS = [
  { id: 'mine', label: 'Mine', params: (me) => (me ? { assignee: 'me', status: OPEN.join(',') } : null) },
  { id: 'unassigned', label: 'Unassigned', params: () => ({ assignee: 'none', status: OPEN.join(',') }) },
  { id: 'escalated', label: 'Escalated', params: () => ({ status: 'escalated' }) },
  { id: 'all', label: 'All', params: () => ({}) },
  // Out of the other views until their time passes or the customer writes.
  { id: 'snoozed', label: 'Snoozed', params: () => ({ snoozed: 'true' }) },
  // Shown only when the hub reports SLA counts.
  { id: 'sla_breached', label: 'SLA breached', params: () => ({ sla: 'breached' }), optional: true },
];

/** Fills a row's SLA cell; called on render and by the 30-second tick, which touches only
 * these cells so the list neither re-renders nor moves. */
function paintSla(cell, conv) {
  const countdown = slaCountdown(conv);
  cell.dataset.state = countdown?.state || 'none';
  cell.title = countdown?.title || '';
  const prefix = countdown && countdown.state !== 'breached' ? h('span', { class: 'visually-hidden' }, 'SLA due in ') : null;
  mount(cell, prefix, countdown?.text);
}

const STATUSES = ['bot', 'escalated', 'assigned', 'resolved', 'closed'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const STATUS_LABEL = {
  bot: 'With AI', escalated: 'Escalated', assigned: 'Assigned', resolved: 'Resolved', closed: 'Closed',
};

function newer(a, b) {
  // Newest activity first, ties by id, exactly as the server orders pages.
  if (a.updated_at !== b.updated_at) return a.updated_at > b.updated_at ? -1 : 1;
  return a.id > b.id ? -1 : 1;
}

export function createInbox({ me, can, directory, shortcuts }) {
  const myId = me.user?.id || null;
  const state = {
    view: myId ? 'mine' : 'all',
    filters: { status: '', channel: '', inbox_id: '', team_id: '', assignee: '', priority: '', sentiment_max: '', label: '' },
    items: [],
    cursor: null,
    exhausted: false,
    loading: false,
    generation: 0,
    selectedId: null,
    detail: null,
    counts: null,
    canned: [],
  };
  const contacts = new Map();
  const labels = createLabelStore();
  const pendingRefresh = new Set();
  let refreshTimer = null;
  let countsTimer = null;

  // ----- layout
  const countEls = new Map();
  const viewButtons = new Map();
  const viewsNav = h('nav', { class: 'views', 'aria-label': 'Views' }, h('h2', {}, 'Views'));
  for (const view of VIEWS) {
    const count = h('span', { class: 'count' }, '');
    countEls.set(view.id, count);
    const button = h('button', {
      type: 'button', 'aria-pressed': String(state.view === view.id), hidden: view.optional || (view.id === 'mine' && !myId),
      onclick: () => selectView(view.id),
    }, h('span', {}, view.label), count);
    viewButtons.set(view.id, button);
    viewsNav.append(button);
  }
  const filterBox = h('div', { class: 'filters' }, h('h2', {}, 'Filters'));
  viewsNav.append(filterBox);

  const listTitle = h('h1', { id: 'list-title' }, 'Conversations');
  const listStatus = h('span', { class: 'muted', 'aria-live': 'polite' }, '');
  const list = new VirtualList({
    label: 'Conversations',
    rowHeight: ROW_HEIGHT,
    key: (item) => item.id,
    renderRow,
    onNearEnd: () => loadMore(),
  });
  const bulk = createBulk({
    items: () => state.items,
    loadAll,
    rows: list.list,
    onChanged: (conversations) => conversations.forEach(changed),
    directory,
    labels,
    can,
  });
  const emptyNote = h('p', { class: 'empty', hidden: true }, 'No conversations here.');
  const listPane = h('section', { class: 'listpane', 'aria-labelledby': 'list-title' },
    h('div', {}, h('div', { class: 'listhead' }, h('span', { class: 'listtitle' }, bulk.selectAll, listTitle), listStatus), bulk.bar),
    h('div', { style: 'display:grid;min-height:0' }, emptyNote, list.viewport));
  list.viewport.style.gridArea = '1 / 1';
  emptyNote.style.gridArea = '1 / 1';

  const convPane = h('section', { class: 'conversation', 'aria-label': 'Conversation' },
    h('div', { class: 'placeholder' }, 'Choose a conversation.'));
  const contactPane = h('aside', { class: 'contactpane', 'aria-label': 'Contact' });
  const root = h('div', { class: 'inbox' }, viewsNav, listPane, convPane, contactPane);

  // ----- filters
  function select(label, key, options) {
    const el = h('select', { onchange: () => { state.filters[key] = el.value; reload(); } },
      h('option', { value: '' }, 'Any'),
      options.map(([value, text]) => h('option', { value }, text)));
    return h('label', {}, label, el);
  }
  function buildFilters() {
    const users = [...directory.users.values()].filter((u) => u.active);
    // The channels the organization has inboxes on: no list of channels lives in the UI.
    const channels = [...new Set([...directory.inboxes.values()].map((i) => i.channel))].sort();
    mount(filterBox, h('h2', {}, 'Filters'),
      select('Status', 'status', STATUSES.map((s) => [s, STATUS_LABEL[s]])),
      select('Channel', 'channel', channels.map((c) => [c, channelName(c)])),
      select('Inbox', 'inbox_id', [...directory.inboxes.values()].map((i) => [i.id, i.name])),
      directory.teams.size ? select('Team', 'team_id', [...directory.teams.values()].map((t) => [t.id, t.name])) : null,
      select('Assignee', 'assignee', [['me', 'Me'], ['none', 'Nobody'], ...users.map((u) => [u.id, u.name || u.email])]),
      select('Priority', 'priority', PRIORITIES.map((p) => [p, p[0].toUpperCase() + p.slice(1)])),
      select('Sentiment', 'sentiment_max', [['35', 'Negative'], ['64', 'Neutral or worse']]),
      labelFilter);
    fillLabelOptions(labelSelect, labels);
  }
  const labelSelect = h('select', { onchange: () => { state.filters.label = labelSelect.value; reload(); } });
  const labelFilter = h('label', {}, 'Label', labelSelect);
  labels.onChange(() => {
    fillLabelOptions(labelSelect, labels);
    list.refresh();
    if (state.detail) renderHeader();
  });

  function listParams() {
    const view = VIEWS.find((v) => v.id === state.view);
    const params = { ...(view.params(myId) || {}) };
    for (const [key, value] of Object.entries(state.filters)) if (value) params[key] = value;
    return params;
  }

  function matches(conv) {
    const p = listParams();
    if (Boolean(conv.snooze) !== (p.snoozed === 'true')) return false;
    if (p.status && !p.status.split(',').includes(conv.status)) return false;
    if (p.channel && conv.channel !== p.channel) return false;
    if (p.inbox_id && conv.inbox_id !== p.inbox_id) return false;
    if (p.team_id && conv.team_id !== p.team_id) return false;
    if (p.priority && conv.priority !== p.priority) return false;
    if (p.assignee === 'me' && conv.assignee_id !== myId) return false;
    if (p.assignee === 'none' && conv.assignee_id) return false;
    if (p.assignee && !['me', 'none'].includes(p.assignee) && conv.assignee_id !== p.assignee) return false;
    if (p.sentiment_max && !(conv.sentiment !== null && conv.sentiment <= Number(p.sentiment_max))) return false;
    if (p.label && !(conv.labels || []).includes(p.label)) return false;
    if (p.sla === 'breached') return Boolean(conv.sla?.breached);
    if (p.sla) return false; // Due soon changes with the clock; the next reload decides.
    return true;
  }

  // ----- list loading
  async function reload() {
    bulk.clear();
    state.generation += 1;
    state.items = [];
    state.cursor = null;
    state.exhausted = false;
    state.loading = false;
    list.setItems([]);
    await loadMore();
    refreshCounts();
  }

  async function loadMore() {
    if (state.loading || state.exhausted) return;
    state.loading = true;
    const generation = state.generation;
    listStatus.textContent = 'Loading…';
    try {
      const page = await get(`/conversations${query({ ...listParams(), limit: PAGE, cursor: state.cursor })}`);
      if (generation !== state.generation) return;
      const known = new Set(state.items.map((c) => c.id));
      state.items.push(...page.conversations.filter((c) => !known.has(c.id)));
      state.cursor = page.next_cursor || null;
      state.exhausted = !page.next_cursor;
      showItems();
    } catch (error) {
      if (generation === state.generation) toast(`Could not load conversations: ${error.message}`, 'error');
      state.exhausted = true;
    } finally {
      if (generation === state.generation) {
        state.loading = false;
        listStatus.textContent = state.exhausted ? '' : '…';
      }
    }
  }

  function showItems() {
    emptyNote.hidden = state.items.length > 0 || !state.exhausted;
    list.setItems(state.items);
    bulk.prune();
  }

  /** Every page of the view, for "Select all". */
  async function loadAll() {
    const generation = state.generation;
    while (!state.exhausted && generation === state.generation) {
      if (state.loading) await new Promise((resolve) => { setTimeout(resolve, 50); });
      else await loadMore();
    }
  }

  async function refreshCounts() {
    clearTimeout(countsTimer);
    countsTimer = null;
    const { status, assignee, ...rest } = state.filters;
    try {
      const counts = await get(`/conversations/counts${query(rest)}`);
      state.counts = counts;
      for (const view of VIEWS) {
        const value = counts[view.id];
        if (view.optional) viewButtons.get(view.id).hidden = value === undefined;
        countEls.get(view.id).textContent = value === undefined ? '' : String(value);
      }
    } catch {
      // Counts are a convenience; the list still works.
    }
  }

  function scheduleCounts() {
    if (!countsTimer) countsTimer = setTimeout(refreshCounts, 400);
  }

  // After (re)connecting to the event stream: merge the first page into what is shown, without
  // clearing it, to catch what happened while no events arrived.
  async function softReload() {
    const generation = state.generation;
    try {
      const page = await get(`/conversations${query({ ...listParams(), limit: PAGE })}`);
      if (generation !== state.generation) return;
      for (const conv of page.conversations) upsert(conv);
    } catch {
      // The next event or reload corrects the list.
    }
    refreshCounts();
  }

  function selectView(id) {
    state.view = id;
    for (const [viewId, button] of viewButtons) button.setAttribute('aria-pressed', String(viewId === id));
    reload();
  }

  // ----- rows
  function contactOf(id) {
    const cached = contacts.get(id);
    if (cached && !(cached instanceof Promise)) return cached;
    if (!cached) {
      const loading = get(`/contacts/${encodeURIComponent(id)}`)
        .then((contact) => { contacts.set(id, contact); list.refresh(); })
        .catch(() => contacts.set(id, { id, name: null, identities: [] }));
      contacts.set(id, loading);
    }
    return null;
  }

  function contactName(contact, fallback = 'Customer') {
    return contactDisplayName(contact, fallback);
  }

  /** Who a list item is from: the API's name for its contact, else the contact fetched. */
  function rowName(conv) {
    return conv.contact_display_name || contactName(contactOf(conv.contact_id));
  }

  function renderRow(conv, row) {
    const who = rowName(conv);
    const sentiment = sentimentLabel(conv.sentiment);
    const assignee = conv.assignee_id ? directory.userName(conv.assignee_id) : null;
    row.className = bulk.enabled ? 'row selectable' : 'row';
    row.setAttribute('aria-current', String(conv.id === state.selectedId));
    row.dataset.id = conv.id;
    row.onclick = () => openConversation(conv.id);
    mount(row,
      bulk.checkbox(conv, who),
      channelIcon(conv.channel),
      h('span', { class: 'who' }, avatar(who, conv.contact_avatar_colour, { small: true }), who),
      h('time', { class: 'when', datetime: conv.updated_at, title: fullTime(conv.updated_at) }, relativeTime(conv.last_message_at || conv.updated_at)),
      h('span', { class: 'last' }, conv.last_message_preview || conv.subject || ''),
      h('span', { class: 'tags' },
        h('span', { class: 'pill', dataset: { status: conv.status } }, STATUS_LABEL[conv.status] || conv.status),
        conv.priority !== 'normal' ? h('span', { class: 'pill', dataset: { priority: conv.priority } }, conv.priority) : null,
        sentiment ? h('span', { class: 'pill', dataset: { sentiment }, title: `Sentiment ${conv.sentiment}/100` }, sentiment) : null,
        assignee ? h('span', { class: 'pill' }, assignee) : null,
        labelChips(conv, labels)),
      slaCell(conv));
  }

  const slaCells = new WeakMap(); // cell -> conversation, for the tick
  function slaCell(conv) {
    const cell = h('span', { class: 'sla' });
    slaCells.set(cell, conv);
    paintSla(cell, conv);
    return cell;
  }

  function tickSla() {
    for (const cell of list.list.querySelectorAll('.sla')) {
      const conv = slaCells.get(cell);
      if (conv) paintSla(cell, conv);
    }
  }

  // ----- live updates
  function upsert(update) {
    labels.know(update.labels);
    const index = state.items.findIndex((c) => c.id === update.id);
    // Action answers and the detail carry the conversation without its list-only SLA clock.
    const conv = 'sla' in update || index < 0 ? update : { ...update, sla: state.items[index].sla };
    if (index >= 0) state.items.splice(index, 1);
    if (matches(conv)) {
      const last = state.items[state.items.length - 1];
      // Older than everything loaded while more pages exist: pagination will bring it.
      if (index >= 0 || !(last && !state.exhausted && newer(conv, last) > 0)) {
        let at = state.items.findIndex((c) => newer(conv, c) < 0);
        if (at < 0) at = state.items.length;
        state.items.splice(at, 0, conv);
      }
    }
    showItems();
    list.refresh();
  }

  function queueRefresh(id) {
    pendingRefresh.add(id);
    if (!refreshTimer) {
      refreshTimer = setTimeout(async () => {
        refreshTimer = null;
        const ids = [...pendingRefresh];
        pendingRefresh.clear();
        await Promise.all(ids.map(async (conversationId) => {
          const ticket = conversationId === state.selectedId ? ++detailTicket : null;
          try {
            const detail = await get(`/conversations/${encodeURIComponent(conversationId)}`);
            upsert({ ...detail.conversation, sla: detail.sla });
            if (conversationId === state.selectedId && ticket === detailTicket) {
              const shown = state.detail?.contact;
              if (ticket <= contactEditTicket && shown && detail.contact?.id === shown.id) detail.contact = shown;
              renderDetail(detail, { keepDrafts: true });
            }
          } catch (error) {
            if (error instanceof ApiError && error.status === 404) {
              state.items = state.items.filter((c) => c.id !== conversationId);
              showItems();
            }
          }
        }));
      }, 120);
    }
    scheduleCounts();
  }

  function onEvent(event) {
    const id = event.conversation_id || event.message?.conversation_id;
    if (!id) return;
    if (event.type === 'message_created' && id === state.selectedId && state.detail) {
      if (!state.detail.messages.some((m) => m.id === event.message.id)) {
        state.detail.messages.push(event.message);
        appendMessage(event.message);
      }
    }
    if (event.type === 'delivery_changed') {
      if (id === state.selectedId && state.detail) {
        const message = state.detail.messages.find((m) => m.id === event.message_id);
        if (message) {
          message.delivery_status = event.status;
          updateDelivery(message);
        }
        // A detail already on its way may predate this change (or the message), and the failure
        // reason is on the message: fetch the conversation again.
        queueRefresh(id);
      }
      return;
    }
    queueRefresh(id);
  }

  // ----- one conversation
  let historyList = null;
  let historyBox = null;
  let replyBox = null;
  let replyFiles = null; // the files chosen for the reply: kept, like the drafts, across refreshes
  let noteBox = null;
  let composer = null; // the reply and note form, kept across live refreshes of one conversation
  // The newest request for the open conversation's detail: answers can come back out of order,
  // and an older one rendered last would drop what arrived since (a note just added).
  let detailTicket = 0;
  // Detail fetches with a ticket up to this began before the contact shown was last changed here
  // (a label added, a merge): what they say of the contact may be older than what is shown.
  let contactEditTicket = 0;

  async function openConversation(id, { focus = false } = {}) {
    state.selectedId = id;
    list.refresh();
    const index = state.items.findIndex((c) => c.id === id);
    if (index >= 0) list.scrollToIndex(index);
    if (location.hash !== `#/inbox/${id}`) history.replaceState(null, '', `#/inbox/${id}`);
    convPane.setAttribute('aria-busy', 'true');
    const ticket = ++detailTicket;
    try {
      const detail = await get(`/conversations/${encodeURIComponent(id)}`);
      if (state.selectedId !== id || ticket !== detailTicket) return;
      renderDetail(detail, { keepDrafts: false });
      if (focus) replyBox?.focus();
    } catch (error) {
      mount(convPane, h('div', { class: 'placeholder' }, `Could not open the conversation: ${error.message}`));
    }
  }

  function authorLabel(message) {
    if (message.role === 'customer') return contactName(state.detail?.contact);
    if (message.role === 'ai') return 'AI assistant';
    if (message.role === 'system') return 'System';
    return message.author_id ? directory.userName(message.author_id) : 'API';
  }

  const DELIVERY_LABEL = {
    pending: 'Sending…', sent: 'Sent', delivered: 'Delivered', read: 'Read', failed: 'Failed',
  };

  function deliveryLine(message) {
    const ours = (message.role === 'agent' || message.role === 'ai') && !message.private;
    if (!ours || !DELIVERY_LABEL[message.delivery_status]) return null;
    const text = message.delivery_status === 'failed' && message.delivery_error
      ? `Failed: ${message.delivery_error}` : DELIVERY_LABEL[message.delivery_status];
    return h('div', { class: 'delivery', dataset: { status: message.delivery_status, delivery: message.id } }, text);
  }

  function messageItem(message) {
    const sentiment = message.role === 'customer' && message.sentiment !== undefined && message.sentiment !== null
      ? h('span', { title: 'Sentiment' }, `${sentimentLabel(message.sentiment)} (${message.sentiment})`) : null;
    return h('li', {
      class: 'msg', dataset: { role: message.role, private: String(!!message.private), id: message.id },
      'aria-label': message.private ? 'Private note' : undefined,
    },
    message.role === 'system' ? null : h('div', { class: 'meta' },
      h('strong', {}, message.private ? `Note · ${authorLabel(message)}` : authorLabel(message)),
      h('time', { datetime: message.created_at, title: fullTime(message.created_at) }, new Date(message.created_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
      sentiment),
    h('div', { class: 'text' }, message.text),
    attachmentList(message.attachments),
    message.role === 'ai' ? h('div', { class: 'sources' },
      message.confidence !== null && message.confidence !== undefined ? `Confidence ${Math.round(message.confidence * 100)}%` : 'Confidence n/a',
      message.sources?.length ? [' · Sources: ', message.sources.map((s, i) => [i ? ', ' : '', s.title])] : ' · No sources') : null,
    deliveryLine(message));
  }

  function nearBottom() {
    return !historyBox || historyBox.scrollHeight - historyBox.scrollTop - historyBox.clientHeight < 80;
  }

  function appendMessage(message) {
    if (!historyList) return;
    const stick = nearBottom();
    historyList.append(messageItem(message));
    if (stick) historyBox.scrollTop = historyBox.scrollHeight;
  }

  function updateDelivery(message) {
    const item = historyList?.querySelector(`li[data-id="${CSS.escape(message.id)}"]`);
    if (!item) return;
    const old = item.querySelector('.delivery');
    const line = deliveryLine(message);
    if (old && line) old.replaceWith(line);
    else if (line) item.append(line);
  }

  function action(label, handler, attrs = {}) {
    return h('button', {
      type: 'button', ...attrs,
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          await handler();
        } catch (error) {
          toast(error.message, 'error');
        } finally {
          button.disabled = false;
        }
      },
    }, label);
  }

  async function act(path, body) {
    const id = state.selectedId;
    const conversation = await post(`/conversations/${encodeURIComponent(id)}/${path}`, body);
    upsert(conversation);
    if (state.detail && state.detail.conversation.id === id) {
      state.detail.conversation = conversation;
      renderHeader();
    }
    scheduleCounts();
    return conversation;
  }

  const headerSlot = h('div', { class: 'convhead' });

  function renderHeader() {
    const { conversation: conv, contact } = state.detail;
    const open = OPEN.includes(conv.status);
    const mineNow = conv.assignee_id && conv.assignee_id === myId;
    const canAssign = can('conversations:assign');
    const canReply = can('conversations:reply');
    const priority = canAssign ? h('select', {
      'aria-label': 'Priority',
      onchange: (e) => act('priority', { priority: e.target.value }).catch((err) => toast(err.message, 'error')),
    }, PRIORITIES.map((p) => h('option', { value: p, selected: p === conv.priority }, `Priority: ${p}`)))
      : h('span', { class: 'pill', dataset: { priority: conv.priority } }, conv.priority);
    const assign = canAssign ? h('select', {
      'aria-label': 'Assignee',
      onchange: (e) => act('assign', { assignee_id: e.target.value || null, team_id: conv.team_id }).catch((err) => toast(err.message, 'error')),
    }, h('option', { value: '' }, 'Unassigned'),
    [...directory.users.values()].filter((u) => u.active && u.role !== 'knowledge_editor')
      .map((u) => h('option', { value: u.id, selected: u.id === conv.assignee_id }, u.name || u.email)))
      : h('span', { class: 'muted' }, conv.assignee_id ? directory.userName(conv.assignee_id) : 'Unassigned');
    keepingTyped(headerSlot, () => mount(headerSlot,
      channelIcon(conv.channel),
      h('h2', {}, avatar(contactName(contact), contact?.avatar_colour), contactName(contact),
        conv.subject ? h('span', { class: 'muted' }, ` · ${conv.subject}`) : null),
      h('span', { class: 'pill', dataset: { status: conv.status }, 'aria-label': `Status: ${STATUS_LABEL[conv.status]}` }, STATUS_LABEL[conv.status]),
      priority, assign,
      canReply && open && !mineNow ? action('Take over', () => act('takeover')) : null,
      canReply && open && conv.status !== 'bot' ? action('Hand back to AI', () => act('handback')) : null,
      canReply && open ? action('Resolve', () => act('resolve'), { class: 'primary' }) : null,
      canReply && !open ? action('Reopen', () => act('reopen')) : null,
      canReply ? snoozeControl(conv) : null,
      labelEditor(conv, labels, { editable: canReply, onChange: changed })));
  }

  // Redraws `container` with `draw`, and puts back what an agent was typing in its text fields
  // (found again by their labels): a live refresh must not eat a label being typed.
  function keepingTyped(container, draw) {
    const typed = [...container.querySelectorAll('input[type="text"][aria-label]')]
      .filter((field) => field.value || field === document.activeElement)
      .map((field) => ({
        label: field.getAttribute('aria-label'),
        value: field.value,
        focused: field === document.activeElement,
        start: field.selectionStart,
        end: field.selectionEnd,
      }));
    draw();
    for (const was of typed) {
      const field = container.querySelector(`input[type="text"][aria-label="${CSS.escape(was.label)}"]`);
      if (!field || field.value) continue;
      field.value = was.value;
      if (was.focused) {
        field.focus();
        field.setSelectionRange(was.start, was.end);
      }
    }
  }

  /** Snoozed: when it comes back, and a button to bring it back now. Otherwise a menu. */
  function snoozeControl(conv) {
    if (conv.snooze) {
      const until = conv.snooze.until ? `Snoozed until ${fullTime(conv.snooze.until)}` : 'Snoozed until the customer replies';
      return [h('span', { class: 'pill', dataset: { snoozed: 'true' } }, until), action('Unsnooze', () => act('unsnooze'))];
    }
    return snoozeMenu({ label: 'Snooze', onChoose: (body) => act('snooze', body).catch((error) => toast(error.message, 'error')) });
  }

  // A conversation an action changed (its answer), into the list and the open header.
  function changed(conversation) {
    upsert(conversation);
    if (state.detail && state.detail.conversation.id === conversation.id) {
      state.detail.conversation = conversation;
      renderHeader();
    }
    scheduleCounts();
  }

  function renderHandoff(detail) {
    const handoff = detail.handoff;
    if (!handoff) return null;
    const suggestion = handoff.suggested_reply;
    return h('section', { class: 'handoff', 'aria-label': 'Handoff' },
      h('strong', {}, 'Handed off'), handoff.reason ? ` · ${handoff.reason}` : '',
      handoff.summary ? h('div', { class: 'text' }, Array.isArray(handoff.summary) ? handoff.summary.join('\n') : handoff.summary) : null,
      handoff.intent ? h('div', { class: 'muted' }, `Intent: ${handoff.intent}`) : null,
      suggestion ? h('div', {}, h('div', { class: 'muted' }, 'Suggested reply:'), h('div', { class: 'text' }, suggestion),
        h('button', { type: 'button', onclick: () => { replyBox.value = suggestion; replyBox.focus(); } }, 'Use suggested reply')) : null);
  }

  function renderDetail(detail, { keepDrafts: keep }) {
    // Drafts belong to their conversation: a refresh that lands first on a newly opened one keeps none.
    const keepDrafts = keep && state.detail?.conversation.id === detail.conversation.id;
    const reply = keepDrafts ? replyBox?.value : '';
    const note = keepDrafts ? noteBox?.value : '';
    const wasAtBottom = nearBottom();
    const scroll = historyBox?.scrollTop;
    const previousHistory = historyBox;
    state.detail = detail;
    convPane.setAttribute('aria-busy', 'false');
    renderHeader();
    historyList = h('ol', { 'aria-label': 'Messages' }, detail.messages.map(messageItem));
    historyBox = h('div', { class: 'history', tabindex: '0', 'aria-label': 'History' },
      renderHandoff(detail),
      detail.sla ? h('p', { class: detail.sla.breached ? 'error-text' : 'muted' }, slaSummary(detail.sla)) : null,
      historyList);
    // A live refresh of the conversation open redraws its history and leaves the composer as it
    // is: the agent typing there keeps the focus, the caret and the text.
    if (keepDrafts && composer?.isConnected && previousHistory?.isConnected) {
      previousHistory.replaceWith(historyBox);
      if (!wasAtBottom && scroll !== undefined) historyBox.scrollTop = scroll;
      else historyBox.scrollTop = historyBox.scrollHeight;
      // The contact panel too is left alone while its contact is unchanged: an agent may be
      // typing a label there. Only its list of conversations is fetched again.
      if (shownContact && shownContact.key === JSON.stringify(detail.contact ?? null)) loadContactHistory(detail);
      else renderContact(detail);
      return;
    }
    const canReply = can('conversations:reply');
    replyBox = h('textarea', { id: 'reply', rows: '3', placeholder: 'Write a reply to the customer…', value: reply || '' });
    noteBox = h('textarea', { id: 'note', rows: '1', placeholder: 'Only agents see notes · @ mentions', value: note || '' });
    const noteMentions = attachMentions(noteBox, { users: directory.users, myId });
    const files = keepDrafts && replyFiles ? replyFiles : attachmentPicker(detail.conversation.id);
    replyFiles = files;
    const sendReply = async () => {
      const text = replyBox.value.trim();
      if (!text && !files.count) return;
      const attachments = files.count ? await files.uploadAll() : undefined;
      const message = await post(`/conversations/${encodeURIComponent(detail.conversation.id)}/messages`, { text, private: false, attachments });
      replyBox.value = '';
      files.clear();
      addOwnMessage(message);
    };
    const sendNote = async () => {
      const text = noteBox.value.trim();
      if (!text) return;
      const message = await post(`/conversations/${encodeURIComponent(detail.conversation.id)}/messages`, { text, private: true, mentions: noteMentions.mentions() });
      noteBox.value = '';
      noteMentions.reset();
      addOwnMessage(message);
    };
    const ctrlEnter = (send) => (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        send().catch((error) => toast(error.message, 'error'));
      }
    };
    replyBox.addEventListener('keydown', ctrlEnter(sendReply));
    noteBox.addEventListener('keydown', ctrlEnter(sendNote));
    const canned = state.canned.length ? h('select', {
      'aria-label': 'Insert canned response',
      onchange: (event) => {
        const item = state.canned.find((c) => c.id === event.target.value);
        if (item) {
          replyBox.value = replyBox.value ? `${replyBox.value}\n${item.text}` : item.text;
          replyBox.focus();
        }
        event.target.value = '';
      },
    }, h('option', { value: '' }, 'Canned responses…'), state.canned.map((c) => h('option', { value: c.id }, `/${c.shortcut} — ${c.title}`))) : null;
    composer = canReply ? h('form', { class: 'composer', onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'row2' },
        h('label', { for: 'reply', class: 'visually-hidden' }, 'Reply'), replyBox,
        files.button, action('Send', sendReply, { class: 'primary' })),
      files.chips,
      h('div', { class: 'row2' },
        h('label', { for: 'note', class: 'visually-hidden' }, 'Private note'), noteBox,
        action('Add note', sendNote)),
      h('div', { class: 'tools muted' }, canned, h('span', {}, 'Ctrl+Enter sends · ? shortcuts'))) : h('div');
    mount(convPane, headerSlot, historyBox, composer);
    if (keepDrafts && !wasAtBottom && scroll !== undefined) historyBox.scrollTop = scroll;
    else historyBox.scrollTop = historyBox.scrollHeight;
    renderContact(detail);
  }

  function addOwnMessage(message) {
    if (!state.detail || state.detail.conversation.id !== message.conversation_id) return;
    if (state.detail.messages.some((m) => m.id === message.id)) return;
    state.detail.messages.push(message);
    appendMessage(message);
    historyBox.scrollTop = historyBox.scrollHeight;
  }

  // What the contact panel shows: the contact it was drawn from, and its list of conversations.
  let shownContact = null;

  function renderContact(detail) {
    const contact = detail.contact;
    // A label being typed for this contact survives a redraw of its panel, whatever redraws it
    // (a live refresh, a second load of the conversation as the page opens).
    const typing = contact && shownContact?.id === contact.id
      ? contactPane.querySelector('input[aria-label="Add label"]') : null;
    const draft = typing?.value;
    const wasFocused = typing !== null && document.activeElement === typing;
    if (!contact) {
      shownContact = { key: 'null', past: null };
      mount(contactPane, h('p', { class: 'muted' }, 'No contact.'));
      return;
    }
    contacts.set(contact.id, contact);
    const past = h('ul', { 'aria-label': 'Contact history' }, h('li', { class: 'muted' }, 'Loading…'));
    // A change to the contact shown (a merge, its labels), into whatever detail is open now:
    // a live refresh may have replaced the one this panel was drawn from.
    const contactChanged = (updated) => {
      const open = state.detail;
      if (!open || open.contact?.id !== updated.id) return;
      contactEditTicket = detailTicket;
      open.contact = updated;
      contacts.set(updated.id, updated);
      renderHeader();
      renderContact(open);
    };
    // After a merge: the survivor, with both identities and both histories.
    const merged = (survivor, mergedId) => {
      contacts.delete(mergedId);
      list.refresh();
      contactChanged(survivor);
    };
    mount(contactPane,
      h('h2', {}, avatar(contactName(contact), contact.avatar_colour), contactName(contact)),
      contact.email ? h('div', {}, contact.email) : null,
      contact.phone ? h('div', {}, contact.phone) : null,
      labelEditor(contact, labels, {
        editable: can('contacts:write'),
        kind: 'contacts',
        name: 'Contact labels',
        onChange: contactChanged,
      }),
      h('h3', {}, 'On every channel'),
      h('ul', { 'aria-label': 'Identities' }, contact.identities.map((identity) =>
        h('li', {}, channelIcon(identity.channel), h('span', { title: identity.external_id },
          identity.external_id.startsWith('visitor:') ? 'Anonymous visitor' : identity.external_id)))),
      duplicatesSection({ contact, nameOf: (c) => contactName(c), canMerge: can('contacts:write'), onMerged: merged }),
      h('h3', {}, 'Conversations'), past);
    shownContact = { key: JSON.stringify(contact), id: contact.id, past };
    const input = draft ? contactPane.querySelector('input[aria-label="Add label"]') : null;
    if (input) {
      input.value = draft;
      if (wasFocused) input.focus();
    }
    loadContactHistory(detail);
  }

  async function loadContactHistory(detail) {
    const past = shownContact?.past;
    const contact = detail.contact;
    if (!past || !contact) return;
    try {
      const page = await get(`/conversations${query({ contact_id: contact.id, snoozed: 'any', limit: 20 })}`);
      if (shownContact?.past !== past) return;
      mount(past, page.conversations.map((conv) => h('li', {},
        channelIcon(conv.channel),
        h('a', { href: `#/inbox/${conv.id}`, 'aria-current': conv.id === detail.conversation.id ? 'true' : undefined },
          `${STATUS_LABEL[conv.status]} · ${relativeTime(conv.updated_at)} · ${conv.last_message_preview || ''}`))));
    } catch {
      mount(past, h('li', { class: 'muted' }, 'Unavailable.'));
    }
  }

  // ----- keyboard
  function move(step) {
    if (!state.items.length) return;
    const index = state.items.findIndex((c) => c.id === state.selectedId);
    const next = Math.min(state.items.length - 1, Math.max(0, index < 0 ? 0 : index + step));
    openConversation(state.items[next].id);
  }

  shortcuts.set({
    j: () => move(1),
    k: () => move(-1),
    x: () => { if (state.selectedId) bulk.toggle(state.selectedId); },
    r: () => replyBox?.focus(),
    n: () => noteBox?.focus(),
    e: () => {
      const conv = state.detail?.conversation;
      if (conv && OPEN.includes(conv.status) && can('conversations:reply')) {
        act('resolve').then(() => toast('Resolved')).catch((error) => toast(error.message, 'error'));
      }
    },
  });

  // Relative times age: redraw rows once a minute. SLA countdowns tick every 30 s, in place.
  const clock = setInterval(() => list.refresh(), 60000);
  const slaClock = setInterval(tickSla, 30000);

  async function start(openId) {
    buildFilters();
    labels.load();
    get('/canned-responses').then((items) => { state.canned = items; }).catch(() => {});
    await reload();
    if (openId) openConversation(openId);
  }

  return {
    element: root,
    start,
    open: (id) => { if (id && id !== state.selectedId) openConversation(id); },
    onEvent,
    onReady: () => {
      softReload();
      if (state.selectedId) queueRefresh(state.selectedId);
    },
    stop: () => {
      clearInterval(clock);
      clearInterval(slaClock);
      shortcuts.set({});
    },
  };
}
