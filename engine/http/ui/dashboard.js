// The Variet engine's dashboard. It reads the /variet/events stream, /variet/status and /v1/models from the
// engine that served it, with the API key the user typed: kept in this tab's sessionStorage, sent in a header
// (the events stream is read with fetch, not EventSource, so the key never goes in a URL). Everything is drawn
// from those answers; nothing is fetched from anywhere else.
//
// The events are the source of the page's state: each one patches it. The status poll reconciles: while the
// stream is live it runs every few seconds, to repair what a missed event left wrong and to bring the counters
// no event carries (queues, requests); while the stream is down it is all the page has, so it runs every second.

const POLL_MS = 1000; // while the events stream is not live
const RECONCILE_MS = 5000; // while it is
const BACKOFF_MS = [1000, 2000, 4000, 5000];
const TICK_MS = 500;
const KEEP_SECONDS = 900;
const MAX_ERRORS = 50;
const MAX_REQUESTS = 5000; // request marks kept for the timeline (the newest): a busy engine has many
const NOTICE_MS = 6000;
const KEY_STORE = 'variet-engine-key';
const MIN_SPAN = 3; // seconds: the shortest stretch the timeline draws
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300];
const SVG = 'http://www.w3.org/2000/svg';

class AuthError extends Error {}
class Unreachable extends Error {}

const $ = (id) => document.getElementById(id);

const S = {
  key: sessionStorage.getItem(KEY_STORE),
  keyRequired: document.querySelector('meta[name="variet-key"]')?.content === 'required',
  running: false,
  status: null,
  statusAt: 0,
  models: new Map(),
  offset: 0, // this browser's clock minus the engine's, in seconds
  swaps: [], // {tier, start, end, ok, error, expected}: end null while it runs
  resident: [], // {tier, start, end}: when a tier was loaded
  requests: [], // {tier, start, end, status, waited, waitedSeconds}
  marks: [], // {time, kind: 'down' | 'up'}
  exits: [], // {tier, time}: a loaded tier's process exited
  outages: [], // {start, end}: when this page could not reach the engine
  errors: [], // {id, time, what, message, kind}
  requested: new Set(), // tiers whose load this page asked for, until it starts
  windowSeconds: 300,
  opened: null, // engine time of the first answer this page got
  failures: 0,
  eventFailures: 0,
  live: false, // the events stream is open and subscribed
  eventSeq: 0, // events applied so far: a poll answer older than the last event must not undo it
  repairs: 0, // polls that found the state wrong although the stream was live: events were missed
  polling: false,
  pollTimer: 0,
  eventsTimer: 0, // set while a new events stream waits to be opened
  events: null, // the AbortController of the open events stream
  cards: new Map(),
  noticeTimer: 0,
};

// ---- time and formatting

const now = () => Date.now() / 1000;
const engineNow = () => now() - S.offset;

function seconds(value) {
  if (value == null || Number.isNaN(value)) return '–';
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 60) return `${value.toFixed(value < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(value / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(value % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function ago(time) {
  const passed = Math.max(0, engineNow() - time);
  if (passed < 5) return 'just now';
  if (passed < 90) return `${Math.round(passed)} s ago`;
  if (passed < 5400) return `${Math.round(passed / 60)} min ago`;
  return `${Math.round(passed / 3600)} h ago`;
}

function clock(time) {
  return new Date((time + S.offset) * 1000).toLocaleTimeString([], {hour12: false});
}

function tokens(count) {
  if (!count) return '–';
  return count >= 1024 && count % 1024 === 0 ? `${count / 1024}k tokens` : `${count} tokens`;
}

function speed(value) {
  return value == null ? '–' : value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

// ---- DOM helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function svg(parent, tag, attrs, title) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (title) node.append(Object.assign(document.createElementNS(SVG, 'title'), {textContent: title}));
  parent.append(node);
  return node;
}

function notice(text, kind = 'info') {
  const box = $('notice');
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(S.noticeTimer);
  S.noticeTimer = setTimeout(() => { box.hidden = true; }, NOTICE_MS);
}

// ---- talking to the engine

async function api(path, {method = 'GET', key = S.key, signal, accept = 'application/json'} = {}) {
  const headers = {accept};
  if (key) headers.authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(path, {method, headers, signal, cache: 'no-store', credentials: 'omit'});
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new Unreachable(String(error));
  }
  if (response.status === 401) throw new AuthError(await errorMessage(response));
  return response;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body?.error?.message || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function setLink(state) {
  const link = $('link');
  S.live = state === 'live';
  link.dataset.link = state;
  link.dataset.repairs = String(S.repairs);
  link.title = S.repairs ? `${S.repairs} missed event${S.repairs > 1 ? 's' : ''} repaired by the status poll` : '';
  link.textContent = {
    connecting: 'connecting…',
    live: 'live',
    reconnecting: 'events reconnecting…',
    unreachable: 'engine unreachable',
    locked: 'API key needed',
  }[state];
}

function start() {
  S.running = true;
  $('forget').hidden = !S.key;
  poll();
}

function stop() {
  S.running = false;
  clearTimeout(S.pollTimer);
  clearTimeout(S.eventsTimer);
  S.eventsTimer = 0;
  S.events?.abort();
  S.events = null;
}

async function poll() {
  clearTimeout(S.pollTimer);
  if (!S.running || S.polling) return; // one poll at a time: the running one schedules the next
  S.polling = true;
  const seq = S.eventSeq;
  let wait = POLL_MS;
  try {
    const response = await api('/variet/status');
    if (!response.ok) throw new Unreachable(await errorMessage(response));
    const status = await response.json();
    if (S.running) {
      reconcile(status, seq);
      reachable();
      if (S.live) wait = RECONCILE_MS;
    }
  } catch (error) {
    if (error instanceof AuthError) rejected();
    else if (S.running) {
      unreachable();
      wait = BACKOFF_MS[Math.min(S.failures, BACKOFF_MS.length) - 1];
    }
  } finally {
    S.polling = false;
  }
  if (S.running) S.pollTimer = setTimeout(poll, wait);
}

function reachable() {
  const recovered = S.failures > 0;
  S.failures = 0;
  for (const outage of S.outages) outage.end ??= engineNow();
  $('main').hidden = false;
  $('summary').hidden = false;
  if (recovered || S.models.size === 0) loadModels();
  if (!S.events && !S.eventsTimer) openEvents();
  else if ($('link').dataset.link === 'unreachable') setLink('connecting');
  render();
}

function unreachable() {
  S.failures += 1;
  if (S.failures === 1) {
    S.outages.push({start: engineNow(), end: null});
    // Its stream would hang on a stopped engine (and keep the engine from stopping): open a new one later.
    S.events?.abort();
    S.events = null;
    clearTimeout(S.eventsTimer);
    S.eventsTimer = 0;
  }
  setLink('unreachable');
  render();
}

async function loadModels() {
  try {
    const response = await api('/v1/models');
    if (!response.ok) return;
    const list = await response.json();
    S.models = new Map(list.data.filter((entry) => entry.tier).map((entry) => [entry.id, entry]));
    render();
  } catch (error) {
    if (error instanceof AuthError) rejected();
  }
}

async function openEvents() {
  const controller = new AbortController();
  S.events = controller;
  if ($('link').dataset.link !== 'live') setLink('connecting');
  try {
    const response = await api('/variet/events', {signal: controller.signal, accept: 'text/event-stream'});
    if (!response.ok) throw new Unreachable(await errorMessage(response));
    await readEvents(response.body);
  } catch (error) {
    if (error instanceof AuthError) return rejected();
  }
  if (S.events !== controller) return; // closed on purpose
  S.events = null;
  if (!S.running || S.failures) return;
  setLink('reconnecting');
  poll(); // the stream may have ended with the engine: find out now, and follow it by polling meanwhile
  S.eventFailures += 1;
  const wait = BACKOFF_MS[Math.min(S.eventFailures, BACKOFF_MS.length) - 1];
  S.eventsTimer = setTimeout(() => {
    S.eventsTimer = 0;
    if (S.running && !S.events && !S.failures) openEvents();
  }, wait);
}

async function readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim()).join('\n');
      if (data) onEvent(JSON.parse(data));
    }
  }
}

async function control(path, what) {
  try {
    const response = await api(path, {method: 'POST'});
    if (response.ok) return await response.json();
    const message = await errorMessage(response);
    addError(engineNow(), `${what}: refused`, message, `control:${now()}`);
    notice(message, 'error');
  } catch (error) {
    if (error instanceof AuthError) rejected();
    else notice('The engine is unreachable: nothing was sent.', 'error');
  }
  return null;
}

async function load(tier) {
  // Marked before asking: the swap's own events may arrive before the answer does, and they clear the mark.
  S.requested.add(tier);
  render();
  const answer = await control(`/variet/tiers/${encodeURIComponent(tier)}/load`, `Loading ${tier}`);
  if (!answer || answer.state === 'loaded') S.requested.delete(tier);
  if (answer?.state === 'loaded') {
    notice(`${tier} is already loaded.`);
  } else if (answer) {
    notice(answer.started ? `Loading ${tier}: it starts once the running requests are done.`
      : `${tier} is already on its way.`);
  }
  render();
  poll();
}

async function unload() {
  const answer = await control('/variet/unload', 'Unloading');
  if (!answer) return;
  notice(answer.tier ? `Unloading ${answer.tier} once its requests are done.` : 'Nothing is loaded.');
  poll();
}

// ---- the API key

function askForKey(message = '') {
  stop();
  S.key = null;
  sessionStorage.removeItem(KEY_STORE);
  $('main').hidden = true;
  $('summary').hidden = true;
  $('forget').hidden = true;
  $('login').hidden = false;
  const error = $('key-error');
  error.textContent = message;
  error.hidden = !message;
  setLink('locked');
  $('key').focus();
}

function rejected() {
  askForKey('The engine no longer accepts the key this page had (it may have restarted with another one): '
    + 'enter it again.');
}

async function submitKey(event) {
  event.preventDefault();
  const input = $('key');
  const key = input.value.trim();
  input.value = '';
  if (!key) return;
  const button = event.target.querySelector('button');
  button.disabled = true;
  try {
    const response = await api('/variet/status', {key});
    if (!response.ok) throw new Unreachable(await errorMessage(response));
    S.key = key;
    sessionStorage.setItem(KEY_STORE, key);
    $('login').hidden = true;
    start();
  } catch (error) {
    const text = error instanceof AuthError
      ? 'Wrong API key: the engine refused it. Enter the key the engine was started with.'
      : 'The engine is unreachable: start it, then try again.';
    $('key-error').textContent = text;
    $('key-error').hidden = false;
    input.focus();
  } finally {
    button.disabled = false;
  }
}

// ---- what the engine tells

function setStatus(status) {
  S.opened ??= engineNow();
  S.status = status;
  S.statusAt = now();
  for (const name of S.requested) {
    if (status.loaded === name || status.swapping?.tier === name) S.requested.delete(name);
  }
}

// What the events tell, of a status: a poll that disagrees on it while the stream is live found a missed event.
function eventFacts(status) {
  const tiers = Object.entries(status.tiers).map(([name, tier]) => [name, tier.loaded, tier.box_up ?? true]);
  const peers = (status.peers ?? []).map((peer) => [peer.name, peer.up, peer.loaded]);
  return JSON.stringify([status.loaded, status.swapping?.tier ?? null, status.backend.up, tiers, peers]);
}

function reconcile(fresh, seq) {
  const mine = S.status;
  if (!mine || seq === S.eventSeq) {
    // No event arrived while the poll was out: the poll is the newer word on everything.
    const missed = mine && S.live && eventFacts(mine) !== eventFacts(fresh);
    setStatus(fresh);
    if (missed) {
      S.repairs += 1;
      $('link').dataset.repairs = String(S.repairs);
      seed(fresh, engineNow()); // the swaps and stays the missed events would have drawn
    }
    return;
  }
  // An event arrived meanwhile and is newer than the poll on what events tell; the counters come from the poll.
  for (const [name, tier] of Object.entries(fresh.tiers)) {
    const known = mine.tiers[name];
    if (known) Object.assign(tier, {loaded: known.loaded, last_swap: known.last_swap, box_up: known.box_up});
  }
  const same = fresh.loaded === mine.loaded && fresh.swapping?.tier === mine.swapping?.tier;
  setStatus(Object.assign(fresh, {
    loaded: mine.loaded, swapping: mine.swapping, state: same ? fresh.state : mine.state,
    backend: {...fresh.backend, up: mine.backend.up}, peers: mine.peers ?? fresh.peers,
  }));
}

function addError(time, what, message, id, kind = 'error') {
  if (S.errors.some((entry) => entry.id === id)) return;
  S.errors.push({id, time, what, message, kind});
  S.errors.sort((a, b) => b.time - a.time);
  S.errors.length = Math.min(S.errors.length, MAX_ERRORS);
}

function openSwap(tier) {
  return S.swaps.findLast((swap) => swap.end === null && (tier === undefined || swap.tier === tier));
}

function closeResidency(time) {
  for (const span of S.resident) span.end ??= time;
}

function seed(status, time) {
  // What the page missed while it was away (or before it opened): the last swap of every tier, what is loaded.
  for (const [name, tier] of Object.entries(status.tiers)) {
    const last = tier.last_swap;
    if (!last) continue;
    if (!S.swaps.some((swap) => swap.tier === name && Math.abs(swap.start - last.at) < 0.5)) {
      S.swaps.push({tier: name, start: last.at, end: last.at + last.seconds, ok: last.ok, error: last.error});
    }
    if (!last.ok) addError(last.at + last.seconds, `Loading ${name} failed`, last.error || '', `swap:${name}:${last.at}`);
  }
  for (const swap of S.swaps) {
    if (swap.end !== null || status.swapping?.tier === swap.tier) continue;
    const last = status.tiers[swap.tier]?.last_swap;
    swap.end = last ? last.at + last.seconds : time;
    swap.ok = last ? last.ok : false;
  }
  if (status.swapping && !openSwap(status.swapping.tier)) {
    S.swaps.push({tier: status.swapping.tier, start: time - status.swapping.elapsed_seconds, end: null, ok: null,
      expected: status.swapping.expected_seconds});
  }
  for (const span of S.resident) if (span.end === null && span.tier !== status.loaded) span.end = time;
  if (status.loaded && !S.resident.some((span) => span.end === null && span.tier === status.loaded)) {
    const last = status.tiers[status.loaded]?.last_swap;
    const since = last?.ok ? last.at + last.seconds : time - status.uptime_seconds;
    S.resident.push({tier: status.loaded, start: since, end: null});
  }
}

function peerTiers(status, peer) {
  return Object.entries(status?.tiers ?? {}).filter(([, tier]) => tier.box === peer);
}

function setPeer(status, name, values) {
  const peer = status?.peers?.find((entry) => entry.name === name);
  if (peer) Object.assign(peer, values);
}

function onEvent(event) {
  const status = S.status;
  const time = event.time;
  S.eventSeq += 1;
  switch (event.event) {
    case 'subscribed':
      S.offset = now() - time;
      S.eventFailures = 0;
      setStatus(event.status);
      seed(event.status, time);
      setLink('live');
      break;
    case 'swap_started':
      S.requested.delete(event.tier);
      closeResidency(time);
      S.swaps.push({tier: event.tier, start: time, end: null, ok: null, expected: event.expected_seconds});
      if (status) {
        status.swapping = {tier: event.tier, elapsed_seconds: 0, expected_seconds: event.expected_seconds};
        status.loaded = null;
        status.state = 'swapping';
        for (const tier of Object.values(status.tiers)) if (!tier.resident) tier.loaded = false;
      }
      break;
    case 'swap_done': {
      const swap = openSwap(event.tier);
      if (swap) Object.assign(swap, {end: time, ok: true});
      else S.swaps.push({tier: event.tier, start: time - event.seconds, end: time, ok: true});
      closeResidency(time);
      S.resident.push({tier: event.tier, start: time, end: null});
      if (status) {
        Object.assign(status, {loaded: event.tier, swapping: null, state: 'ready'});
        const tier = status.tiers[event.tier];
        if (tier) Object.assign(tier, {loaded: true, last_swap: {at: time - event.seconds, seconds: event.seconds, ok: true}});
      }
      break;
    }
    case 'swap_failed': {
      S.requested.delete(event.tier);
      const swap = openSwap(event.tier);
      const started = swap ? swap.start : time;
      if (swap) Object.assign(swap, {end: time, ok: false, error: event.error});
      addError(time, `Loading ${event.tier} failed`, event.error, `swap:${event.tier}:${started}`);
      if (status) {
        Object.assign(status, {swapping: null, state: status.loaded ? 'ready' : 'idle'});
        const tier = status.tiers[event.tier];
        if (tier) tier.last_swap = {at: started, seconds: time - started, ok: false, error: event.error};
      }
      break;
    }
    case 'unloaded':
      closeResidency(time);
      if (status) {
        Object.assign(status, {loaded: null, state: 'idle'});
        for (const tier of Object.values(status.tiers)) if (!tier.resident) tier.loaded = false;
      }
      break;
    case 'backend_down':
      closeResidency(time);
      for (const swap of S.swaps) if (swap.end === null) Object.assign(swap, {end: time, ok: false});
      S.marks.push({time, kind: 'down'});
      addError(time, 'llama-server stopped',
        `exit code ${event.exit_code ?? 'unknown'}; the engine restarts it. Its log: ${event.log_file || 'unknown'}`,
        `down:${time}`);
      if (status) {
        Object.assign(status, {loaded: null, swapping: null, state: 'down'});
        status.backend.up = false;
        for (const tier of Object.values(status.tiers)) if (tier.box === 'local' || !tier.box) tier.loaded = false;
      }
      break;
    case 'backend_up':
      S.marks.push({time, kind: 'up'});
      addError(time, 'llama-server restarted', `pid ${event.pid ?? '?'} at ${event.url}`, `up:${time}`, 'info');
      if (status) {
        Object.assign(status, {state: 'idle', loaded: null});
        Object.assign(status.backend, {up: true, pid: event.pid});
      }
      break;
    case 'resident_loaded':
    case 'resident_failed': {
      const tier = status?.tiers[event.tier];
      if (tier) {
        tier.loaded = event.event === 'resident_loaded';
        tier.last_swap = {at: time - (event.seconds ?? 0), seconds: event.seconds ?? 0, ok: tier.loaded,
          error: event.error ?? null};
      }
      if (event.event === 'resident_failed') {
        addError(time, `Resident ${event.tier} failed to load`, event.error, `resident:${event.tier}:${time}`);
      }
      break;
    }
    case 'tier_exited':
      S.exits.push({tier: event.tier, time});
      for (const span of S.resident) if (span.end === null && span.tier === event.tier) span.end = time;
      addError(time, `${event.tier} stopped`,
        `its llama-server process exited (code ${event.exit_code ?? 'unknown'}); the next request for it loads it `
        + `again. Its log: ${event.log_file || 'unknown'}`, `exit:${event.tier}:${time}`);
      if (status) {
        const tier = status.tiers[event.tier];
        if (tier) tier.loaded = false;
        if (status.loaded === event.tier) Object.assign(status, {loaded: null, state: 'idle'});
      }
      break;
    case 'peer_up':
      addError(time, `Peer ${event.peer} is up`, `${event.url}: ${event.tiers.length} tier`
        + `${event.tiers.length === 1 ? '' : 's'}${event.loaded ? `, ${event.loaded} loaded` : ''}`,
      `peer:${event.peer}:${time}`, 'info');
      setPeer(status, event.peer, {up: true, loaded: event.loaded, last_error: null, since: time});
      for (const [name, tier] of peerTiers(status, event.peer)) {
        Object.assign(tier, {box_up: true, loaded: name === event.loaded});
      }
      if (status && event.tiers.some((name) => !(name in status.tiers))) {
        loadModels(); // tiers this page has not seen: their cards come with the next status
        poll();
      }
      break;
    case 'peer_down':
      addError(time, `Peer ${event.peer} is down`, event.error, `peer:${event.peer}:${time}`);
      setPeer(status, event.peer, {up: false, loaded: null, last_error: event.error, since: time});
      for (const [, tier] of peerTiers(status, event.peer)) Object.assign(tier, {box_up: false, loaded: false});
      break;
    case 'peer_loaded':
      setPeer(status, event.peer, {loaded: event.tier});
      for (const [name, tier] of peerTiers(status, event.peer)) tier.loaded = name === event.tier;
      break;
    case 'prompt_cache_saved':
    case 'prompt_cache_restored': {
      const cache = status?.tiers[event.tier]?.prompt_cache;
      if (!cache) break;
      const op = {at: time, tokens: event.tokens, bytes: event.bytes, milliseconds: event.milliseconds};
      if (event.event === 'prompt_cache_saved') Object.assign(cache, {saves: (cache.saves ?? 0) + 1, last_save: op});
      else Object.assign(cache, {restores: (cache.restores ?? 0) + 1, last_restore: op});
      break;
    }
    case 'prompt_cache_skipped': {
      const cache = status?.tiers[event.tier]?.prompt_cache;
      if (cache) Object.assign(cache, {skips: (cache.skips ?? 0) + 1, last_skip: `${event.action}: ${event.reason}`});
      addError(time, `Prompt cache ${event.action} skipped for ${event.tier}`,
        `${event.reason}${event.detail ? `: ${event.detail}` : ''}`, `cache:${event.tier}:${time}`, 'warning');
      break;
    }
    case 'request_done':
      S.requests.push({tier: event.tier, start: time - event.seconds, end: time, status: event.status,
        waited: event.waited_for_swap, waitedSeconds: event.waited_seconds});
      break;
    default:
      return; // a kind this page does not know (a newer engine)
  }
  render();
}

function prune() {
  const horizon = engineNow() - KEEP_SECONDS;
  const keep = (item) => item.end === null || (item.end ?? item.time) >= horizon;
  for (const name of ['swaps', 'resident', 'requests', 'marks', 'exits', 'outages']) S[name] = S[name].filter(keep);
  if (S.requests.length > MAX_REQUESTS) S.requests = S.requests.slice(-MAX_REQUESTS);
}

// ---- drawing

function tierNames() {
  return S.status ? Object.keys(S.status.tiers) : [];
}

function tierState(name, tier, status) {
  if (tier.box_up === false) return 'down';
  if (status.swapping?.tier === name) return 'loading';
  if (tier.resident) return tier.loaded ? 'resident' : tier.last_swap && !tier.last_swap.ok ? 'failed' : 'loading';
  if (tier.loaded) return status.state === 'draining' ? 'draining' : 'loaded';
  if (tier.queued > 0 || S.requested.has(name)) return 'waiting';
  if (tier.last_swap && !tier.last_swap.ok) return 'failed';
  return 'idle';
}

function makeCard(name) {
  const parts = {
    badge: el('span', {class: 'badge'}),
    desc: el('p', {class: 'desc'}),
    progress: el('div', {class: 'progress'}, el('div')),
    progressText: el('p', {class: 'progress-text'}),
    model: el('dd'),
    context: el('dd'),
    speedText: el('span'),
    meter: el('div', {class: 'meter'}, el('div')),
    lastSwap: el('dd'),
    requests: el('dd'),
    whereTerm: el('dt', {}, 'runs on'),
    where: el('dd', {class: 'where'}),
    cacheTerm: el('dt', {}, 'prompt cache'),
    cache: el('dd', {class: 'cache'}),
    counts: el('span', {class: 'counts'}),
    button: el('button', {type: 'button', 'data-tier': name}),
  };
  parts.root = el('article', {class: 'tier', 'data-tier': name, 'data-state': 'idle'},
    el('div', {class: 'tier-head'}, el('h3', {}, name), parts.badge),
    parts.desc, parts.progress, parts.progressText,
    el('dl', {class: 'facts'},
      el('dt', {}, 'model'), parts.model,
      el('dt', {}, 'context'), parts.context,
      el('dt', {}, 'decode'), el('dd', {class: 'speed'}, parts.speedText, parts.meter),
      el('dt', {}, 'last swap'), parts.lastSwap,
      el('dt', {}, 'requests'), parts.requests,
      parts.whereTerm, parts.where,
      parts.cacheTerm, parts.cache),
    el('div', {class: 'tier-foot'}, parts.counts, parts.button));
  return parts;
}

function renderTiers(status) {
  const names = tierNames();
  if ([...S.cards.keys()].join() !== names.join()) {
    S.cards = new Map(names.map((name) => [name, makeCard(name)]));
    $('tiers').replaceChildren(...[...S.cards.values()].map((card) => card.root));
  }
  for (const name of names) {
    const tier = status.tiers[name];
    const card = S.cards.get(name);
    const state = tierState(name, tier, status);
    card.root.dataset.state = state;
    card.badge.textContent = {loaded: 'loaded', resident: 'resident', draining: 'finishing', loading: 'loading',
      idle: 'idle',
      failed: 'load failed', waiting: tier.queued ? `${tier.queued} waiting` : 'queued',
      down: `${tier.box} down`}[state];
    const peer = tier.box && tier.box !== 'local' ? tier.box : null;
    card.whereTerm.hidden = card.where.hidden = !peer;
    card.where.textContent = peer ? `peer engine ${peer}${tier.box_up === false ? ' (not answering)' : ''}` : '';
    card.cacheTerm.hidden = card.cache.hidden = !tier.prompt_cache;
    if (tier.prompt_cache) card.cache.textContent = cacheText(tier.prompt_cache);
    card.desc.textContent = S.models.get(name)?.description || '';
    const swap = state === 'loading' ? openSwap(name) : null;
    card.progress.hidden = card.progressText.hidden = state !== 'loading';
    if (state === 'loading') {
      const elapsed = swap ? engineNow() - swap.start : status.swapping.elapsed_seconds;
      const expected = status.swapping.expected_seconds || tier.expected_load_seconds;
      card.progress.firstChild.style.width = `${Math.min(100, (elapsed / Math.max(expected, 0.001)) * 100)}%`;
      card.progressText.textContent = `loading: ${seconds(elapsed)} of ~${seconds(expected)}`;
    }
    card.model.textContent = tier.model_file + (tier.model_file_present ? '' : ' (missing)');
    card.context.textContent = tokens(tier.context);
    const measured = tier.measured_tokens_per_second;
    card.speedText.textContent = `${speed(measured)} / ${speed(tier.expected_tokens_per_second)} tok/s`;
    const ratio = measured == null ? 0 : measured / Math.max(tier.expected_tokens_per_second, 0.001);
    card.meter.firstChild.style.width = `${Math.min(100, ratio * 100)}%`;
    card.meter.toggleAttribute('data-slow', measured != null && ratio < 0.8);
    card.meter.title = measured == null ? 'not measured yet' : `${Math.round(ratio * 100)} % of the configured speed`;
    const last = tier.last_swap;
    card.lastSwap.textContent = !last ? 'none yet'
      : last.ok ? `${seconds(last.seconds)}, ${ago(last.at + last.seconds)}` : `failed ${ago(last.at + last.seconds)}`;
    card.lastSwap.title = last?.error || '';
    card.requests.textContent = `${tier.requests}` + (tier.errors ? ` (${tier.errors} failed)` : '');
    card.counts.replaceChildren(el('b', {}, String(tier.in_flight)), ' running · ',
      el('b', {}, String(tier.queued)), ' queued');
    const loaded = state === 'loaded' || state === 'draining';
    card.button.hidden = Boolean(tier.resident); // never swapped: nothing to load or unload
    card.button.dataset.action = loaded ? 'unload' : 'load';
    card.button.textContent = loaded ? 'Unload' : 'Load';
    card.button.disabled = !loaded && (state === 'loading' || state === 'down' || S.requested.has(name)
      || (status.state === 'down' && !peer));
  }
}

function bytes(count) {
  return count >= 1e9 ? `${(count / 1e9).toFixed(1)} GB` : `${Math.round(count / 1e6)} MB`;
}

function cacheText(cache) {
  const parts = [`${cache.prefixes.length} saved`];
  if (cache.prefixes.length) parts[0] += ` (${tokens(cache.tokens)}, ${bytes(cache.bytes)})`;
  const restore = cache.last_restore;
  const save = cache.last_save;
  if (restore && (!save || restore.at >= save.at)) {
    parts.push(`restored ${tokens(restore.tokens)} in ${seconds(restore.milliseconds / 1000)} ${ago(restore.at)}`);
  } else if (save) {
    parts.push(`saved ${tokens(save.tokens)} in ${seconds(save.milliseconds / 1000)} ${ago(save.at)}`);
  }
  if (cache.skips) parts.push(`${cache.skips} skipped`);
  return parts.join(' · ');
}

function renderSummary(status) {
  const pill = $('state');
  pill.dataset.state = status.state;
  pill.textContent = {ready: 'ready', idle: 'idle', draining: 'finishing requests', down: 'llama-server down',
    swapping: `loading ${status.swapping?.tier ?? ''}`}[status.state] ?? status.state;
  $('loaded').textContent = status.loaded ?? 'nothing';
  $('in-flight').textContent = status.in_flight;
  $('queued').textContent = status.queued;
  $('swaps').textContent = status.failed_swaps ? `${status.swaps} (+${status.failed_swaps} failed)` : status.swaps;
  const backend = status.backend;
  $('backend').textContent = (backend.up ? 'up' : 'down')
    + (backend.restarts ? `, ${backend.restarts} restart${backend.restarts > 1 ? 's' : ''}` : '');
  $('uptime').textContent = seconds(status.uptime_seconds + (now() - S.statusAt));
  $('version').textContent = status.version ? `v${status.version}` : '';
  const peers = status.peers ?? [];
  $('peers-fact').hidden = peers.length === 0;
  $('peers').replaceChildren(...peers.map((peer, index) => el('span', {'data-peer': peer.name,
    'data-up': String(peer.up)}, `${index ? ', ' : ''}${peer.name} ${peer.up ? 'up' : 'down'}`)));
  document.title = `Variet · ${status.loaded ?? status.state}`;
}

function renderTimeline() {
  const root = $('timeline');
  const names = tierNames();
  const width = Math.max(root.clientWidth, 300);
  const lane = 26;
  const gap = 6;
  const label = 96;
  const axis = 22;
  const height = names.length * (lane + gap) + axis;
  root.style.height = `${height}px`;
  root.setAttribute('viewBox', `0 0 ${width} ${height}`);
  root.replaceChildren();
  const end = engineNow();
  // Until the page has seen a whole window, the timeline shows what it has seen (so a fresh page is not empty).
  const known = Math.min(S.opened ?? end, ...S.swaps.map((swap) => swap.start), ...S.resident.map((r) => r.start));
  const span = Math.min(S.windowSeconds, Math.max(MIN_SPAN, (end - known) * 1.05));
  const begin = end - span;
  const right = width - 6;
  const x = (time) => label + ((Math.min(Math.max(time, begin), end) - begin) / span) * (right - label);
  const row = new Map(names.map((name, index) => [name, index * (lane + gap)]));
  const bottom = names.length * (lane + gap) - gap;

  const step = STEPS.find((candidate) => span / candidate <= 8) ?? STEPS.at(-1);
  for (let back = 0; back <= span; back += step) {
    const at = x(end - back);
    svg(root, 'line', {class: 'grid', x1: at, x2: at, y1: 0, y2: bottom});
    const text = back === 0 ? 'now' : back % 60 ? `−${back} s` : `−${back / 60} min`;
    svg(root, 'text', {class: 'axis', x: at, y: bottom + 16, 'text-anchor': back === 0 ? 'end' : 'middle'})
      .textContent = text;
  }
  for (const [name, y] of row) {
    svg(root, 'rect', {class: 'lane', x: label, y, width: right - label, height: lane, rx: 4});
    svg(root, 'text', {class: 'lane-label', x: 0, y: y + lane / 2 + 4}).textContent = name;
  }
  for (const outage of S.outages) {
    const from = x(outage.start);
    const to = x(outage.end ?? end);
    if (to > from) {
      svg(root, 'rect', {class: 'outage', x: from, y: 0, width: to - from, height: bottom},
        'engine unreachable from this page');
    }
  }
  const visible = (item) => (item.end ?? end) >= begin;
  for (const request of S.requests.filter(visible)) {
    // The time a request waited for its tier, under the swap it waited for: a long one is a starving tier.
    const y = row.get(request.tier);
    if (y === undefined || !(request.waitedSeconds > 0)) continue;
    svg(root, 'line', {class: 'wait', x1: x(request.start), x2: x(request.start + request.waitedSeconds),
      y1: y + lane / 2, y2: y + lane / 2}, `${request.tier}: a request waited ${seconds(request.waitedSeconds)}`);
  }
  for (const stay of S.resident.filter(visible)) {
    const y = row.get(stay.tier);
    if (y === undefined) continue;
    const from = x(stay.start);
    svg(root, 'rect', {class: 'resident', 'data-tier': stay.tier, x: from, y: y + 2,
      width: Math.max(x(stay.end ?? end) - from, 1), height: lane - 4, rx: 3},
    `${stay.tier} loaded from ${clock(stay.start)}`);
  }
  for (const swap of S.swaps.filter(visible)) {
    const y = row.get(swap.tier);
    if (y === undefined) continue;
    const from = x(swap.start);
    const took = (swap.end ?? end) - swap.start;
    const what = swap.end === null ? 'loading' : swap.ok ? 'loaded' : 'failed';
    svg(root, 'rect', {class: 'swap', 'data-tier': swap.tier, 'data-ok': swap.end === null ? 'open' : String(swap.ok),
      x: from - 1, y: y + 5, width: Math.max(x(swap.end ?? end) - from, 3), height: lane - 10, rx: 2},
    `swap to ${swap.tier} at ${clock(swap.start)}: ${what} in ${seconds(took)}${swap.error ? `: ${swap.error}` : ''}`);
  }
  for (const request of S.requests.filter(visible)) {
    const y = row.get(request.tier);
    if (y === undefined) continue;
    const ok = request.status < 400;
    const at = x(request.end);
    svg(root, 'line', {class: 'request', 'data-tier': request.tier, 'data-ok': String(ok),
      'data-waited': String(request.waited), x1: at, x2: at, y1: y + 7, y2: y + lane - 7},
    `${request.tier}: HTTP ${request.status} at ${clock(request.end)}, ${seconds(request.end - request.start)}`
      + (request.waited ? `, waited ${seconds(request.waitedSeconds)} for a swap` : ''));
  }
  for (const exit of S.exits.filter((item) => item.time >= begin)) {
    const y = row.get(exit.tier);
    if (y === undefined) continue;
    const at = x(exit.time);
    svg(root, 'line', {class: 'exit', 'data-tier': exit.tier, x1: at, x2: at, y1: y, y2: y + lane},
      `${exit.tier}'s process exited at ${clock(exit.time)}`);
  }
  for (const mark of S.marks.filter((item) => item.time >= begin)) {
    const at = x(mark.time);
    svg(root, 'line', {class: 'backend', 'data-kind': mark.kind, x1: at, x2: at, y1: 0, y2: bottom},
      `llama-server ${mark.kind === 'down' ? 'stopped' : 'restarted'} at ${clock(mark.time)}`);
  }
  svg(root, 'line', {class: 'now', x1: right, x2: right, y1: 0, y2: bottom});
}

function renderErrors() {
  $('errors').replaceChildren(...S.errors.map((entry) => el('li', {'data-kind': entry.kind},
    el('time', {}, clock(entry.time)), el('span', {class: 'what'}, entry.what),
    el('span', {class: 'message'}, entry.message))));
  $('no-errors').hidden = S.errors.length > 0;
}

function render() {
  if (!S.status || $('main').hidden) return;
  prune();
  renderSummary(S.status);
  renderTiers(S.status);
  renderTimeline();
  renderErrors();
}

// ---- wiring

function wire() {
  $('key-form').addEventListener('submit', submitKey);
  $('forget').addEventListener('click', () => askForKey());
  $('tiers').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button || button.disabled) return;
    if (button.dataset.action === 'load') load(button.dataset.tier);
    else unload();
  });
  for (const button of document.querySelectorAll('[data-window]')) {
    button.addEventListener('click', () => {
      S.windowSeconds = Number(button.dataset.window);
      for (const other of document.querySelectorAll('[data-window]')) {
        other.setAttribute('aria-pressed', String(other === button));
      }
      render();
    });
  }
  window.addEventListener('resize', render);
  setInterval(render, TICK_MS);
}

wire();
if (S.keyRequired && !S.key) askForKey();
else start();
