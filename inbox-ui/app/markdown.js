// A small, safe markdown renderer for the knowledge-base preview. The text is HTML-escaped
// first; only the tags made here are ever produced, and links only to http(s), mailto or
// relative URLs. Supports headings, paragraphs, emphasis, inline code, fenced code, lists,
// block quotes, rules and links: what support articles use.

export function escapeHtml(text) {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

// Browsers drop control characters and spaces around a URL, and tabs and newlines inside it,
// before they read its scheme (`\x01javascript:` is `javascript:`). They are taken out of the
// whole URL first, so the scheme checked is the one the browser will see.
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f]/g;

function safeUrl(url) {
  const cleaned = url.replace(CONTROL_OR_SPACE, '');
  // `url` is already escaped; decode the entities only to look at the scheme.
  const plain = cleaned
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(plain);
  // No scheme: a link relative to the hub. Otherwise only http(s) and mailto.
  if (scheme === null || /^(https?|mailto)$/i.test(scheme[1])) {
    return cleaned;
  }
  return null;
}

// Code spans and links are rendered first and held out of the text as placeholders, NUL, the
// piece's index, NUL, while emphasis is applied around them: nothing inside a code span is
// formatted, and emphasis never reaches into a link's attributes (its `href`, or the
// renderer's own `target="_blank"`) or half into a link. The source's NULs are taken out
// first (`renderMarkdown`), so a placeholder is always the renderer's own.
const PLACEHOLDER = /\u0000(\d+)\u0000/g;

function emphasis(text) {
  return text
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/__([^_]+)__/g, '<strong>$1</strong>')
    .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, '$1<em>$2</em>')
    .replace(/(^|[^\w])_([^_\s][^_]*)_(?!\w)/g, '$1<em>$2</em>');
}

function inline(text) {
  const held = []; // { html, source }
  const hold = (html, source) => {
    held.push({ html, source });
    return `\u0000${held.length - 1}\u0000`;
  };
  const html = (out) => out.replace(PLACEHOLDER, (_, index) => held[Number(index)].html);
  // Code spans first, so that nothing inside them is formatted.
  let out = text.replace(/`([^`]+)`/g, (whole, code) => hold(`<code>${code}</code>`, whole));
  out = out.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label, url) => {
    // Backticks in a URL are characters of the URL, not a code span.
    const href = safeUrl(url.replace(PLACEHOLDER, (_, index) => held[Number(index)].source));
    return href === null
      ? label
      : hold(`<a href="${href}" rel="noopener noreferrer" target="_blank">${html(emphasis(label))}</a>`, whole);
  });
  return html(emphasis(out));
}

/** Markdown text → an HTML string that is safe to assign to innerHTML. */
export function renderMarkdown(source) {
  // NUL never reaches the page (browsers drop it from text) and would let the text forge the
  // renderer's placeholders (`inline`).
  const text = String(source ?? '').replace(/\u0000/g, '');
  const lines = escapeHtml(text).replace(/\r\n?/g, '\n').split('\n');
  const html = [];
  let paragraph = [];
  let list = null; // { tag: 'ul' | 'ol', items: [] }
  let quote = [];

  const flushParagraph = () => {
    if (paragraph.length) html.push(`<p>${inline(paragraph.join(' '))}</p>`);
    paragraph = [];
  };
  const flushList = () => {
    if (list) html.push(`<${list.tag}>${list.items.map((item) => `<li>${inline(item)}</li>`).join('')}</${list.tag}>`);
    list = null;
  };
  const flushQuote = () => {
    if (quote.length) html.push(`<blockquote>${renderMarkdownEscaped(quote)}</blockquote>`);
    quote = [];
  };
  const flushAll = () => {
    flushParagraph();
    flushList();
    flushQuote();
  };

  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    const fence = line.match(/^\s*```/);
    if (fence) {
      flushAll();
      const code = [];
      i += 1;
      while (i < lines.length && !/^\s*```/.test(lines[i])) {
        code.push(lines[i]);
        i += 1;
      }
      html.push(`<pre><code>${code.join('\n')}</code></pre>`);
      continue;
    }
    if (/^\s*&gt;\s?/.test(line)) {
      flushParagraph();
      flushList();
      quote.push(line.replace(/^\s*&gt;\s?/, ''));
      continue;
    }
    flushQuote();
    if (/^\s*$/.test(line)) {
      flushParagraph();
      flushList();
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      flushAll();
      const level = heading[1].length;
      html.push(`<h${level}>${inline(heading[2])}</h${level}>`);
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flushAll();
      html.push('<hr>');
      continue;
    }
    const bullet = line.match(/^\s*[-*+]\s+(.*)$/);
    const numbered = line.match(/^\s*\d+[.)]\s+(.*)$/);
    if (bullet || numbered) {
      flushParagraph();
      const tag = bullet ? 'ul' : 'ol';
      if (list && list.tag !== tag) flushList();
      if (!list) list = { tag, items: [] };
      list.items.push((bullet || numbered)[1]);
      continue;
    }
    if (list && /^\s{2,}\S/.test(line)) {
      list.items[list.items.length - 1] += ` ${line.trim()}`;
      continue;
    }
    flushList();
    paragraph.push(line.trim());
  }
  flushAll();
  return html.join('\n');
}

// Block quotes hold markdown too; their lines are escaped already.
function renderMarkdownEscaped(lines) {
  const unescaped = lines.join('\n')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
  return renderMarkdown(unescaped);
}
