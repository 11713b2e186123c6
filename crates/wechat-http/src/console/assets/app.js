// wechat-http console: one page, no framework, no other host. Everything shown is built with
// textContent (never innerHTML), so names and messages from WeChat cannot inject markup.
'use strict';

const TEXT = {
  zh: {
    title: 'wechat-http 控制台', token: '访问令牌 (access_token)', signin: '登录', signout: '退出',
    signin_hint: '输入配置文件中 http_server.access_token 的值。', overview: '概览', contacts: '联系人',
    categories: '分组', broadcast: '群发', jobs: '任务', events: '事件', account: '账号',
    connected: '已连接', disconnected: '未连接', logged_out: '未登录', scan: '用微信扫码登录（自动刷新）',
    channels: '推送通道', channel: '通道', kind: '类型', target: '目标', backlog: '积压', last_success: '最近成功',
    last_error: '最近错误', send_queue: '发送队列', warnings: '警告', none: '无', search: '搜索…', name: '名称',
    remark: '备注', id: 'ID', type: '类型', in_categories: '所在分组', user: '好友', group_chat: '群聊',
    official: '公众号', new_category: '新分组名称', create: '创建', open: '打开', rename: '重命名', delete: '删除',
    members: '成员', add: '添加', remove: '移除', add_members: '搜索联系人添加', confirm_delete: '删除分组',
    new_name: '新名称', text: '文本', image: '图片', image_optional: '图片（可选）', pick_categories: '选择分组', pick_contacts: '或选择联系人',
    receivers: '接收人数（去重）', start: '开始群发', cancel: '取消', state: '状态', progress: '进度',
    failures: '失败', created: '创建时间', pause: '暂停', resume: '继续', filter: '过滤…', all_types: '全部类型',
    time: '时间', sender: '发送者', no_receivers: '请先选择分组或联系人', nothing_to_send: '请输入文本或选择图片',
    language: 'English', store: '存储', file: '文件', video: '视频', emoji: '表情', link: '链接', xml: 'XML', websocket_clients: 'WebSocket 客户端', picked: '已选',
    fleet: '集群', node: '节点', nodes: '节点', leases: '租约', holder: '持有者', alive: '在线', gone: '离线',
    expires_in: '剩余秒数', this_node: '本节点', unheld: '无人持有', starting: '启动中', address: '地址', last_seen: '最近心跳',
  },
  en: {
    title: 'wechat-http console', token: 'Access token', signin: 'Sign in', signout: 'Sign out',
    signin_hint: 'Enter http_server.access_token from the config file.', overview: 'Overview', contacts: 'Contacts',
    categories: 'Categories', broadcast: 'Broadcast', jobs: 'Jobs', events: 'Events', account: 'Account',
    connected: 'connected', disconnected: 'disconnected', logged_out: 'logged out',
    scan: 'Scan with WeChat to log in (refreshes by itself)', channels: 'Delivery channels', channel: 'Channel',
    kind: 'Kind', target: 'Target', backlog: 'Backlog', last_success: 'Last success', last_error: 'Last error',
    send_queue: 'Send queue', warnings: 'Warnings', none: 'none', search: 'Search…', name: 'Name', remark: 'Remark',
    id: 'ID', type: 'Type', in_categories: 'Categories', user: 'friend', group_chat: 'chat group',
    official: 'official account', new_category: 'New category name', create: 'Create', open: 'Open',
    rename: 'Rename', delete: 'Delete', members: 'Members', add: 'Add', remove: 'Remove',
    add_members: 'Search contacts to add', confirm_delete: 'Delete category', new_name: 'New name', text: 'Text',
    image: 'image', image_optional: 'Image (optional)', pick_categories: 'Categories', pick_contacts: 'or pick contacts',
    receivers: 'Receivers (distinct)', start: 'Start broadcast', cancel: 'Cancel', state: 'State',
    progress: 'Progress', failures: 'Failures', created: 'Created', pause: 'Pause', resume: 'Resume',
    filter: 'Filter…', all_types: 'All types', time: 'Time', sender: 'Sender',
    no_receivers: 'Pick a category or a contact first', nothing_to_send: 'Enter a text or pick an image',
    language: '中文', store: 'Store', file: 'file', video: 'video', emoji: 'sticker', link: 'link', xml: 'XML', websocket_clients: 'WebSocket clients', picked: 'Picked',
    fleet: 'Fleet', node: 'node', nodes: 'Nodes', leases: 'Leases', holder: 'Holder', alive: 'alive', gone: 'gone',
    expires_in: 'Seconds left', this_node: 'this node', unheld: 'not held', starting: 'starting', address: 'Address', last_seen: 'Last heartbeat',
  },
};

const state = {
  lang: localStorage.getItem('wechat-http-lang') === 'en' ? 'en' : 'zh',
  accounts: [],
  account: localStorage.getItem('wechat-http-account') || '',
  timers: [],
  eventsAfter: null,
  eventsPaused: false,
  eventRows: [],
};

const t = (k) => TEXT[state.lang][k] || k;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'testid') e.dataset.testid = v;
    else if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'value') e.value = v;
    else if (k === 'checked') e.checked = true;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

class SignedOut extends Error {}

async function request(url, options) {
  const r = await fetch(url, Object.assign({ credentials: 'same-origin' }, options));
  if (r.status === 401) throw new SignedOut();
  const type = r.headers.get('content-type') || '';
  const body = type.includes('json') ? await r.json() : null;
  if (!body || body.status !== 'ok') throw new Error(body ? body.message : `HTTP ${r.status}`);
  return body.data;
}

// An action, the same endpoint bots use; the header proves the request comes from this page.
function action(name, params) {
  const body = Object.assign({}, params || {});
  if (state.account) body.self_id = state.account;
  return request('/' + name, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-wechat-console': '1' },
    body: JSON.stringify(body),
  });
}

function view(name, params) {
  const q = new URLSearchParams(params || {});
  return request(`/console/api/${name}?${q}`);
}

function clearTimers() {
  state.timers.forEach((id) => clearInterval(id));
  state.timers = [];
}

function every(ms, fn) {
  state.timers.push(setInterval(fn, ms));
}

function fmtTime(secs) {
  if (!secs) return '—';
  return new Date(secs * 1000).toLocaleString(state.lang === 'zh' ? 'zh-CN' : 'en-GB');
}

function failed(err) {
  if (err instanceof SignedOut) {
    showLogin();
    return;
  }
  const box = document.getElementById('flash');
  if (box) box.textContent = err.message || String(err);
}

function guarded(fn) {
  return (...args) => Promise.resolve().then(() => fn(...args)).catch(failed);
}

// ---- sign-in --------------------------------------------------------------------------------

function showLogin(message) {
  clearTimers();
  history.replaceState(null, '', '/console#/login');
  const token = el('input', { type: 'password', testid: 'login-token', autocomplete: 'current-password', placeholder: t('token') });
  const error = el('p', { class: 'error', testid: 'login-error' }, message || '');
  const submit = async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    try {
      await request('/console/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-wechat-console': '1' },
        body: JSON.stringify({ token: token.value }),
      });
      history.replaceState(null, '', '/console#/overview');
      await start();
    } catch (e) {
      error.textContent = e.message;
    }
  };
  const app = document.getElementById('app');
  app.replaceChildren(
    el('form', { class: 'card login', onsubmit: submit },
      el('h2', {}, t('title')),
      el('p', { class: 'muted' }, t('signin_hint')),
      token,
      el('div', { class: 'row' },
        el('button', { class: 'primary', type: 'submit', testid: 'login-submit' }, t('signin')),
        el('button', { type: 'button', onclick: () => { toggleLang(); showLogin(); } }, t('language'))),
      error));
  token.focus();
}

async function signOut() {
  try {
    await request('/console/session', { method: 'DELETE', headers: { 'x-wechat-console': '1' } });
  } catch (e) { /* signed out either way */ }
  showLogin();
}

function toggleLang() {
  state.lang = state.lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('wechat-http-lang', state.lang);
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
}

// ---- frame ----------------------------------------------------------------------------------

const PAGES = ['overview', 'contacts', 'categories', 'broadcast', 'jobs', 'events'];

function frame(page, content) {
  const nav = el('nav', {}, PAGES.map((p) =>
    el('a', {
      href: '#/' + p, testid: 'nav-' + p, class: p === page ? 'active' : '',
      // The page already open starts afresh (a hash that does not change fires no event).
      onclick: () => { if (location.hash === '#/' + p) route(); },
    }, t(p))));
  const picker = state.accounts.length > 1
    ? el('select', {
      testid: 'account-picker',
      onchange: (ev) => { state.account = ev.target.value; localStorage.setItem('wechat-http-account', state.account); route(); },
    }, state.accounts.map((a) => el('option', { value: a.name, selected: a.name === state.account ? 'selected' : null }, `${a.name} ${a.nickname || ''}`)))
    : null;
  const header = el('header', {},
    el('span', { class: 'brand' }, 'wechat-http'),
    nav,
    el('div', { class: 'tools' },
      picker,
      el('button', { type: 'button', testid: 'lang-toggle', onclick: () => { toggleLang(); route(); } }, t('language')),
      el('button', { type: 'button', testid: 'logout', onclick: signOut }, t('signout'))));
  document.getElementById('app').replaceChildren(header,
    el('main', {}, el('p', { id: 'flash', class: 'error' }), content));
}

function initials(name) {
  const s = (name || '?').trim();
  return s ? Array.from(s)[0].toUpperCase() : '?';
}

function avatar(c) {
  return el('span', { class: 'avatar' }, c.avatar ? el('img', { src: c.avatar, alt: '' }) : initials(c.display || c.nickname || c.id));
}

// ---- overview -------------------------------------------------------------------------------

async function overviewPage() {
  const box = el('div', {});
  frame('overview', [el('h2', {}, t('overview')), box]);
  const qrs = {};
  const draw = async () => {
    const o = await view('overview');
    state.accounts = o.accounts;
    const cards = o.accounts.map((a) => {
      let qr = null;
      if (a.state === 'logged_out') {
        qrs[a.name] = qrs[a.name] || `/console/api/qr?account=${encodeURIComponent(a.name)}&t=${Date.now()}`;
        qr = el('div', {}, el('p', {}, t('scan')), el('img', { class: 'qr', testid: 'qr-image', alt: 'QR', src: qrs[a.name] }));
      } else {
        delete qrs[a.name];
      }
      return el('div', { class: 'card' },
        el('div', { class: 'row' },
          el('strong', {}, a.nickname || a.name),
          el('span', { class: 'muted' }, `${a.name} · ${a.wxid || '—'}`),
          el('span', { class: 'state ' + a.state, testid: 'account-status', title: t(a.state) }, a.state),
          el('span', { class: 'muted' }, `${t(a.state)} · ${t('send_queue')}: ${a.send_queue}`),
          o.fleet ? el('span', { class: 'muted', testid: 'account-node' },
            `${t('node')}: ${a.node || t('unheld')}${a.here ? ' (' + t('this_node') + ')' : ''}`) : null),
        a.here === false ? null : qr);
    });
    let fleet = [];
    if (o.fleet) {
      const f = o.fleet;
      fleet = [
        el('h3', {}, `${t('fleet')} · ${t('this_node')}: ${f.node}`),
        el('div', { class: 'scroll' }, el('table', {},
          el('thead', {}, el('tr', {}, [t('nodes'), t('address'), t('state'), t('last_seen')].map((h) => el('th', {}, h)))),
          el('tbody', {}, f.nodes.map((n) => el('tr', { testid: 'fleet-node-row' },
            el('td', {}, n.id + (n.id === f.node ? ` (${t('this_node')})` : '')), el('td', {}, n.address),
            el('td', { class: n.alive ? '' : 'error' }, n.alive ? t('alive') : t('gone')), el('td', {}, fmtTime(n.seen_at))))))),
        el('div', { class: 'scroll' }, el('table', {},
          el('thead', {}, el('tr', {}, [t('leases'), t('kind'), t('holder'), t('expires_in'), t('state')].map((h) => el('th', {}, h)))),
          el('tbody', {}, f.leases.map((l) => el('tr', { testid: 'fleet-lease-row' },
            el('td', {}, l.name), el('td', {}, l.kind), el('td', {}, l.held ? l.holder : t('unheld')),
            el('td', { class: l.held ? '' : 'error' }, String(l.expires_in)), el('td', {}, l.state || '—')))))),
      ];
    }
    const channels = el('div', { class: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, [t('target'), t('kind'), t('backlog'), t('last_success'), t('last_error')].map((h) => el('th', {}, h)))),
      el('tbody', {}, o.channels.length ? o.channels.map((c) => el('tr', { testid: 'channel-row', title: c.channel },
        el('td', {}, c.target), el('td', {}, c.kind),
        el('td', {}, c.backlog === null ? '—' : c.backlog), el('td', {}, fmtTime(c.last_success)),
        el('td', { class: c.last_error ? 'error' : '' }, c.last_error ? `${fmtTime(c.last_error_at)} ${c.last_error}` : '—')))
        : el('tr', {}, el('td', { colspan: 5, class: 'muted' }, t('none'))))));
    box.replaceChildren(...cards, ...fleet,
      el('h3', {}, t('channels')), channels,
      el('p', { class: 'muted' }, `${t('store')}: ${o.store} · ${t('websocket_clients')}: ${o.websocket_clients}`),
      el('h3', {}, t('warnings')),
      el('ul', { class: 'plain', testid: 'warnings' }, o.warnings.length ? o.warnings.map((w) => el('li', {}, w)) : el('li', { class: 'muted' }, t('none'))));
  };
  await draw();
  every(3000, guarded(draw));
  // Login QR codes expire: fetch a fresh one every 20 s while logged out.
  every(20000, () => { for (const k of Object.keys(qrs)) qrs[k] = `/console/api/qr?account=${encodeURIComponent(k)}&t=${Date.now()}`; });
}

// ---- contacts -------------------------------------------------------------------------------

async function loadContacts() {
  return view('contacts', state.account ? { account: state.account } : {});
}

function matches(c, q) {
  q = q.trim().toLowerCase();
  return !q || [c.id, c.nickname, c.remark].some((v) => (v || '').toLowerCase().includes(q));
}

async function contactsPage() {
  const contacts = await loadContacts();
  const body = el('tbody', {});
  const search = el('input', { type: 'search', testid: 'contact-search', placeholder: t('search'), class: 'grow' });
  const draw = () => body.replaceChildren(...contacts.filter((c) => matches(c, search.value)).map((c) =>
    el('tr', { testid: 'contact-row' },
      el('td', {}, avatar(c)), el('td', {}, c.nickname), el('td', { class: 'hide-narrow' }, c.remark),
      el('td', {}, c.id), el('td', { class: 'hide-narrow' }, t(c.type)),
      el('td', {}, c.categories.map((g) => el('span', { class: 'chip' }, g.name))))));
  search.addEventListener('input', draw);
  frame('contacts', [el('h2', {}, t('contacts')), el('div', { class: 'row' }, search, el('span', { class: 'muted' }, String(contacts.length))),
    el('div', { class: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, ['', t('name'), t('remark'), t('id'), t('type'), t('in_categories')].map((h, i) => el('th', { class: i === 2 || i === 4 ? 'hide-narrow' : '' }, h)))),
      body))]);
  draw();
}

// ---- categories -----------------------------------------------------------------------------

async function categoriesPage() {
  const list = el('tbody', {});
  const detail = el('div', {});
  const name = el('input', { type: 'text', testid: 'category-new-name', placeholder: t('new_category'), class: 'grow' });
  let contacts = await loadContacts();
  const nameOf = (id) => { const c = contacts.find((x) => x.id === id); return c ? (c.display || c.nickname) : id; };

  const openCategory = guarded(async (cat) => {
    const members = await action('get_group_members', { group_id: cat.id });
    const have = new Set(members.map((m) => m.id));
    const results = el('ul', { class: 'plain' });
    const search = el('input', { type: 'search', testid: 'member-search', placeholder: t('add_members'), class: 'grow' });
    const drawResults = () => {
      const q = search.value;
      results.replaceChildren(...(q.trim() ? contacts.filter((c) => c.type !== 'official' && !have.has(c.id) && matches(c, q)).slice(0, 20) : []).map((c) =>
        el('li', { testid: 'member-result', class: 'row' }, avatar(c), el('span', { class: 'grow' }, `${c.display || c.nickname} (${c.id})`),
          el('button', { type: 'button', testid: 'member-add', onclick: guarded(async () => {
            await action('add_member_to_group', { group_id: cat.id, member_id: c.id });
            contacts = await loadContacts();
            await openCategory(cat);
            await drawList();
          }) }, t('add')))));
    };
    search.addEventListener('input', drawResults);
    detail.replaceChildren(el('div', { class: 'card', testid: 'category-detail' },
      el('h3', {}, `${cat.name} · ${t('members')} (${members.length})`),
      el('ul', { class: 'plain' }, members.map((m) => el('li', { testid: 'member-row', class: 'row' },
        el('span', { class: 'grow' }, `${nameOf(m.id)} (${m.id})`),
        el('button', { type: 'button', class: 'danger', testid: 'member-remove', onclick: guarded(async () => {
          await action('remove_member_from_group', { group_id: cat.id, member_id: m.id });
          contacts = await loadContacts();
          await openCategory(cat);
          await drawList();
        }) }, t('remove'))))),
      el('div', { class: 'row' }, search), results));
  });

  const drawList = async () => {
    const cats = await action('get_groups');
    const counts = {};
    for (const c of contacts) for (const g of c.categories) counts[g.id] = (counts[g.id] || 0) + 1;
    list.replaceChildren(...cats.map((cat) => el('tr', { testid: 'category-row' },
      el('td', {}, cat.name), el('td', { class: 'muted' }, String(counts[cat.id] || 0)),
      el('td', { class: 'row' },
        el('button', { type: 'button', testid: 'category-open', onclick: () => openCategory(cat) }, t('open')),
        el('button', { type: 'button', testid: 'category-rename', onclick: guarded(async () => {
          const n = prompt(t('new_name'), cat.name);
          if (n === null) return;
          await action('rename_group', { group_id: cat.id, new_name: n });
          await drawList();
        }) }, t('rename')),
        el('button', { type: 'button', class: 'danger', testid: 'category-delete', onclick: guarded(async () => {
          if (!confirm(`${t('confirm_delete')} ${cat.name}?`)) return;
          await action('delete_group', { group_id: cat.id });
          detail.replaceChildren();
          await drawList();
        }) }, t('delete'))))));
  };

  const create = guarded(async (ev) => {
    ev.preventDefault();
    await action('create_group', { group_name: name.value });
    name.value = '';
    await drawList();
  });
  frame('categories', [el('h2', {}, t('categories')),
    el('form', { class: 'row card', onsubmit: create }, name, el('button', { class: 'primary', type: 'submit', testid: 'category-create' }, t('create'))),
    el('div', { class: 'cols' },
      el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, t('name')), el('th', {}, t('members')), el('th', {}, ''))), list)),
      detail)]);
  await drawList();
}

// ---- broadcast and jobs ---------------------------------------------------------------------

function jobView(job) {
  const pct = job.total ? Math.round(100 * (job.sent + job.failed.length + job.cancelled) / job.total) : 0;
  const unfinished = job.state === 'running' || job.state === 'waiting_backend';
  const bar = el('div', {});
  bar.style.width = `${pct}%`; // CSSOM, which the content policy allows (a style attribute it would not)
  return el('div', { class: 'card', testid: 'job' },
    el('div', { class: 'row' },
      el('span', { class: 'state ' + job.state, testid: 'job-state' }, job.state),
      el('strong', { testid: 'job-progress' }, `${job.sent}/${job.total}`),
      el('span', { class: 'muted' }, `${job.job_id} · ${fmtTime(job.created_at)}`),
      unfinished ? el('button', { type: 'button', class: 'danger', testid: 'job-cancel', onclick: guarded(async () => {
        await action('cancel_send_job', { job_id: job.job_id });
      }) }, t('cancel')) : null),
    el('div', { class: 'progress' }, bar),
    job.failed.length ? el('div', {}, el('h3', {}, `${t('failures')} (${job.failed.length})`),
      el('ul', { class: 'plain' }, job.failed.map((f) => el('li', { testid: 'job-failure' }, `${f.receiver}: ${f.message} (${f.retcode})`)))) : null);
}

function watchJob(box, jobId) {
  const draw = async () => {
    const job = await action('get_send_job', { job_id: jobId });
    box.replaceChildren(jobView(job));
    return job;
  };
  draw().catch(failed);
  every(1000, guarded(draw));
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).split(',')[1]);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

async function broadcastPage() {
  const cats = await action('get_groups');
  let contacts = await loadContacts();
  const picked = new Set();
  const membersOf = {};
  const text = el('textarea', { testid: 'broadcast-text', placeholder: t('text') });
  const image = el('input', { type: 'file', accept: 'image/*', testid: 'broadcast-image' });
  const count = el('strong', { testid: 'broadcast-receiver-count' }, '0');
  const progress = el('div', { testid: 'broadcast-progress' });
  const chips = el('div', {});
  const results = el('ul', { class: 'plain' });
  const checks = cats.map((c) => ({ cat: c, box: el('input', { type: 'checkbox', testid: 'broadcast-category', value: c.id }) }));

  const receivers = async () => {
    const set = new Set(picked);
    for (const { cat, box } of checks) {
      if (!box.checked) continue;
      membersOf[cat.id] = membersOf[cat.id] || (await action('get_group_members', { group_id: cat.id })).map((m) => m.id);
      membersOf[cat.id].forEach((id) => set.add(id));
    }
    return set;
  };
  const recount = guarded(async () => { count.textContent = String((await receivers()).size); });
  checks.forEach(({ box }) => box.addEventListener('change', recount));

  const drawPicked = () => chips.replaceChildren(...[...picked].map((id) => {
    const c = contacts.find((x) => x.id === id);
    return el('span', { class: 'chip', testid: 'broadcast-picked' }, c ? (c.display || c.nickname) : id, ' ',
      el('button', { type: 'button', onclick: () => { picked.delete(id); drawPicked(); recount(); } }, '×'));
  }));
  const search = el('input', { type: 'search', testid: 'broadcast-contact-search', placeholder: t('search'), class: 'grow' });
  search.addEventListener('input', () => {
    const q = search.value;
    results.replaceChildren(...(q.trim() ? contacts.filter((c) => c.type !== 'official' && !picked.has(c.id) && matches(c, q)).slice(0, 10) : []).map((c) =>
      el('li', { class: 'row', testid: 'broadcast-contact-result' }, el('span', { class: 'grow' }, `${c.display || c.nickname} (${c.id})`),
        el('button', { type: 'button', onclick: () => { picked.add(c.id); search.value = ''; results.replaceChildren(); drawPicked(); recount(); } }, t('add')))));
  });

  const start = guarded(async () => {
    const message = [];
    if (text.value.trim()) message.push({ type: 'text', data: { text: text.value } });
    if (image.files.length) {
      const f = image.files[0];
      const up = await action('upload_file', { type: 'data', name: f.name, data: await readFile(f) });
      message.push({ type: 'image', data: { file_id: up.file_id } });
    }
    if (!message.length) throw new Error(t('nothing_to_send'));
    const chosen = checks.filter((c) => c.box.checked).map((c) => c.cat.id);
    const params = { message, async: true };
    if (chosen.length && !picked.size) params.group_ids = chosen;
    else {
      const all = [...(await receivers())];
      if (!all.length) throw new Error(t('no_receivers'));
      params.receivers = all;
    }
    startButton.disabled = true;
    const r = await action('send_message', params);
    watchJob(progress, r.job_id);
  });
  const startButton = el('button', { type: 'button', class: 'primary', testid: 'broadcast-start', onclick: start }, t('start'));
  frame('broadcast', [el('h2', {}, t('broadcast')),
    el('div', { class: 'card' },
      el('h3', {}, t('text')), text,
      el('h3', {}, t('image_optional')), image,
      el('h3', {}, t('pick_categories')),
      el('div', { class: 'row' }, checks.length ? checks.map(({ cat, box }) => el('label', { class: 'chip' }, box, ' ', cat.name)) : el('span', { class: 'muted' }, t('none'))),
      el('h3', {}, t('pick_contacts')),
      el('div', { class: 'row' }, search), results, chips,
      el('p', {}, `${t('receivers')}: `, count),
      startButton),
    progress]);
}

async function jobsPage() {
  const jobs = await view('jobs', state.account ? { account: state.account } : {});
  const detail = el('div', {});
  const open = (job) => { clearTimers(); watchJob(detail, job.job_id); };
  frame('jobs', [el('h2', {}, t('jobs')),
    el('div', { class: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, [t('created'), t('text'), t('state'), t('progress'), t('failures'), ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, jobs.length ? jobs.map((j) => el('tr', { testid: 'job-row' },
        el('td', {}, fmtTime(j.created_at)), el('td', {}, j.text || (j.kinds || []).map((k) => `[${t(k)}]`).join(' ')),
        el('td', {}, el('span', { class: 'state ' + j.state, testid: 'job-state' }, j.state)),
        el('td', { testid: 'job-progress' }, `${j.sent}/${j.total}`), el('td', {}, String(j.failed.length)),
        el('td', {}, el('button', { type: 'button', testid: 'job-open', onclick: () => open(j) }, t('open')))))
        : el('tr', {}, el('td', { colspan: 6, class: 'muted' }, t('none')))))),
    detail]);
}

// ---- events ---------------------------------------------------------------------------------

async function eventsPage() {
  const body = el('tbody', {});
  const filter = el('input', { type: 'search', testid: 'event-filter', placeholder: t('filter'), class: 'grow' });
  const type = el('select', { testid: 'event-type' }, el('option', { value: '' }, t('all_types')),
    ['message', 'notice', 'request', 'meta'].map((k) => el('option', { value: k }, k)));
  const pause = el('button', { type: 'button', testid: 'event-pause' }, t('pause'));
  pause.addEventListener('click', () => {
    state.eventsPaused = !state.eventsPaused;
    pause.textContent = state.eventsPaused ? t('resume') : t('pause');
  });
  const shown = (e) => (!type.value || e.type === type.value) &&
    (!filter.value.trim() || [e.type, e.detail_type, e.account, e.sender, e.group, e.text].join(' ').toLowerCase().includes(filter.value.trim().toLowerCase()));
  const draw = () => body.replaceChildren(...state.eventRows.filter(shown).slice(-300).reverse().map((e) =>
    el('tr', { testid: 'event-row' },
      el('td', {}, fmtTime(e.time)), el('td', {}, `${e.type}.${e.detail_type}`), el('td', { class: 'hide-narrow' }, e.account || ''),
      el('td', {}, e.group ? `${e.sender} @ ${e.group}` : e.sender), el('td', { class: 'text' }, e.text))));
  filter.addEventListener('input', draw);
  type.addEventListener('change', draw);
  const poll = async () => {
    if (state.eventsPaused) return;
    const params = { limit: 200 };
    if (state.eventsAfter !== null) params.after = state.eventsAfter;
    const r = await view('events', params);
    state.eventsAfter = r.upto;
    if (r.events.length) {
      state.eventRows = state.eventRows.concat(r.events).slice(-1000);
      draw();
    }
  };
  frame('events', [el('h2', {}, t('events')), el('div', { class: 'row card' }, filter, type, pause),
    el('div', { class: 'scroll events' }, el('table', {},
      el('thead', {}, el('tr', {}, [t('time'), t('type'), t('account'), t('sender'), t('text')].map((h, i) => el('th', { class: i === 2 ? 'hide-narrow' : '' }, h)))),
      body))]);
  draw();
  await poll();
  every(1000, guarded(poll));
}

// ---- routing --------------------------------------------------------------------------------

const ROUTES = { overview: overviewPage, contacts: contactsPage, categories: categoriesPage, broadcast: broadcastPage, jobs: jobsPage, events: eventsPage };

async function route() {
  clearTimers();
  const page = (location.hash.replace(/^#\/?/, '') || 'overview').split('?')[0];
  if (page === 'login') return start();
  const render = ROUTES[page] || overviewPage;
  try {
    await render();
  } catch (e) {
    failed(e);
  }
}

async function start() {
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  document.title = t('title');
  try {
    const s = await request('/console/session');
    if (!s.signed_in) return showLogin();
    const o = await view('overview');
    state.accounts = o.accounts;
    if (!state.accounts.some((a) => a.name === state.account)) state.account = state.accounts.length ? state.accounts[0].name : '';
    if (location.hash === '' || location.hash === '#/login') history.replaceState(null, '', '/console#/overview');
    await route();
  } catch (e) {
    if (e instanceof SignedOut) showLogin();
    else document.getElementById('app').replaceChildren(el('p', { class: 'error' }, e.message));
  }
}

window.addEventListener('hashchange', () => { if (location.hash !== '#/login') route(); });
start();
