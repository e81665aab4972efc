// web/monitor/monitor.js - the live monitoring page (docs/monitor.md).
//
// Logs in with Strophe.js over WebSocket (RFC 7395; the URL from XEP-0156
// host-meta, else /xmpp-websocket on this origin), and shows the values
// tools/monitord publishes to PEP nodes urn:rampart:monitor:NAME, each
// with a small canvas chart, and the alerts node.  Values arrive as PEP
// notifications (XEP-0163): the page's presence carries XEP-0115
// entity capabilities whose features include "NODE+notify" for each node
// it wants, the server checks the ver hash with a disco#info query that
// the page answers, then sends the last item of each node at once and
// every new one afterwards.  "Alerts only" (mobile=1) asks +notify for
// the alerts node alone, so nothing else is sent to it.
//
// Query parameters (also the form): jid, password, source (the account
// monitord runs as; default the same account), mobile=1, url (a WebSocket
// URL), nodes (comma-separated metric names to ask for).  window.monitor
// exposes the page's state for the browser test.
'use strict';

(function () {
	const S = window.Strophe;
	const $pres = window.$pres || S.$pres;
	const $iq = window.$iq || S.$iq;
	const NS_PREFIX = 'urn:rampart:monitor:';
	const NS_PAYLOAD = 'urn:rampart:monitor:0';
	const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
	const NS_EVENT = NS_PUBSUB + '#event';
	const NS_CAPS = 'http://jabber.org/protocol/caps';
	const NS_DISCO = 'http://jabber.org/protocol/disco#info';
	const CAPS_NODE = 'urn:rampart:monitor:web';
	const IDENTITY = { category: 'client', type: 'web', lang: '',
	    name: 'Rampart monitor' };
	const DEFAULT_NODES = ['load', 'cpu', 'memory', 'net-rx', 'net-tx',
	    'disk:/'];
	const HISTORY = 120;	// points per chart

	const state = window.monitor = {
		status: 'offline', ready: false, metrics: {}, alerts: [],
		metricEvents: 0, alertEvents: 0, mobile: false, caps: null,
	};
	let conn = null;
	let caps = null;	// { ver, features }

	const $ = (id) => document.getElementById(id);

	function setStatus(s) {
		state.status = s;
		$('status').textContent = s;
	}

	// ---- XEP-0115 5.1: the verification string and its SHA-1 ----

	async function capsFor(notifyNodes) {
		const features = [NS_DISCO, NS_CAPS,
		    'urn:xmpp:ping'].concat(notifyNodes.map(
		    (n) => NS_PREFIX + n + '+notify'));
		features.sort();	// i;octet: the names are ASCII
		let s = IDENTITY.category + '/' + IDENTITY.type + '/' +
		    IDENTITY.lang + '/' + IDENTITY.name + '<';
		for (const f of features)
			s += f + '<';
		const digest = await crypto.subtle.digest('SHA-1',
		    new TextEncoder().encode(s));
		const ver = btoa(String.fromCharCode(...new Uint8Array(digest)));
		return { ver, features };
	}

	// disco#info about us (with or without our caps node#ver): the same
	// identity and features the ver was computed from.
	function onDisco(iq) {
		const q = iq.getElementsByTagName('query')[0];
		const node = q && q.getAttribute('node');
		const res = $iq({ type: 'result', id: iq.getAttribute('id'),
		    to: iq.getAttribute('from') }).c('query', { xmlns: NS_DISCO });
		if (node)
			res.attrs({ node });
		if (node && node !== CAPS_NODE + '#' + caps.ver) {
			conn.send($iq({ type: 'error', id: iq.getAttribute('id'),
			    to: iq.getAttribute('from') }).c('error',
			    { type: 'cancel' }).c('item-not-found',
			    { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' }));
			return true;
		}
		res.c('identity', { category: IDENTITY.category,
		    type: IDENTITY.type, name: IDENTITY.name }).up();
		for (const f of caps.features)
			res.c('feature', { var: f }).up();
		conn.send(res);
		return true;
	}

	function onPing(iq) {
		conn.send($iq({ type: 'result', id: iq.getAttribute('id'),
		    to: iq.getAttribute('from') }));
		return true;
	}

	// ---- values ----

	function card(name) {
		let c = document.querySelector('.card[data-name="' +
		    CSS.escape(name) + '"]');
		if (c)
			return c;
		c = document.createElement('div');
		c.className = 'card';
		c.dataset.name = name;
		const h = document.createElement('h3');
		h.textContent = name;
		const v = document.createElement('div');
		v.className = 'value';
		const t = document.createElement('div');
		t.className = 'time';
		const cv = document.createElement('canvas');
		cv.width = 240;
		cv.height = 48;
		c.append(h, v, t, cv);
		// the usual metrics first, in a fixed order, whatever arrives first
		const i = DEFAULT_NODES.indexOf(name);
		c.style.order = String(i < 0 ? DEFAULT_NODES.length : i);
		$('metrics').append(c);
		return c;
	}

	function draw(canvas, points, max) {
		const g = canvas.getContext('2d');
		const w = canvas.width, h = canvas.height;
		g.clearRect(0, 0, w, h);
		if (points.length === 0)
			return;
		const top = max > 0 ? max : Math.max(...points) * 1.2 || 1;
		g.strokeStyle = '#2f6fdb';
		g.lineWidth = 2;
		g.beginPath();
		points.forEach((p, i) => {
			const x = points.length === 1 ? w :
			    i * w / (points.length - 1);
			const y = h - 2 - Math.min(p / top, 1) * (h - 4);
			if (i === 0)
				g.moveTo(x, y);
			else
				g.lineTo(x, y);
		});
		g.stroke();
	}

	function showMetric(el) {
		const name = el.getAttribute('name') || '';
		const raw = el.getAttribute('value') || '';
		const v = Number(raw);
		if (!name || !Number.isFinite(v))
			return;
		const m = state.metrics[name] || (state.metrics[name] =
		    { history: [] });
		m.value = raw;
		m.unit = el.getAttribute('unit') || '';
		m.max = Number(el.getAttribute('max')) || 0;
		m.time = el.getAttribute('time') || '';
		m.history.push(v);
		if (m.history.length > HISTORY)
			m.history.shift();
		const c = card(name);
		const val = c.querySelector('.value');
		val.textContent = raw;
		const u = document.createElement('span');
		u.className = 'unit';
		u.textContent = m.unit;
		val.append(u);
		c.querySelector('.time').textContent = m.time;
		draw(c.querySelector('canvas'), m.history, m.max);
	}

	function showAlert(el, itemId) {
		if (state.alerts.some((a) => a.id === itemId))
			return;	// the same item again (last item, then fetch)
		const a = { id: itemId, name: el.getAttribute('name'),
		    state: el.getAttribute('state'), text: el.textContent,
		    time: el.getAttribute('time') || '' };
		state.alerts.push(a);
		const li = document.createElement('li');
		li.className = a.state === 'cleared' ? 'cleared' : 'raised';
		const t = document.createElement('time');
		t.textContent = a.time;
		li.append(t, document.createTextNode(a.text));
		$('alerts').prepend(li);
		const c = document.querySelector('.card[data-name="' +
		    CSS.escape(a.name || '') + '"]');
		if (c)
			c.classList.toggle('alerting', a.state === 'raised');
	}

	// An <items/> of an event or of an iq result.
	function showItems(items, fromEvent) {
		const node = items.getAttribute('node') || '';
		if (!node.startsWith(NS_PREFIX))
			return;
		for (const it of items.getElementsByTagName('item')) {
			for (const el of it.children) {
				if (el.namespaceURI !== NS_PAYLOAD)
					continue;
				if (el.localName === 'metric') {
					if (fromEvent)
						state.metricEvents++;
					showMetric(el);
				} else if (el.localName === 'alert') {
					if (fromEvent)
						state.alertEvents++;
					showAlert(el, it.getAttribute('id'));
				}
			}
		}
	}

	function onMessage(msg) {
		for (const ev of msg.getElementsByTagNameNS(NS_EVENT, 'event'))
			for (const items of ev.getElementsByTagNameNS(NS_EVENT,
			    'items'))
				showItems(items, true);
		return true;
	}

	// XEP-0060 6.5.7: the newest items of a node, asked explicitly as
	// well, for servers that do not send the last item on presence.
	function fetchLast(source, own, node, max) {
		const attrs = { type: 'get' };
		if (source !== own)
			attrs.to = source;
		conn.sendIQ($iq(attrs).c('pubsub', { xmlns: NS_PUBSUB })
		    .c('items', { node: NS_PREFIX + node, max_items: String(max) }),
		    (res) => {
			for (const items of res.getElementsByTagName('items'))
				showItems(items, false);
		}, () => { /* not allowed or no such node: notifications only */ },
		    10000);
	}

	function sendPresence() {
		conn.send($pres().c('c', { xmlns: NS_CAPS, hash: 'sha-1',
		    node: CAPS_NODE, ver: caps.ver }));
	}

	async function online(opts) {
		const own = S.getBareJidFromJid(conn.jid);
		const source = opts.source || own;
		const wanted = opts.mobile ? [] : opts.nodes;
		caps = state.caps = await capsFor(wanted.concat(['alerts']));
		conn.addHandler(onDisco, NS_DISCO, 'iq', 'get');
		conn.addHandler(onPing, 'urn:xmpp:ping', 'iq', 'get');
		conn.addHandler(onMessage, null, 'message');
		// The account monitord runs as shares its nodes with contacts
		// only (access model presence): ask once; monitord approves
		// viewers it is told to, and the server then sends the last
		// items of the nodes our caps ask for (docs/monitor.md).
		sendPresence();
		if (source !== own)
			conn.send($pres({ to: source, type: 'subscribe' }));
		for (const n of wanted)
			fetchLast(source, own, n, 1);
		fetchLast(source, own, 'alerts', 10);
		state.ready = true;
		setStatus('online as ' + conn.jid + (opts.mobile ?
		    ' (alerts only)' : '') + ', watching ' + source);
	}

	// XEP-0156: the WebSocket URL from host-meta, else the usual path.
	async function discover() {
		const same = (location.protocol === 'https:' ? 'wss://' :
		    'ws://') + location.host + '/xmpp-websocket';
		try {
			const r = await fetch('/.well-known/host-meta.json');
			const j = await r.json();
			const l = (j.links || []).find((x) => x.rel ===
			    'urn:xmpp:alt-connections:websocket');
			return l && l.href ? l.href : same;
		} catch (e) {
			return same;
		}
	}

	async function start(opts) {
		state.mobile = opts.mobile;
		document.body.classList.toggle('mobile', opts.mobile);
		$('login').classList.add('hidden');
		const url = opts.url || await discover();
		setStatus('connecting to ' + url);
		conn = new S.Connection(url);
		conn.connect(opts.jid, opts.password, (status, cond) => {
			if (status === S.Status.CONNECTED)
				online(opts).catch((e) => setStatus('error: ' + e));
			else if (status === S.Status.AUTHFAIL)
				setStatus('login failed');
			else if (status === S.Status.CONNFAIL)
				setStatus('connection failed: ' + (cond || ''));
			else if (status === S.Status.DISCONNECTED) {
				state.ready = false;
				setStatus('offline');
				$('login').classList.remove('hidden');
			}
		});
	}

	function optionsFrom(get) {
		const nodes = get('nodes');
		return {
			jid: get('jid') || '', password: get('password') || '',
			source: get('source') || '',
			mobile: get('mobile') === '1' || get('mobile') === 'on',
			url: get('url') || '',
			nodes: nodes ? nodes.split(',').filter((x) => x) :
			    DEFAULT_NODES,
		};
	}

	const params = new URLSearchParams(location.search);
	const fromQuery = optionsFrom((k) => params.get(k));
	for (const k of ['jid', 'source'])
		$(k).value = fromQuery[k];
	$('mobile').checked = fromQuery.mobile;
	$('login').addEventListener('submit', (e) => {
		e.preventDefault();
		const f = new FormData(e.target);
		const o = optionsFrom((k) => f.get(k));
		o.url = fromQuery.url;
		o.nodes = fromQuery.nodes;
		start(o);
	});
	if (fromQuery.jid && fromQuery.password)
		start(fromQuery);
})();
