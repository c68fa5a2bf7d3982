// switchyard dashboard: reads /dashboard/*.json, refetches when /dashboard/events says something
// changed. Every string from the router (route names, hosts, errors: tenant data) goes into the
// page as text nodes, never as HTML.

const PAGE_SIZE = 100;
const $ = (id) => document.getElementById(id);

/** Create an element: h('td', { class: 'num' }, 'text', child, …). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const fmt = {
  // gRPC calls of the last minute by status, most frequent first: "OK 120 · UNAVAILABLE 3".
  grpc: (g) => {
    if (!g) return undefined;
    const codes = Object.entries(g).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    return codes.length ? codes.map(([code, n]) => `${code} ${n}`).join(' · ') : 'none in the last minute';
  },
  rate: (s) => (s ? (s.rate >= 100 ? s.rate.toFixed(0) : s.rate >= 1 ? s.rate.toFixed(1) : s.rate.toFixed(2)) : '–'),
  ratio: (r) => (r === null || r === undefined ? '–' : `${(r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1)} %`),
  seconds: (v) => (v === null || v === undefined ? '–' : v < 1 ? `${(v * 1000).toFixed(v < 0.01 ? 1 : 0)} ms` : `${v.toFixed(2)} s`),
  ago: (ms) => {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
  },
  until: (ms) => `${Math.max(0, Math.ceil((ms - Date.now()) / 1000))}s`,
  uptime: (s) => {
    const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return d > 0 ? `${d}d ${hh}h` : hh > 0 ? `${hh}h ${m}m` : `${m}m ${s % 60}s`;
  },
};

// ---- state: filters in the query string, the open route in the hash (both survive a reload)
const params = new URLSearchParams(location.search);
const query = { q: params.get('q') ?? '', namespace: params.get('namespace') ?? '', state: params.get('state') ?? '', sort: params.get('sort') ?? '', offset: Number(params.get('offset') ?? 0) || 0 };

function queryString(extra = {}) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...query, ...extra })) if (v !== '' && v !== 0) p.set(k, String(v));
  return p.toString();
}

async function getJson(url) {
  const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

// ---- rendering
function renderIdentity(o) {
  const r = o.router;
  const items = [
    ['Router', r.routerName],
    ['Shard', [r.routeLabels && `routes: ${r.routeLabels}`, r.namespaceLabels && `namespaces: ${r.namespaceLabels}`].filter(Boolean).join(' · ') || 'all routes'],
    ['Lease holder', r.leaseHolder === null ? `none (${r.mode} mode)` : r.leaseHolder || 'unknown'],
    ['Version', r.version],
    ['Workers', r.workers === 0 ? 'single process' : r.workers],
    ['Uptime', fmt.uptime(r.uptimeSeconds)],
  ];
  $('identity').replaceChildren(...items.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', { 'data-field': k }, v))));
}

function card(label, value, sub, cls) {
  return h('div', { class: `card ${cls ?? ''}` }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
}

function renderCards(o) {
  const c = o.counts, t = o.traffic;
  $('cards').replaceChildren(
    card('Routes admitted', c.admitted, `${c.routes} considered`),
    card('Rejected', c.rejected, c.rejected ? 'see the state filter' : 'none', c.rejected ? 'bad' : ''),
    card('Without endpoint', c.down, 'admitted, nothing available', c.down ? 'bad' : ''),
    card('Endpoints available', `${c.endpointsAvailable} / ${c.endpoints}`, 'up and not ejected', c.endpointsAvailable < c.endpoints ? 'bad' : 'ok'),
    card('Requests', `${fmt.rate(t.sampling || t.rate ? { rate: t.rate } : null)}/s`, 'last minute, all workers'),
    card('5xx ratio', fmt.ratio(t.errorRatio), 'last minute', t.errorRatio > 0.01 ? 'bad' : ''),
  );
}

function renderConfigErrors(o) {
  const { total, recent } = o.configErrors;
  $('config-errors').hidden = recent.length === 0;
  $('config-errors-total').textContent = String(total);
  $('config-errors-body').replaceChildren(...recent.map((e) => h('tr', null,
    h('td', { class: 'muted', title: new Date(e.at).toISOString() }, fmt.ago(e.at)),
    h('td', { class: 'mono' }, e.file ?? e.source),
    h('td', null, e.document === undefined ? (e.line ? `line ${e.line}:${e.column}` : '–') : `#${e.document}${e.item !== undefined ? ` item ${e.item}` : ''}`),
    h('td', null, [e.kind, e.namespace && e.name ? `${e.namespace}/${e.name}` : e.name].filter(Boolean).join(' ') || '–'),
    h('td', { class: 'mono' }, e.field ?? '–'),
    h('td', { class: 'reason' }, e.error, e.repeats > 1 ? h('span', { class: 'muted' }, ` ×${e.repeats}`) : null),
  )));
}

function endpointChip(ep) {
  const health = !ep.up ? 'down' : ep.ejectedUntil ? 'ejected' : 'up';
  const title = [
    `${ep.name}${ep.pod ? ` (${ep.pod})` : ''}`,
    `weight ${ep.weight}${ep.acceptsNew ? '' : ', terminating'}`,
    health === 'down' ? 'down by active check' : health === 'ejected' ? `ejected for ${fmt.until(ep.ejectedUntil)}` : 'up',
    ep.lastProbe ? `last probe ${fmt.ago(ep.lastProbe.at)}: ${ep.lastProbe.healthy ? 'pass' : 'fail'} (${ep.lastProbe.reason})` : 'not actively checked',
    `${ep.inFlight} in flight`,
  ].join('\n');
  return h('span', { class: `ep ${health}`, title, 'data-endpoint': ep.name, 'data-health': health },
    ep.name, ep.inFlight > 0 ? h('span', { class: 'inflight' }, `·${ep.inFlight}`) : null,
    health === 'ejected' ? h('span', null, ` ${fmt.until(ep.ejectedUntil)}`) : null);
}

function backendsCell(row) {
  if (row.state === 'rejected') return h('td', null, h('div', { class: 'reason' }, row.reason), row.message ? h('div', { class: 'message' }, row.message) : null);
  if (row.backends.length === 0) return h('td', { class: 'muted' }, 'no backends');
  return h('td', null,
    row.backends.map((b) => h('div', { class: 'backend' },
      h('span', { class: 'svc' }, b.service), ' ', h('span', { class: 'weight' }, `w${b.weight}`),
      h('span', { class: 'eps' }, b.endpoints.length ? b.endpoints.map(endpointChip) : h('span', { class: 'muted' }, 'no endpoints')))),
    middlewareList(row.middlewares));
}

function middlewareList(middlewares) {
  if (!Array.isArray(middlewares) || middlewares.length === 0) return null;
  return h('div', null, middlewares.map((m) => h('span', { class: 'mw', title: `plugin ${m.plugin}` }, m.name)));
}

function stateBadge(row) {
  if (row.state === 'rejected') return h('span', { class: 'badge rejected' }, 'rejected');
  if (row.endpoints > 0 && row.available === 0) return h('span', { class: 'badge down' }, 'down');
  if (row.endpoints === 0) return h('span', { class: 'badge down' }, 'no endpoints');
  if (row.available < row.endpoints) return h('span', { class: 'badge degraded' }, 'degraded');
  return h('span', { class: 'badge admitted' }, 'admitted');
}

function renderRoutes(page) {
  const body = $('routes');
  if (page.items.length === 0) {
    body.replaceChildren(h('tr', null, h('td', { colspan: 9, class: 'empty' }, 'No route matches.')));
  } else {
    body.replaceChildren(...page.items.map((row) => h('tr', { 'data-key': row.key, 'data-state': row.state, onclick: () => { location.hash = `route=${encodeURIComponent(row.key)}`; } },
      h('td', null, stateBadge(row)),
      h('td', null, h('a', { href: `#route=${encodeURIComponent(row.key)}`, class: 'route-link' }, `${row.namespace}/${row.name}`), row.kind === 'Ingress' ? h('div', { class: 'muted' }, 'Ingress') : null),
      h('td', { class: 'mono' }, row.host, row.path ? h('span', { class: 'muted' }, row.path) : null),
      h('td', { class: 'tls' }, row.termination || '–'),
      backendsCell(row),
      h('td', { class: 'num' }, fmt.rate(row.stats)),
      h('td', { class: 'num' }, fmt.ratio(row.stats?.errorRatio)),
      h('td', { class: 'num' }, fmt.seconds(row.stats?.p50)),
      h('td', { class: 'num' }, fmt.seconds(row.stats?.p99)),
    )));
  }
  const from = page.total === 0 ? 0 : page.offset + 1, to = Math.min(page.offset + page.limit, page.total);
  $('total').textContent = `${from}–${to} of ${page.total}`;
  const select = document.querySelector('select[name=namespace]');
  const current = select.value || query.namespace;
  select.replaceChildren(h('option', { value: '' }, 'All namespaces'), ...page.namespaces.map((ns) => h('option', { value: ns, selected: ns === current }, ns)));
  $('pager').replaceChildren(
    h('button', { type: 'button', disabled: page.offset === 0, onclick: () => go(Math.max(0, page.offset - page.limit)) }, '‹ Previous'),
    h('span', { class: 'muted' }, `page ${Math.floor(page.offset / page.limit) + 1} of ${Math.max(1, Math.ceil(page.total / page.limit))}`),
    h('button', { type: 'button', disabled: to >= page.total, onclick: () => go(page.offset + page.limit) }, 'Next ›'),
  );
}

function renderDetail(d) {
  const r = d.row;
  $('detail-title').textContent = `${r.kind} ${r.namespace}/${r.name}`;
  const kv = (pairs) => h('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '').flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  $('detail-body').replaceChildren(
    kv([
      ['State', stateBadge(r)], ['Reason', r.reason], ['Message', r.message],
      ['Host', h('code', null, r.host)], ['Path', r.path && h('code', null, `${r.path} (${d.match})`)], ['TLS', r.termination],
      ['Requests', `${fmt.rate(r.stats)}/s`], ['5xx ratio', fmt.ratio(r.stats?.errorRatio)], ['p50 / p99', `${fmt.seconds(r.stats?.p50)} / ${fmt.seconds(r.stats?.p99)}`],
      ['gRPC statuses', fmt.grpc(r.stats?.grpc)],
      ['Key', h('code', null, r.key)],
    ]),
    r.middlewares ? [h('h3', null, 'Middlewares (in order)'), h('ul', null, r.middlewares.map((m) => h('li', null, h('code', null, m.name), ` — plugin ${m.plugin}`)))] : null,
    r.backends.length ? h('h3', null, 'Endpoints') : null,
    r.backends.length ? h('table', { class: 'grid compact' },
      h('thead', null, h('tr', null, ...['Service', 'Endpoint', 'Weight', 'Health', 'Last probe', 'In flight'].map((t) => h('th', null, t)))),
      h('tbody', null, r.backends.flatMap((b) => b.endpoints.map((ep) => h('tr', null,
        h('td', null, `${b.service} (w${b.weight})`),
        h('td', { class: 'mono' }, ep.name, ep.pod ? h('div', { class: 'muted' }, ep.pod) : null),
        h('td', { class: 'num' }, ep.weight),
        h('td', null, !ep.up ? 'down' : ep.ejectedUntil ? `ejected until ${new Date(ep.ejectedUntil).toLocaleTimeString()}` : 'up'),
        h('td', null, ep.lastProbe ? `${ep.lastProbe.healthy ? 'pass' : 'fail'}: ${ep.lastProbe.reason} (${fmt.ago(ep.lastProbe.at)})` : h('span', { class: 'muted' }, 'not checked')),
        h('td', { class: 'num' }, ep.inFlight),
      ))))) : null,
    d.policy ? [h('h3', null, 'Policy'), h('pre', null, JSON.stringify(d.policy, null, 2))] : null,
    d.tls ? [h('h3', null, 'TLS'), h('pre', null, JSON.stringify(d.tls, null, 2))] : null,
    d.admission ? [h('h3', null, 'Admission'), h('pre', null, JSON.stringify(d.admission, null, 2))] : null,
    d.notes.length ? [h('h3', null, 'Notes'), h('ul', null, d.notes.map((n) => h('li', null, n)))] : null,
  );
  $('detail').hidden = false;
}

// ---- data flow: one refresh at a time; a change during a refresh schedules one more
let refreshing = false, again = false;
async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    do {
      again = false;
      const openKey = detailKey();
      const [overview, page, detail] = await Promise.all([
        getJson('/dashboard/overview.json'),
        getJson(`/dashboard/routes.json?${queryString({ limit: PAGE_SIZE })}`),
        openKey ? getJson(`/dashboard/route.json?key=${encodeURIComponent(openKey)}`).catch(() => null) : null,
      ]);
      renderIdentity(overview);
      renderCards(overview);
      renderConfigErrors(overview);
      renderRoutes(page);
      if (openKey && detailKey() === openKey) {
        if (detail) renderDetail(detail);
        else { $('detail-title').textContent = 'Route not found'; $('detail-body').replaceChildren(h('p', { class: 'muted' }, 'It is no longer known to this router.')); $('detail').hidden = false; }
      }
      document.body.dataset.loaded = 'true';
    } while (again);
  } catch (err) {
    $('live-text').textContent = `error: ${err.message}`;
  } finally {
    refreshing = false;
  }
}

function detailKey() {
  const m = /^#route=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

function go(offset) {
  query.offset = offset;
  history.replaceState(null, '', `?${queryString()}${location.hash}`);
  void refresh();
}

function connect() {
  const live = $('live');
  const events = new EventSource('/dashboard/events');
  events.addEventListener('open', () => { live.className = 'live on'; $('live-text').textContent = 'live'; });
  events.addEventListener('change', () => void refresh());
  events.addEventListener('error', () => { live.className = 'live off'; $('live-text').textContent = 'reconnecting…'; });
}

function init() {
  const form = $('filters');
  for (const name of ['q', 'namespace', 'state', 'sort']) form.elements[name].value = query[name];
  let typing;
  form.addEventListener('input', (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      for (const name of ['q', 'namespace', 'state', 'sort']) query[name] = form.elements[name].value;
      go(0);
    }, e.target.name === 'q' ? 200 : 0);
  });
  form.addEventListener('submit', (e) => e.preventDefault());
  window.addEventListener('hashchange', () => { if (!detailKey()) $('detail').hidden = true; void refresh(); });
  $('detail-close').addEventListener('click', (e) => { e.preventDefault(); history.replaceState(null, '', `?${queryString()}`); $('detail').hidden = true; });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !$('detail').hidden) $('detail-close').click(); });
  connect();
  void refresh();
  // Uptime and "ago" texts age without events; a slow poll also covers a stream that cannot connect.
  setInterval(() => void refresh(), 10_000);
}

init();
