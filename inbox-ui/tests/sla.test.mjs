// The list's SLA countdown and the durations settings show, without a browser: the nearest
// pending target, a warning under 30 minutes, breached when past or marked.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { humanDuration } from '../app/dom.js';
import { slaCountdown, slaSummary } from '../app/sla.js';

const now = Date.parse('2026-11-23T12:00:00Z');
const at = (minutes) => new Date(now + minutes * 60000).toISOString();
const clock = (fields) => ({
  first_response: 'pending', first_response_due_at: at(60),
  resolution: 'pending', resolution_due_at: at(480), breached: false, ...fields,
});

test('durations read as people say them', () => {
  assert.equal(humanDuration(3600), '1 h');
  assert.equal(humanDuration(1800), '30 min');
  assert.equal(humanDuration(5400), '1 h 30 min');
  assert.equal(humanDuration(72 * 3600), '3 d');
  assert.equal(humanDuration(3), '3 s');
  assert.equal(humanDuration(7500, { seconds: false, parts: 2 }), '2 h 5 min');
  assert.equal(humanDuration(26 * 3600 + 300, { seconds: false, parts: 2 }), '1 d 2 h');
  assert.equal(humanDuration(20, { seconds: false }), '< 1 min');
});

test('the countdown shows the nearest pending target', () => {
  const escalated = { status: 'escalated', sla: clock({ first_response_due_at: at(125) }) };
  assert.deepEqual(
    [slaCountdown(escalated, now).state, slaCountdown(escalated, now).text], ['ok', '2 h 5 min']);
  // The first response was given: the resolution is what counts now.
  const answered = { status: 'assigned', sla: clock({ first_response: 'met', resolution_due_at: at(12) }) };
  assert.deepEqual(
    [slaCountdown(answered, now).state, slaCountdown(answered, now).text], ['warning', '12 min']);
  assert.match(slaCountdown(answered, now).title, /^Resolution due in 12 min/);
});

test('past or marked breached reads "SLA breached"; no clock or a closed conversation shows none', () => {
  const past = { status: 'escalated', sla: clock({ first_response_due_at: at(-1) }) };
  assert.deepEqual([slaCountdown(past, now).state, slaCountdown(past, now).text], ['breached', 'SLA breached']);
  const marked = { status: 'assigned', sla: clock({ first_response: 'breached', breached: true }) };
  assert.equal(slaCountdown(marked, now).text, 'SLA breached');
  assert.equal(slaCountdown({ status: 'bot', sla: null }, now), null);
  assert.equal(slaCountdown({ status: 'resolved', sla: clock({ breached: true }) }, now), null);
  assert.equal(slaCountdown({ status: 'escalated', sla: clock({ first_response: 'met', resolution: 'met' }) }, now), null);
});

test('the conversation pane reads the clock in words', () => {
  const text = slaSummary({ priority: 'high', ...clock({ first_response: 'met' }) });
  assert.match(text, /^SLA \(high\): first response met; resolution due /);
});
