// The chat screens (kind: chat, kind: inbox): live events over Server-Sent Events, posting and editing with
// fetch, times in the reader's time zone, read receipts and live unread counts. Every form also works without
// this file. Message HTML comes escaped from the server (engine/chat/render.py); names go in as text only.
(() => {
  "use strict";
  const root = document.querySelector("[data-chat]");
  if (!root) return;
  const me = root.dataset.me;
  const current = root.dataset.conversation || "";
  const base = root.dataset.base || "";
  const editWindow = Number(root.dataset.editWindow || 0) * 1000;
  const thread = document.getElementById("thread");
  const template = document.getElementById("chat-message-template");
  const liveStatus = document.querySelector("[data-live-status]");
  const text = (name) => root.dataset[name] || "";
  const seenEvents = new Set();

  // --- times in the reader's time zone -----------------------------------------------------------
  const lang = document.documentElement.lang || undefined;
  const dayTime = new Intl.DateTimeFormat(lang, {day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"});
  const timeOnly = new Intl.DateTimeFormat(lang, {hour: "2-digit", minute: "2-digit"});
  const full = new Intl.DateTimeFormat(lang, {dateStyle: "full", timeStyle: "short"});
  function localTimes(scope) {
    scope.querySelectorAll("time[datetime]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) return;
      const today = new Date().toDateString() === when.toDateString();
      el.textContent = (today ? timeOnly : dayTime).format(when);
      el.title = full.format(when);
    });
  }

  // --- requests --------------------------------------------------------------------------------
  function csrf() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  async function send(url, body) {
    const response = await fetch(url, {
      method: "POST", body, credentials: "same-origin",
      headers: {"Accept": "application/json", "X-CSRFToken": csrf()},
    });
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    return {ok: response.ok, status: response.status, data};
  }
  function problems(data) {
    if (!data) return [];
    const found = [];
    Object.values(data.fields || {}).forEach((items) => items.forEach((item) => found.push(item.message || String(item))));
    return found.length ? found : [data.detail || ""];
  }
  function showErrors(box, messages) {
    if (!box) return;
    box.replaceChildren(...messages.map((message) => {
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = message;
      return p;
    }));
  }

  // --- messages ----------------------------------------------------------------------------------
  function safeUrl(url) {
    return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
  }
  function fileItem(file) {
    const li = document.createElement("li");
    const url = safeUrl(file.url);
    if (!url) return li;
    const link = document.createElement("a");
    link.href = url;
    if (file.is_image) {
      link.target = "_blank";
      link.rel = "noopener";
      const img = document.createElement("img");
      img.src = url;
      img.alt = String(file.name || "");
      img.loading = "lazy";
      link.append(img);
      li.append(link);
    } else {
      link.setAttribute("download", "");
      link.textContent = String(file.name || "");
      const size = document.createElement("span");
      size.className = "size";
      size.textContent = ` ${formatSize(Number(file.size) || 0)}`;
      li.append(link, size);
    }
    return li;
  }
  function formatSize(bytes) {
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return `${new Intl.NumberFormat(lang, {maximumFractionDigits: 1}).format(bytes)} ${units[i]}`;
  }
  function build(m) {
    const li = template.content.firstElementChild.cloneNode(true);
    const mine = String((m.author || {}).id) === me;
    li.id = `m-${m.id}`;
    li.dataset.id = m.id;
    li.dataset.author = (m.author || {}).id || "";
    li.dataset.created = m.created;
    li.className = `message side-${m.side || "member"}${mine ? " mine" : ""}${m.deleted ? " deleted" : ""}`;
    li.querySelector(".author").textContent = String((m.author || {}).name || "");
    const body = li.querySelector(".body");
    if (m.deleted) {
      const em = document.createElement("em");
      em.textContent = text("deletedText");
      body.replaceChildren(em);
    } else {
      body.innerHTML = m.html; // escaped by the server: text never reaches the page unescaped
    }
    li.querySelector(".files").replaceChildren(...(m.deleted ? [] : (m.attachments || []).map(fileItem)));
    const time = li.querySelector("time");
    time.setAttribute("datetime", m.created);
    li.querySelector(".edited").hidden = !m.edited || !!m.deleted;
    li.querySelector(".seen").hidden = true;
    const fresh = editWindow > 0 && Date.now() - new Date(m.created).getTime() < editWindow;
    const canEdit = mine && !m.deleted && fresh && root.dataset.canEdit === "1";
    const canDelete = !m.deleted && (canEdit || root.dataset.moderate === "1");
    const edit = li.querySelector("form[data-edit]");
    const del = li.querySelector("form[data-delete]");
    edit.action = `${base}m/${m.id}/edit/`;
    edit.querySelector("textarea").value = m.text || "";
    edit.querySelector("textarea").id = `edit-${m.id}`;
    edit.querySelector("label").htmlFor = `edit-${m.id}`;
    del.action = `${base}m/${m.id}/delete/`;
    li.querySelector("details.edit").hidden = !canEdit;
    del.hidden = !canDelete;
    li.querySelector(".message-actions").hidden = !canEdit && !canDelete;
    localTimes(li);
    return li;
  }
  function nearBottom() {
    const scroller = thread.scrollHeight > thread.clientHeight + 4 ? thread : document.scrollingElement;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 160;
  }
  function upsert(m) {
    if (!thread || !template) return;
    const existing = document.getElementById(`m-${m.id}`);
    const wasNear = nearBottom();
    const li = build(m);
    if (existing) {
      li.querySelector(".seen").hidden = existing.querySelector(".seen").hidden;
      existing.replaceWith(li);
      return;
    }
    const later = [...thread.children].find((el) => Number(el.dataset.id) > Number(m.id));
    thread.insertBefore(li, later || null);
    document.querySelectorAll(".thread-empty").forEach((el) => el.remove());
    if (wasNear || li.classList.contains("mine")) li.scrollIntoView({block: "end"});
  }
  function markSeen(upto) {
    if (!thread) return;
    const mine = [...thread.querySelectorAll(".message.mine")].filter((el) => Number(el.dataset.id) <= Number(upto));
    if (!mine.length) return;
    thread.querySelectorAll(".message .seen").forEach((el) => { el.hidden = true; });
    mine[mine.length - 1].querySelector(".seen").hidden = false;
  }
  let readTimer = null;
  function markRead(upto) {
    // Record the receipt, then refresh the list and badges so that they count this conversation as read.
    if (!base || document.visibilityState !== "visible") { refreshList(); return; }
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      const body = new FormData();
      body.append("upto", upto);
      send(`${base}read/`, body).catch(() => {}).finally(refreshList);
    }, 150);
  }
  document.addEventListener("visibilitychange", () => {
    const last = thread && thread.lastElementChild;
    if (last && document.visibilityState === "visible") markRead(last.dataset.id);
  });

  // --- parts refreshed from the server: the list with its unread counts, the thread's header ---------
  let listTimer = null;
  function refreshList() {
    const box = document.getElementById("chat-conversations");
    if (!box) return;
    clearTimeout(listTimer);
    listTimer = setTimeout(async () => {
      const params = new URLSearchParams(location.search);
      params.delete("before");
      params.set("fragment", "list");
      const response = await fetch(`${root.dataset.listUrl}?${params}`, {credentials: "same-origin"}).catch(() => null);
      if (!response || !response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      box.replaceChildren(...doc.body.childNodes);
      if (current) {
        const item = box.querySelector(`[data-conversation="${current}"]`);
        if (item) item.classList.add("current");
      }
      localTimes(box);
      const list = box.querySelector("[data-badges]");
      if (list) badges(JSON.parse(list.dataset.badges || "{}"));
    }, 200);
  }
  function badges(counts) {
    Object.entries(counts).forEach(([page, count]) => {
      document.querySelectorAll(`[data-badge="${CSS.escape(page)}"]`).forEach((badge) => {
        badge.querySelector(".count").textContent = count;
        badge.classList.toggle("zero", !count);
      });
    });
    const dot = document.querySelector(".menu-toggle .badge");
    if (dot) dot.classList.toggle("zero", !Object.values(counts).some(Boolean));
  }
  async function refreshHead() {
    const params = new URLSearchParams(location.search);
    params.set("fragment", "thread");  // the thread alone: a whole page would bring its own nonce'd style
    const response = await fetch(`${location.pathname}?${params}`, {credentials: "same-origin"}).catch(() => null);
    if (!response || !response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    [".thread-head", "[data-compose-area]"].forEach((selector) => {
      const fresh = doc.querySelector(selector);
      const old = document.querySelector(selector);
      if (fresh && old) old.replaceWith(document.adoptNode(fresh));
    });
    wireComposer();
  }

  // --- the live stream ---------------------------------------------------------------------------
  let offlineTimer = null;
  function online(up) {
    if (!liveStatus) return;
    clearTimeout(offlineTimer);
    if (up) liveStatus.textContent = "";
    else offlineTimer = setTimeout(() => { liveStatus.textContent = text("offlineText"); }, 3000);
  }
  function handle(kind, event) {
    let payload;
    try { payload = JSON.parse(event.data); } catch { return; }
    if (payload.id && seenEvents.has(payload.id)) return;
    if (payload.id) seenEvents.add(payload.id);
    if (payload.id && Number(payload.id) > Number(root.dataset.last || 0)) root.dataset.last = payload.id;
    const here = current && String(payload.conversation) === current;
    const data = payload.data || {};
    const fromOther = kind === "message" && String((data.author || {}).id) !== me;
    if (!(here && fromOther) && (kind === "message" || kind === "state" || kind === "delete")) refreshList();
    if (!here) return;
    if (kind === "message" || kind === "edit" || kind === "delete") {
      upsert(data);
      if (fromOther) markRead(data.id);
    } else if (kind === "read") {
      if (String(data.user) !== me) markSeen(data.upto);
    } else if (kind === "state" || kind === "access") {
      refreshHead();
    }
  }
  function connect(url) {
    const sep = url.includes("?") ? "&" : "?";
    const source = new EventSource(`${url}${sep}last=${encodeURIComponent(root.dataset.last || "0")}`);
    ["message", "edit", "delete", "read", "state", "access"].forEach((kind) => {
      source.addEventListener(kind, (event) => handle(kind, event));
    });
    source.addEventListener("revoked", () => {
      // Access was withdrawn: nothing here can be done any more; say so where the composer was.
      source.close();
      const note = document.createElement("p");
      note.className = "closed-note";
      note.setAttribute("role", "alert");
      note.textContent = text("revokedText");
      const area = document.querySelector("[data-compose-area]");
      if (area) area.replaceChildren(note);
      document.querySelectorAll(".thread-actions, .message-actions").forEach((el) => { el.hidden = true; });
      if (liveStatus) liveStatus.textContent = "";
    });
    source.addEventListener("open", () => online(true));
    source.addEventListener("error", () => online(false));
  }
  (root.dataset.streams || "").split(" ").filter(Boolean).forEach(connect);

  // --- posting, editing and deleting with fetch ------------------------------------------------------
  function wireComposer() {
    const form = document.querySelector("form[data-composer]");
    if (!form || form.dataset.wired) return;
    form.dataset.wired = "1";
    const area = form.querySelector("textarea");
    const files = form.querySelector("[data-files]");
    const chosen = form.querySelector("[data-chosen]");
    const showChosen = () => {
      if (chosen) chosen.textContent = files ? [...files.files].map((f) => f.name).join(", ") : "";
    };
    if (files) files.addEventListener("change", showChosen);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!area.value.trim() && !(files && files.files.length)) { area.focus(); return; }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const answer = await send(form.action, new FormData(form));
        if (!answer.ok) { showErrors(form.querySelector("[data-errors]"), problems(answer.data)); return; }
        showErrors(form.querySelector("[data-errors]"), []);
        if (answer.data && answer.data.url) { location.assign(answer.data.url); return; } // the first message
        upsert(answer.data);
        area.value = "";
        if (files) files.value = "";
        showChosen();
        area.focus();
      } catch {
        form.submit(); // no connection to fetch through: let the browser post it
      } finally {
        button.disabled = false;
      }
    });
  }
  wireComposer();
  if (thread) {
    thread.addEventListener("submit", async (event) => {
      const form = event.target;
      if (!form.matches("form[data-edit], form[data-delete]")) return;
      event.preventDefault();
      if (form.matches("[data-delete]") && !window.confirm(text("confirmDelete"))) return;
      const answer = await send(form.action, new FormData(form)).catch(() => null);
      if (answer && answer.ok && answer.data) upsert(answer.data);
      else if (answer) window.alert(problems(answer.data).join("\n"));
    });
  }

  localTimes(document);
  if (thread && thread.lastElementChild) thread.lastElementChild.scrollIntoView({block: "end"});
})();
