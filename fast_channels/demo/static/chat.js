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

function connect(room, name) {
  if (socket) socket.close();
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = name ? `?name=${encodeURIComponent(name)}` : "";
  const ws = new WebSocket(`${scheme}//${location.host}/ws/chat/${encodeURIComponent(room)}${query}`);
  socket = ws;
  setStatus("connecting", `connecting to ${room}…`);
  ws.onopen = () => setStatus("connected", `connected to room ${room}`);
  ws.onclose = (event) => {
    if (socket === ws) setStatus("closed", `disconnected (code ${event.code})`);
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
  $("start-job").disabled = info.worker === "none";
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
