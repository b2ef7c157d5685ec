// Fuzzing the markdown renderer (issue 23): on generated and mangled markdown, what it renders
// must be markup a browser reads as only the renderer's own tags, with no markup inside their
// attributes and links only to http(s), mailto or relative URLs, as the browser sees the URL;
// and its text must be the source's own (markdown's syntax taken out, nothing made up or
// repeated). The Rust side's fuzzing is
// `hub/testkit/src/fuzz.rs`; this file is its counterpart for the one parser written in
// JavaScript. `SWITCHBOARD_FUZZ_CASES` sets the volume (default 2000; `bench/fuzz.sh` raises it),
// `SWITCHBOARD_FUZZ_SEED` replays a run.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderMarkdown } from '../app/markdown.js';

const CASES = Number(process.env.SWITCHBOARD_FUZZ_CASES ?? 2000);
const SEED = Number(process.env.SWITCHBOARD_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));

// mulberry32: a small seeded generator, so that a failing run can be replayed.
function generator(seed) {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * below | 0;
  };
}

// Markdown's syntax, the schemes a link must not reach (in several spellings), the characters
// browsers drop from URLs, character references, and markup.
const TOKENS = [
  '[', ']', '(', ')', '[x](', '](', '**', '*', '__', '_', '`', '```', '\n', '\r\n', '\r', '\n\n',
  '# ', '## ', '- ', '1. ', '> ', '---', '  ', ' ', '\t',
  'javascript:', 'JaVaScRiPt:', 'java\nscript:', 'java\tscript:', 'vbscript:', 'data:', 'data:text/html,',
  'https://a.test/', 'http:', 'mailto:', '//', '/', ':', 'alert(1)',
  '\x00', '\x01', '\x08', '\x0b', '\x0c', '\x1f', '\x7f', '\u00a0', '\u2028', '\ufeff', '\u200b', 'é',
  '&', '&#106;', '&#x6a;', '&colon;', '&Tab;', '&NewLine;', '&amp;', '&lt;', '&quot;', '&#39;', ';', '#',
  '"', "'", '<', '>', '=', '<script>', '</script>', '<img src=x onerror=alert(1)>', ' onmouseover=', 'onerror=',
  '\u00000\u0000', '\u00001\u0000', '\u00009\u0000', '<a href="', '"><', 'target="_blank"',
  '[x](/a_b_c)', '[x](/a*b)', '_b_', '*b*',
];

// What the existing tests render, to mangle.
const SAMPLES = [
  '# Title\n\nSome **bold** and *soft* text with `code`.\n\n- one\n- two\n\n1. first\n2. second\n\n[Docs](https://example.com/a?b=1&c=2)',
  '<script>alert(1)</script>\n\n**<img src=x onerror=alert(1)>**\n\n```\n<b>kept as text</b>\n```\n\n> <iframe>',
  '[x](javascript:alert(1)) [y](/relative/path) [z](mailto:help@example.com) [w](https://a.test/"onmouseover="y)',
  '> quoted [link](\x01javascript:alert(1))\n> **bold** _em_ `code`',
  '_see [the guide](https://a.test/how_to_pay) and *this [one](/a*b)* or [that](/c) b_ `x`',
];

function generate(random) {
  if (random(3) === 0) {
    let text = SAMPLES[random(SAMPLES.length)];
    for (let edits = 1 + random(4); edits > 0; edits -= 1) {
      const at = random(text.length + 1);
      const cut = random(16);
      const insert = random(4) === 0 ? String.fromCharCode(random(0x3000)) : TOKENS[random(TOKENS.length)];
      text = text.slice(0, at) + insert + text.slice(at + cut);
    }
    return text;
  }
  const pieces = [];
  for (let count = random(64); count > 0; count -= 1) {
    pieces.push(random(4) === 0 ? String.fromCharCode(random(0x80)) : TOKENS[random(TOKENS.length)]);
  }
  return pieces.join('');
}

// The HTML tokenizer's reading of character references in an attribute, for what the
// renderer can leave there.
const NAMED = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", colon: ':', Tab: '\t', NewLine: '\n', sol: '/', lpar: '(', rpar: ')' };
function decodeReferences(value) {
  return value.replace(/&(#x([0-9a-f]+)|#([0-9]+)|([a-z]+));?/gi, (whole, _, hex, decimal, name) => {
    if (hex !== undefined) return String.fromCodePoint(Math.min(parseInt(hex, 16), 0x10ffff));
    if (decimal !== undefined) return String.fromCodePoint(Math.min(parseInt(decimal, 10), 0x10ffff));
    return NAMED[name] ?? whole;
  });
}

// The scheme a browser reads from an attribute's URL (the WHATWG URL parser: leading and
// trailing C0 controls and spaces stripped, tabs and newlines removed anywhere), or null.
export function browserScheme(url) {
  const cleaned = url.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '').replace(/[\t\n\r]/g, '');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(cleaned);
  return scheme === null ? null : scheme[1].toLowerCase();
}

const TAGS = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'strong', 'em', 'code', 'pre', 'ul', 'ol', 'li', 'blockquote', 'hr', 'a']);
const LINK_ATTRIBUTES = new Set(['href', 'rel', 'target']);
const SCHEMES = new Set(['http', 'https', 'mailto']);

// Reads `html` as a browser's tokenizer does (tags and their attributes; text elsewhere) and
// returns what breaks the renderer's promise, or null.
export function unsafeMarkup(html) {
  let at = 0;
  const space = /[\t\n\f\r ]/;
  while ((at = html.indexOf('<', at)) !== -1) {
    at += 1;
    const next = html[at] ?? '';
    if (next === '!' || next === '?') return `markup the renderer does not make: ${html.slice(at - 1, at + 20)}`;
    const closing = next === '/';
    if (closing) at += 1;
    if (!/[a-z]/i.test(html[at] ?? '')) continue; // text: `<` not followed by a letter
    let name = '';
    while (at < html.length && !space.test(html[at]) && html[at] !== '/' && html[at] !== '>') name += html[at++];
    name = name.toLowerCase();
    if (!TAGS.has(name)) return `the tag <${name}>`;
    // Attributes, up to the tag's end.
    for (;;) {
      while (at < html.length && (space.test(html[at]) || html[at] === '/')) at += 1;
      if (at >= html.length || html[at] === '>') break;
      let attribute = html[at++];
      while (at < html.length && !space.test(html[at]) && !'/>='.includes(html[at])) attribute += html[at++];
      attribute = attribute.toLowerCase();
      while (space.test(html[at] ?? '')) at += 1;
      let value = '';
      if (html[at] === '=') {
        at += 1;
        while (space.test(html[at] ?? '')) at += 1;
        const quote = html[at];
        if (quote === '"' || quote === "'") {
          const end = html.indexOf(quote, at + 1);
          value = html.slice(at + 1, end === -1 ? html.length : end);
          at = end === -1 ? html.length : end + 1;
        } else {
          while (at < html.length && !space.test(html[at]) && html[at] !== '>') value += html[at++];
        }
      }
      if (closing) return `an attribute on </${name}>`;
      // Every `<` and `>` of the source is escaped: one here is the renderer's markup.
      if (/[<>]/.test(value)) return `markup inside the attribute ${attribute} (${JSON.stringify(value)})`;
      if (name !== 'a' || !LINK_ATTRIBUTES.has(attribute)) return `the attribute ${attribute} on <${name}>`;
      if (attribute === 'href') {
        const scheme = browserScheme(decodeReferences(value));
        if (scheme !== null && !SCHEMES.has(scheme)) return `a ${scheme}: link (${JSON.stringify(value)})`;
      }
    }
  }
  return null;
}

// The characters of `map` beyond those of `limit` (whitespace left out), or null.
function surplus(map, limit) {
  const counts = new Map();
  for (const char of limit) counts.set(char, (counts.get(char) ?? 0) + 1);
  const extra = [];
  for (const char of map) {
    if (/\s/.test(char)) continue;
    const left = counts.get(char) ?? 0;
    if (left === 0) extra.push(char);
    else counts.set(char, left - 1);
  }
  return extra.length ? extra.join('') : null;
}

// What a reader sees of `html` (markup the checker passed: tags out, references read), against
// the source: markdown only takes characters out (its syntax, URLs, NULs) and joins lines with
// spaces, so any other character is one the renderer made up or repeated.
export function inventedText(source, html) {
  const text = decodeReferences(html.replace(/<[^>]*>/g, ''));
  const extra = surplus(text, source);
  return extra === null ? null : `text that is not the source's: ${JSON.stringify(extra)}`;
}

function failure(source) {
  let html;
  try {
    html = renderMarkdown(source);
  } catch (err) {
    return `threw ${err}`;
  }
  return unsafeMarkup(html) ?? inventedText(source, html);
}

// The smallest input that still fails, by cutting pieces out while it does.
function shrink(source) {
  let smallest = source;
  for (let size = smallest.length >> 1; size >= 1; size >>= 1) {
    for (let at = 0; at + size <= smallest.length;) {
      const candidate = smallest.slice(0, at) + smallest.slice(at + size);
      if (failure(candidate) !== null) smallest = candidate;
      else at += size;
    }
  }
  return smallest;
}

test('the checker sees what a browser would run', () => {
  assert.equal(unsafeMarkup('<p><a href="https://a.test/" rel="noopener noreferrer" target="_blank">x</a> 1 &lt; 2</p>'), null);
  assert.match(unsafeMarkup('<a href="&#106;avascript:alert(1)">x</a>'), /javascript/);
  assert.match(unsafeMarkup('<a href=" \x01java\tscript&colon;x">x</a>'), /javascript/);
  assert.match(unsafeMarkup('<a href="data:text/html,x">x</a>'), /data/);
  assert.match(unsafeMarkup('<p onclick="x">'), /onclick/);
  assert.match(unsafeMarkup('<em>a</em><SCRIPT>x</SCRIPT>'), /script/);
  assert.match(unsafeMarkup('<img src=x>'), /img/);
  assert.match(unsafeMarkup('<a href="https://a.test/<em>a</em>" rel="noopener noreferrer">x</a>'), /markup inside the attribute href/);
  assert.match(unsafeMarkup('<a href="/x" target="<em>blank">a</a>'), /markup inside the attribute target/);
  assert.equal(inventedText('**a** &amp; `b`', '<p><strong>a</strong> &amp;amp; <code>b</code></p>'), null);
  assert.match(inventedText('a \u00005\u0000', '<p>a <code>undefined</code></p>'), /undefined/);
  assert.match(inventedText('`b` \u00000\u0000', '<p><code>b</code> <code>b</code></p>'), /"b"/);
});

test(`rendered markdown holds only the renderer's tags and safe links (${CASES} cases, SWITCHBOARD_FUZZ_SEED=${SEED})`, () => {
  const random = generator(SEED);
  for (let i = 0; i < CASES; i += 1) {
    const source = generate(random);
    if (failure(source) !== null) {
      const smallest = shrink(source);
      assert.fail(`${failure(smallest)} from ${JSON.stringify(smallest)} (SWITCHBOARD_FUZZ_SEED=${SEED})`);
    }
  }
});
