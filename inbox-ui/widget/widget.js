/*! Switchboard chat widget: plain JavaScript, no dependencies, no build step.
 * Embed: <script src="https://HUB/widget.js" data-inbox="INBOX_ID" async></script>
 * Optional: data-user-id + data-user-hash (identity verification), data-title, data-greeting,
 * data-accent (a CSS colour). Speaks the web-chat WebSocket protocol v1 (docs/specs/webchat.md).
 * window.SwitchboardChat.open() / .close() let the host page open the panel from its own button. */
(() => {
  'use strict';
  const script =
    document.currentScript || document.querySelector('script[data-inbox][src*="widget.js"]');
  const inbox = script && script.dataset.inbox;
  if (!inbox) {
    console.warn('Switchboard chat: the <script> tag needs data-inbox="INBOX_ID"');
    return;
  }
  const registry = (window.__switchboardChats = window.__switchboardChats || {});
  if (registry[inbox]) return; // The same snippet pasted twice must not open two sockets.
  registry[inbox] = true;

  const cfg = script.dataset;
  const base = new URL('.', script.src || location.href);
  const userId = cfg.userId || '';
  const userHash = cfg.userHash || '';
  const title = cfg.title || 'Chat with us';
  const greeting = cfg.greeting || 'Hi! Ask us anything. Our assistant answers right away, and a person is one click away.';

  // ---- what survives a reload: the visitor token and the messages not yet acknowledged ----
  const KEY = 'switchboard-chat:' + inbox;
  const stored = (() => {
    try {
      return JSON.parse(localStorage.getItem(KEY)) || {};
    } catch {
      return {};
    }
  })();
  // A token belongs to one signed-in user: another user on the same browser starts afresh.
  let token = stored.user === userId ? stored.token || '' : '';
  let conversationId = token ? stored.conversation || '' : '';
  const pending = new Map(); // client_id -> { text, li }
  const save = () => {
    try {
      localStorage.setItem(
        KEY,
        JSON.stringify({
          token,
          user: userId,
          conversation: conversationId,
          pending: [...pending].map(([id, p]) => ({ id, text: p.text })),
        }),
      );
    } catch {
      /* storage full or blocked: the chat still works for this page */
    }
  };

  const newId = () => {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return 'c-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  };

  // ---- DOM ----
  const h = (tag, props, ...kids) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    el.append(...kids.filter((k) => k != null && k !== false));
    return el;
  };
  const svg = (path) => {
    const s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    s.innerHTML = `<path d="${path}" fill="currentColor"/>`;
    return s;
  };
  const ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6a1.3 1.3 0 1 0 0 2.6A1.3 1.3 0 0 0 7 10zm5 0a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6zm5 0a1.3 1.3 0 1 0 0 2.6 1.3 1.3 0 0 0 0-2.6z';
  const ICON_CLOSE = 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z';
  const ICON_SEND = 'M3 20.5 21.5 12 3 3.5v6.6l13 1.9-13 1.9z';

  const STYLES = `
:host{all:initial}
*{box-sizing:border-box}
.root{--accent:#2f5bd3;--ink:#1c2230;--muted:#5d6677;--line:#e3e6ec;--soft:#f3f5f8;
 font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
 position:fixed;right:20px;bottom:20px;z-index:2147483000;-webkit-font-smoothing:antialiased}
button{font:inherit;color:inherit;cursor:pointer}
button:focus-visible,textarea:focus-visible,a:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.launcher{width:58px;height:58px;border-radius:50%;border:0;background:var(--accent);color:#fff;
 box-shadow:0 6px 20px rgba(15,23,42,.25);display:grid;place-items:center;position:relative;transition:transform .15s}
.launcher:hover{transform:scale(1.05)}
.launcher svg{width:28px;height:28px}
.badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;
 background:#d92d20;color:#fff;font-size:12px;font-weight:600;line-height:20px;text-align:center}
.panel{position:fixed;right:20px;bottom:20px;width:380px;height:min(640px,calc(100vh - 40px));
 background:#fff;border-radius:16px;box-shadow:0 12px 48px rgba(15,23,42,.28);display:flex;flex-direction:column;
 overflow:hidden;animation:rise .18s ease-out}
@keyframes rise{from{opacity:0;transform:translateY(12px)}}
[hidden]{display:none!important}
header{background:var(--accent);color:#fff;padding:14px 12px 12px 18px;display:flex;align-items:flex-start;gap:8px}
header .t{flex:1;min-width:0}
h2{margin:0;font-size:16px;font-weight:650}
.status{margin:2px 0 0;font-size:12.5px;opacity:.9}
.icon{background:transparent;border:0;color:inherit;width:34px;height:34px;border-radius:8px;display:grid;place-items:center;flex:none}
.icon:hover{background:rgba(255,255,255,.15)}
.icon svg{width:20px;height:20px}
.conn{background:#fff6e0;color:#6b4e00;font-size:12.5px;padding:6px 18px;border-bottom:1px solid #f1e2b3}
.scroll{flex:1;overflow-y:auto;padding:16px 14px 8px;background:var(--soft);overscroll-behavior:contain}
.hello{margin:0 0 12px;color:var(--muted);font-size:13px;text-align:center}
ol{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:8px}
ol>li{display:flex;flex-direction:column;max-width:86%;align-self:flex-start}
li.customer{align-self:flex-end;align-items:flex-end}
.who{font-size:11.5px;color:var(--muted);margin:0 4px 2px}
.bubble{padding:9px 12px;border-radius:14px;background:#fff;border:1px solid var(--line);white-space:pre-wrap;overflow-wrap:anywhere}
.customer .bubble{background:var(--accent);border-color:var(--accent);color:#fff;border-bottom-right-radius:4px}
.ai .bubble,.agent .bubble{border-bottom-left-radius:4px}
.bubble a{color:inherit}
.streaming .bubble::after{content:"\\258D";opacity:.5;animation:blink 1s steps(2) infinite}
@keyframes blink{50%{opacity:0}}
.meta{font-size:11px;color:var(--muted);margin:3px 4px 0}
.pending .bubble{opacity:.75}
.failed .bubble{opacity:.6;text-decoration:line-through}
li.note,li.system{align-self:center;max-width:92%;align-items:center;text-align:center}
.note .bubble,.system .bubble{background:transparent;border:0;color:var(--muted);font-size:12.5px;padding:2px 8px}
.note.error .bubble{color:#a4320f}
.sources{margin:6px 2px 0;font-size:12px;color:var(--muted)}
.sources ul{list-style:none;margin:2px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:4px}
.sources li{max-width:none;display:inline;background:#fff;border:1px solid var(--line);border-radius:999px;padding:1px 9px;color:var(--ink)}
.sources a{color:var(--accent)}
.files{list-style:none;margin:6px 2px 0;padding:0;font-size:13px}
.files li{max-width:none;display:block;background:#fff;border:1px solid var(--line);border-radius:8px;padding:4px 10px;margin-top:4px}
.files a{color:var(--accent);word-break:break-all}
.unsure{margin:5px 4px 0;font-size:12px;color:var(--muted);font-style:italic}
.csat{background:#fff;border:1px solid var(--line);border-radius:12px;padding:10px 12px;text-align:center}
.stars{display:flex;gap:2px;justify-content:center;margin-top:4px}
.star{background:none;border:0;font-size:24px;line-height:1;padding:2px 4px;color:#c4c9d4}
.star[aria-pressed=true],.stars:hover .star{color:#f5a524}
.stars .star:hover~.star{color:#c4c9d4}
.csat textarea{width:100%;margin-top:8px;min-height:54px}
.typing{padding:0 18px 6px;background:var(--soft);color:var(--muted);font-size:12px;display:flex;align-items:center;gap:3px}
.typing i{width:6px;height:6px;border-radius:50%;background:currentColor;animation:dot 1.2s infinite}
.typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}
@keyframes dot{0%,60%,100%{opacity:.3;transform:none}30%{opacity:1;transform:translateY(-3px)}}
.bar{display:flex;justify-content:center;padding:8px 12px 0;border-top:1px solid var(--line)}
.human{background:#fff;border:1px solid var(--line);border-radius:999px;padding:5px 14px;font-size:13px;color:var(--ink)}
.human:hover{border-color:var(--accent);color:var(--accent)}
form.composer{display:flex;gap:8px;align-items:flex-end;padding:8px 12px 6px}
textarea{flex:1;resize:none;font:inherit;color:var(--ink);border:1px solid var(--line);border-radius:12px;
 padding:9px 12px;max-height:120px;min-height:40px;background:#fff}
.send{border:0;background:var(--accent);color:#fff;border-radius:12px;height:40px;padding:0 14px;display:flex;align-items:center;gap:6px;font-weight:600}
.send svg{width:16px;height:16px}
.send:disabled{opacity:.5;cursor:default}
.small{border:1px solid var(--line);background:#fff;border-radius:8px;padding:4px 12px;margin-top:6px;font-size:13px}
.foot{font-size:11px;color:#98a0ae;text-align:center;padding:0 0 8px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){
 .root{right:14px;bottom:14px}
 .panel{inset:0;width:100%;height:100%;height:100dvh;border-radius:0;right:0;bottom:0}
 textarea{font-size:16px}
}
@media (prefers-reduced-motion:reduce){
 *,*::before,*::after{animation:none!important;transition:none!important}
}`;

  const host = h('div', { id: 'switchboard-chat-' + inbox, 'data-switchboard-chat': true });
  const shadow = host.attachShadow({ mode: 'open' });
  const style = document.createElement('style');
  style.textContent = STYLES;

  const badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
  const launcher = h(
    'button',
    { class: 'launcher', type: 'button', 'aria-label': 'Open chat', 'aria-expanded': 'false' },
    svg(ICON_CHAT),
    badge,
  );
  const statusLine = h('p', { class: 'status', text: 'We typically reply in a few minutes' });
  const closeBtn = h('button', { class: 'icon', type: 'button', 'aria-label': 'Close chat' }, svg(ICON_CLOSE));
  const conn = h('div', { class: 'conn', role: 'status', hidden: true });
  const log = h('ol', { role: 'list', 'aria-label': 'Messages' });
  const scroller = h('div', { class: 'scroll' }, h('p', { class: 'hello', text: greeting }), log);
  const typing = h(
    'div',
    { class: 'typing', hidden: true },
    h('span', { class: 'sr', text: 'Typing' }),
    h('i'),
    h('i'),
    h('i'),
  );
  const humanBtn = h('button', { class: 'human', type: 'button', text: 'Talk to a human' });
  const input = h('textarea', {
    'aria-label': 'Message',
    placeholder: 'Write a message…',
    rows: '1',
    maxlength: '4000',
    enterkeyhint: 'send',
  });
  const sendBtn = h('button', { class: 'send', type: 'submit' }, svg(ICON_SEND), h('span', { text: 'Send' }));
  const composer = h('form', { class: 'composer' }, input, sendBtn);
  const live = h('div', { class: 'sr', 'aria-live': 'polite', 'aria-atomic': 'true' });
  const panel = h(
    'section',
    { class: 'panel', role: 'dialog', 'aria-label': title, hidden: true },
    h('header', {}, h('div', { class: 't' }, h('h2', { text: title }), statusLine), closeBtn),
    conn,
    scroller,
    typing,
    h('div', { class: 'bar' }, humanBtn),
    composer,
    h('div', { class: 'foot', text: 'Powered by Switchboard' }),
    live,
  );
  const root = h('div', { class: 'root' }, launcher, panel);
  if (cfg.accent && window.CSS && CSS.supports('color', cfg.accent)) {
    root.style.setProperty('--accent', cfg.accent);
  }
  shadow.append(style, root);

  // ---- rendering ----
  const byId = new Map(); // message_id -> { li, body, final, text }
  let lastSeq = 0; // the largest seq of a message received: what `resume` asks after
  let historySeq = -1; // messages up to this seq were there before this page: not "new"
  let unread = 0;
  let isOpen = false;

  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  const toBottom = () => {
    scroller.scrollTop = scroller.scrollHeight;
  };
  const announce = (text) => {
    live.textContent = '';
    // A fresh text node after a tick makes screen readers speak a repeated phrase again.
    setTimeout(() => (live.textContent = text), 30);
  };

  const URL_RE = /(https?:\/\/[^\s<>"')\]]+)/g;
  const fillText = (el, text) => {
    el.textContent = '';
    String(text).split(URL_RE).forEach((part, i) => {
      el.append(
        i % 2 ? h('a', { href: part, target: '_blank', rel: 'noopener noreferrer', text: part }) : part,
      );
    });
  };
  const WHO = { customer: 'You', ai: 'Assistant', agent: 'Support team', system: '' };
  const item = (role) => {
    const cls = WHO[role] === undefined ? 'system' : role;
    const body = h('div', { class: 'bubble' });
    const li = h('li', { class: cls }, WHO[cls] ? h('span', { class: 'who', text: WHO[cls] }) : null, body);
    return { li, body };
  };
  const place = (li, seq) => {
    const stick = nearBottom();
    li.dataset.seq = seq;
    for (const el of log.children) {
      if (el !== li && Number(el.dataset.seq) > seq) {
        log.insertBefore(li, el);
        return;
      }
    }
    log.append(li);
    if (stick) toBottom();
  };
  const note = (text, kind) => {
    const { li, body } = item('system');
    li.classList.add('note');
    if (kind) li.classList.add(kind);
    body.textContent = text;
    log.append(li);
    toBottom();
    return li;
  };
  const sizeOf = (bytes) => {
    const n = Number(bytes) || 0;
    if (n < 1000) return `${n} B`;
    if (n < 1e6) return `${Math.round(n / 1e3)} KB`;
    return `${(n / 1e6).toFixed(1)} MB`;
  };
  const timeOf = (iso) => {
    const d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  };

  const showMessage = (m) => {
    if (!m || typeof m !== 'object' || m.id == null) return;
    const seq = Number(m.seq) || 0;
    let entry = byId.get(m.id);
    if (entry && entry.final) return; // a replay of something already shown
    if (!entry && m.client_id && pending.has(m.client_id)) {
      // Our own message came back before its ack: it is the pending bubble.
      const p = pending.get(m.client_id);
      pending.delete(m.client_id);
      save();
      p.li.classList.remove('pending');
      entry = { li: p.li, body: p.li.querySelector('.bubble') };
    }
    if (!entry) entry = item(m.role);
    entry.final = true;
    byId.set(m.id, entry);
    const { li, body } = entry;
    li.classList.remove('streaming');
    fillText(body, m.text || '');
    li.querySelectorAll('.sources,.files,.unsure,.meta').forEach((el) => el.remove());
    // Files from an agent: downloads by the hub's signed links, never shown inline.
    const files = Array.isArray(m.attachments)
      ? m.attachments.filter((f) => f && typeof f.url === 'string' && f.url.startsWith('/chat/files/'))
      : [];
    if (files.length) {
      const list = h('ul', { class: 'files' });
      for (const f of files) {
        const name = String(f.filename || 'file');
        const href = new URL(f.url, base).href;
        list.append(h('li', {}, h('a', { href, download: name, rel: 'noopener', text: `${name} (${sizeOf(f.size)})` })));
      }
      li.append(list);
    }
    const sources = Array.isArray(m.sources) ? m.sources.filter((s) => s && s.title) : [];
    if (sources.length) {
      const list = h('ul');
      for (const s of sources) {
        const safe = typeof s.url === 'string' && /^https?:\/\//.test(s.url);
        list.append(
          h('li', {}, safe ? h('a', { href: s.url, target: '_blank', rel: 'noopener', text: s.title }) : s.title),
        );
      }
      li.append(h('div', { class: 'sources' }, h('span', { text: 'From our help centre' }), list));
    }
    // Confidence is a hint for the reader, never a number: only a lower one earns a word.
    if (m.role === 'ai' && typeof m.confidence === 'number' && m.confidence < 0.6) {
      li.append(
        h('p', {
          class: 'unsure',
          text:
            m.confidence < 0.35
              ? 'I’m not sure about this one. A person can help: press “Talk to a human”.'
              : 'I may have missed something, so please double-check.',
        }),
      );
    }
    const when = timeOf(m.created_at);
    if (when && m.role !== 'system') li.append(h('span', { class: 'meta', text: when }));
    place(li, seq);
    if (seq > lastSeq) lastSeq = seq;
    if (m.role !== 'customer') {
      typing.hidden = true;
      if (seq > historySeq) {
        announce(`${WHO[m.role] || 'Update'}: ${m.text || ''}`);
        if (!isOpen) {
          unread += 1;
          badge.textContent = unread > 9 ? '9+' : String(unread);
          badge.hidden = false;
          launcher.setAttribute('aria-label', 'Open chat');
          launcher.title = `${unread} new message${unread > 1 ? 's' : ''}`;
        }
      }
    }
  };

  const showDelta = (f) => {
    let entry = byId.get(f.message_id);
    if (entry && entry.final) return; // the final message already replaced the stream
    if (!entry) {
      entry = item('ai');
      entry.text = '';
      entry.li.classList.add('streaming');
      byId.set(f.message_id, entry);
      log.append(entry.li);
    }
    const stick = nearBottom();
    entry.text += String(f.text || '');
    entry.body.textContent = entry.text;
    typing.hidden = true;
    if (stick) toBottom();
  };

  const STATUS = {
    bot: 'You’re chatting with our assistant',
    escalated: 'A person will be with you shortly',
    assigned: 'You’re chatting with our support team',
    resolved: 'This conversation is resolved',
  };
  let status = null;
  let snapshot = false; // the next status frame is the one that follows `session`: a state, not news
  const showStatus = (f) => {
    const text = STATUS[f.status];
    // Being with the bot is where every chat starts: news only when the chat comes back to it.
    const quiet = snapshot || (status === null && f.status === 'bot');
    snapshot = false;
    if (!text || f.status === status) return;
    status = f.status;
    statusLine.textContent = text;
    if (f.status === 'resolved') {
      // The next message opens a new conversation whose seq starts again: what is shown stays
      // above it, and a reconnect replays from its start (ids still keep out duplicates).
      for (const el of log.children) delete el.dataset.seq;
      lastSeq = 0;
      conversationId = '';
      hasConversation = false;
    } else {
      csatBox = null; // a later resolution may ask again
    }
    // A change while the visitor watches gets a note in the conversation; the state found on
    // connecting is only shown in the header (the replayed messages tell the story).
    if (!quiet) {
      note(f.status === 'escalated' ? 'Thanks. A person will be with you shortly.' : text + '.', 'status');
      announce(text);
    }
  };

  let csatBox = null;
  const showCsat = () => {
    if (csatBox) return;
    const stars = h('div', { class: 'stars' });
    const box = h('div', { class: 'csat' }, h('div', { text: 'How did we do?' }), stars);
    for (let n = 1; n <= 5; n++) {
      stars.append(
        h('button', {
          class: 'star',
          type: 'button',
          'aria-label': n === 1 ? '1 star' : `${n} stars`,
          'aria-pressed': 'false',
          text: '★',
          onclick: () => rate(n),
        }),
      );
    }
    const rate = (score) => {
      send({ type: 'csat', score });
      stars.querySelectorAll('.star').forEach((b, i) => b.setAttribute('aria-pressed', String(i < score)));
      if (box.querySelector('textarea')) return;
      const comment = h('textarea', { 'aria-label': 'Comment (optional)', placeholder: 'Anything to add? (optional)', maxlength: '2000' });
      const thanks = h('p', { class: 'meta', text: 'Thank you for your rating!' });
      const submit = h('button', {
        class: 'small',
        type: 'button',
        text: 'Send comment',
        onclick: () => {
          const text = comment.value.trim();
          if (!text) return;
          const picked = stars.querySelectorAll('[aria-pressed=true]').length;
          send({ type: 'csat', score: picked, comment: text });
          comment.remove();
          submit.remove();
          thanks.textContent = 'Thank you for your feedback!';
        },
      });
      box.append(thanks, comment, submit);
      announce('Thank you for your rating');
    };
    csatBox = h('li', { class: 'note' }, box);
    log.append(csatBox);
    toBottom();
  };

  const ERRORS = {
    rate_limited: 'You’re sending messages a little fast. We’ll send yours in a moment.',
    text_too_long: 'That message is too long. Please make it shorter.',
    empty_text: 'Please write a message first.',
    no_conversation: 'Please write us a message first.',
    csat_not_requested: 'Thanks! Ratings open once the conversation is resolved.',
    identity_invalid: 'We couldn’t confirm your sign-in. Please reload the page.',
  };
  let resendTimer = 0;
  const resendSoon = (ms) => {
    clearTimeout(resendTimer);
    resendTimer = setTimeout(flush, ms);
  };
  const showError = (f) => {
    // `unavailable`: the hub could not store the frame; it asks for the same frame again.
    if (f.code === 'unavailable') return resendSoon(1500 + Math.random() * 1500);
    if (f.code === 'rate_limited') resendSoon(5000);
    note(ERRORS[f.code] || 'Sorry, something went wrong. Please try again.', 'error');
  };

  // ---- the connection ----
  let sock = null;
  let ready = false; // a `session` frame has arrived on the current socket
  let attempt = 0;
  let retryTimer = 0;
  let wantHandoff = false;
  let hasConversation = false; // there is none before the visitor's first message
  let handoffAfter = ''; // the client_id whose ack opens the conversation a handoff waits for
  let typingTimer = 0;
  let lastTypingSent = 0;

  // Sends what is waiting: unacknowledged messages (same client_id, so the hub stores each once)
  // and a request for a person made while offline.
  const flush = () => {
    for (const [client_id, p] of pending) send({ type: 'message', client_id, text: p.text });
    if (wantHandoff && hasConversation && !handoffAfter) wantHandoff = !send({ type: 'handoff' });
  };
  const send = (frame) => {
    if (!ready || !sock || sock.readyState !== WebSocket.OPEN) return false;
    sock.send(JSON.stringify(frame));
    return true;
  };
  const setConn = (text) => {
    conn.hidden = !text;
    conn.textContent = text || '';
  };

  const wsUrl = () => {
    const url = new URL('chat/ws', base);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('inbox', inbox);
    if (token) url.searchParams.set('visitor', token);
    if (userId && userHash) {
      url.searchParams.set('user_id', userId);
      url.searchParams.set('user_hash', userHash);
    }
    return url.href;
  };

  const connect = () => {
    clearTimeout(retryTimer);
    if (sock) return;
    if (attempt > 0) setConn('Reconnecting…');
    let s;
    try {
      s = new WebSocket(wsUrl());
    } catch {
      scheduleRetry();
      return;
    }
    sock = s;
    s.onmessage = (e) => {
      if (sock !== s) return;
      let f;
      try {
        f = JSON.parse(e.data);
      } catch {
        return;
      }
      if (f && typeof f === 'object') onFrame(f);
    };
    s.onclose = (e) => {
      if (sock !== s) return;
      sock = null;
      ready = false;
      // 4000-4999: the hub says these parameters will never work (a forged identity).
      if (e.code >= 4000 && e.code < 5000) {
        setConn(ERRORS.identity_invalid);
        return;
      }
      scheduleRetry();
    };
  };

  // Exponential backoff with full jitter, so that 10,000 widgets dropped at once by a restart
  // do not all come back in the same instant.
  const scheduleRetry = () => {
    const ceiling = Math.min(30000, 500 * 2 ** Math.min(attempt, 10));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    attempt += 1;
    setConn(
      attempt > 3
        ? 'We can’t reach the chat right now. Retrying… Your messages are kept and will be sent.'
        : 'Connection lost. Reconnecting…',
    );
    retryTimer = setTimeout(connect, delay);
  };
  const reconnectNow = () => {
    if (!sock && (isOpen || token)) {
      attempt = Math.min(attempt, 1);
      connect();
    }
  };
  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') reconnectNow();
  });

  const onFrame = (f) => {
    if (f.type !== 'status') snapshot = f.type === 'session';
    switch (f.type) {
      case 'session': {
        if (conversationId && f.conversation_id && f.conversation_id !== conversationId) {
          // The old conversation is gone (a new token was issued): start a clean list.
          byId.clear();
          log.textContent = '';
          lastSeq = 0;
          csatBox = null;
          status = null;
        }
        if (historySeq < 0) historySeq = Number(f.last_seq) || 0;
        token = f.visitor_token || token;
        conversationId = f.conversation_id || conversationId;
        ready = true;
        attempt = 0;
        setConn('');
        if (f.conversation_id) hasConversation = true;
        send({ type: 'resume', after_seq: lastSeq });
        flush();
        save();
        break;
      }
      case 'ack': {
        hasConversation = true;
        if (f.client_id === handoffAfter) {
          handoffAfter = '';
          flush();
        }
        const p = pending.get(f.client_id);
        if (!p) break;
        pending.delete(f.client_id);
        save();
        if (byId.has(f.message_id)) {
          p.li.remove(); // the replay already showed it
          break;
        }
        p.li.classList.remove('pending');
        p.li.querySelector('.meta').textContent = timeOf(new Date().toISOString());
        byId.set(f.message_id, { li: p.li, body: p.li.querySelector('.bubble'), final: true });
        if (f.seq != null) p.li.dataset.seq = f.seq;
        break;
      }
      case 'message':
        showMessage(f.message);
        break;
      case 'delta':
        showDelta(f);
        break;
      case 'status':
        showStatus(f);
        break;
      case 'typing':
        typing.hidden = false;
        clearTimeout(typingTimer);
        typingTimer = setTimeout(() => (typing.hidden = true), 8000);
        if (nearBottom()) toBottom();
        break;
      case 'csat_request':
        showCsat();
        break;
      case 'error':
        showError(f);
        break;
    }
  };

  // ---- the visitor's actions ----
  const addPending = (client_id, text) => {
    const { li, body } = item('customer');
    li.classList.add('pending');
    fillText(body, text);
    li.append(h('span', { class: 'meta', text: 'Sending…' }));
    log.append(li);
    pending.set(client_id, { text, li });
    toBottom();
  };
  for (const p of Array.isArray(stored.pending) && token ? stored.pending : []) {
    if (p && typeof p.id === 'string' && typeof p.text === 'string') addPending(p.id, p.text);
  }

  const submit = () => {
    const text = input.value.trim();
    if (!text) return '';
    const client_id = newId();
    addPending(client_id, text);
    save();
    input.value = '';
    autosize();
    if (!send({ type: 'message', client_id, text })) {
      pending.get(client_id).li.querySelector('.meta').textContent = 'Will send when reconnected';
      connect();
    }
    return client_id;
  };
  const autosize = () => {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 120) + 'px';
  };
  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  input.addEventListener('input', () => {
    autosize();
    const now = Date.now();
    if (input.value && now - lastTypingSent > 3000 && send({ type: 'typing' })) lastTypingSent = now;
  });
  humanBtn.addEventListener('click', () => {
    wantHandoff = true;
    if (!hasConversation && !handoffAfter) {
      // A handoff needs a conversation, and a conversation starts with a message: send what the
      // visitor has typed, or say what they asked for.
      if (!input.value.trim()) input.value = 'I’d like to talk to a person, please.';
      handoffAfter = submit();
    }
    flush();
    connect();
    if (status !== 'escalated' && status !== 'assigned') statusLine.textContent = 'Asking for a person…';
  });

  const open = () => {
    if (isOpen) return;
    isOpen = true;
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute('aria-expanded', 'true');
    unread = 0;
    badge.hidden = true;
    launcher.removeAttribute('title');
    connect();
    toBottom();
    input.focus();
  };
  const close = () => {
    if (!isOpen) return;
    isOpen = false;
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
  };
  launcher.addEventListener('click', open);
  closeBtn.addEventListener('click', close);
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') close();
  });

  const mount = () => {
    document.body.append(host);
    // A returning visitor reconnects at once, to get replies that came while they were away.
    if (token) connect();
  };
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);

  window.SwitchboardChat = window.SwitchboardChat || { open, close };
})();
