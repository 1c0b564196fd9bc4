// The dashboard's progressive script: the pages work without it, except
// the live stream and the in-browser proof check. No inline scripts: the
// Content-Security-Policy forbids them.
'use strict';

document.addEventListener('DOMContentLoaded', () => {
  for (const sel of document.querySelectorAll('select.autosubmit')) {
    sel.addEventListener('change', () => sel.form.submit());
  }
  const stream = document.getElementById('stream');
  if (stream) liveStream(stream);
  const check = document.getElementById('check-proof');
  if (check) check.addEventListener('click', () => checkProof(check));
  const vf = document.getElementById('verify-form');
  if (vf) verifyPage(vf);
});

// liveStream follows the log over Server-Sent Events. It reconnects by
// itself after an error (a server restart), resuming after the last seq
// it showed, and keeps at most data-rows rows.
function liveStream(table) {
  const body = document.getElementById('stream-rows');
  const state = document.getElementById('stream-state');
  const level = document.getElementById('s-level');
  const text = document.getElementById('s-q');
  const pause = document.getElementById('pause');
  const maxRows = parseInt(table.dataset.rows, 10) || 500;
  let es = null, last = null, paused = false, retry = null;

  const setState = (cls, msg) => { state.className = 'state ' + cls; state.textContent = msg; };
  const url = () => {
    const u = new URL(table.dataset.events, location.href);
    if (level.value) u.searchParams.set('level', level.value);
    if (text.value) u.searchParams.set('q', text.value);
    if (last !== null) u.searchParams.set('from', String(last + 1));
    return u;
  };
  const stop = () => {
    if (es) { es.close(); es = null; }
    if (retry) { clearTimeout(retry); retry = null; }
  };
  const again = () => { stop(); setState('down', 'reconnecting…'); retry = setTimeout(connect, 1000); };
  function connect() {
    stop();
    es = new EventSource(url());
    es.onopen = () => setState('live', 'live');
    es.onmessage = (ev) => {
      const e = JSON.parse(ev.data);
      if (last !== null && e.seq <= last) return;
      last = e.seq;
      addRow(e);
    };
    es.addEventListener('gap', (ev) => {
      const g = JSON.parse(ev.data);
      const tr = document.createElement('tr');
      tr.className = 'gap';
      const td = document.createElement('td');
      td.colSpan = 5;
      td.textContent = '… records ' + g.from + ' to ' + (g.to - 1) + ' arrived faster than this page takes them and are not shown (Search has every record)';
      tr.appendChild(td);
      body.insertBefore(tr, body.firstChild);
      last = g.to - 1;
    });
    es.addEventListener('failure', (ev) => { stop(); setState('down', JSON.parse(ev.data)); });
    es.addEventListener('end', again);
    es.onerror = again;
  }
  function addRow(e) {
    const tr = document.createElement('tr');
    tr.id = 'row-' + e.seq;
    tr.className = 'new lv-' + e.level;
    const a = document.createElement('a');
    const u = new URL('record', location.href);
    u.search = '';
    const tenant = new URL(location.href).searchParams.get('tenant');
    if (tenant) u.searchParams.set('tenant', tenant);
    u.searchParams.set('seq', String(e.seq));
    a.href = u.toString();
    a.textContent = String(e.seq);
    const when = e.timestamp.replace('T', ' ').replace(/(\.\d{3})\d*Z$/, '$1Z');
    const cells = [a, when, e.level, e.message, e.meta || ''];
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      if (i === 2) td.className = 'level';
      if (i === 4) td.className = 'meta';
      if (typeof c === 'string') td.textContent = c; else td.appendChild(c);
      tr.appendChild(td);
    });
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > maxRows) body.deleteRow(body.rows.length - 1);
  }
  const refilter = () => { last = null; body.replaceChildren(); if (!paused) connect(); };
  level.addEventListener('change', refilter);
  let typing = null;
  text.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(refilter, 300); });
  text.form.addEventListener('submit', (ev) => ev.preventDefault());
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (paused) { stop(); setState('', 'paused'); } else connect();
  });
  connect();
}

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s) => Uint8Array.from(s.match(/../g) || [], (x) => parseInt(x, 16));
const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

// sha256 hashes the concatenation of its arguments with WebCrypto.
async function sha256(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const buf = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
}

// checkProof fetches the record's receipt and checks its inclusion proof
// against the root in the checkpoint's text (RFC 9162, 2.1.3.2), showing
// each step.
async function checkProof(btn) {
  const steps = document.getElementById('proof-steps');
  const result = document.getElementById('proof-result');
  const step = (msg) => { const li = document.createElement('li'); li.textContent = msg; steps.appendChild(li); };
  const done = (ok, msg) => { result.className = 'state ' + (ok ? 'pass' : 'fail'); result.textContent = msg; btn.disabled = false; };
  steps.replaceChildren();
  result.className = 'state';
  result.textContent = 'checking…';
  btn.disabled = true;
  try {
    if (!window.crypto || !crypto.subtle) throw new Error('WebCrypto is not available (it needs HTTPS or localhost)');
    const resp = await fetch(btn.dataset.receipt, { credentials: 'same-origin' });
    if (!resp.ok) throw new Error('receipt: ' + resp.status + ' ' + (await resp.text()));
    const rc = await resp.json();
    const lines = rc.checkpoint.split('\n');
    const size = BigInt(lines[1]);
    const root = unb64(lines[2]);
    step('checkpoint: origin ' + lines[0] + ', size ' + size + ', root ' + hex(root));
    const record = unb64(rc.record);
    let r = await sha256(new Uint8Array([0]), record);
    step('leaf = SHA-256(0x00 ‖ ' + record.length + ' record bytes) = ' + hex(r));
    if (hex(r) !== rc.leafHash) return done(false, '✗ the record does not hash to the receipt\'s leaf hash');
    let fn = BigInt(rc.seq), sn = size - 1n;
    if (fn > sn) return done(false, '✗ seq ' + rc.seq + ' is not in a tree of ' + size);
    for (let i = 0; i < rc.proof.length; i++) {
      const p = unhex(rc.proof[i]);
      if (sn === 0n) return done(false, '✗ the proof is longer than the tree is deep');
      if ((fn & 1n) === 1n || fn === sn) {
        r = await sha256(new Uint8Array([1]), p, r);
        step('step ' + (i + 1) + ': node(proof[' + i + '], r) = ' + hex(r));
        if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      } else {
        r = await sha256(new Uint8Array([1]), r, p);
        step('step ' + (i + 1) + ': node(r, proof[' + i + ']) = ' + hex(r));
      }
      fn >>= 1n; sn >>= 1n;
    }
    if (sn !== 0n) return done(false, '✗ the proof is too short for the tree');
    if (hex(r) !== hex(root)) return done(false, '✗ computed root ' + hex(r) + ' differs from the checkpoint\'s');
    step('computed root equals the checkpoint root ' + hex(root));
    done(true, '✓ verified: record ' + rc.seq + ' is in the checkpoint\'s tree of ' + size + ' records');
  } catch (err) {
    done(false, '✗ ' + err.message);
  }
}

// verifyPage starts a verification without leaving the page and polls its
// state until it ends, then shows the result the server renders.
function verifyPage(form) {
  const btn = document.getElementById('verify-start');
  const result = document.getElementById('verify-result');
  const poll = async () => {
    const u = new URL(form.dataset.status, location.href);
    u.searchParams.set('wait', '500');
    const resp = await fetch(u, { credentials: 'same-origin' });
    const s = await resp.json();
    if (s.state === 'running') {
      result.replaceChildren();
      const p = document.createElement('p');
      p.className = 'running';
      p.id = 'verify-progress';
      p.textContent = 'Verifying ' + s.size + ' records… ' + (s.elapsedMs / 1000).toFixed(1) + ' s';
      result.appendChild(p);
      poll();
    } else {
      location.reload();
    }
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    btn.disabled = true;
    await fetch(form.action, { method: 'POST', headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    poll();
  });
  if (btn.disabled) poll();
}
