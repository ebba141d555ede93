// The demo page: one WebSocket to /ws/chat/<room>, chat in and out, job progress in.
"use strict";

const $ = (id) => document.getElementById(id);
let socket = null;

function roomFromPath() {
  const match = location.pathname.match(/^\/rooms\/([^/]+)$/);
  return match ? decodeURIComponent(match[1]) : "lobby";
}

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function addLine(className, sender, text) {
  const item = document.createElement("li");
  item.className = className;
  if (sender) {
    const who = document.createElement("span");
    who.className = "sender";
    who.textContent = sender;
    item.append(who);
  }
  item.append(text);  // text nodes only: messages are never parsed as HTML
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
}

const handlers = {
  "welcome": (m) => addLine("system", "", `joined ${m.room} as ${m.name}`),
  "chat.message": (m) => addLine("chat", m.sender, m.message),
  "job.queued": (m) => { $("job-status").textContent = `job ${m.job} queued`; },
  "job.progress": (m) => {
    $("job-progress").value = m.percent;
    $("job-status").textContent = m.percent >= 100 ? `job ${m.job} done` : `job ${m.job}: ${m.percent}%`;
  },
  "error": (m) => addLine("error", "", m.error),
};

// The server's rule for room names (fast_channels/demo/consumers.py): a refused handshake
// reaches the page only as "code 1006", so the page checks first and says why.
const ROOM_NAME = /^[A-Za-z0-9_.\-]{1,64}$/;
const ROOM_RULE = "room names are 1-64 ASCII letters, digits, '-', '_' or '.'";
// Reconnect after 0.5 s, doubling up to 10 s: a restarted server is found within a second of
// coming back, and a long outage costs one attempt every 10 s per open page.
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10000;
let retry = { attempt: 0, timer: null, ticker: null };
let jobsAvailable = true;

function updateControls() {
  const open = socket !== null && socket.readyState === WebSocket.OPEN;
  $("start-job").disabled = !(open && jobsAvailable);
  $("say").querySelector("button").disabled = !open;
}

function cancelRetry() {
  clearTimeout(retry.timer);
  clearInterval(retry.ticker);
  retry.timer = retry.ticker = null;
}

function scheduleReconnect(room, name, code) {
  const delay = Math.min(RETRY_FIRST_MS * 2 ** retry.attempt, RETRY_MAX_MS);
  retry.attempt += 1;
  const due = Date.now() + delay;
  const show = () => {
    const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
    setStatus("reconnecting", `disconnected (code ${code}), reconnecting in ${seconds}s…`);
  };
  show();
  retry.ticker = setInterval(show, 250);
  retry.timer = setTimeout(() => { cancelRetry(); connect(room, name); }, delay);
}

function connect(room, name) {
  cancelRetry();
  if (socket) { const old = socket; socket = null; old.close(); }
  if (!ROOM_NAME.test(room)) {
    setStatus("closed", `cannot join "${room}": ${ROOM_RULE}`);
    updateControls();
    return;
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = name ? `?name=${encodeURIComponent(name)}` : "";
  const ws = new WebSocket(`${scheme}//${location.host}/ws/chat/${encodeURIComponent(room)}${query}`);
  socket = ws;
  setStatus("connecting", `connecting to ${room}…`);
  updateControls();
  ws.onopen = () => {
    if (retry.attempt > 0) addLine("system", "", "reconnected");
    retry.attempt = 0;
    setStatus("connected", `connected to room ${room}`);
    updateControls();
  };
  ws.onclose = (event) => {
    if (socket !== ws) return;  // replaced by a newer connection
    updateControls();
    scheduleReconnect(room, name, event.code);
  };
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    (handlers[message.type] || ((m) => addLine("system", "", JSON.stringify(m))))(message);
  };
  $("curl").textContent =
    `curl -X POST ${location.origin}/api/rooms/${encodeURIComponent(room)}/broadcast ` +
    `-H 'content-type: application/json' -d '{"message": "hello from HTTP"}'`;
}

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

async function showMode() {
  const info = await (await fetch("/api/info")).json();
  const worker = {
    "in-process": "the job worker is a background task inside this server, because the " +
      "in-memory layer cannot be shared with another process (use --redis-url for a separate worker process)",
    "external": "the job worker is a separate process (fast-channels worker) sharing the Redis layer",
    "none": "no job worker runs (--no-worker): jobs are refused",
  }[info.worker];
  $("mode").textContent = `Channel layer: ${info.layer}; ${worker}.`;
  jobsAvailable = info.worker !== "none";
  updateControls();
}

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  const room = $("room").value.trim();
  history.pushState(null, "", `/rooms/${encodeURIComponent(room)}`);
  connect(room, $("name").value.trim());
});
$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("message").value.trim();
  if (text) send({ action: "chat", message: text });
  $("message").value = "";
});
$("start-job").addEventListener("click", () => send({ action: "job", steps: 20 }));

$("room").value = roomFromPath();
connect($("room").value, "");
showMode().catch((error) => { $("mode").textContent = `could not load /api/info: ${error}`; });
