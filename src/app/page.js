// Refund Manager page logic: reads the API, renders the summary cards, the table, a Details
// row with the order's timeline, and the Apply dialog. Plain DOM, no framework, no build step.
// All data is inserted as text (never as HTML), so order ids and reasons cannot inject markup.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
  const CLASSES = ['none', 'partial', 'full', 'error'];
  const EVENT_LABELS = {
    order_created: 'Order created',
    gk_started: 'Kitchen started',
    gk_finished: 'Kitchen finished',
    gk_ready: 'Ready for pickup',
    driver_arrived: 'Driver arrived',
    driver_picked_up: 'Picked up',
    delivered: 'Delivered',
  };

  const state = {
    status: '', refund_class: '', q: '', include_zero: false, limit: 50, offset: 0,
    items: [], total: 0, has_more: false,
    open: new Set(),          // order ids whose Details row is open
    timelines: new Map(),     // order id → events (or an Error)
    applying: null,           // the item the Apply dialog is for
    returnFocus: null,        // where focus goes when the dialog closes
    seq: 0,                   // drops answers to superseded list requests
  };

  // ── DOM helpers ────────────────────────────────────────────────────────────
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  const badge = (cls) => el('span', { class: `badge badge-${CLASSES.includes(cls) ? cls : 'error'}`, text: cls });
  const pill = (status) => el('span', { class: `pill pill-${status}`, text: status === 'applied' ? 'Applied' : 'Pending' });
  const when = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }) : '—');
  const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const byOrder = (selector, orderId) => document.querySelector(`tr[data-order="${CSS.escape(orderId)}"] ${selector}`);

  let toastTimer = 0;
  function toast(message) {
    const t = $('toast');
    t.textContent = message;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
  }
  function banner(message) {
    const b = $('banner');
    b.textContent = message || '';
    b.hidden = !message;
  }

  // ── API ────────────────────────────────────────────────────────────────────
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || `request failed (HTTP ${status})`);
      this.status = status;
      this.fields = (body && body.fields) || {};
    }
  }
  let tokenWaiters = [];
  async function api(path, options = {}) {
    const headers = Object.assign({ Accept: 'application/json' }, options.headers || {});
    const token = sessionStorage.getItem('caspers-token');
    if (token) headers.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(path, Object.assign({}, options, { headers }));
    } catch (e) {
      throw new ApiError(0, { error: 'The server cannot be reached. Is caspers serve running?' });
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (res.status === 401) {
      // Ask for the token once, then retry the request with it.
      await new Promise((resolve) => { tokenWaiters.push(resolve); askToken(token ? 'That token was not accepted.' : ''); });
      return api(path, options);
    }
    if (!res.ok) throw new ApiError(res.status, body);
    return body;
  }
  function askToken(message) {
    const d = $('token-dialog');
    $('token-error').textContent = message;
    if (!d.open) d.showModal();
    $('token-input').focus();
  }
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('token-input').value.trim();
    if (!value) { $('token-error').textContent = 'Enter the token.'; return; }
    sessionStorage.setItem('caspers-token', value);
    $('token-dialog').close();
    const waiters = tokenWaiters;
    tokenWaiters = [];
    waiters.forEach((w) => w());
  });
  // The token dialog cannot be dismissed without a token: nothing works without it.
  $('token-dialog').addEventListener('cancel', (e) => e.preventDefault());

  // ── Filters and URL ────────────────────────────────────────────────────────
  function readUrl() {
    const p = new URLSearchParams(location.search);
    state.status = ['pending', 'applied'].includes(p.get('status')) ? p.get('status') : '';
    state.refund_class = CLASSES.includes(p.get('refund_class')) ? p.get('refund_class') : '';
    state.q = (p.get('q') || '').slice(0, 200);
    state.include_zero = p.get('include_zero') === 'true';
    const limit = Number(p.get('limit'));
    state.limit = [25, 50, 100, 250].includes(limit) ? limit : 50;
    const offset = Number(p.get('offset'));
    state.offset = Number.isInteger(offset) && offset > 0 ? offset : 0;
    $('f-status').value = state.status;
    $('f-class').value = state.refund_class;
    $('f-q').value = state.q;
    $('f-zero').checked = state.include_zero;
    $('f-limit').value = String(state.limit);
  }
  function query() {
    const p = new URLSearchParams();
    if (state.status) p.set('status', state.status);
    if (state.refund_class) p.set('refund_class', state.refund_class);
    if (state.q) p.set('q', state.q);
    if (state.include_zero) p.set('include_zero', 'true');
    if (state.limit !== 50) p.set('limit', String(state.limit));
    if (state.offset) p.set('offset', String(state.offset));
    return p;
  }
  function filtersChanged() {
    state.status = $('f-status').value;
    state.refund_class = $('f-class').value;
    state.q = $('f-q').value.trim();
    state.include_zero = $('f-zero').checked;
    state.limit = Number($('f-limit').value);
    state.offset = 0;
    refresh();
  }
  ['f-status', 'f-class', 'f-zero', 'f-limit'].forEach((id) => $(id).addEventListener('change', filtersChanged));
  let searchTimer = 0;
  $('f-q').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(filtersChanged, 250); });
  $('filters').addEventListener('submit', (e) => { e.preventDefault(); clearTimeout(searchTimer); filtersChanged(); });

  // ── Loading ────────────────────────────────────────────────────────────────
  async function refresh() {
    history.replaceState(null, '', `${location.pathname}${query().toString() ? `?${query()}` : ''}`);
    const results = await Promise.allSettled([loadSummary(), loadPage()]);
    const failed = results.find((r) => r.status === 'rejected');
    banner(failed ? failed.reason.message : '');
    if (!failed) $('updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  async function loadSummary() {
    const s = await api(`/api/summary?include_zero=${state.include_zero}`);
    $('sum-recs').textContent = s.recommendations_count.toLocaleString();
    $('sum-recs-classes').replaceChildren(...breakdown(s.suggestions_by_class));
    $('sum-recs-note').textContent = state.include_zero
      ? 'including $0 suggestions'
      : `of ${s.total_recommendations.toLocaleString()}; $0 suggestions hidden`;
    $('sum-suggested').textContent = money.format(s.suggested_total_usd);
    $('sum-decisions').textContent = s.decisions_count.toLocaleString();
    $('sum-decisions-classes').replaceChildren(...breakdown(s.decisions_by_class));
    $('sum-decided').textContent = money.format(s.decided_total_usd);
    $('sum-pending').textContent = s.pending_count.toLocaleString();
  }
  function breakdown(byClass) {
    return CLASSES.filter((c) => c in byClass && (c !== 'error' || byClass[c] > 0))
      .map((c) => el('li', {}, el('span', { class: `badge badge-${c}` }, `${c} ${byClass[c].toLocaleString()}`)));
  }

  async function loadPage() {
    const seq = ++state.seq;
    const table = $('table');
    table.setAttribute('aria-busy', 'true');
    try {
      const p = query();
      p.set('limit', String(state.limit));
      p.set('offset', String(state.offset));
      const page = await api(`/api/recommendations?${p}`);
      if (seq !== state.seq) return;
      // Deleted rows can leave the offset past the end: step back to the last page.
      if (page.items.length === 0 && page.total > 0 && state.offset > 0) {
        state.offset = Math.max(0, Math.floor((page.total - 1) / state.limit) * state.limit);
        return loadPage();
      }
      Object.assign(state, { items: page.items, total: page.total, has_more: page.has_more });
      renderRows();
    } finally {
      if (seq === state.seq) table.removeAttribute('aria-busy');
    }
  }

  // ── Table ──────────────────────────────────────────────────────────────────
  function renderRows() {
    const rows = [];
    for (const item of state.items) {
      rows.push(row(item));
      if (state.open.has(item.order_id)) rows.push(detailsRow(item));
    }
    $('rows').replaceChildren(...rows);
    $('empty').hidden = state.items.length > 0;
    const first = state.total === 0 ? 0 : state.offset + 1;
    const last = state.offset + state.items.length;
    $('page-info').textContent = state.total === 0
      ? 'No results'
      : `${first.toLocaleString()}–${last.toLocaleString()} of ${state.total.toLocaleString()}`;
    $('prev').disabled = state.offset === 0;
    $('next').disabled = !state.has_more;
  }

  function row(item) {
    const s = item.suggestion;
    const d = item.decision;
    const open = state.open.has(item.order_id);
    const detailsId = `details-${item.order_id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    return el('tr', { class: 'row', 'data-order': item.order_id, 'data-status': item.status },
      el('td', { class: 'order', 'data-label': 'Order' }, item.order_id,
        el('div', { class: 'muted small', text: item.order_ts ? `delivered ${when(item.order_ts)}` : 'delivery time unknown' })),
      el('td', { 'data-label': 'Suggested refund' },
        el('span', { class: 'amount', text: money.format(s.refund_usd) }), badge(s.refund_class)),
      el('td', { class: 'reason', 'data-label': 'Reason' }, s.reason || '—',
        s.delivery_minutes != null
          ? el('span', { class: 'muted', text: `${Math.round(s.delivery_minutes)} min (p75 ${fmtMin(s.p75)}, p99 ${fmtMin(s.p99)})` })
          : null),
      el('td', { class: 'status', 'data-label': 'Status' }, pill(item.status)),
      el('td', { class: 'decision', 'data-label': 'Decision' }, d
        ? [el('span', { class: 'amount', text: money.format(d.amount_usd) }), badge(d.refund_class),
          el('div', { class: 'muted small', text: [d.decided_by, when(d.decided_ts)].filter(Boolean).join(' · ') })]
        : el('span', { class: 'muted', text: '—' })),
      el('td', { class: 'actions' },
        el('button', {
          type: 'button', 'data-action': 'details', 'aria-expanded': String(open), 'aria-controls': detailsId,
          'aria-label': `Details for order ${item.order_id}`, onclick: (e) => toggleDetails(item, e.currentTarget),
        }, open ? 'Hide' : 'Details'),
        el('button', {
          type: 'button', 'data-action': 'apply', class: item.status === 'pending' ? 'primary' : null,
          'aria-label': `${item.status === 'pending' ? 'Apply refund' : 'Revise decision'} for order ${item.order_id}`,
          onclick: (e) => openApply(item, e.currentTarget),
        }, item.status === 'pending' ? 'Apply' : 'Revise')));
  }
  const fmtMin = (m) => (m == null ? '?' : Math.round(m));

  function detailsRow(item) {
    const detailsId = `details-${item.order_id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const s = item.suggestion;
    const d = item.decision;
    const facts = [
      ['Suggested', `${money.format(s.refund_usd)} (${s.refund_class})`],
      ['Order revenue', item.order_revenue != null ? money.format(item.order_revenue) : 'unknown'],
      ['Delivered', when(item.order_ts)],
      ['Suggestion updated', when(item.ts)],
    ];
    if (d) facts.push(['Decision', `${money.format(d.amount_usd)} (${d.refund_class}) — ${d.reason}`],
      ['Decided', [d.decided_by, when(d.decided_ts)].filter(Boolean).join(', ')]);
    const timeline = el('div', { class: 'timeline-box' }, el('h3', { text: 'Timeline' }), timelineContent(item.order_id));
    return el('tr', { class: 'details', id: detailsId, 'data-details-for': item.order_id },
      el('td', { colspan: 6 },
        el('div', { class: 'details-grid' }, timeline,
          el('div', {}, el('h3', { text: 'Order' }),
            el('dl', { class: 'facts-list' }, facts.map(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]))))));
  }

  function timelineContent(orderId) {
    const events = state.timelines.get(orderId);
    if (events === undefined) return el('p', { class: 'muted', text: 'Loading timeline…' });
    if (events instanceof Error) return el('p', { class: 'field-error', text: `Timeline unavailable: ${events.message}` });
    if (events.length === 0) return el('p', { class: 'muted', text: 'No events recorded for this order.' });
    const t0 = new Date(events[0].ts).getTime();
    return el('ol', { class: 'timeline', 'aria-label': `Timeline of order ${orderId}` }, events.map((ev) => {
      const minutes = Math.round((new Date(ev.ts).getTime() - t0) / 60000);
      return el('li', { class: ev.event_type },
        el('strong', { text: EVENT_LABELS[ev.event_type] || ev.event_type }),
        el('span', { class: 'when', text: `${time(ev.ts)} · +${minutes} min` }),
        eventFacts(ev));
    }));
  }

  function eventFacts(ev) {
    const b = ev.body;
    if (!b || typeof b !== 'object' || Array.isArray(b)) return null;
    const parts = [];
    if (Array.isArray(b.items)) {
      const n = b.items.reduce((acc, i) => acc + (Number(i.qty) || 1), 0);
      const total = b.items.reduce((acc, i) => acc + (Number(i.price) || 0) * (Number(i.qty) || 1), 0);
      parts.push(`${n} item${n === 1 ? '' : 's'}, ${money.format(total)}`);
    }
    for (const [k, v] of Object.entries(b)) {
      if (parts.length >= 3) break;
      if (k === 'items' || v === null || typeof v === 'object') continue;
      parts.push(`${k.replace(/_/g, ' ')}: ${v}`);
    }
    return parts.length ? el('span', { class: 'facts', text: parts.join(' · ') }) : null;
  }

  async function toggleDetails(item, button) {
    const id = item.order_id;
    if (state.open.has(id)) {
      state.open.delete(id);
      renderRows();
      byOrder('button[data-action="details"]', id)?.focus();
      return;
    }
    state.open.add(id);
    renderRows();
    byOrder('button[data-action="details"]', id)?.focus();
    if (!(state.timelines.get(id) instanceof Array)) {
      try {
        const t = await api(`/api/orders/${encodeURIComponent(id)}/events`);
        state.timelines.set(id, t.events);
      } catch (e) {
        state.timelines.set(id, e);
      }
      const focused = document.activeElement;
      renderRows();
      // Keep focus where it was (re-rendering replaces the buttons).
      if (focused && focused.dataset && focused.dataset.action) {
        const again = byOrder(`button[data-action="${focused.dataset.action}"]`, focused.closest('tr')?.dataset.order || id);
        again?.focus();
      }
    }
  }

  // ── Apply dialog ───────────────────────────────────────────────────────────
  const dialog = $('apply');
  const FIELDS = ['refund_class', 'amount_usd', 'reason', 'decided_by'];
  const INPUTS = { refund_class: 'a-class', amount_usd: 'a-amount', reason: 'a-reason', decided_by: 'a-by' };

  function openApply(item, button) {
    state.applying = item;
    state.returnFocus = { order: item.order_id };
    const s = item.suggestion;
    const d = item.decision;
    clearErrors();
    $('apply-title').textContent = d ? 'Revise decision' : 'Apply refund';
    $('apply-context').textContent = `Order ${item.order_id}: suggested ${money.format(s.refund_usd)} (${s.refund_class})`
      + (d ? `; currently ${money.format(d.amount_usd)} (${d.refund_class})` : '');
    const cls = s.refund_class === 'error' ? 'partial' : s.refund_class;
    $('a-class').value = cls;
    $('a-amount').value = s.refund_usd.toFixed(2);
    $('a-reason').value = s.reason && s.refund_class !== 'error' ? s.reason : '';
    $('a-by').value = localStorage.getItem('caspers-decided-by') || '';
    $('h-amount').textContent = item.order_revenue != null
      ? `At most ${money.format(item.order_revenue)} (the order's revenue).`
      : 'Order revenue unknown.';
    $('a-submit').disabled = false;
    $('a-submit').textContent = d ? 'Save decision' : 'Apply refund';
    dialog.showModal();
    $('a-amount').focus();
    $('a-amount').select();
  }

  $('a-class').addEventListener('change', () => {
    const item = state.applying;
    if (!item) return;
    if ($('a-class').value === 'none') $('a-amount').value = '0.00';
    else if ($('a-class').value === 'full' && item.order_revenue != null) $('a-amount').value = item.order_revenue.toFixed(2);
    else if (Number($('a-amount').value) === 0 && item.suggestion.refund_usd > 0) $('a-amount').value = item.suggestion.refund_usd.toFixed(2);
    validate();
  });
  FIELDS.forEach((f) => $(INPUTS[f]).addEventListener('input', () => { if ($(INPUTS[f]).getAttribute('aria-invalid')) validate(); }));
  $('a-cancel').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    const back = state.returnFocus;
    state.applying = null;
    if (back) byOrder('button[data-action="apply"]', back.order)?.focus();
  });

  function clearErrors() {
    $('apply-error').hidden = true;
    $('apply-error').textContent = '';
    for (const f of FIELDS) {
      $(`e-${f}`).textContent = '';
      $(INPUTS[f]).removeAttribute('aria-invalid');
    }
  }
  function showErrors(errors) {
    for (const f of FIELDS) {
      $(`e-${f}`).textContent = errors[f] || '';
      if (errors[f]) $(INPUTS[f]).setAttribute('aria-invalid', 'true');
      else $(INPUTS[f]).removeAttribute('aria-invalid');
    }
  }

  // The server checks all of this too; checking here first gives instant feedback.
  function validate() {
    const item = state.applying;
    const errors = {};
    const cls = $('a-class').value;
    const raw = $('a-amount').value.trim().replace(/^\$/, '');
    let amount = null;
    if (raw === '') errors.amount_usd = 'Enter an amount (0 for no refund).';
    else if (!/^\d+(\.\d{1,2})?$/.test(raw)) errors.amount_usd = 'Use a number ≥ 0 with at most 2 decimals, like 12.50.';
    else {
      amount = Number(raw);
      if (item && item.order_revenue != null && amount > item.order_revenue + 1e-9) {
        errors.amount_usd = `Cannot exceed the order's revenue of ${money.format(item.order_revenue)}.`;
      } else if (cls === 'none' && amount !== 0) {
        errors.amount_usd = 'A "none" decision refunds $0.';
      } else if (amount > 99999999.99) {
        errors.amount_usd = 'Amount is too large.';
      }
    }
    if (!['none', 'partial', 'full'].includes(cls)) errors.refund_class = 'Choose a class.';
    if (!$('a-reason').value.trim()) errors.reason = 'Say why (this is kept with the decision).';
    showErrors(errors);
    return { ok: Object.keys(errors).length === 0, amount, errors };
  }

  $('apply-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const item = state.applying;
    if (!item) return;
    $('apply-error').hidden = true;
    const v = validate();
    if (!v.ok) {
      $(INPUTS[FIELDS.find((f) => v.errors[f])]).focus();
      return;
    }
    const body = {
      order_id: item.order_id,
      amount_usd: v.amount,
      refund_class: $('a-class').value,
      reason: $('a-reason').value.trim(),
      decided_by: $('a-by').value.trim() || null,
    };
    $('a-submit').disabled = true;
    try {
      const saved = await api('/api/refunds', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      if (body.decided_by) localStorage.setItem('caspers-decided-by', body.decided_by);
      dialog.close();
      toast(`Refund of ${money.format(saved.amount_usd)} (${saved.refund_class}) recorded for order ${saved.order_id}.`);
      await refresh();
      const tr = document.querySelector(`tr[data-order="${CSS.escape(saved.order_id)}"]`);
      if (tr) {
        tr.classList.add('flash');
        tr.querySelector('button[data-action="apply"]')?.focus();
      } else {
        $('results').focus();
      }
    } catch (err) {
      $('a-submit').disabled = false;
      if (err.fields && Object.keys(err.fields).length) {
        showErrors(err.fields);
        const first = FIELDS.find((f) => err.fields[f]);
        if (first) $(INPUTS[first]).focus();
      }
      const unshown = Object.keys(err.fields || {}).filter((f) => !FIELDS.includes(f));
      if (!Object.keys(err.fields || {}).length || unshown.length) {
        $('apply-error').textContent = err.message;
        $('apply-error').hidden = false;
      }
    }
  });

  // ── Paging and keyboard ────────────────────────────────────────────────────
  $('prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - state.limit); refresh().then(() => $('results').focus()); });
  $('next').addEventListener('click', () => { state.offset += state.limit; refresh().then(() => $('results').focus()); });
  $('refresh').addEventListener('click', () => { state.timelines.clear(); refresh(); });
  document.addEventListener('keydown', (e) => {
    const typing = e.target.closest('input, textarea, select, dialog');
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '/') { e.preventDefault(); $('f-q').focus(); }
    else if (e.key === 'r') { state.timelines.clear(); refresh(); }
  });

  readUrl();
  refresh();
})();
