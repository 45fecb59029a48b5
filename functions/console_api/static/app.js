// LiveStock console: one WebSocket for what the session's SKUs do, the operator's actions over HTTP.
// The console token comes in the URL fragment (never sent to a server), is kept for this tab only,
// opens the WebSocket (?token=) and authorises the actions (Authorization: Bearer).
"use strict";
(() => {
  const KEY = "livestock-console-token";
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token") || sessionStorage.getItem(KEY) || "";
  if (fragment.get("token")) {
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  const wsBase = fragment.get("ws") || document.querySelector('meta[name="livestock-websocket"]').content;
  const ETA_WINDOW_MS = 60000;
  const state = { session: null, panels: new Map(), cards: new Map(), history: new Map(), feed: new Set(), retry: 0 };
  // What the page rendered and when (epoch ms): read by the latency benchmark and the browser test.
  const renders = [];
  window.__livestock = { renders, state };

  const $ = (root, selector) => root.querySelector(selector);
  const now = () => performance.timeOrigin + performance.now();

  function setConnection(kind, text) {
    const box = document.getElementById("conn");
    box.dataset.state = kind;
    document.getElementById("conn-text").textContent = text;
  }

  function connect() {
    if (!token) { setConnection("refused", "no console token in the link"); return; }
    if (!wsBase) { setConnection("refused", "no WebSocket address configured"); return; }
    if (state.session && state.session.token_expires_at * 1000 <= Date.now()) {
      setConnection("expired", "console token expired: ask for a new link"); return;
    }
    setConnection(state.retry ? "reconnecting" : "connecting", state.retry ? "reconnecting…" : "connecting…");
    const socket = new WebSocket(`${wsBase}?token=${encodeURIComponent(token)}`);
    let opened = false;
    socket.onopen = () => {
      opened = true;
      state.retry = 0;
      socket.send(JSON.stringify({ action: "subscribe" }));
    };
    socket.onmessage = (message) => receive(JSON.parse(message.data));
    socket.onclose = () => {
      state.retry += 1;
      const delay = Math.min(15000, 500 * 2 ** Math.min(state.retry, 5));
      const why = opened ? "connection lost" : "refused or unreachable";
      setConnection(opened ? "reconnecting" : "refused", `${why}; retrying in ${Math.round(delay / 1000)} s`);
      setTimeout(connect, delay);
    };
  }

  function receive(message) {
    if (message.type === "error") { setConnection("refused", `${message.code}: ${message.message}`); return; }
    if (message.session) showSession(message.session);
    for (const panel of message.skus) update(panel);
    for (const alert of message.alerts) addAlert(alert, message.type === "snapshot");
    setConnection("live", `live · ${new Date().toLocaleTimeString()}`);
  }

  function showSession(session) {
    state.session = session;
    document.getElementById("session-title").textContent = session.title;
    document.getElementById("session-meta").textContent =
      `${session.session_id} · ${session.status} · ${session.channels.join(", ")}` +
      ` · token until ${new Date(session.token_expires_at * 1000).toLocaleTimeString()}`;
  }

  function card(panel) {
    let element = state.cards.get(panel.sku_id);
    if (element) return element;
    element = document.getElementById("sku-card").content.firstElementChild.cloneNode(true);
    element.dataset.sku = panel.sku_id;
    if (state.session && state.session.operate) wireControls(element, panel.sku_id);
    document.getElementById("skus").appendChild(element);
    state.cards.set(panel.sku_id, element);
    return element;
  }

  function update(panel) {
    const known = state.panels.get(panel.sku_id);
    if (known && known.read_at > panel.read_at) return; // an older read never replaces a newer one
    state.panels.set(panel.sku_id, panel);
    const history = state.history.get(panel.sku_id) || [];
    history.push([panel.read_at * 1000, panel.sellable]);
    while (history.length > 2 && history[0][0] < panel.read_at * 1000 - ETA_WINDOW_MS) history.shift();
    state.history.set(panel.sku_id, history);
    render(card(panel), panel);
    renders.push({ t: now(), sku: panel.sku_id, sellable: panel.sellable, paused: panel.paused });
    if (renders.length > 20000) renders.splice(0, 10000);
  }

  function field(element, name, value) { $(element, `[data-field="${name}"]`).textContent = value; }

  function render(element, panel) {
    field(element, "name", panel.name);
    field(element, "sku_id", panel.sku_id);
    field(element, "sellable", panel.sellable);
    for (const name of ["sold", "held", "reserve", "on_hand"]) field(element, name, panel[name]);
    $(element, '[data-field="paused"]').hidden = !panel.paused;
    element.dataset.paused = panel.paused;
    const total = Math.max(1, panel.sold + panel.held + panel.sellable + panel.reserve);
    const parts = { sold: panel.sold, held: panel.held, free: panel.sellable, reserve: panel.reserve };
    for (const [name, units] of Object.entries(parts)) {
      $(element, `[data-seg="${name}"]`).style.width = `${(100 * units) / total}%`;
    }
    const list = $(element, '[data-field="channels"]');
    list.replaceChildren(...Object.entries(panel.channels).map(([channel, units]) => {
      const row = document.createElement("li");
      row.dataset.channel = channel;
      const name = document.createElement("span");
      name.textContent = channel;
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${Math.min(100, (100 * units) / Math.max(1, panel.on_hand))}%`;
      bar.appendChild(fill);
      const count = document.createElement("span");
      count.className = "units";
      count.textContent = units;
      row.append(name, bar, count);
      return row;
    }));
    const tier = panel.tier;
    element.dataset.tier = tier ? tier.severity : "none";
    field(element, "tier", tier ? `${tier.alert}${tier.tier_pct != null ? ` ${tier.tier_pct}%` : ""}` : "–");
    showRate(element, panel);
    showStage(element, panel);
    const pause = $(element, '[data-action="pause"]');
    if (pause) {
      pause.hidden = panel.paused;
      $(element, '[data-action="resume"]').hidden = !panel.paused;
      $(element, '[data-action="stage"]').hidden = !panel.stage;
      fillChannels(element);
    }
  }

  function showRate(element, panel) {
    const history = state.history.get(panel.sku_id);
    const [t0, first] = history[0];
    const [t1, last] = history[history.length - 1];
    const perMs = t1 > t0 ? (first - last) / (t1 - t0) : 0;
    field(element, "rate", perMs > 0 ? `${Math.round(perMs * 60000)}/min` : "–");
    if (panel.sellable === 0) field(element, "eta", "sold out");
    else field(element, "eta", perMs > 0 ? duration(panel.sellable / perMs / 1000) : "–");
  }

  function nextStageAt(stage) {
    if (!stage) return null;
    const given = stage.next_stage_at ?? stage.next_release_at ?? stage.next_at;
    if (given == null) return null;
    return typeof given === "number" ? given * 1000 : Date.parse(given);
  }

  function showStage(element, panel) {
    const at = nextStageAt(panel.stage);
    $(element, '[data-field="stage-box"]').hidden = at == null;
    if (at != null) field(element, "stage", at > Date.now() ? duration((at - Date.now()) / 1000) : "due");
  }

  function duration(seconds) {
    if (!Number.isFinite(seconds)) return "–";
    const s = Math.max(0, Math.round(seconds));
    return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
      : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
  }

  function addAlert(alert, old) {
    if (state.feed.has(alert.event_id)) return;
    state.feed.add(alert.event_id);
    const item = document.createElement("li");
    item.dataset.severity = alert.severity;
    const time = document.createElement("time");
    time.textContent = new Date(alert.occurred_at * 1000).toLocaleTimeString();
    item.append(time, document.createTextNode(`${alert.sku_id ? alert.sku_id + ": " : ""}${alert.message}`));
    const feed = document.getElementById("feed");
    if (old) feed.appendChild(item); else feed.prepend(item);
  }

  function fillChannels(element) {
    for (const name of ["from", "to"]) {
      const select = $(element, `[data-input="${name}"]`);
      if (select.options.length) continue;
      for (const channel of [...state.session.channels, "shared"]) select.add(new Option(channel, channel));
      if (name === "to" && select.options.length > 1) select.selectedIndex = 1;
    }
  }

  function wireControls(element, skuId) {
    $(element, ".controls").hidden = false;
    const input = (name) => $(element, `[data-input="${name}"]`);
    const units = (name) => (input(name).value ? Number(input(name).value) : null);
    const actions = {
      pause: () => [`Pause ${skuId} on every platform?`, "pause", null],
      resume: () => [`Resume selling ${skuId}?`, "resume", null],
      reserve: () => {
        const quantity = units("reserve-qty");
        return [`Release ${quantity ?? "all"} reserve units of ${skuId}?`, "reserve/release", { quantity }];
      },
      move: () => {
        const body = { from_channel: input("from").value, to_channel: input("to").value, quantity: units("move-qty") };
        return [`Move ${body.quantity} units of ${skuId} from ${body.from_channel} to ${body.to_channel}?`, "quota/move", body];
      },
      stage: () => [`Release the next stage of ${skuId} now?`, "stages/release-next", null],
    };
    // One idempotency key per confirmed action, kept until the action gets an answer: pressing
    // again after "request failed" (the answer was lost, the action may have been done) sends the
    // same key, so the server does it at most once; an answered action's next press is a new one.
    const unanswered = new Map();
    element.addEventListener("click", async (click) => {
      const action = click.target.dataset && click.target.dataset.action;
      if (!action || click.target.disabled) return;
      const [question, path, body] = actions[action]();
      if (!window.confirm(question)) return;
      const intent = `${path} ${JSON.stringify(body ?? {})}`;
      const key = unanswered.get(intent) ?? newKey();
      unanswered.set(intent, key);
      const answer = $(element, '[data-field="answer"]');
      const buttons = [...element.querySelectorAll("[data-action]")];
      answer.className = "answer";
      answer.textContent = "…";
      for (const button of buttons) button.disabled = true;  // one action of a SKU at a time
      try {
        const url = new URL(`console/sessions/${encodeURIComponent(state.session.session_id)}` +
          `/skus/${encodeURIComponent(skuId)}/${path}`, location.href);
        const response = await fetch(url, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "idempotency-key": key },
          body: JSON.stringify(body ?? {}),
        });
        unanswered.delete(intent);
        const payload = await response.json().catch(() => ({}));
        answer.classList.add(response.ok ? "ok" : "error");
        answer.textContent = response.ok ? `${response.status} ${describe(action, payload)}`
          : `${response.status} ${payload.code || "ERROR"}: ${payload.message || response.statusText}`;
      } catch (error) {
        answer.classList.add("error");
        answer.textContent = `request failed: ${error} (pressing again is safe: it is sent as a retry)`;
      } finally {
        for (const button of buttons) button.disabled = false;
      }
    });
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `k${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;
  }

  function describe(action, payload) {
    if (action === "reserve") return `released ${payload.released} units`;
    if (action === "pause" || action === "resume") return payload.paused ? "paused" : "selling";
    if (action === "move") return `moved; sellable ${payload.sellable}`;
    return "done";
  }

  setInterval(() => {
    for (const [skuId, panel] of state.panels) showStage(state.cards.get(skuId), panel);
  }, 1000);
  connect();
})();
