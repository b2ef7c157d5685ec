// The SLA countdown on the conversation list: an escalated conversation shows the time left to
// its nearest target, one whose target passed shows "SLA breached" (the hub's SLA timer marks
// it and the list follows), both inside their fixed-height row.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { allConversations, api, customerWrites, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('escalated conversations count down to their SLA target in the list; a breached one says so', async () => {
  const admin = await login();
  const low = (await api('/sla-policies', { token: admin })).find((p) => p.priority === 'low' && p.team_id === null);
  // A word no other test writes: messages with it escalate at low priority, whose first
  // response is due (for this test only) two seconds later.
  const keyword = `overdue${Date.now().toString(36)}`;
  const rule = await api('/escalation-rules', {
    token: admin, method: 'POST',
    body: { name: unique('Overdue'), triggers: [{ type: 'keywords', any: [keyword] }], actions: { escalate: true, priority: 'low' } },
  });
  const policy = (seconds) => ({
    name: low.name, priority: 'low', team_id: null, first_response_seconds: seconds, resolution_seconds: low.resolution_seconds,
  });
  await api(`/sla-policies/${low.id}`, { token: admin, method: 'PUT', body: policy(2) });
  const page = await newPage(browser);
  try {
    const waiting = unique('sla-waiting');
    const waitingId = await customerWrites(waiting, 'Can I talk to a human please?');
    const late = unique('sla-late');
    const lateId = await customerWrites(late, `Please look at ${keyword} for me`);
    assert.equal((await api(`/conversations/${waitingId}`, { token: admin })).sla.first_response, 'pending');

    await signIn(page);
    const list = await allConversations(page);
    const rowOf = (id) => list.locator(`li[data-id="${id}"]`);
    const ticking = rowOf(waitingId).locator('.sla');
    await ticking.filter({ hasText: /^SLA due in (\d+ min|1 h)$/ }).waitFor();
    assert.equal(await ticking.getAttribute('data-state'), 'ok');
    assert.match(await ticking.getAttribute('title'), /^First response due in/);

    const breached = rowOf(lateId).locator('.sla');
    await breached.filter({ hasText: /^SLA breached$/ }).waitFor();
    assert.equal(await breached.getAttribute('data-state'), 'breached');
    // The hub's timer marks the target breached; the row keeps saying so.
    let detail;
    for (let i = 0; i < 100; i += 1) {
      detail = await api(`/conversations/${lateId}`, { token: admin });
      if (detail.sla.breached) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(detail.sla.first_response, 'breached');
    await breached.filter({ hasText: /^SLA breached$/ }).waitFor();

    // The countdown fits inside its fixed-height row, beside the tags (measured in one go: the
    // list may still be redrawing).
    const geometry = (ids) => ids.map((id) => {
      const row = document.querySelector(`li[data-id="${id}"]`);
      const [r, c, t] = [row, row?.querySelector('.sla'), row?.querySelector('.tags')].map((el) => el?.getBoundingClientRect());
      if (!r || !c || !t) return `row ${id} is not drawn`;
      if (Math.round(r.height) !== 76) return `row ${id} is ${r.height}px high`;
      if (c.top < r.top || c.bottom > r.bottom || c.right > r.right) return `the countdown of ${id} leaves its row`;
      if (t.right > c.left + 0.5) return `the countdown of ${id} covers its tags`;
      return null;
    }).filter(Boolean);
    const ids = [waitingId, lateId];
    await page.waitForFunction(`(${geometry})(${JSON.stringify(ids)}).length === 0`).catch(() => {});
    assert.deepEqual(await page.evaluate(geometry, ids), []);
    await screenshot(page, 'list-sla');
    // Resolved, they leave the open views the other tests use.
    for (const id of [waitingId, lateId]) await api(`/conversations/${id}/resolve`, { token: admin, method: 'POST', body: {} });
  } finally {
    await page.context().close();
    await api(`/sla-policies/${low.id}`, { token: admin, method: 'PUT', body: policy(low.first_response_seconds) });
    await api(`/escalation-rules/${rule.id}`, { token: admin, method: 'DELETE' });
  }
});
