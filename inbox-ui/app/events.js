// The live feed: GET /api/v1/events read with fetch and a streaming body (not EventSource), so
// that the token travels in the Authorization header and never in a URL. Reconnects with
// backoff; after each (re)connect the server sends `ready` and the caller reloads what it shows,
// because events published while disconnected are not replayed.

import { session } from './api.js';

export function connectEvents({ onEvent, onReady, onState }) {
  let stopped = false;
  let controller = null;
  let delay = 1000;

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        onState('connecting');
        const response = await fetch('/api/v1/events', {
          headers: { authorization: `Bearer ${session.token}`, accept: 'text/event-stream' },
          signal: controller.signal,
          cache: 'no-store',
        });
        if (response.status === 401 || response.status === 403) {
          onState('down');
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        await read(response.body);
      } catch (error) {
        if (stopped) return;
      }
      onState('down');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30000);
    }
  }

  async function read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        dispatch(frame);
      }
    }
  }

  function dispatch(frame) {
    let name = 'message';
    const data = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) continue; // keep-alive comment
      if (line.startsWith('event:')) name = line.slice(6).trim();
      if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (name === 'ready') {
      delay = 1000;
      onState('live');
      onReady();
      return;
    }
    if (!data.length) return;
    try {
      onEvent(JSON.parse(data.join('\n')));
    } catch {
      // A frame we cannot read is skipped; the next reload corrects the view.
    }
  }

  run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
