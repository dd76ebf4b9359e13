// keyward's audit page: the matrix, the drill-downs and the tables, drawn from the data the
// page embeds (keyward-data at once, keyward-rows on the first drill-down). Every value is
// put into the page as text (textContent), never as markup. Fragments: #identity=ID opens an
// identity's decisions, #resource=ID who may act on a resource, #test-click=ID clicks ID's
// link in the matrix (for tests and demos).
(function () {
  'use strict';
  const PAGE = 100; // rows a table shows before "show more"
  const errors = [];
  // Opened for a test or a screenshot: draw drill-downs in place, without scrolling to them.
  const testing = location.hash.startsWith('#test-');
  function fail(msg) {
    errors.push(String(msg));
    const out = document.getElementById('keyward-errors');
    if (out) { out.hidden = false; out.textContent = errors.join('\n'); }
    console.error('keyward page: ' + msg);
  }
  window.addEventListener('error', (e) => fail(e.message));

  const $ = (id) => document.getElementById(id);
  const json = (id) => { const e = $(id); return e ? JSON.parse(e.textContent) : null; };
  const num = (s) => parseInt(s, 36);
  // An element with attributes and children (strings become text nodes: never markup).
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'on') { for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f); }
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) {
      if (k === null || k === undefined || k === false) continue;
      e.appendChild(typeof k === 'string' || typeof k === 'number' ? document.createTextNode(String(k)) : k);
    }
    return e;
  }
  const fmt = (n) => n.toLocaleString('en-US');

  const D = json('keyward-data');
  const S = D.strings;
  const NAMES = D.names.split(',');
  const nameOf = (i) => { const n = NAMES[i]; return n ? D.nameTexts[num(n) - 1] : ''; };
  // The findings, their texts put back together (see embed.rs).
  const FINDINGS = D.findings.rows.map((f) => {
    const [rule, subject, account, message, advice, owner, name] = f;
    const text = (t) => {
      let out = D.findings.texts[t];
      if (subject !== null) out = out.split('\u0001s').join(S[subject]);
      if (owner !== undefined && owner !== null) out = out.split('\u0001o').join(S[owner]);
      if (name !== undefined) out = out.split('\u0001n').join(D.findings.texts[name]);
      return out;
    };
    return { rule, subject: subject === null ? '' : S[subject], subject_name: subject === null ? '' : nameOf(subject),
      account: account === null ? '' : S[account], message: text(message), advice: text(advice) };
  });
  const KIND = { u: 'user', s: 'service ID', k: 'API key', a: 'account', c: 'cluster', g: 'access group', l: 'classic key', '-': '' };
  const index = new Map();
  const idOf = (s) => { if (!index.size) S.forEach((x, i) => index.set(x, i)); return index.get(s); };

  // The principals, with their counts per action.
  const P = D.principals.map((e, i) => {
    const counts = new Array(D.actions.length).fill(0);
    let total = 0;
    if (e[2]) for (const t of e[2].split(',')) { const [a, n] = t.split(':').map(num); counts[a] = n; total += n; }
    return { i, s: e[0], id: S[e[0]], name: nameOf(e[0]), kind: D.kinds[e[0]],
      accounts: e[1] ? e[1].split(',').map(num) : [], counts, total };
  });
  const byString = new Map(P.map((p) => [p.s, p]));
  const usedActions = D.actions.map((_, a) => a).filter((a) => P.some((p) => p.counts[a]));

  // The rows, decoded on first use.
  let R = null;
  function rows() {
    if (!R) { R = json('keyward-rows'); R.decoded = new Array(R.lists.length); }
    return R;
  }
  function list(li) {
    const r = rows();
    if (r.decoded[li]) return r.decoded[li];
    const out = [];
    let next = 0;
    const text = r.lists[li];
    if (text) for (const tok of text.split(',')) {
      const [g, m] = tok.split('+');
      const start = next + num(g);
      const more = m === undefined ? 0 : num(m);
      for (let k = 0; k <= more; k++) out.push(start + k);
      next = start + more + 1;
    }
    return (r.decoded[li] = Int32Array.from(out));
  }
  function has(li, x) {
    const l = list(li);
    let lo = 0, hi = l.length - 1;
    while (lo <= hi) { const m = (lo + hi) >> 1; if (l[m] === x) return true; if (l[m] < x) lo = m + 1; else hi = m - 1; }
    return false;
  }
  // An API key's identity, account and state (see embed.rs), or null for anything else.
  function keyInfo(si) {
    const k = rows().keys;
    const text = k.first === null ? '' : k.info[si - k.first];
    if (!text) return null;
    const [o, a, f, e] = text.split('.');
    const state = [num(f) & 1 ? 'locked' : '', num(f) & 2 ? 'disabled' : '', e === '' ? 'never expires' : 'expires ' + k.expiries[num(e)]];
    return { identity: o === '' ? null : num(o), account: a === '' ? null : num(a), state: state.filter(Boolean).join(', ') };
  }
  // A principal's rows: [{a, set, list}], in action order.
  function segments(p) {
    const text = rows().segments[p.i];
    return text ? text.split(';').map((t) => { const [a, set, li] = t.split('.').map(num); return { a, set, li }; }) : [];
  }

  // Text for ids and policies.
  function idNode(i, link) {
    const kids = [h('code', { text: S[i] })];
    const n = nameOf(i);
    const a = link ? h('a', { href: '#', class: link === 'identity' ? 'who' : 'what', 'data-id': S[i],
      on: { click: (e) => { e.preventDefault(); (link === 'identity' ? openIdentity : openResource)(i); } } }, kids) : h('span', {}, kids);
    return h('span', {}, a, n ? [' ', h('span', { class: 'name', text: n })] : null);
  }
  function policyNodes(set) {
    const out = [];
    for (const pi of D.sets[set] || []) {
      const [id, rules, doc] = D.policies[pi];
      if (out.length) out.push(' · ');
      out.push(h('span', { class: 'pol', title: doc }, h('code', { text: id }), rules ? [' ', h('span', { class: 'rules', text: '[' + rules + ']' })] : null));
    }
    return out;
  }
  function sideText(side) {
    const [allow, set, err] = side;
    const names = (D.sets[set] || []).map((pi) => D.policies[pi][0]).join(', ');
    const failed = err === null ? '' : 'evaluation failed (' + S[err] + ')';
    if (!names) return allow ? '' : (failed ? 'denied: ' + failed : 'nothing permits it');
    return (allow ? 'permitted by ' : 'forbidden by ') + names + (failed ? '; ' + failed : '');
  }
  // A table that shows PAGE rows, then more on request.
  function pagedTable(head, items, row, attrs) {
    let shown = 0;
    const body = h('tbody');
    const more = h('button', { type: 'button', class: 'more' });
    const add = (n) => {
      const end = Math.min(items.length, shown + n);
      for (; shown < end; shown++) body.appendChild(row(items[shown]));
      more.hidden = shown >= items.length;
      more.textContent = 'show ' + fmt(Math.min(PAGE * 10, items.length - shown)) + ' more of ' + fmt(items.length - shown);
    };
    more.addEventListener('click', () => add(PAGE * 10));
    add(PAGE);
    return h('div', {}, h('table', attrs || {}, h('thead', {}, h('tr', {}, head.map((t) => h('th', { text: t })))), body), more);
  }
  function select(label, options, value, change) {
    const s = h('select', { 'aria-label': label, on: { change: (e) => change(e.target.value) } },
      options.map(([v, t]) => h('option', { value: v, selected: String(v) === String(value), text: t })));
    return h('label', {}, label + ' ', s);
  }
  function search(label, change) {
    return h('label', {}, label + ' ', h('input', { type: 'search', on: { input: (e) => change(e.target.value.trim().toLowerCase()) } }));
  }
  const matches = (q, ...texts) => !q || texts.some((t) => t && t.toLowerCase().includes(q));

  // The matrix: principals x actions, a heat scale per action.
  const M = { sort: 'total', desc: true, account: '', action: '', kind: '', q: '', limit: PAGE };
  function matrixControls() {
    const kinds = [...new Set(P.map((p) => p.kind))].sort();
    $('matrix-controls').replaceChildren(
      search('name', (v) => { M.q = v; M.limit = PAGE; drawMatrix(); }),
      select('account', [['', 'all']].concat(D.accounts.map((a) => [idOf(a), a])), M.account, (v) => { M.account = v; M.limit = PAGE; drawMatrix(); }),
      select('action', [['', 'all']].concat(usedActions.map((a) => [a, D.actions[a]])), M.action, (v) => { M.action = v; M.sort = v === '' ? 'total' : +v; M.desc = true; M.limit = PAGE; drawMatrix(); }),
      select('kind', [['', 'all']].concat(kinds.map((k) => [k, KIND[k] || k])), M.kind, (v) => { M.kind = v; M.limit = PAGE; drawMatrix(); }),
      h('span', { id: 'matrix-count', class: 'dim' }));
  }
  // One log scale for the whole matrix, so an identity that may act on thousands of keys
  // stands out from one that may act on its own few.
  function heat(n, max) {
    if (!n) return [null, false];
    const t = max <= 1 ? 1 : Math.log(1 + n) / Math.log(1 + max);
    return ['background-color: hsl(' + Math.round(48 - 44 * t) + ', 90%, ' + Math.round(92 - 50 * t) + '%)', t > 0.7];
  }
  function drawMatrix() {
    const ps = P.filter((p) => (!M.kind || p.kind === M.kind)
      && (M.account === '' || p.accounts.includes(+M.account))
      && (M.action === '' || p.counts[+M.action])
      && matches(M.q, p.id, p.name));
    const key = M.sort === 'name' ? (p) => p.id : M.sort === 'total' ? (p) => p.total : (p) => p.counts[M.sort];
    ps.sort((x, y) => { const a = key(x), b = key(y); const c = a < b ? -1 : a > b ? 1 : x.id < y.id ? -1 : 1; return (M.desc ? -c : c) || 0; });
    const max = ps.reduce((m, p) => Math.max(m, ...usedActions.map((a) => p.counts[a])), 0);
    const sortBy = (k) => () => { M.desc = M.sort === k ? !M.desc : k !== 'name'; M.sort = k; drawMatrix(); };
    const th = (text, k, cls) => h('th', { class: [cls, M.sort === k ? 'sorted' : ''].join(' ').trim(), title: 'sort by ' + text, on: { click: sortBy(k) } }, text);
    const head = h('tr', {}, th('principal', 'name'), h('th', { text: 'kind' }), th('total', 'total', 'num'),
      usedActions.map((a) => th(D.actions[a], a, 'act')));
    const body = h('tbody');
    for (const p of ps.slice(0, M.limit)) {
      body.appendChild(h('tr', { 'data-principal': p.id },
        h('th', {}, idNode(p.s, 'identity')), h('td', { text: KIND[p.kind] || '' }), h('td', { class: 'num', text: fmt(p.total) }),
        usedActions.map((a) => {
          const n = p.counts[a];
          const [style, hot] = heat(n, max);
          return h('td', { class: 'cell' + (hot ? ' hot' : ''), 'data-action': D.actions[a], 'data-count': n, style, title: n ? D.actions[a] + ': ' + n : null }, n ? fmt(n) : '');
        })));
    }
    const more = ps.length > M.limit ? h('button', { type: 'button', class: 'more', on: { click: () => { M.limit += PAGE * 10; drawMatrix(); } } },
      'show ' + fmt(Math.min(PAGE * 10, ps.length - M.limit)) + ' more') : null;
    $('matrix').replaceChildren(h('table', { id: 'matrix-table' }, h('thead', {}, head), body));
    if (more) $('matrix').appendChild(more);
    $('matrix-count').textContent = 'showing ' + fmt(Math.min(M.limit, ps.length)) + ' of ' + fmt(ps.length) + ' principals';
  }

  // Drill-downs.
  function showDrill(...kids) {
    $('drill-body').replaceChildren(...kids);
    $('drill').hidden = false;
    if (!testing) $('drill').scrollIntoView({ block: 'start' });
  }
  function setHash(h) { try { history.replaceState(null, '', h); } catch (e) { /* file:// may refuse; the page works without */ } }
  function openIdentity(si) {
    const p = byString.get(si);
    setHash('#identity=' + encodeURIComponent(S[si]));
    if (!p) { showDrill(h('h2', {}, 'What ', idNode(si), ' may do'), h('p', { text: 'No allowed decision in this audit.' })); return; }
    const groups = new Map();
    for (const seg of segments(p)) {
      if (!groups.has(seg.a)) groups.set(seg.a, []);
      for (const r of list(seg.li)) groups.get(seg.a).push([r, seg.set]);
    }
    const accounts = p.accounts.map((a) => S[a]).join(', ');
    const parts = [h('h2', {}, 'What ', idNode(si), ' may do'),
      h('p', { class: 'dim', text: [KIND[p.kind], accounts && 'in ' + accounts, fmt(p.total) + ' allowed decisions'].filter(Boolean).join(' · ') })];
    for (const [a, items] of groups) {
      parts.push(h('h3', { 'data-drill-group': D.actions[a] }, h('code', { text: D.actions[a] }), ' ', h('small', { text: fmt(items.length) })));
      parts.push(pagedTable(['resource', 'granted by'], items,
        ([r, set]) => h('tr', { class: 'drill-row', 'data-action': D.actions[a], 'data-resource': S[r] }, h('td', {}, idNode(r, 'resource')), h('td', {}, policyNodes(set)))));
    }
    showDrill(...parts);
  }
  function openResource(ri) {
    setHash('#resource=' + encodeURIComponent(S[ri]));
    const r = rows();
    const hits = new Map(); // action -> [[principal string, set]]
    const known = new Map();
    r.segments.forEach((text, pi) => {
      if (!text) return;
      for (const t of text.split(';')) {
        const [a, set, li] = t.split('.').map(num);
        let yes = known.get(li);
        if (yes === undefined) { yes = has(li, ri); known.set(li, yes); }
        if (yes) { if (!hits.has(a)) hits.set(a, []); hits.get(a).push([P[pi].s, set]); }
      }
    });
    const parts = [h('h2', {}, 'Who may act on ', idNode(ri))];
    const key = keyInfo(ri);
    if (key) {
      parts.push(h('p', { class: 'dim' }, 'API key of ', key.identity === null ? '?' : idNode(key.identity, 'identity'),
        ' in ', key.account === null ? '?' : S[key.account], ' · ' + key.state));
    } else if (KIND[D.kinds[ri]]) {
      parts.push(h('p', { class: 'dim', text: KIND[D.kinds[ri]] }));
    }
    const own = byString.get(ri);
    if (own && key) {
      for (const seg of segments(own)) {
        const targets = [...list(seg.li)];
        parts.push(h('h3', { 'data-drill-group': D.actions[seg.a] }, 'This key may ', h('code', { text: D.actions[seg.a] })));
        parts.push(pagedTable(['account', 'granted by'], targets, (t) => h('tr', { class: 'drill-row', 'data-action': D.actions[seg.a], 'data-resource': S[t] }, h('td', {}, idNode(t)), h('td', {}, policyNodes(seg.set)))));
      }
    }
    const order = [...hits.keys()].sort((x, y) => x - y);
    if (!order.length && !own) parts.push(h('p', { text: 'No allowed decision acts on it in this audit.' }));
    for (const a of order) {
      const items = hits.get(a);
      parts.push(h('h3', { 'data-drill-group': D.actions[a] }, h('code', { text: D.actions[a] }), ' ', h('small', { text: fmt(items.length) + ' may' })));
      parts.push(pagedTable(['principal', 'granted by'], items,
        ([p, set]) => h('tr', { class: 'drill-row', 'data-action': D.actions[a], 'data-principal': S[p] }, h('td', {}, idNode(p, 'identity')), h('td', {}, policyNodes(set)))));
    }
    showDrill(...parts);
  }

  // Findings.
  const F = { rule: '', account: '', q: '' };
  function drawFindings() {
    const fs = FINDINGS.filter((f) => (!F.rule || f.rule === F.rule) && (!F.account || f.account === F.account)
      && matches(F.q, f.subject, f.subject_name, f.message));
    const row = (f) => h('tr', { class: 'finding', 'data-rule': f.rule },
      h('td', { text: f.rule }), h('td', {}, f.account ? h('code', { text: f.account }) : '-'),
      h('td', {}, h('code', { text: f.subject }), f.subject_name ? [' ', h('span', { class: 'name', text: f.subject_name })] : null),
      h('td', { text: f.message }), h('td', { text: f.advice }));
    $('findings').replaceChildren(fs.length ? pagedTable(['rule', 'account', 'subject', 'why', 'what to do'], fs, row, { id: 'findings-table' })
      : h('p', { text: FINDINGS.length ? 'No finding matches.' : 'No findings.' }));
  }
  function findingsControls() {
    const rules = [...new Set(FINDINGS.map((f) => f.rule))].sort();
    const accounts = [...new Set(FINDINGS.map((f) => f.account).filter(Boolean))].sort();
    $('findings-controls').replaceChildren(
      select('rule', [['', 'all']].concat(rules.map((r) => [r, r])), F.rule, (v) => { F.rule = v; drawFindings(); }),
      select('account', [['', 'all']].concat(accounts.map((a) => [a, a])), F.account, (v) => { F.account = v; drawFindings(); }),
      search('subject or text', (v) => { F.q = v; drawFindings(); }));
  }

  // The change impact's list.
  const C = { change: '', action: '', q: '' };
  function drawChanges() {
    const cs = D.changes.filter((c) => (C.change === '' || String(c[0]) === C.change) && (C.action === '' || c[2] === +C.action)
      && matches(C.q, S[c[1]], nameOf(c[1])));
    const row = (c) => h('tr', { class: 'change ' + (c[0] ? 'gained' : 'revoked'), 'data-principal': S[c[1]], 'data-action': D.actions[c[2]] },
      h('td', { text: c[0] ? '+ gained' : '- revoked' }), h('td', {}, idNode(c[1], byString.has(c[1]) ? 'identity' : null)),
      h('td', {}, h('code', { text: D.actions[c[2]] })), h('td', {}, idNode(c[3])), h('td', { text: sideText(c[4]) }), h('td', { text: sideText(c[5]) }));
    $('impact-list').replaceChildren(cs.length ? pagedTable(['change', 'principal', 'action', 'resource', 'before', 'after'], cs, row, { id: 'impact-table' })
      : h('p', { text: 'No change matches.' }));
  }
  function changesControls() {
    const acts = [...new Set(D.changes.map((c) => c[2]))].sort((x, y) => x - y);
    $('impact-controls').replaceChildren(
      select('change', [['', 'all'], ['true', 'gained'], ['false', 'revoked']], C.change, (v) => { C.change = v; drawChanges(); }),
      select('action', [['', 'all']].concat(acts.map((a) => [a, D.actions[a]])), C.action, (v) => { C.action = v; drawChanges(); }),
      search('principal', (v) => { C.q = v; drawChanges(); }));
  }

  // Fragments: open what the address names.
  function route() {
    const m = /^#(identity|resource|test-click)=(.*)$/.exec(location.hash);
    if (!m) return;
    let id;
    try { id = decodeURIComponent(m[2]); } catch (e) { fail('cannot read the address fragment'); return; }
    const si = idOf(id);
    if (si === undefined) { fail('not in this page: ' + id); return; }
    if (m[1] === 'identity') openIdentity(si);
    else if (m[1] === 'resource') openResource(si);
    else {
      const link = [...document.querySelectorAll('#matrix a.who')].find((a) => a.getAttribute('data-id') === id);
      if (link) link.click(); else fail('no matrix link for ' + id);
    }
  }

  try {
    matrixControls();
    drawMatrix();
    findingsControls();
    drawFindings();
    if (D.against) { changesControls(); drawChanges(); }
    for (const a of document.querySelectorAll('#standouts a.who')) {
      a.addEventListener('click', (e) => { e.preventDefault(); const si = idOf(a.getAttribute('data-id')); if (si !== undefined) openIdentity(si); });
    }
    $('drill-close').addEventListener('click', () => { $('drill').hidden = true; setHash('#matrix-section'); });
    window.addEventListener('hashchange', route);
    route();
  } catch (e) {
    fail(e && e.stack ? e.stack : e);
  }
  document.body.setAttribute('data-ready', errors.length ? 'errors' : 'ok');
  document.body.setAttribute('data-load-ms', String(Math.round(performance.now())));
}());
