// Shared by the browser tests: the hub under test (from the environment that
// hub/server/tests/browser.rs sets), Debian's chromium through playwright-core, API calls and
// screenshots.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HUB = process.env.HUB_URL || 'http://127.0.0.1:8080';
export const ADMIN_EMAIL = process.env.ADMIN_EMAIL || 'admin@example.com';
export const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD || 'change me please';
/** An inbox on the hub's test channel (`freshdesk` with the test connector): a webhook carries
 * `X-Test-Secret: <secret>` and a JSON body `{thread, from, id, text}`. */
export const TEST_INBOX_ID = process.env.TEST_EMAIL_INBOX_ID;
export const TEST_INBOX_SECRET = process.env.TEST_EMAIL_SECRET;
export const WEBCHAT_INBOX_ID = process.env.WEBCHAT_INBOX_ID;

const here = dirname(fileURLToPath(import.meta.url));
export const RESULTS = join(here, '..', 'test-results');
mkdirSync(RESULTS, { recursive: true });

/** Debian's chromium, headless; every launch gets a fresh temporary user data dir. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

export async function newPage(browser, { width = 1280, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('pageerror', (error) => console.error(`page error: ${error.message}`));
  return page;
}

export async function screenshot(page, name) {
  await page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: false });
}

export async function api(path, { token, method = 'GET', body } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${HUB}/api/v1${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return data;
}

export async function login(email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  const { token } = await api('/auth/login', { method: 'POST', body: { email, password } });
  return token;
}

let counter = 0;
export function unique(prefix) {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${process.pid}-${counter}`;
}

/** Creates a user of `role` through the API; returns its credentials. */
export async function createUser(adminToken, role) {
  const email = `${unique(role)}@example.test`;
  const password = 'a long password';
  await api('/users', { token: adminToken, method: 'POST', body: { email, name: `${role} user`, role, password } });
  return { email, password };
}

/** A customer message through the test inbox's webhook; returns the conversation's id. */
export async function customerWrites(thread, text) {
  const response = await fetch(`${HUB}/webhooks/freshdesk/${TEST_INBOX_ID}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-test-secret': TEST_INBOX_SECRET },
    body: JSON.stringify({ thread, from: `${thread}@customer.test`, id: unique('msg'), text }),
  });
  if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
  const token = await login();
  const { conversations } = await api(`/conversations?inbox_id=${TEST_INBOX_ID}&limit=200`, { token });
  const conversation = conversations.find((c) => c.thread_key === thread);
  if (!conversation) throw new Error(`no conversation for ${thread}`);
  return conversation.id;
}

/** Signs in through the form. */
export async function signIn(page, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  await page.goto(`${HUB}/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** The conversation list, with the "All" view chosen and the event stream live. */
export async function allConversations(page) {
  await page.getByRole('button', { name: /^All/ }).click();
  await page.locator('.live[data-state=live]').waitFor();
  // The view's first page has arrived: rows of the view shown before are gone.
  await page.waitForFunction(() => document.querySelector('.listhead [aria-live]')?.textContent !== 'Loading…');
  return page.getByRole('list', { name: 'Conversations' });
}
