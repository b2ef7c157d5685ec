// Merge in the inbox: one customer writes by email (the test channel) and in the web-chat
// widget, and both contacts carry the same email; the contact panel suggests the other one,
// the agent merges it (after confirming), and the panel shows one contact with both identities
// and both conversations. Before that, the visitor shows by their generated name.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HUB, allConversations, api, customerWrites, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** The conversation whose messages hold `word`, by the search API (it may take a moment). */
async function conversationWith(word, token) {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const found = await api(`/search?q=${word}&type=conversations`, { token });
    if (found.conversations.length) return found.conversations[0].id;
    await pause(100);
  }
  throw new Error(`no conversation with ${word}`);
}

test('merge two contacts from the contact panel and see one history', async () => {
  const admin = await login();
  const email = `${unique('merge')}@customer.test`.toLowerCase();
  const thread = unique('merge-mail');
  const mailId = await customerWrites(thread, `Invoice question from ${thread}`);
  const mailContact = (await api(`/conversations/${mailId}`, { token: admin })).contact.id;
  await api(`/contacts/${mailContact}`, { token: admin, method: 'PATCH', body: { email, name: 'Grace Hopper' } });

  // The same person in the web-chat widget: a second contact, given the same email.
  const word = `walrus${Date.now().toString(36)}`;
  const customer = await newPage(browser);
  await customer.goto(`${HUB}/demo`);
  await customer.getByRole('button', { name: 'Open chat' }).click();
  await customer.getByRole('textbox', { name: 'Message' }).fill(`Also me, about ${word}`);
  await customer.getByRole('button', { name: 'Send' }).click();
  await customer.getByRole('listitem').filter({ hasText: word }).waitFor();
  const chatId = await conversationWith(word, admin);
  const chatContact = (await api(`/conversations/${chatId}`, { token: admin })).contact.id;
  assert.notEqual(chatContact, mailContact);
  await customer.context().close();

  // Until they give a name or email the visitor has a generated one, in the list, the
  // header and the contact panel; never their raw id.
  const { display_name: friendly, avatar_colour: colour } = await api(`/contacts/${chatContact}`, { token: admin });
  assert.match(friendly, /^[A-Z][a-z]+ [A-Z][a-z]+$/);
  const page = await newPage(browser);
  await signIn(page);
  const list = await allConversations(page);
  await page.goto(`${HUB}/#/inbox/${chatId}`);
  const panel = page.getByRole('complementary', { name: 'Contact' });
  await panel.getByRole('heading', { name: friendly }).waitFor();
  await page.getByRole('region', { name: 'Conversation', exact: true }).getByRole('heading', { name: friendly }).waitFor();
  await list.locator(`li[data-id="${chatId}"] .who`).filter({ hasText: friendly }).waitFor();
  await panel.getByRole('list', { name: 'Identities' }).getByText('Anonymous visitor').waitFor();
  assert.equal(await page.getByText('visitor:').count(), 0);
  const shown = await panel.locator('h2 .avatar').evaluate((el) => getComputedStyle(el).backgroundColor);
  const [r, g, b] = colour.match(/[0-9a-f]{2}/g).map((hex) => parseInt(hex, 16));
  assert.equal(shown, `rgb(${r}, ${g}, ${b})`);
  await screenshot(page, 'visitor-name');

  await api(`/contacts/${chatContact}`, { token: admin, method: 'PATCH', body: { email: email.toUpperCase() } });
  await page.goto(`${HUB}/#/inbox/${mailId}`);
  await panel.getByRole('heading', { name: 'Grace Hopper' }).waitFor();
  const suggestions = panel.getByRole('region', { name: 'Likely the same person' });
  await suggestions.getByText(email.toUpperCase()).first().waitFor();
  await screenshot(page, 'merge-suggestion');

  // Cancelling changes nothing.
  const merge = suggestions.getByRole('button', { name: /^Merge .+ into this contact$/ });
  await merge.click();
  const dialog = page.getByRole('dialog', { name: 'Merge contacts' });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await api(`/contacts/${chatContact}`, { token: admin })).id, chatContact);

  await merge.click();
  await dialog.getByRole('button', { name: 'Merge', exact: true }).click();
  // One contact: both identities, both conversations, no suggestion left.
  const identities = panel.getByRole('list', { name: 'Identities' }).getByRole('listitem');
  await page.waitForFunction(() => document.querySelectorAll('.contactpane [aria-label=Identities] li').length === 2);
  assert.deepEqual((await identities.allInnerTexts()).length, 2);
  const history = panel.getByRole('list', { name: 'Contact history' });
  await history.locator(`a[href="#/inbox/${chatId}"]`).waitFor();
  await history.locator(`a[href="#/inbox/${mailId}"]`).waitFor();
  assert.equal(await suggestions.count(), 0);
  await screenshot(page, 'merge-done');

  const { conversations } = await api(`/conversations?contact_id=${mailContact}&snoozed=any`, { token: admin });
  assert.deepEqual(conversations.map((c) => c.id).sort(), [mailId, chatId].sort());
  await assert.rejects(api(`/contacts/${chatContact}`, { token: admin }), /404/);
  // Out of the views, so that the files after this one find the seeded conversations.
  await api('/conversations/bulk', { token: admin, method: 'POST', body: { ids: [mailId, chatId], action: 'snooze', until_customer_replies: true } });
});
