// The inbox's layout on a laptop (1280×800) and a tablet (1024×768) with a contact whose name
// is long and who is known on every channel: the header's buttons stay clear of the contact pane
// and inside the conversation pane.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HUB, api, customerWrites, launch, login, newPage, screenshot, signIn, unique } from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const LONG_NAME = 'Maximiliane Alexandrina Konstantinopoulou-Featherstonehaugh-Montgomery-Vanderbilt';
const CHANNELS = ['webchat', 'email', 'slack', 'whatsapp', 'telegram', 'zendesk', 'freshdesk'];

function intersects(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** The element's box once it is shown: a live update may render the header anew between a
 * wait and a measurement, and a box taken in that instant is null. */
async function box(locator) {
  for (let attempt = 0; ; attempt += 1) {
    await locator.waitFor({ state: 'visible' });
    const found = await locator.boundingBox();
    if (found || attempt === 20) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function inside(inner, outer) {
  return inner.x >= outer.x - 0.5 && inner.y >= outer.y - 0.5
    && inner.x + inner.width <= outer.x + outer.width + 0.5 && inner.y + inner.height <= outer.y + outer.height + 0.5;
}

for (const [width, height] of [[1280, 800], [1024, 768]]) {
  test(`at ${width}×${height} the Take over button stays clear of the contact pane`, async () => {
    const admin = await login();
    const thread = unique('layout');
    const id = await customerWrites(thread, 'A question from a customer with a very long name');
    const { contact } = await api(`/conversations/${id}`, { token: admin });
    await api(`/contacts/${contact.id}`, { token: admin, method: 'PATCH', body: { name: `${LONG_NAME} ${thread}` } });

    const page = await newPage(browser, { width, height });
    // The hub links one identity per channel as customers write; the page is handed a contact
    // already known on every channel, twice, with long ids, as a busy hub would show.
    await page.route(`**/api/v1/conversations/${id}`, async (route) => {
      const response = await route.fetch();
      const json = await response.json();
      json.contact.identities = CHANNELS.flatMap((channel) => [1, 2].map((n) => ({
        id: `${channel}-${n}`, channel, external_id: `${channel}-identity-${n}-${'x'.repeat(40)}@${thread}.example.test`,
      })));
      await route.fulfill({ response, json });
    });
    await signIn(page);
    await page.goto(`${HUB}/#/inbox/${id}`);
    const takeOver = page.getByRole('button', { name: 'Take over' });
    await takeOver.waitFor();
    const pane = page.getByRole('complementary', { name: 'Contact' });
    if (await pane.isVisible()) await pane.getByRole('list', { name: 'Identities' }).getByRole('listitem').nth(13).waitFor();
    await screenshot(page, `layout-${width}`);

    const button = await box(takeOver);
    // On a tablet the contact pane is folded away: nothing of it can cover the header there.
    const paneBox = await pane.isVisible() ? await box(pane) : null;
    assert.equal(paneBox !== null, width > 1180, 'the contact pane shows beside the conversation on wide screens only');
    const conversation = await box(page.getByRole('region', { name: 'Conversation', exact: true }));
    if (paneBox) assert.ok(!intersects(button, paneBox), `Take over ${JSON.stringify(button)} overlaps the contact pane ${JSON.stringify(paneBox)}`);
    assert.ok(inside(button, conversation), `Take over ${JSON.stringify(button)} sticks out of the conversation ${JSON.stringify(conversation)}`);
    for (const name of ['Resolve', 'Hand back to AI']) {
      const other = page.getByRole('button', { name });
      if (await other.count()) {
        const otherBox = await box(other);
        assert.ok(inside(otherBox, conversation), `${name} sticks out of the conversation`);
        if (paneBox) assert.ok(!intersects(otherBox, paneBox), `${name} overlaps the contact pane`);
      }
    }
    // Nothing in the page scrolls sideways.
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), width);
    await page.context().close();
  });
}
