// Working one conversation from the inbox: take over, reply, private note, resolve, reopen.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { allConversations, api, customerWrites, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('take over, reply, add a private note and resolve from the inbox', async () => {
  const thread = unique('work');
  const id = await customerWrites(thread, `My order ${thread} is late`);
  const admin = await login();
  const page = await newPage(browser);
  await signIn(page);
  const list = await allConversations(page);
  await list.getByRole('listitem').filter({ hasText: `My order ${thread} is late` }).click();
  const history = page.getByRole('list', { name: 'Messages' });
  await history.getByText(`My order ${thread} is late`).waitFor();

  await page.getByRole('button', { name: 'Take over' }).click();
  await page.getByRole('button', { name: 'Take over' }).waitFor({ state: 'detached' });
  let detail = await api(`/conversations/${id}`, { token: admin });
  assert.equal(detail.conversation.status, 'assigned');
  assert.ok(detail.conversation.assignee_id);

  await page.getByRole('textbox', { name: 'Reply' }).fill('We are on it, sorry for the wait.');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const reply = history.getByRole('listitem').filter({ hasText: 'We are on it' });
  await reply.waitFor();
  // Delivery status shows on our message and moves on as the outbox delivers it.
  await reply.locator('.delivery').filter({ hasText: /Sent|Delivered|Read/ }).waitFor();

  await page.getByRole('textbox', { name: 'Private note' }).fill('Customer is a VIP, refund if needed.');
  await page.getByRole('button', { name: 'Add note' }).click();
  const note = history.getByRole('listitem', { name: 'Private note' }).filter({ hasText: 'Customer is a VIP' });
  try {
    await note.waitFor();
  } catch (error) {
    // What the page and the hub held when the note did not show, for the CI log.
    const stored = (await api(`/conversations/${id}`, { token: admin })).messages;
    console.log('history shown:', await history.innerText());
    console.log('note box:', await page.getByRole('textbox', { name: 'Private note' }).inputValue());
    console.log('stored:', JSON.stringify(stored.map((m) => [m.role, m.private, m.text])));
    throw error;
  }
  assert.equal(await note.locator('.delivery').count(), 0, 'a note has no delivery status');
  await screenshot(page, 'conversation-reply-and-note');

  detail = await api(`/conversations/${id}`, { token: admin });
  const byText = (text) => detail.messages.find((m) => m.text.startsWith(text));
  assert.equal(byText('We are on it').private, false);
  assert.notEqual(byText('We are on it').delivery_status, 'internal');
  assert.equal(byText('Customer is a VIP').private, true);
  assert.equal(byText('Customer is a VIP').delivery_status, 'internal');

  // The customer writes while the agent types: the history shows it live, and the half-written
  // reply keeps its text, the focus and the caret (the composer is not redrawn).
  const replyBox = page.getByRole('textbox', { name: 'Reply' });
  await replyBox.click();
  await page.keyboard.type('Checking with the warehouse');
  await customerWrites(thread, `Any news on ${thread}?`);
  await history.getByText(`Any news on ${thread}?`).waitFor();
  assert.equal(await replyBox.inputValue(), 'Checking with the warehouse');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'reply');
  await page.keyboard.type(' now.');
  assert.equal(await replyBox.inputValue(), 'Checking with the warehouse now.');
  await replyBox.fill('');

  await page.getByRole('button', { name: 'Resolve' }).click();
  await page.getByRole('button', { name: 'Reopen' }).waitFor();
  detail = await api(`/conversations/${id}`, { token: admin });
  assert.equal(detail.conversation.status, 'resolved');
  await screenshot(page, 'conversation-resolved');

  await page.getByRole('button', { name: 'Reopen' }).click();
  await page.getByRole('button', { name: 'Resolve' }).waitFor();
  await page.getByRole('button', { name: 'Hand back to AI' }).click();
  await page.getByRole('button', { name: 'Hand back to AI' }).waitFor({ state: 'detached' });
  detail = await api(`/conversations/${id}`, { token: admin });
  assert.equal(detail.conversation.status, 'bot');
  assert.equal(detail.conversation.assignee_id, null);

  // The contact panel shows the customer's identity on the channel.
  await page.getByRole('list', { name: 'Identities' }).getByText(`${thread}@customer.test`).waitFor();
  await page.context().close();
});

test('keyboard shortcuts move, focus and resolve, but not while typing', async () => {
  const page = await newPage(browser);
  await signIn(page);
  const list = await allConversations(page);
  await list.getByRole('listitem').first().waitFor();
  await page.keyboard.press('j');
  await page.getByRole('list', { name: 'Messages' }).waitFor();
  const first = await page.locator('.row[aria-current=true]').getAttribute('data-id');
  await page.keyboard.press('j');
  await page.waitForFunction((id) => document.querySelector('.row[aria-current=true]')?.dataset.id !== id, first);
  await page.keyboard.press('k');
  await page.waitForFunction((id) => document.querySelector('.row[aria-current=true]')?.dataset.id === id, first);
  await page.locator('.conversation[aria-busy=false]').waitFor();

  await page.keyboard.press('r');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'reply');
  await page.keyboard.type('jk');
  assert.equal(await page.getByRole('textbox', { name: 'Reply' }).inputValue(), 'jk', 'letters typed stay letters');
  await page.keyboard.press('Escape');
  await page.keyboard.press('n');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'note');
  await page.keyboard.press('Escape');

  await page.keyboard.press('?');
  await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
  await screenshot(page, 'shortcuts');
  await page.getByRole('button', { name: 'Close' }).click();
  await page.context().close();
});
