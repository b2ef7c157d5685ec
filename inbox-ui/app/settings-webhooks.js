// Settings → Webhooks: the organization's outbound webhook subscriptions (docs/webhooks.md),
// the form that adds one (its signing secret shown this once), and each subscription's delivery
// log with a Replay button that queues a delivery again, signed afresh when it is sent.

import { del, get, post } from './api.js';
import { dataTable, fullTime, h, mount, toast } from './dom.js';

// The hub's event names (`WEBHOOK_EVENTS` in hub/store/src/webhooks.rs); an unknown one is
// refused with 422, so a stale list here shows as an error, never as a silent subscription.
const EVENTS = ['message.created', 'conversation.escalated', 'conversation.assigned',
  'conversation.resolved', 'conversation.reopened', 'csat.submitted'];

/** How often an open delivery log looks again while a delivery is on its way. */
const REFRESH_MS = 1500;

function guard(fn) {
  return async (event) => {
    event?.preventDefault();
    try {
      await fn(event);
    } catch (error) {
      toast(error.message, 'error');
    }
  };
}

/** The webhooks tab, drawn into `section`. */
export async function webhookSettings(section, { secret } = {}) {
  const subscriptions = await get('/webhooks');
  const log = h('div', { class: 'webhook-log' });
  const reload = (options) => webhookSettings(section, options);
  const url = h('input', { id: 'webhook-url', type: 'url', required: true, placeholder: 'https://example.com/hooks', size: '48' });
  const boxes = EVENTS.map((name) => h('label', { style: 'display:inline-flex;gap:4px;margin-right:8px' },
    h('input', { type: 'checkbox', value: name, checked: name === 'message.created' }), name));
  mount(section, h('h1', {}, 'Webhooks'),
    secret ? h('p', { class: 'secret-once' }, 'The signing secret, shown this once: ', h('code', {}, secret)) : null,
    dataTable(['URL', 'Events', 'Created', ''], subscriptions.map((subscription) => h('tr', {},
      h('td', {}, h('code', {}, subscription.url)),
      h('td', {}, subscription.events.join(', ')),
      h('td', {}, fullTime(subscription.created_at)),
      h('td', { class: 'row-actions' },
        h('button', {
          type: 'button', 'aria-label': `Deliveries to ${subscription.url}`,
          onclick: guard(() => deliveries(log, subscription)),
        }, 'Deliveries'),
        h('button', {
          type: 'button', class: 'danger', 'aria-label': `Delete webhook ${subscription.url}`,
          onclick: guard(async () => { await del(`/webhooks/${subscription.id}`); await reload(); }),
        }, 'Delete')))), { label: 'Webhook subscriptions', empty: 'No webhooks yet.' }),
    h('form', { 'aria-label': 'Add webhook', onsubmit: guard(async () => {
      const events = boxes.map((label) => label.querySelector('input')).filter((box) => box.checked).map((box) => box.value);
      const created = await post('/webhooks', { url: url.value, events });
      toast('Webhook added');
      await reload({ secret: created.secret });
    }) }, h('label', { for: url.id }, 'Endpoint URL'), h('br'), url, h('div', {}, boxes),
    h('button', { class: 'primary' }, 'Add webhook')),
    log);
}

/** The delivery log of one subscription, newest first, drawn into `log`; it looks again while
 * a delivery is pending or in flight, and stops once `log` leaves the page. */
async function deliveries(log, subscription) {
  const { deliveries: items } = await get(`/webhooks/${subscription.id}/deliveries?limit=50`);
  const waiting = items.some((item) => item.status === 'pending' || item.status === 'in_flight');
  const shortId = (id) => id.slice(-12);
  mount(log, h('h2', {}, `Deliveries to ${subscription.url}`),
    dataTable(['Event', 'Status', 'Attempts', 'Last answer', 'Updated', ''], items.map((item) => h('tr', {
      dataset: { delivery: item.id },
    },
    h('td', {}, item.event, item.replay_of ? h('div', { class: 'muted' }, `replay of …${shortId(item.replay_of)}`) : null),
    h('td', {}, item.status.replace('_', ' ')),
    h('td', {}, String(item.attempts)),
    h('td', {}, [item.last_status_code, item.last_error].filter((part) => part !== null && part !== undefined).join(' — ') || '—'),
    h('td', {}, fullTime(item.updated_at)),
    h('td', { class: 'row-actions' }, h('button', {
      type: 'button',
      'aria-label': `Replay delivery …${shortId(item.id)}`,
      title: 'Send this event again, signed now',
      disabled: item.status === 'pending' || item.status === 'in_flight',
      onclick: guard(async () => {
        await post(`/webhooks/${subscription.id}/deliveries/${item.id}/replay`, {});
        toast('Queued again');
        await deliveries(log, subscription);
      }),
    }, 'Replay')))), { label: 'Webhook deliveries', empty: 'Nothing sent yet.' }),
    h('button', { type: 'button', onclick: guard(() => deliveries(log, subscription)) }, 'Refresh'));
  if (waiting) {
    setTimeout(() => { if (log.isConnected) deliveries(log, subscription).catch(() => {}); }, REFRESH_MS);
  }
}
