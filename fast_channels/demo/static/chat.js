// The demo page: one FastChannelsSocket (fast-channels.js) to /ws/chat/<room>, chat in and
// out, job progress in. The client reconnects and recovers what the room said meanwhile.
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

// -- presence: who is in the room (the list #members, join and leave notices) ---------------
// Kept apart from the connection code: the server sends the whole list after each (re)connect
// ("presence"), then one event per join or leave; keyed by channel, so a repeat is harmless.
const presence = { self: null, members: new Map() };  // channel -> display name

function renderMembers() {
  const items = [...presence.members.entries()]
    .sort(([, a], [, b]) => a.localeCompare(b))
    .map(([channel, name]) => {
      const item = document.createElement("li");
      item.textContent = channel === presence.self ? `${name} (you)` : name;
      item.dataset.channel = channel;
      return item;
    });
  $("members").replaceChildren(...items);
}

function onPresenceList(m) {
  presence.self = m.self;
  presence.members = new Map(Object.entries(m.members));
  renderMembers();
}

function onPresenceJoin(m) {
  if (presence.members.has(m.channel)) return;
  presence.members.set(m.channel, m.name);
  renderMembers();
  if (m.channel !== presence.self) addLine("system", "", `${m.name} joined`);
}

function onPresenceLeave(m) {
  if (!presence.members.delete(m.channel)) return;
  renderMembers();
  addLine("system", "", m.reason === "process_dead" ? `${m.name} was disconnected` : `${m.name} left`);
}

Object.assign(handlers, {
  "presence": onPresenceList,
  "presence.join": onPresenceJoin,
  "presence.leave": onPresenceLeave,
});

// The server's rule for room names (fast_channels/demo/consumers.py): a refused handshake
// reaches the page only as "code 1006", so the page checks first and says why.
const ROOM_NAME = /^[A-Za-z0-9_.\-]{1,64}$/;
const ROOM_RULE = "room names are 1-64 ASCII letters, digits, '-', '_' or '.'";
let jobsAvailable = true;
// Set by the first welcome, so a reconnect keeps the same name (guests get a random one).
let joinedAs = null;
// Set when the socket closes; the next join's answer says what was recovered.
let wasDisconnected = false;
let ticker = null;

function updateControls() {
  const open = socket !== null && socket.state === "open";
  $("start-job").disabled = !(open && jobsAvailable);
  $("say").querySelector("button").disabled = !open;
}

function chatUrl(room, name) {
  const query = name ? `?name=${encodeURIComponent(name)}` : "";
  return `/ws/chat/${encodeURIComponent(room)}${query}`;
}

// The countdown to the next attempt; the client (fast-channels.js) chose the delay.
function showReconnecting(code, delayMs) {
  clearInterval(ticker);
  const due = Date.now() + delayMs;
  const show = () => {
    const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
    setStatus("reconnecting", `disconnected (code ${code}), reconnecting in ${seconds}s…`);
  };
  show();
  ticker = setInterval(show, 250);
}

function onState(room, state, detail) {
  if (state === "reconnecting") wasDisconnected = true;
  if (state !== "reconnecting" || detail.delayMs === undefined) clearInterval(ticker);
  if (state === "connecting") setStatus("connecting", `connecting to ${room}…`);
  if (state === "open") setStatus("connected", `connected to room ${room}`);
  if (state === "reconnecting" && detail.delayMs !== undefined) {
    showReconnecting(detail.code, detail.delayMs);
  }
  if (state === "reconnecting" && detail.delayMs === undefined) {
    setStatus("reconnecting", `reconnecting to ${room}…`);
  }
  updateControls();
}

// What recovery did, in the room's own words: nothing missed, or some messages may be gone
// (also when the room keeps no history: then the answer is a fresh join every time).
function onRecovery(answer) {
  if (!wasDisconnected) return;  // the first join of this room: nothing to recover
  wasDisconnected = false;
  if (answer.recovered) {
    const missed = answer.replayed === 1 ? "1 missed message" : `${answer.replayed} missed messages`;
    addLine("system", "", `reconnected, ${missed} recovered`);
  } else {
    addLine("system recovery-failed", "",
      "reconnected, but messages sent while disconnected may be missing");
  }
}

function onMessage(message) {
  if (message.type === "welcome") {
    if (joinedAs !== null) return;  // a reconnect: recovery says what happened
    joinedAs = message.name;
    socket.url = chatUrl(message.room, message.name);
  }
  (handlers[message.type] || ((m) => addLine("system", "", JSON.stringify(m))))(message);
}

function connect(room, name) {
  clearInterval(ticker);
  if (socket) { const old = socket; socket = null; old.close(); }
  joinedAs = null;
  wasDisconnected = false;
  $("messages").replaceChildren();
  if (!ROOM_NAME.test(room)) {
    setStatus("closed", `cannot join "${room}": ${ROOM_RULE}`);
    updateControls();
    return;
  }
  socket = new FastChannelsSocket(chatUrl(room, name), {
    onState: (state, detail) => onState(room, state, detail),
    onMessage,
    onRecovery,
  });
  $("curl").textContent =
    `curl -X POST ${location.origin}/api/rooms/${encodeURIComponent(room)}/broadcast ` +
    `-H 'content-type: application/json' -d '{"message": "hello from HTTP"}'`;
}

function send(frame) {
  if (socket) socket.send(frame);
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
