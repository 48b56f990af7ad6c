"use strict";
// The gatehouse console: log in, watch the estate's live stream, acknowledge alarms, open doors remotely.
// Everything shown comes from the REST API under /api/v1; text is always set with textContent.
(() => {
  const API = "/api/v1";
  const MAX_ROWS = 200;
  const PHOTO_TTL_MS = 300000;  // the photo's Cache-Control max-age: then ask again (the ETag makes that cheap)
  const state = { lang: localStorage.getItem("estatelink.lang") || "zh-CN", csrf: null, me: null, estate: null,
                  stream: null, seen: new Set(), photos: new Map() };
  const $ = (id) => document.getElementById(id);
  const words = () => window.I18N[state.lang] || window.I18N["zh-CN"];

  function translatePage() {
    document.documentElement.lang = state.lang;
    for (const el of document.querySelectorAll("[data-t]")) {
      const text = words()[el.dataset.t];
      if (text) el.textContent = text;
    }
    document.title = `EstateLink ${words().title}`;
    $("lang").textContent = words().switch_lang;
    $("link").textContent = words()[$("link").dataset.state === "up" ? "link_up" : "link_down"];
  }

  async function api(path, options = {}) {
    const headers = { ...(options.headers || {}) };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    if (options.method && options.method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    const response = await fetch(API + path, { credentials: "same-origin", ...options, headers,
                                                body: options.body === undefined ? undefined : JSON.stringify(options.body) });
    const body = response.headers.get("Content-Type")?.includes("json") ? await response.json() : null;
    return { status: response.status, body };
  }

  function localTime(iso) {
    const at = new Date(iso);
    return at.toLocaleTimeString(state.lang, { hour12: false }) + (
      new Date().toDateString() === at.toDateString() ? "" : " " + at.toLocaleDateString(state.lang));
  }

  function describe(event) {
    const d = event.data || {};
    if (event.kind === "access.decision") {
      return { what: words().kinds[d.granted ? "access.granted" : "access.denied"],
               cls: d.granted ? "granted" : "denied", where: d.door || event.device,
               holder: d.holder_name || "", holderId: d.holder_id || null, card: d.card || "",
               detail: d.granted ? "" : (words().reasons[d.reason] || d.reason || "") };
    }
    const alarm = ["door.forced", "door.held_open", "device.tamper", "device.offline"].includes(event.kind);
    return { what: words().kinds[event.kind] || event.kind, cls: alarm ? "alarm" : "", where: d.door || event.device,
             holder: d.holder_name || "", holderId: null, card: d.card || "",
             detail: d.open_s ? `${Math.round(d.open_s)} s` : "" };
  }

  // A card's holder id is r-<resident id> or s-<staff id> (central/access/common.py): the registry's photo.
  function photoPath(holderId) {
    const match = /^([rs])-(\d+)$/.exec(holderId || "");
    return match ? `/${match[1] === "r" ? "residents" : "staff"}/${match[2]}/photo` : null;
  }

  // The holder's photo as an object URL, or null when they have none. An <img src> could not be told "no
  // photo" without a broken-image icon, so the page fetches with the guard's session and caches one answer per
  // holder (missing photos included) for PHOTO_TTL_MS; a later tap asks again and frees the old URL.
  function photoOf(holderId) {
    const path = photoPath(holderId);
    if (!path) return Promise.resolve(null);
    const known = state.photos.get(holderId);
    if (known && Date.now() - known.at < PHOTO_TTL_MS) return known.url;
    const url = fetch(API + path, { credentials: "same-origin" })
      .then(async (r) => (r.ok && r.headers.get("Content-Type")?.startsWith("image/")
        ? URL.createObjectURL(await r.blob()) : null))
      .catch(() => null);
    state.photos.set(holderId, { at: Date.now(), url });
    if (known) url.then(() => known.url.then((old) => old && URL.revokeObjectURL(old)));
    return url;
  }

  function cell(row, text) {
    const td = row.insertCell();
    td.textContent = text;
    return td;
  }

  function showEvent(event) {
    if (state.seen.has(event.id)) return;
    state.seen.add(event.id);
    const view = describe(event);
    const row = document.createElement("tr");
    row.dataset.kind = event.kind;
    row.dataset.id = event.id;
    if (view.cls) row.className = view.cls;
    cell(row, localTime(event.received_at));
    cell(row, view.where || "");
    cell(row, view.what);
    const holder = cell(row, "");
    holder.className = "holder";
    holder.append(document.createTextNode(view.holder));
    photoOf(view.holderId).then((url) => {
      if (!url) return;  // no photo: no image at all
      const img = document.createElement("img");
      img.alt = "";
      img.addEventListener("error", () => img.remove());  // bytes the browser cannot draw: no broken image
      img.src = url;
      holder.prepend(img);
    });
    cell(row, view.card);
    cell(row, view.detail);
    const body = $("feed").tBodies[0];
    body.prepend(row);
    while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
  }

  async function loadRecent() {
    const { status, body } = await api(`/events?estate=${encodeURIComponent(state.estate)}&order=desc&limit=100`);
    if (status !== 200) return;
    const live = body.items.filter((e) => /^(access|card|door|device|reader|visitor)\./.test(e.kind));
    for (const event of live.reverse()) showEvent(event);
  }

  function connect() {
    if (state.stream) state.stream.close();
    const stream = new EventSource(`${API}/estates/${encodeURIComponent(state.estate)}/live`);
    state.stream = stream;
    const link = (up) => { $("link").dataset.state = up ? "up" : "down"; translatePage(); };
    stream.onopen = () => link(true);
    stream.onerror = () => link(false);
    stream.addEventListener("event", (m) => showEvent(JSON.parse(m.data)));
    stream.addEventListener("alarm", (m) => { showEvent(JSON.parse(m.data)); loadAlarms(); });
    stream.addEventListener("lost", () => { $("lost").hidden = false; });
  }

  async function loadAlarms() {
    const { status, body } = await api(`/estates/${encodeURIComponent(state.estate)}/access/alarms?state=open`);
    const list = $("alarms");
    list.replaceChildren();
    const items = status === 200 ? body.items : [];
    $("no-alarms").hidden = items.length > 0;
    for (const alarm of items) {
      const li = document.createElement("li");
      li.dataset.id = alarm.id;
      const text = document.createElement("span");
      text.textContent = `${localTime(alarm.at)} ${alarm.door || alarm.device || ""} ` +
                         (words().kinds[alarm.kind] || alarm.kind);
      const comment = document.createElement("input");
      comment.placeholder = words().comment;
      comment.name = "comment";
      const ack = document.createElement("button");
      ack.type = "button";
      ack.textContent = words().acknowledge;
      ack.addEventListener("click", async () => {
        const result = await api(`/access/alarms/${alarm.id}/acknowledge`, { method: "POST",
                                                                        body: { comment: comment.value } });
        if (result.status === 200) loadAlarms();
      });
      li.append(text, comment, ack);
      list.append(li);
    }
  }

  async function loadDoors() {
    const { status, body } = await api(`/estates/${encodeURIComponent(state.estate)}/access/doors`);
    const list = $("doors");
    list.replaceChildren();
    for (const door of status === 200 ? body.items : []) {
      const li = document.createElement("li");
      li.dataset.id = door.id;
      const name = document.createElement("span");
      name.textContent = door.name || door.code;
      const open = document.createElement("button");
      open.type = "button";
      open.textContent = words().open;
      open.addEventListener("click", async () => {
        open.disabled = true;
        const result = await api(`/access/doors/${door.id}/open`, { method: "POST", body: {} });
        const say = (word) => { $("open-result").textContent = `${name.textContent}: ${words()[word]}`; };
        say(result.status < 300 ? "sent" : "open_failed");
        open.disabled = false;
        if (result.status < 300) followOpen(result.body.id, say);
      });
      li.append(name, open);
      list.append(li);
    }
  }

  async function followOpen(id, say) {
    // The gateway's reply arrives through central; a stale command is refused there, so stop after 35 s.
    for (let waited = 0; waited < 35000; waited += 500) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const { status, body } = await api(`/access/remote-opens/${id}`);
      if (status !== 200 || body.status === "sent") continue;
      say(body.status === "ok" ? "opened" : "open_failed");
      return;
    }
    say("no_reply");
  }

  async function start() {
    const { status, body } = await api("/auth/me");
    if (status !== 200) return;
    state.me = body;
    let estates = body.estates;
    if (estates === null) {  // an admin sees every estate
      const all = await api("/estates");
      estates = all.status === 200 ? all.body.items.map((e) => e.code) : [];
    }
    const picker = $("estate");
    picker.replaceChildren(...estates.map((code) => new Option(code, code)));
    picker.hidden = estates.length < 2;
    state.estate = localStorage.getItem("estatelink.estate");
    if (!estates.includes(state.estate)) state.estate = estates[0];
    picker.value = state.estate;
    $("who").textContent = body.username;
    $("login").hidden = true;
    $("console").hidden = false;
    $("logout").hidden = false;
    await Promise.all([loadRecent(), loadAlarms(), loadDoors()]);
    connect();
  }

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const { status, body } = await api("/auth/login", { method: "POST",
      body: { username: form.get("username"), password: form.get("password") } });
    if (status !== 200) {
      $("login-error").textContent = words()[status === 423 ? "locked" : "bad_login"];
      return;
    }
    state.csrf = body.csrf_token;
    sessionStorage.setItem("estatelink.csrf", state.csrf);
    await start();
  });
  $("logout").addEventListener("click", async () => {
    await api("/auth/logout", { method: "POST" });
    sessionStorage.removeItem("estatelink.csrf");
    location.reload();
  });
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh-CN" ? "en" : "zh-CN";
    localStorage.setItem("estatelink.lang", state.lang);
    translatePage();
  });
  $("estate").addEventListener("change", (e) => {
    state.estate = e.target.value;
    localStorage.setItem("estatelink.estate", state.estate);
    $("feed").tBodies[0].replaceChildren();
    state.seen.clear();
    start();
  });
  state.csrf = sessionStorage.getItem("estatelink.csrf");
  translatePage();
  start();
})();
