// The page of `disco serve`: builds the settings form from GET /api/settings, queues jobs, follows
// the running job's events, and shows the queue, the gallery and the models. Plain DOM, no library.
'use strict';

// A token given as http://host:port/#token=T (as `disco serve --token auto` prints it).
const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
const withToken = (url) => token ? url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : url;
const state = { table: [], defaults: {}, jobs: [], following: 0, events: null };

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  const type = res.headers.get('Content-Type') || '';
  const body = type.startsWith('application/json') ? await res.json() : await res.text();
  return { ok: res.ok, status: res.status, body };
}
const postJson = (path, body) => api(path, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// ---- The settings form: one fieldset per notebook group, one field per table entry. ----

function inputFor(spec) {
  const id = 'field-' + spec.key;
  if (spec.type === 'bool') return el('input', { type: 'checkbox', id });
  if (spec.type === 'choice') return el('select', { id }, ...spec.choices.map((c) => el('option', { value: c }, c)));
  if (spec.type === 'int' || spec.type === 'number')
    return el('input', { type: 'number', id, step: spec.type === 'int' ? '1' : 'any' });
  if (spec.type === 'list') return el('textarea', { id, rows: '2' });
  return el('input', { type: 'text', id });
}

// Weighted prompts keyed by step or frame: {"0": ["text:weight", ...], "120": [...]}.
function promptEditor(spec) {
  const box = el('div', { class: 'prompt-sets', id: 'field-' + spec.key });
  const addRow = (set, text = '', weight = '1') => {
    const row = el('div', { class: 'prompt-row' },
      el('input', { type: 'text', class: 'text', placeholder: spec.key === 'image_prompts' ? 'uploaded image id' : 'prompt' }),
      el('input', { type: 'number', class: 'weight', step: 'any', title: 'weight' }),
      el('button', { type: 'button', title: 'remove', onclick: () => row.remove() }, '×'));
    row.querySelector('.text').value = text;
    row.querySelector('.weight').value = weight;
    if (spec.key === 'image_prompts') row.insertBefore(uploadButton((id) => { row.querySelector('.text').value = id; }), row.lastChild);
    set.querySelector('.rows').append(row);
  };
  const addSet = (key = '0', prompts = []) => {
    const set = el('div', { class: 'prompt-set' },
      el('label', {}, 'from step/frame ', el('input', { type: 'number', class: 'key', min: '0', step: '1', style: 'width:6em' })),
      el('div', { class: 'rows' }),
      el('button', { type: 'button', onclick: () => addRow(set) }, '+ prompt'),
      el('button', { type: 'button', onclick: () => set.remove() }, 'remove set'));
    set.querySelector('.key').value = key;
    for (const p of prompts) {
      const m = /^(.*):\s*([-+0-9.eE_]+)\s*$/.exec(p);
      m && !/^https?:\/\/[^:]*$/.test(p) ? addRow(set, m[1], m[2]) : addRow(set, p, '1');
    }
    box.append(set);
  };
  box.load = (value) => {
    box.replaceChildren();
    const sets = Array.isArray(value) ? { 0: value } : typeof value === 'string' ? { 0: [value] } : value || {};
    for (const [k, prompts] of Object.entries(sets)) addSet(k, prompts);
  };
  box.read = () => {
    const out = {};
    for (const set of box.querySelectorAll('.prompt-set')) {
      const rows = [...set.querySelectorAll('.prompt-row')].filter((r) => r.querySelector('.text').value.trim() !== '');
      if (rows.length) out[set.querySelector('.key').value || '0'] = rows.map((r) => r.querySelector('.text').value + ':' + (r.querySelector('.weight').value || '1'));
    }
    return out;
  };
  // Not `after`: every element has an after() method, which the field would show as text.
  box.addSetButton = el('button', { type: 'button', onclick: () => addSet(String(Object.keys(box.read()).length * 50)) }, '+ prompt set');
  return box;
}

// Uploads a PNG or JPEG chosen by the user; `done` gets the upload's id.
function uploadButton(done) {
  const file = el('input', { type: 'file', accept: 'image/png,image/jpeg', class: 'hidden' });
  const button = el('button', { type: 'button', onclick: () => file.click() }, 'upload…');
  file.addEventListener('change', async () => {
    if (!file.files.length) return;
    const r = await api('/api/uploads', { method: 'POST', body: file.files[0], headers: { 'Content-Type': file.files[0].type } });
    if (r.ok) done(r.body.id); else alert(r.body.error || r.status);
  });
  return el('span', {}, button, file);
}

function buildForm() {
  const groups = new Map();
  for (const spec of state.table) {
    if (spec.key === 'seed' || spec.saved || spec.type === 'prompts') {
      if (!groups.has(spec.group)) groups.set(spec.group, []);
      groups.get(spec.group).push(spec);
    }
  }
  const root = document.getElementById('groups');
  root.replaceChildren();
  for (const [group, specs] of groups) {
    const fields = el('div', { class: 'fields' });
    for (const spec of specs) fields.append(fieldFor(spec));
    const fs = el('fieldset', { class: ['Prompts', 'Basic'].includes(group) ? '' : 'closed' },
      el('legend', { onclick: (e) => e.target.parentNode.classList.toggle('closed') }, group), fields);
    root.append(fs);
  }
  loadForm({});
}

function fieldFor(spec) {
  const input = spec.type === 'prompts' ? promptEditor(spec) : inputFor(spec);
  const shown = JSON.stringify(spec.default);
  const field = el('div', { class: 'field' + (spec.type === 'prompts' ? ' prompts' : ''), 'data-key': spec.key },
    el('label', { for: 'field-' + spec.key, title: spec.allowed ? 'allowed: ' + spec.allowed : '' }, spec.key),
    input, input.addSetButton || null,
    spec.key === 'init_image' ? uploadButton((id) => { input.value = id; }) : null,
    el('small', {}, spec.help + (spec.type === 'prompts' ? '' : ' (default ' + (shown.length > 40 ? shown.slice(0, 40) + '…' : shown) + ')')),
    el('div', { class: 'error' }));
  input.addEventListener('change', scheduleValidation);
  return field;
}

function setField(spec, value) {
  const input = document.getElementById('field-' + spec.key);
  if (!input) return;
  if (spec.type === 'prompts') input.load(value);
  else if (spec.type === 'bool') input.checked = !!value;
  else if (spec.type === 'list') input.value = value === null || value === undefined ? '' : JSON.stringify(value);
  else input.value = value === null || value === undefined ? '' : value;
}

function readField(spec) {
  const input = document.getElementById('field-' + spec.key);
  if (spec.type === 'prompts') return input.read();
  if (spec.type === 'bool') return input.checked;
  const v = input.value;
  if (spec.type === 'int' || spec.type === 'number') return v === '' ? null : Number(v);
  if (spec.type === 'list') { try { return JSON.parse(v); } catch (e) { return v; } }
  return v === '' && spec.default === null ? null : v;
}

// Fills the form with the defaults, then `settings` (a job's or an image's settings file).
function loadForm(settings) {
  for (const spec of state.table)
    if (document.getElementById('field-' + spec.key)) setField(spec, spec.key in settings ? settings[spec.key] : spec.default);
  if (!('seed' in settings)) setField({ key: 'seed', type: 'int' }, null);
  clearErrors();
}

// Only what differs from the server's defaults is sent, so the job's settings stay readable.
function formSettings() {
  const out = {};
  for (const spec of state.table) {
    if (!document.getElementById('field-' + spec.key)) continue;
    const v = readField(spec);
    if (JSON.stringify(v) !== JSON.stringify(spec.default) && !(spec.key === 'seed' && v === null)) out[spec.key] = v;
  }
  return out;
}

function clearErrors() {
  document.getElementById('form-error').textContent = '';
  for (const f of document.querySelectorAll('.field.invalid')) {
    f.classList.remove('invalid');
    f.querySelector('.error').textContent = '';
  }
}

// The server's own validation: its message beside the setting it names.
function showError(body) {
  clearErrors();
  const field = body.key && document.querySelector('.field[data-key="' + body.key + '"]');
  if (field) {
    field.classList.add('invalid');
    field.querySelector('.error').textContent = body.error;
    field.closest('fieldset').classList.remove('closed');
  } else {
    document.getElementById('form-error').textContent = body.error || String(body);
  }
}

let validationTimer = 0;
function scheduleValidation() {
  clearTimeout(validationTimer);
  validationTimer = setTimeout(async () => {
    const r = await postJson('/api/validate', { settings: formSettings() });
    if (r.ok) clearErrors(); else showError(r.body);
  }, 300);
}

async function submitForm(event) {
  event.preventDefault();
  const r = await postJson('/api/jobs', { settings: formSettings() });
  if (!r.ok) return showError(r.body);
  clearErrors();
  refreshJobs();
}

// ---- Live view: the running job's events. ----

function follow(job) {
  if (state.following === job.id) return;
  if (state.events) state.events.close();
  state.following = job.id;
  const live = document.getElementById('live');
  live.className = '';
  live.replaceChildren(
    el('div', {}, el('b', {}, '#' + job.id + ' '), promptText(job.settings)),
    el('div', { class: 'bar' }, el('div', { id: 'progress-bar' })),
    el('div', { id: 'progress-text' }, 'starting…'),
    el('img', { id: 'preview', alt: 'preview' }),
    el('button', { type: 'button', onclick: () => api('/api/jobs/' + job.id + '/cancel', { method: 'POST' }) }, 'cancel'),
    el('pre', { id: 'log' }));
  const es = new EventSource(withToken('/api/jobs/' + job.id + '/events'));
  state.events = es;
  es.addEventListener('progress', (e) => showProgress(JSON.parse(e.data)));
  es.addEventListener('preview', (e) => {
    const d = JSON.parse(e.data);
    document.getElementById('preview').src = withToken('/api/jobs/' + job.id + '/preview?image=' + d.image + '&step=' + d.step);
  });
  es.addEventListener('log', (e) => {
    const log = document.getElementById('log');
    log.textContent = (log.textContent + JSON.parse(e.data).line + '\n').split('\n').slice(-12).join('\n');
  });
  es.addEventListener('image', () => refreshJobs());
  // A refused stream (503: the server's limit on open streams) is closed for good, unlike a
  // dropped one, which the browser reconnects: the queue's next refresh follows the job again.
  es.onerror = () => {
    if (es.readyState !== EventSource.CLOSED || state.events !== es) return;
    document.getElementById('progress-text').textContent = 'live progress refused (the server is busy); trying again…';
    state.following = 0;
  };
  es.addEventListener('state', (e) => {
    const d = JSON.parse(e.data);
    if (['done', 'failed', 'cancelled'].includes(d.state)) {
      es.close();
      document.getElementById('progress-text').textContent = d.state + (d.state === 'failed' ? ': ' + d.error : '');
      state.following = 0;
      refreshJobs();
    }
  });
}

function showProgress(d) {
  const total = d.images * d.steps, done = d.image * d.steps + d.step;
  document.getElementById('progress-bar').style.width = (100 * done / Math.max(1, total)).toFixed(1) + '%';
  const eta = d.eta_s >= 0 ? ', about ' + Math.ceil(d.eta_s) + ' s left' : '';
  document.getElementById('progress-text').textContent = (d.frame >= 0 ? 'frame ' : 'image ') + (d.image + 1) + '/' + d.images +
    ' · step ' + d.step + '/' + d.steps + ' · ' + d.it_s.toFixed(2) + ' it/s' + eta;
}

function promptText(settings) {
  const p = (settings && settings.text_prompts) || {};
  const first = Object.values(p)[0];
  return (Array.isArray(first) ? first.join(' | ') : String(first || '')).slice(0, 120);
}

// ---- Queue and gallery, from GET /api/jobs. ----

async function refreshJobs() {
  const r = await api('/api/jobs');
  if (!r.ok) { document.getElementById('status').textContent = r.body.error || 'offline'; return; }
  state.jobs = r.body.jobs;
  const running = state.jobs.find((j) => j.state === 'running');
  if (running) follow(running);
  const queued = state.jobs.filter((j) => j.state === 'queued');
  document.getElementById('status').textContent = (running ? '1 running, ' : '') + queued.length + ' queued';
  renderQueue(queued);
  renderGallery();
}

function renderQueue(queued) {
  const list = document.getElementById('queue');
  list.className = queued.length ? '' : 'empty';
  list.replaceChildren(...queued.map((j, i) => el('li', { 'data-id': j.id }, '#' + j.id + ' ' + promptText(j.settings) + ' ',
    el('button', { type: 'button', title: 'earlier', onclick: () => move(j.id, i - 1) }, '↑'),
    el('button', { type: 'button', title: 'later', onclick: () => move(j.id, i + 1) }, '↓'),
    el('button', { type: 'button', title: 'cancel', onclick: () => api('/api/jobs/' + j.id + '/cancel', { method: 'POST' }).then(refreshJobs) }, '×'))));
  if (!queued.length) list.append(el('li', {}, 'empty'));
}

async function move(id, position) {
  await postJson('/api/jobs/' + id + '/move', { position: Math.max(0, position) });
  refreshJobs();
}

// Still jobs give a card per image; an animation one card, its video once made (the newest frame
// until then), with its frames listed under it.
function renderGallery() {
  const cards = [];
  for (const job of state.jobs) {
    if (isAnimation(job)) { if (job.images.length) cards.push(animationCard(job)); continue; }
    for (const image of [...job.images].reverse()) cards.push(card(job, image));
  }
  const g = document.getElementById('gallery');
  const key = cards.map((c) => c.dataset.id).join();
  if (g.dataset.key === key) return;  // unchanged: keep the images and videos as they are
  g.dataset.key = key;
  g.replaceChildren(...cards);
  if (!cards.length) g.append(el('p', { class: 'empty' }, 'No images yet.'));
}

const isAnimation = (job) => job.settings && job.settings.animation_mode && job.settings.animation_mode !== 'None';

// "make again", "edit and re-run" and the downloads, from the settings file of `image`.
function cardButtons(image, ...links) {
  const settings = async () => { const s = (await api('/api/images/' + image.id + '/settings')).body; return typeof s === 'string' ? JSON.parse(s) : s; };
  return el('div', { class: 'buttons' },
    el('button', { type: 'button', class: 'again', onclick: async () => { await postJson('/api/jobs', { settings: await settings() }); refreshJobs(); } }, 'make again'),
    el('button', { type: 'button', class: 'edit', onclick: async () => { loadForm(await settings()); showTab('make'); } }, 'edit and re-run'),
    ...links,
    el('a', { href: withToken('/api/images/' + image.id + '/settings?download=1') }, 'settings'));
}

function card(job, image) {
  return el('div', { class: 'card', 'data-id': image.id },
    el('img', { src: withToken(image.url), alt: 'image ' + image.index, loading: 'lazy' }),
    el('p', { title: promptText(job.settings) }, '#' + job.id + '/' + image.index + ' ' + promptText(job.settings)),
    cardButtons(image, el('a', { href: withToken(image.url + '?download=1') }, 'PNG')));
}

function animationCard(job) {
  const last = job.images[job.images.length - 1];
  let media;
  if (job.video) {
    media = el('video', { src: withToken(job.video.url), poster: withToken(last.url), controls: '', loop: '', autoplay: '', playsinline: '' });
    media.muted = true;  // the attribute alone does not mute an element made by script, and autoplay needs it
  } else {
    media = el('img', { src: withToken(last.url), alt: 'frame ' + last.index, loading: 'lazy' });
  }
  const frames = el('details', { class: 'frames' }, el('summary', {}, job.images.length + ' of ' + job.total + ' frames'),
    ...job.images.map((im) => el('a', { href: withToken(im.url), target: '_blank' }, String(im.index))));
  return el('div', { class: 'card animation', 'data-id': job.video ? job.video.id : last.id },
    media,
    el('p', { title: promptText(job.settings) }, '#' + job.id + ' ' + job.settings.animation_mode + ' ' + promptText(job.settings)),
    cardButtons(last, job.video ? el('a', { href: withToken(job.video.url + '?download=1') }, 'MP4') : null,
      el('a', { href: withToken(last.url + '?download=1') }, 'last frame')),
    frames);
}

// ---- Models. ----

async function refreshModels() {
  const r = await api('/api/models');
  if (!r.ok) return;
  document.getElementById('models-dir').textContent = 'Model folder: ' + r.body.models_dir;
  const body = document.querySelector('#models tbody');
  body.replaceChildren(...r.body.models.map((m) => {
    const f = m.fetch;
    const progress = f ? (f.state === 'fetching' ? (f.total > 0 ? (100 * f.received / f.total).toFixed(0) + '%' : (f.received >> 20) + ' MiB')
      : f.state + (f.error ? ': ' + f.error : '')) : '';
    const verdict = el('span');
    return el('tr', {}, el('td', {}, m.name), el('td', {}, m.kind), el('td', {}, m.installed ? 'yes' : 'no'),
      el('td', {},
        el('button', { type: 'button', onclick: async () => { const x = await postJson('/api/models/fetch', { name: m.name }); if (!x.ok) alert(x.body.error); refreshModels(); } }, 'fetch'), ' ',
        el('button', { type: 'button', onclick: async () => { verdict.textContent = ' checking…'; const x = await postJson('/api/models/verify', { name: m.name }); verdict.textContent = ' ' + (x.body.state || x.body.error); } }, 'verify'),
        ' ' + progress, verdict));
  }));
}

function showTab(name) {
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('active', b.dataset.tab === name);
  for (const s of document.querySelectorAll('.tab')) s.classList.toggle('hidden', s.id !== 'tab-' + name);
  if (name === 'models') refreshModels();
}

async function main() {
  for (const b of document.querySelectorAll('nav button')) b.addEventListener('click', () => showTab(b.dataset.tab));
  document.getElementById('settings-form').addEventListener('submit', submitForm);
  document.getElementById('reset').addEventListener('click', () => loadForm({}));
  const r = await api('/api/settings');
  if (!r.ok) { document.getElementById('groups').textContent = r.body.error || 'cannot reach the server'; return; }
  state.table = r.body.settings;
  buildForm();
  refreshJobs();
  setInterval(refreshJobs, 2000);
  setInterval(() => { if (!document.getElementById('tab-models').classList.contains('hidden')) refreshModels(); }, 2000);
}

main();
