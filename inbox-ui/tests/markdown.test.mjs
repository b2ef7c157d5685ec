// The knowledge-base preview's markdown renderer: formatting works and no markup from the
// article ever reaches the page.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml, renderMarkdown } from '../app/markdown.js';

test('headings, emphasis, lists, code and links render', () => {
  const html = renderMarkdown('# Title\n\nSome **bold** and *soft* text with `code`.\n\n- one\n- two\n\n1. first\n2. second\n\n[Docs](https://example.com/a?b=1&c=2)');
  assert.match(html, /<h1>Title<\/h1>/);
  assert.match(html, /<strong>bold<\/strong>/);
  assert.match(html, /<em>soft<\/em>/);
  assert.match(html, /<code>code<\/code>/);
  assert.match(html, /<ul><li>one<\/li><li>two<\/li><\/ul>/);
  assert.match(html, /<ol><li>first<\/li><li>second<\/li><\/ol>/);
  assert.match(html, /<a href="https:\/\/example.com\/a\?b=1&amp;c=2" rel="noopener noreferrer" target="_blank">Docs<\/a>/);
});

test('HTML in the source is escaped everywhere', () => {
  const html = renderMarkdown('<script>alert(1)</script>\n\n**<img src=x onerror=alert(1)>**\n\n```\n<b>kept as text</b>\n```\n\n> <iframe>');
  assert.doesNotMatch(html, /<script|<img|<iframe|<b>/);
  assert.match(html, /&lt;script&gt;/);
  assert.match(html, /<pre><code>&lt;b&gt;kept as text&lt;\/b&gt;<\/code><\/pre>/);
  assert.match(html, /<blockquote>/);
});

test('only safe link targets become links', () => {
  for (const url of ['javascript:alert(1)', 'data:text/html,hi', 'vbscript:x']) {
    assert.doesNotMatch(renderMarkdown(`[x](${url})`), /<a /, url);
  }
  assert.match(renderMarkdown('[x](/relative/path)'), /<a href="\/relative\/path"/);
  assert.match(renderMarkdown('[x](mailto:help@example.com)'), /<a href="mailto:help@example.com"/);
  // A quote cannot break out of the attribute.
  assert.doesNotMatch(renderMarkdown('[x](https://a.test/"onmouseover="y)'), /"onmouseover/);
});

test('control characters and spaces cannot hide a scheme (issue 23, finding 4)', () => {
  for (const url of ['\x01javascript:alert(1)', '\x00javascript:alert(1)', '\x1fJavaScript:alert(1)',
    '\x7fjavascript:alert(1)', 'jav\x01ascript:alert(1)', '\x01\x02data:text/html,hi', '\x0bvbscript:x']) {
    const html = renderMarkdown(`[x](${url})`);
    assert.doesNotMatch(html, /<a /, JSON.stringify(url));
    assert.doesNotMatch(html, /href/i, JSON.stringify(url));
  }
  // What is left of a safe link carries no control character.
  assert.match(renderMarkdown('[x](\x01https://example.com/)'), /<a href="https:\/\/example.com\/"/);
});

/** The `href` of each link in `html`. */
function hrefs(html) {
  return [...html.matchAll(/<a href="([^"]*)"/g)].map((match) => match[1]);
}

test('emphasis never reaches into a link\'s attributes', () => {
  // Underscores and stars in a URL are the URL's.
  for (const url of ['https://a.test/_a_', 'https://a.test/*a*', 'https://a.test/**a**', '/how__to__pay', '/a_b']) {
    assert.deepEqual(hrefs(renderMarkdown(`[x](${url})`)), [url], url);
  }
  // Emphasis that opens before a link and closes inside its URL, or after it (the renderer's
  // own `target="_blank"`), is not emphasis.
  for (const [source, url] of [['*a [x](/b*c)', '/b*c'], ['_see [x](/a_b)', '/a_b'], ['[a](/x) b_ c', '/x']]) {
    const html = renderMarkdown(source);
    assert.doesNotMatch(html, /<em>/, source);
    assert.deepEqual(hrefs(html), [url], source);
    assert.match(html, /target="_blank"/, source);
  }
  // Around a whole link, and inside its label, it still is.
  assert.match(renderMarkdown('_see [the guide](/how_to_pay)_'),
    /^<p><em>see <a href="\/how_to_pay" rel="noopener noreferrer" target="_blank">the guide<\/a><\/em><\/p>$/);
  assert.match(renderMarkdown('[**bold** `code`](/y)'), /<a href="\/y"[^>]*><strong>bold<\/strong> <code>code<\/code><\/a>/);
  // Backticks in a URL are the URL's too.
  assert.deepEqual(hrefs(renderMarkdown('[a](/x`b`c)')), ['/x`b`c']);
});

test('NUL in the text cannot forge a code span', () => {
  assert.equal(renderMarkdown('a \u00005\u0000 b'), '<p>a 5 b</p>');
  // Not another code span's either.
  assert.equal(renderMarkdown('x `code` \u00000\u0000'), '<p>x <code>code</code> 0</p>');
  assert.equal(renderMarkdown('[\u00000\u0000](/y) `z`'), '<p><a href="/y" rel="noopener noreferrer" target="_blank">0</a> <code>z</code></p>');
});

test('escapeHtml escapes the five characters', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});
