// BENCHMARKS.md: the inbox with 10,000 conversations in the database. Measures the first load
// (navigation to the first rows on screen, signed in) and scrolling through the list (frames
// while scrolling 5,000 rows down, loading pages on the way). Prints JSON.

import { HUB, launch, login, newPage } from '../support.mjs';

const browser = await launch();
const page = await newPage(browser);
const token = await login();
await page.goto(`${HUB}/`);
await page.evaluate((t) => sessionStorage.setItem('switchboard.token', t), token);

async function firstLoad(run) {
  const started = Date.now();
  // A new query string makes it a full page load, not a hash change.
  await page.goto(`${HUB}/?run=${run}#/inbox`);
  await page.getByRole('button', { name: /^All/ }).click();
  await page.getByRole('list', { name: 'Conversations' }).getByRole('listitem').first().waitFor();
  const ms = Date.now() - started;
  const nav = await page.evaluate(() => {
    const [entry] = performance.getEntriesByType('navigation');
    return { dom_content_loaded_ms: Math.round(entry.domContentLoadedEventEnd), load_ms: Math.round(entry.loadEventEnd) };
  });
  return { first_rows_ms: ms, ...nav };
}

const loads = [];
for (let i = 0; i < 5; i += 1) loads.push(await firstLoad(i));
loads.sort((a, b) => a.first_rows_ms - b.first_rows_ms);

const scroll = await page.evaluate(async () => {
  const viewport = document.querySelector('.vlist');
  const frames = [];
  let last = performance.now();
  const target = 5000 * 76;
  const started = performance.now();
  while (viewport.scrollTop < target - viewport.clientHeight && performance.now() - started < 120000) {
    viewport.scrollTop += 600;
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const now = performance.now();
    frames.push(now - last);
    last = now;
  }
  frames.sort((a, b) => a - b);
  const pick = (q) => Math.round(frames[Math.floor(frames.length * q)] * 10) / 10;
  return {
    rows_scrolled: Math.round(viewport.scrollTop / 76),
    seconds: Math.round((performance.now() - started) / 100) / 10,
    frames: frames.length,
    frame_ms_p50: pick(0.5),
    frame_ms_p95: pick(0.95),
    frame_ms_max: Math.round(frames[frames.length - 1]),
    rows_in_dom: document.querySelectorAll('[aria-label=Conversations] > li').length,
  };
});
const counts = await (await fetch(`${HUB}/api/v1/conversations/counts`, { headers: { authorization: `Bearer ${token}` } })).json();
console.log(JSON.stringify({ conversations: counts.all, first_load_median: loads[2], first_load_best: loads[0], scroll }, null, 2));
await browser.close();
