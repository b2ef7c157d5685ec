// Settings → Webhooks: a subscription's delivery log, and the Replay button that sends a
// refused delivery again to a real receiver on loopback, which checks the fresh signature.
// Settings → Inboxes lists the dead letters.

import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { api, customerWrites, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** An HTTP receiver on loopback that refuses its first request with 400 and takes the rest. */
async function receiver() {
  const requests = [];
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(requests.length === 1 ? 400 : 200, { 'content-type': 'application/json' });
      response.end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { requests, url: `http://127.0.0.1:${server.address().port}/hooks`, close: () => server.close() };
}

/** Checks `X-Switchboard-Signature` as docs/webhooks.md says a subscriber should. */
function signed(request, secret) {
  const parts = Object.fromEntries(request.headers['x-switchboard-signature'].split(',').map((part) => part.split('=')));
  const expected = createHmac('sha256', secret).update(`${parts.t}.`).update(request.body).digest();
  return timingSafeEqual(expected, Buffer.from(parts.v1, 'hex'));
}

async function until(what, check) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('a refused webhook delivery is replayed from its log, signed afresh; dead letters are listed', async () => {
  const hooks = await receiver();
  const token = await login();
  const subscription = await api('/webhooks', { token, method: 'POST', body: { url: hooks.url, events: ['message.created'] } });
  try {
    const text = unique('Replay me');
    await customerWrites(unique('hook'), text);
    const ours = (request) => JSON.parse(request.body).data?.message?.text === text;
    const first = await until('the first delivery', () => hooks.requests.find(ours));
    const id = JSON.parse(first.body).id;
    await until('the delivery to be given up', async () => {
      const { deliveries } = await api(`/webhooks/${subscription.id}/deliveries`, { token });
      return deliveries.some((delivery) => delivery.id === id && delivery.status === 'dead');
    });

    const page = await newPage(browser);
    await signIn(page);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Dead letters' }).waitFor();
    await page.getByRole('table', { name: 'Dead letters' }).waitFor();
    await page.getByRole('button', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await page.getByRole('button', { name: `Deliveries to ${hooks.url}` }).click();
    const row = page.locator(`tr[data-delivery="${id}"]`);
    await row.getByRole('cell', { name: 'dead', exact: true }).waitFor();
    await row.getByRole('button', { name: `Replay delivery …${id.slice(-12)}` }).click();

    const resent = await until('the replay', () => hooks.requests.filter(ours)[1]);
    assert.deepEqual(resent.body, first.body, 'the same event');
    assert.ok(signed(resent, subscription.secret), 'the replay is signed with the secret');
    assert.notEqual(resent.headers['x-switchboard-delivery'], id, 'a delivery of its own');
    const replay = page.locator(`tr[data-delivery="${resent.headers['x-switchboard-delivery']}"]`);
    await replay.getByText(`replay of …${id.slice(-12)}`).waitFor();
    await replay.getByRole('cell', { name: 'delivered', exact: true }).waitFor();
    await screenshot(page, 'settings-webhooks');
    await page.context().close();
  } finally {
    await api(`/webhooks/${subscription.id}`, { token, method: 'DELETE' });
    hooks.close();
  }
});
