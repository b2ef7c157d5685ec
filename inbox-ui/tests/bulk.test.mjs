// Bulk selection in the conversation list: a click and a shift-click select a range, the
// selection survives a live update, the action bar resolves them; "Select all" takes every
// conversation of the view, also those the virtual list has not drawn.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { allConversations, api, customerWrites, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Takes a test's conversations out of the views (snoozed until their customer writes), so
 * that the files after this one find the seeded conversations among the rows drawn. */
async function putAway(ids, token) {
  await api('/conversations/bulk', { token, method: 'POST', body: { ids, action: 'snooze', until_customer_replies: true } });
}

test('select three with a click and a shift-click, bulk-resolve them', async () => {
  const threads = [unique('bulk-a'), unique('bulk-b'), unique('bulk-c'), unique('bulk-keep')];
  const ids = [];
  for (const thread of threads) ids.push(await customerWrites(thread, `Spam from ${thread}`));
  const admin = await login();
  // In "Mine": an open view they leave when resolved, and a status the AI leaves alone.
  const me = await api('/auth/me', { token: admin });
  await api('/conversations/bulk', { token: admin, method: 'POST', body: { ids, action: 'assign', assignee_id: me.user.id } });
  const page = await newPage(browser);
  await signIn(page);
  const list = await allConversations(page);
  await page.getByRole('button', { name: /^Mine/ }).click();
  // By id: a row shows the latest message, which changes below.
  const row = (thread) => list.locator(`li[data-id="${ids[threads.indexOf(thread)]}"]`);
  const box = (thread) => row(thread).getByRole('checkbox');
  for (const thread of threads) await row(thread).waitFor();

  // Named after the contact; a click ticks without opening the conversation.
  await page.getByRole('checkbox', { name: `Select conversation with ${threads[0]}@customer.test` }).waitFor();
  await box(threads[0]).click();
  assert.doesNotMatch(await page.evaluate(() => location.hash), /^#\/inbox\//, 'no conversation opened');
  // The newest is on top (keep, c, b, a): shift-click on c selects c, b and a.
  await box(threads[2]).click({ modifiers: ['Shift'] });
  const bar = page.getByRole('region', { name: 'Bulk actions' });
  await bar.getByText('3 selected').waitFor();
  for (const [index, thread] of threads.entries()) assert.equal(await box(thread).isChecked(), index < 3, thread);
  assert.equal(await page.getByRole('checkbox', { name: 'Select all' }).evaluate((el) => el.indeterminate), true);

  // A live update moves b to the top: it stays selected, keep stays unselected.
  await customerWrites(threads[1], `Spam again from ${threads[1]}`);
  await row(threads[1]).filter({ hasText: `Spam again from ${threads[1]}` }).waitFor();
  assert.equal(await row(threads[1]).getAttribute('data-index'), '0', 'b moved to the top');
  assert.equal(await box(threads[1]).isChecked(), true);
  assert.equal(await box(threads[3]).isChecked(), false);
  await bar.getByText('3 selected').waitFor();
  await screenshot(page, 'bulk-selected');

  await bar.getByRole('button', { name: 'Resolve selected' }).click();
  for (const thread of threads.slice(0, 3)) await row(thread).waitFor({ state: 'detached' });
  await row(threads[3]).waitFor();
  await bar.waitFor({ state: 'hidden' });
  for (const [index, id] of ids.entries()) {
    const detail = await api(`/conversations/${id}`, { token: admin });
    assert.equal(detail.conversation.status, index < 3 ? 'resolved' : 'assigned', threads[index]);
  }
  await putAway(ids, admin);
});

test('"Select all" takes every conversation of the view, drawn or not, and labels them', async () => {
  const admin = await login();
  const tag = `sel${Date.now().toString(36)}`;
  const ids = [];
  for (let n = 0; n < 30; n += 1) ids.push(await customerWrites(unique(`all-${n}`), `Batch ${tag} number ${n}`));
  await api('/conversations/bulk', { token: admin, method: 'POST', body: { ids, action: 'label', add: [tag] } });
  const page = await newPage(browser, { height: 520 });
  await signIn(page);
  const list = await allConversations(page);
  await page.getByRole('combobox', { name: /^Label/ }).selectOption(tag);
  await list.getByRole('listitem').first().waitFor();
  const drawn = await list.getByRole('listitem').count();
  assert.ok(drawn < 30, `the virtual list draws only part of the view (${drawn})`);

  await page.getByRole('checkbox', { name: 'Select all' }).check();
  const bar = page.getByRole('region', { name: 'Bulk actions' });
  await bar.getByText('30 selected').waitFor();
  // Keyboard: the label box and its button are reachable and act on all thirty.
  const done = `${tag}-done`;
  await bar.getByRole('combobox', { name: 'Label for selected' }).fill(done);
  await bar.getByRole('combobox', { name: 'Label for selected' }).press('Enter');
  await bar.waitFor({ state: 'hidden' });
  const { conversations } = await api(`/conversations?label=${done}&limit=200`, { token: admin });
  assert.deepEqual(conversations.map((c) => c.id).sort(), [...ids].sort());
  assert.equal(await page.getByRole('checkbox', { name: 'Select all' }).isChecked(), false);
  await putAway(ids, admin);
});
