// Node Socket.IO 4 for python -m ops.bench's end-to-end scenario: the peer our e2e rows are
// measured beside (issue 22), written the way its docs show, nothing tuned.
//
// Usage: node server.js PORT REDIS_URL ADAPTER [PING_INTERVAL_MS]
//   ADAPTER: "memory" (Socket.IO's default in-memory adapter) or "redis" (@socket.io/redis-adapter)
//   PING_INTERVAL_MS: for tests, pingInterval and pingTimeout both (a client that does not
//   answer pings is dropped within two intervals); default Socket.IO's 25 s / 20 s
//
// Every socket joins one room on connect (as our consumer joins one group); a "broadcast" event
// from any client is emitted to the room, the sender included (as our group_send reaches it).
// WebSocket transport only, Socket.IO's defaults otherwise: perMessageDeflate is off by default
// in Socket.IO 4, and the Redis adapter writes to local sockets directly and only PUBLISHes for
// other nodes (its own subscription drops what it published itself).
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const ROOM = "bench-e2e";

async function adapterFor(kind, url) {
  if (kind === "memory") return null;
  if (kind !== "redis") throw new Error(`unknown adapter ${kind}`);
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const pub = createClient({ url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  return createAdapter(pub, sub);
}

async function main() {
  const [port, url, kind, pingInterval] = process.argv.slice(2);
  const httpServer = http.createServer();
  const options = { transports: ["websocket"], serveClient: false };
  if (pingInterval) options.pingInterval = options.pingTimeout = Number(pingInterval);
  const io = new Server(httpServer, options);
  const adapter = await adapterFor(kind, url);
  if (adapter) io.adapter(adapter);
  io.on("connection", (socket) => {
    socket.join(ROOM);
    socket.on("broadcast", (data) => io.to(ROOM).emit("message", data));
  });
  httpServer.listen({ port: Number(port), host: "127.0.0.1", backlog: 4096 }, () => {
    console.log(`socket.io ${kind} listening on ${port}`);
  });
  process.on("SIGTERM", () => process.exit(0));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
