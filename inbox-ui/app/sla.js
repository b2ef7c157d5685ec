// The SLA countdown of a list row, worked out from the clock the list carries (`sla` on each
// item, as `GET /conversations/{id}` gives it). Pure, so that it is tested without a browser.

import { fullTime, humanDuration } from './dom.js';

/** Under this, a countdown shows as a warning. */
export const SLA_WARNING_SECONDS = 30 * 60;

/** The SLA target to show on a list row: the nearest pending due time of an escalated or
 * assigned conversation (`state` ok or warning), or `breached` once a target was missed or its
 * due time passed before the hub's timer marked it. Null when there is no clock to show. */
export function slaCountdown(conv, now = Date.now()) {
  const sla = conv.sla;
  if (!sla || !['escalated', 'assigned'].includes(conv.status)) return null;
  if (sla.breached) return { state: 'breached', text: 'SLA breached', title: 'An SLA target was missed' };
  const pending = [
    ['First response', sla.first_response, sla.first_response_due_at],
    ['Resolution', sla.resolution, sla.resolution_due_at],
  ].filter(([, status]) => status === 'pending').map(([target, , due]) => ({ target, due: Date.parse(due) }));
  if (!pending.length) return null;
  const next = pending.reduce((a, b) => (b.due < a.due ? b : a));
  const dueAt = fullTime(new Date(next.due).toISOString());
  const left = (next.due - now) / 1000;
  if (left <= 0) return { state: 'breached', text: 'SLA breached', title: `${next.target} was due ${dueAt}` };
  const text = humanDuration(left, { seconds: false, parts: 2 });
  return { state: left < SLA_WARNING_SECONDS ? 'warning' : 'ok', text, title: `${next.target} due in ${text} (${dueAt})` };
}

/** The conversation pane's SLA line: each target's state and due time, in words. */
export function slaSummary(sla) {
  const target = (label, status, due) => `${label} ${status === 'pending' ? `due ${fullTime(due)}` : status}`;
  return `SLA (${sla.priority}): ${target('first response', sla.first_response, sla.first_response_due_at)}; `
    + `${target('resolution', sla.resolution, sla.resolution_due_at)}`;
}
