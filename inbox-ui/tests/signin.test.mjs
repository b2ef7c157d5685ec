// Sign in and out, and what each role sees.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HUB, api, createUser, launch, login, newPage, screenshot, signIn } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('an admin signs in, sees the inbox and settings, and signs out', async () => {
  const page = await newPage(browser);
  await page.goto(`${HUB}/`);
  await page.getByLabel('Email').fill('nobody@example.test');
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'Wrong email or password' }).waitFor();

  await signIn(page);
  await page.getByRole('list', { name: 'Conversations' }).waitFor({ state: 'attached' });
  await page.getByRole('link', { name: 'Settings' }).waitFor();
  await page.getByRole('button', { name: /^All/ }).click();
  // The list draws only the rows in view, and the other test files add conversations before
  // this one runs: any row will do.
  await page.getByRole('list', { name: 'Conversations' }).getByRole('listitem').first().waitFor();
  await screenshot(page, 'signin-admin-inbox');

  // The session survives a reload (sessionStorage), and signing out ends it on the server.
  const token = await page.evaluate(() => sessionStorage.getItem('switchboard.token'));
  assert.ok(token);
  await page.reload();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await assert.rejects(api('/auth/me', { token }), /401/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.token')), null);
  await page.context().close();
});

test('an agent without the permission sees no settings', async () => {
  const admin = await login();
  const agent = await createUser(admin, 'support_agent');
  const page = await newPage(browser);
  await signIn(page, agent.email, agent.password);
  await page.getByRole('list', { name: 'Conversations' }).waitFor({ state: 'attached' });
  assert.equal(await page.getByRole('link', { name: 'Settings' }).count(), 0);
  // Asking for the page by its address shows the inbox instead.
  await page.goto(`${HUB}/#/settings`);
  await page.getByRole('list', { name: 'Conversations' }).waitFor({ state: 'attached' });
  assert.equal(await page.getByRole('heading', { name: 'Inboxes' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Create inbox' }).count(), 0);
  await screenshot(page, 'signin-agent-no-settings');
  await page.context().close();
});

test('a knowledge editor sees the knowledge base and no conversations', async () => {
  const admin = await login();
  const editor = await createUser(admin, 'knowledge_editor');
  const page = await newPage(browser);
  await signIn(page, editor.email, editor.password);
  await page.getByRole('region', { name: 'Knowledge gaps' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Inbox' }).count(), 0);
  assert.equal(await page.getByRole('link', { name: 'Settings' }).count(), 0);
  await screenshot(page, 'signin-knowledge-editor');
  await page.context().close();
});
