// The cluster page: polls ./api/state with a token from /data/?cmd=pass and draws it.
// Plain DOM, text only (names come from the network and are never parsed as HTML).

const TOKEN_KEY = 'owlcache.ui.token';
const POLL_MS = 1000;
const MAX_RETRY_MS = 5000;
const DASH = '—';

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY);
let timer = null;
let failures = 0;
let lastOk = 0;

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(poll, ms);
}

function showLogin(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(timer);
  $('cluster').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message ?? '';
  $('connection').textContent = 'signed out';
  $('password').focus();
}

async function signIn(password) {
  const body = new URLSearchParams({ cmd: 'pass', pass: password });
  const res = await fetch('../data/', { method: 'POST', body, cache: 'no-store' });
  const answer = await res.json().catch(() => null);
  if (answer?.Status !== 200 || typeof answer.Data !== 'string') {
    throw new Error(answer?.Message || `the node answered ${res.status}`);
  }
  return answer.Data;
}

async function poll() {
  if (token === null) return;
  let res;
  try {
    res = await fetch('api/state', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch (err) {
    return unreachable(err.message);
  }
  if (res.status === 401) return showLogin('The token was refused (expired, or the password changed): sign in again.');
  if (!res.ok) return unreachable(`the node answered ${res.status}`);
  let state;
  try {
    state = await res.json();
  } catch {
    return unreachable('the node sent an unreadable answer');
  }
  failures = 0;
  lastOk = Date.now();
  render(state);
  schedule(POLL_MS);
}

function unreachable(why) {
  failures += 1;
  const since = lastOk === 0 ? '' : ` (last update ${new Date(lastOk).toLocaleTimeString()})`;
  $('connection').textContent = `cannot reach the node: ${why}; retrying${since}`;
  $('connection').className = 'connection down';
  schedule(Math.min(MAX_RETRY_MS, POLL_MS * 2 ** Math.min(failures, 3)));
}

function render(state) {
  $('login').hidden = true;
  $('cluster').hidden = false;
  $('sign-out').hidden = false;
  $('node-name').textContent = state.node.name;
  document.title = `owlcache ${state.node.name}`;
  $('connection').textContent = `${state.node.mode} mode · version ${state.node.version} · updated ${new Date(state.at).toLocaleTimeString()}`;
  $('connection').className = 'connection up';
  $('not-gossip').hidden = state.gossip;

  const alive = state.members.filter((m) => m.state === 'alive').length;
  $('member-count').textContent = `${alive} of ${state.members.length} alive`;
  const tbody = $('members').tBodies[0];
  tbody.replaceChildren(...state.members.map(memberRow));

  $('no-events').hidden = state.events.length > 0;
  $('events').replaceChildren(...state.events.map(eventItem));
}

function memberRow(m) {
  const tr = document.createElement('tr');
  tr.dataset.member = m.gossip ?? m.http ?? '';
  tr.dataset.state = m.state;
  if (m.local) tr.classList.add('local');
  const who = document.createElement('span');
  who.className = 'who';
  who.append(text('strong', m.name ?? m.gossip ?? DASH));
  if (m.local) who.append(text('span', 'this node', 'tag'));
  who.append(text('small', [m.http && `http ${m.http}`, m.gossip && `gossip ${m.gossip}`].filter(Boolean).join(' · ')));
  const since = m.since ? `since ${new Date(m.since).toLocaleTimeString()}` : '';
  const stateCell = [text('span', m.state, `state ${m.state}`)];
  if (since) stateCell.push(text('small', since));
  tr.append(
    cell('Member', who),
    cell('State', ...stateCell),
    cell('Round trip', ms(m.rttMs)),
    cell('Clock offset', m.clockOffsetMs === null ? DASH : `${m.clockOffsetMs > 0 ? '+' : ''}${ms(m.clockOffsetMs)}`),
    cell('In sync', m.inSync === null ? DASH : m.inSync ? 'yes' : 'no'),
    cell('Uptime', m.uptimeSeconds === null ? DASH : duration(m.uptimeSeconds)),
    cell('Keys', m.keys === null ? DASH : m.keys.toLocaleString()),
    cell('Memory', ...memory(m.bytes, m.maxMemory)),
    cell('Ops/s', m.opsPerSecond === null ? DASH : m.opsPerSecond.toLocaleString()),
    cell('Replication lag', ms(m.replicationLagMs)),
  );
  return tr;
}

function eventItem(e) {
  const li = document.createElement('li');
  li.dataset.event = e.event;
  li.append(text('time', new Date(e.at).toLocaleTimeString()), ' ', text('span', e.event, `state ${eventState(e.event)}`), ' ', text('strong', e.member));
  if (e.member !== e.gossip) li.append(' ', text('small', e.gossip));
  return li;
}

function eventState(event) {
  return { join: 'alive', alive: 'alive', suspect: 'suspect', faulty: 'faulty', leave: 'left' }[event] ?? '';
}

function cell(label, ...content) {
  const td = document.createElement('td');
  td.dataset.label = label;
  td.append(...content);
  return td;
}

function text(tag, content, className) {
  const el = document.createElement(tag);
  el.textContent = content;
  if (className) el.className = className;
  return el;
}

function ms(v) {
  if (v === null || v === undefined) return DASH;
  return Math.abs(v) >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;
}

function duration(seconds) {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

function bytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function memory(used, max) {
  if (used === null) return [DASH];
  if (max === null || max === 0) return [`${bytes(used)}`, text('small', 'no MaxMemory')];
  const share = Math.min(1, used / max);
  const bar = document.createElement('meter');
  bar.min = 0;
  bar.max = 1;
  bar.value = share;
  bar.high = 0.9;
  bar.title = `${Math.round(share * 100)} % of MaxMemory`;
  return [`${bytes(used)} of ${bytes(max)}`, bar];
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = $('login').querySelector('button');
  button.disabled = true;
  $('login-error').textContent = '';
  try {
    token = await signIn($('password').value);
    sessionStorage.setItem(TOKEN_KEY, token);
    $('password').value = '';
    $('login').hidden = true;
    $('connection').textContent = 'signed in, loading…';
    await poll();
  } catch (err) {
    $('login-error').textContent = `Sign-in failed: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});

$('sign-out').addEventListener('click', () => showLogin());

if (token === null) showLogin();
else void poll();
