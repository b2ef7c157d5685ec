// The signed-in agent's availability in the top bar (issue 19), as helpdesks have it (Chatwoot's
// online / busy / offline): *Online* gets the conversations routing assigns, *Away* gets none
// (and hands back what the agent has not answered yet), *Offline* is what the hub says of an
// agent who chose online but whose heartbeat it no longer sees, or who never chose (docs/routing.md,
// "Assignment and presence"). The agent picks Online or Away (`POST /me/presence`).
//
// The event stream carries no presence events, so what the control shows is read from
// `GET /presence`: on load, after every (re)connect of the stream (main.js hands its `ready`
// over), when the tab comes back into view, and every minute; a change made on another device
// or by the hub shows within a minute. Other tabs of this browser hear of a change at once
// (a BroadcastChannel). While the agent's choice is online, the minute's read is followed by
// `online` again: the heartbeat a hub without Redis needs (`presence_stale_secs`); it is sent
// only after reading that the choice is still online, so that it does not undo an "away" said
// elsewhere.

import { get, post } from './api.js';
import { h, toast } from './dom.js';

const EVERY_MS = 60 * 1000;
const CHANNEL = 'switchboard.presence';

const LABELS = { online: 'Online', away: 'Away', offline: 'Offline' };
const HINTS = {
  online: 'Online: routing assigns you conversations.',
  away: 'Away: routing assigns you nothing new, and hands back what you have not answered yet.',
  offline: 'Offline: the hub does not count you as online. Choose Online to take conversations.',
};

/** What the control shows for the agent's presence record (null: they never chose). */
export function availability(presence) {
  if (!presence) return 'offline';
  if (presence.status === 'away') return 'away';
  return presence.online ? 'online' : 'offline';
}

/** The control for the user `userId`; `element` goes into the top bar. */
export function createPresence({ userId }) {
  let mine = null; // the agent's presence record, as the hub last said
  let stopped = false;
  let choosing = false;
  // One request at a time, in order: a heartbeat on its way never lands after an "away".
  let queue = Promise.resolve();
  const serially = (task) => {
    queue = queue.then(task, task);
    return queue;
  };
  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;

  const offline = h('option', { value: 'offline', disabled: true }, LABELS.offline);
  const select = h('select', {
    'aria-label': 'Availability',
    onchange: () => choose(select.value),
  }, h('option', { value: 'online' }, LABELS.online), h('option', { value: 'away' }, LABELS.away), offline);
  const element = h('label', { class: 'presence', dataset: { state: 'unknown' } },
    h('span', { class: 'presence-dot', 'aria-hidden': 'true' }), select);

  function show(presence) {
    if (stopped) return;
    mine = presence;
    const state = availability(presence);
    element.dataset.state = state;
    // The Offline option is a state to show, not a choice.
    offline.hidden = state !== 'offline';
    select.value = state;
    element.title = HINTS[state];
  }

  async function read() {
    const everyone = await get('/presence');
    return everyone.find((presence) => presence.user_id === userId) || null;
  }

  /** Shows what the hub says now. */
  function load() {
    return serially(async () => {
      try {
        show(await read());
      } catch {
        // It stays as it was; the next read corrects it.
      }
    });
  }

  /** The minute's read, and the heartbeat while the agent's choice is online. */
  function tick() {
    return serially(async () => {
      try {
        const presence = await read();
        show(presence?.status === 'online' && !stopped ? await post('/me/presence', { status: 'online' }) : presence);
      } catch {
        // The next tick tries again.
      }
    });
  }

  function choose(status) {
    if (status !== 'online' && status !== 'away') return;
    choosing = true;
    select.disabled = true;
    serially(async () => {
      try {
        const presence = await post('/me/presence', { status });
        show(presence);
        channel?.postMessage({ user_id: userId, presence });
        toast(status === 'away' ? 'You are away: no new conversations' : 'You are online');
      } catch (error) {
        toast(error.message, 'error');
        show(mine);
      } finally {
        choosing = false;
        select.disabled = false;
      }
    });
  }

  const onVisible = () => {
    if (document.visibilityState === 'visible') load();
  };
  if (channel) {
    channel.onmessage = ({ data }) => {
      if (!choosing && data?.user_id === userId) show(data.presence);
    };
  }
  document.addEventListener('visibilitychange', onVisible);
  const timer = setInterval(tick, EVERY_MS);
  tick();

  function stop() {
    stopped = true;
    clearInterval(timer);
    document.removeEventListener('visibilitychange', onVisible);
    channel?.close();
  }

  return { element, load, stop };
}
