// Live updates: messages ingested through a channel webhook appear in the open inbox without a
// reload, and the list reorders by latest activity.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { allConversations, customerWrites, launch, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a new conversation appears live and an older one moves to the top', async () => {
  const page = await newPage(browser);
  await signIn(page);
  const list = await allConversations(page);
  await list.getByRole('listitem').first().waitFor();
  const countBefore = Number(await page.getByRole('button', { name: /^All/ }).locator('.count').textContent());
  await page.evaluate(() => { window.__notReloaded = true; });

  const thread = unique('live');
  await customerWrites(thread, `Live question ${thread}`);
  const item = list.getByRole('listitem').filter({ hasText: `Live question ${thread}` });
  await item.waitFor();
  assert.equal(await page.evaluate(() => window.__notReloaded), true, 'no page reload');
  assert.match(await list.getByRole('listitem').first().textContent(), new RegExp(`Live question ${thread}`));
  // The view's count follows.
  await page.waitForFunction((before) => Number(document.querySelector('.views button[aria-pressed=true] .count')?.textContent) > before, countBefore);

  // An older conversation gets a new message: it moves to the top, its preview changes.
  await customerWrites('seed-1', 'Any news about my parcel?');
  await list.getByRole('listitem').first().filter({ hasText: 'Any news about my parcel?' }).waitFor();
  assert.equal(await list.getByRole('listitem').filter({ hasText: 'Where is my parcel?' }).count(), 0);
  await screenshot(page, 'live-insertion');

  // The open conversation gets the new message in its history too.
  await list.getByRole('listitem').filter({ hasText: `Live question ${thread}` }).click();
  await page.getByRole('list', { name: 'Messages' }).getByText(`Live question ${thread}`).waitFor();
  await customerWrites(thread, 'Hello? Anyone there?');
  await page.getByRole('list', { name: 'Messages' }).getByText('Hello? Anyone there?').waitFor();
  await page.context().close();
});

test('the inbox is usable on a tablet', async () => {
  const page = await newPage(browser, { width: 1024, height: 768 });
  await signIn(page);
  const list = await allConversations(page);
  await list.getByRole('listitem').first().click();
  await page.getByRole('textbox', { name: 'Reply' }).waitFor();
  const box = await page.getByRole('textbox', { name: 'Reply' }).boundingBox();
  assert.ok(box && box.x + box.width <= 1024, 'the reply box fits the screen');
  await screenshot(page, 'tablet');
  await page.context().close();
});
