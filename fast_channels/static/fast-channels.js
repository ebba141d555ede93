// fast-channels browser client: one WebSocket that comes back by itself and misses nothing.
//
// No build step and no dependency: load it with <script src="fast-channels.js"> (it defines
// the global FastChannelsSocket) or copy it into your own bundle (it also sets module.exports
// where there is one). It speaks the recovery wire protocol v1 documented in the README's
// "Recovery" section:
//   - every recoverable frame from the server carries "_pos": {group, epoch, offset}; the
//     client keeps the last one per group;
//   - every (re)connect sends them back as ?recover=<url-encoded JSON {group: {epoch, offset}}>;
//   - the server answers each group it joins with {"type": "fc.recovery", ...} before any
//     replayed message; this client hands that to onRecovery and not to onMessage.
//
//   const socket = new FastChannelsSocket("/ws/chat/lobby", {
//     onMessage: (message) => render(message),        // app frames, "_pos" included
//     onState: (state, detail) => showStatus(state),  // connecting | open | reconnecting | closed
//     onRecovery: (answer) => { if (!answer.recovered && !answer.fresh) reloadState(); },
//   });
//   socket.send({ action: "chat", message: "hi" });
"use strict";

(function (root) {
  const DEFAULTS = {
    // Full-jitter exponential backoff: attempt n waits random(0, min(maxDelayMs, baseDelayMs *
    // 2^n)). The jitter spreads the thousands of clients a drained pod closes at once (all
    // with 1001 in the same second) over the window instead of landing them together.
    baseDelayMs: 500,
    maxDelayMs: 10000,
    // A connection that stayed open this long was healthy: the next close starts the backoff
    // from the beginning. One that closes sooner (a server that accepts and then fails) keeps
    // doubling, so a crash-looping server is not hammered.
    stableAfterMs: 5000,
    onMessage: null,
    onState: null,
    onRecovery: null,
    // Return false to stay closed after this close event (default: always reconnect, 1001
    // and 1000 included: a server only closes a socket it wants the client to open elsewhere).
    shouldReconnect: null,
    random: Math.random,
    WebSocket: null,
  };

  class FastChannelsSocket {
    constructor(url, options) {
      this.options = Object.assign({}, DEFAULTS, options || {});
      this.url = url;
      this.state = "closed";
      // {group: {epoch, offset}}: the last position seen per group, sent on every reconnect.
      this.positions = {};
      this.attempt = 0;
      this.lastRecovery = {};
      this._socket = null;
      this._timer = null;
      this._openedAt = 0;
      this._connectStartedAt = 0;
      this._stopped = false;
      if (this.options.autoConnect !== false) this.connect();
    }

    connect() {
      this._stopped = false;
      clearTimeout(this._timer);
      this._timer = null;
      this._open(this.attempt > 0 ? "reconnecting" : "connecting");
    }

    // Sends a JSON frame; false when not connected (nothing is queued: the app decides).
    send(frame) {
      const ws = this._socket;
      if (!ws || ws.readyState !== 1 /* OPEN */) return false;
      ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
      return true;
    }

    // Closes for good: no reconnect until connect() is called again.
    close(code, reason) {
      this._stopped = true;
      clearTimeout(this._timer);
      this._timer = null;
      const ws = this._socket;
      this._socket = null;
      if (ws) ws.close(code || 1000, reason || "");
      this._setState("closed", { code: code || 1000, reason: reason || "" });
    }

    // The URL of the next connection: the given one plus ?recover= when positions are known.
    recoverUrl() {
      const base = absolute(this.url);
      if (Object.keys(this.positions).length === 0) return base;
      const parsed = new URL(base);
      parsed.searchParams.set("recover", JSON.stringify(this.positions));
      return parsed.toString();
    }

    _open(state) {
      const previous = this._socket;
      this._socket = null;
      if (previous) previous.close(1000, "replaced");
      const Impl = this.options.WebSocket || root.WebSocket;
      this._connectStartedAt = now();
      // After a close the state is "reconnecting" already (with its delay): not said twice.
      if (this.state !== state) this._setState(state, { attempt: this.attempt });
      let ws;
      try {
        ws = new Impl(this.recoverUrl());
      } catch (error) {
        this._closed({ code: 1006, reason: String(error), wasClean: false });
        return;
      }
      this._socket = ws;
      ws.onopen = () => {
        if (this._socket !== ws) return;
        this._openedAt = now();
        this._setState("open", { attempt: this.attempt, recovering: this._hasPositions() });
      };
      ws.onmessage = (event) => {
        if (this._socket === ws) this._frame(event.data);
      };
      ws.onclose = (event) => {
        if (this._socket === ws) this._closed(event);
      };
    }

    _hasPositions() {
      return Object.keys(this.positions).length > 0;
    }

    _frame(data) {
      let message;
      try {
        message = JSON.parse(data);
      } catch (error) {
        return; // not a JSON frame: not for this protocol
      }
      if (message && message.type === "fc.recovery") {
        this._recovery(message);
        return;
      }
      if (message && message._pos) this._advance(message._pos);
      call(this.options.onMessage, message);
    }

    _advance(pos) {
      const known = this.positions[pos.group];
      // A new epoch replaces the position outright; within an epoch only forward, so a replay
      // of older messages (recent history on a fresh join) never moves it back.
      if (!known || known.epoch !== pos.epoch || pos.offset > known.offset) {
        this.positions[pos.group] = { epoch: pos.epoch, offset: pos.offset };
      }
    }

    _recovery(answer) {
      // Protocol v1: the answer's position is where the next reconnect resumes from when the
      // client had none for the group or recovery failed; a complete recovery advances by the
      // replayed messages themselves.
      if (answer.epoch === "") {
        delete this.positions[answer.group]; // the group keeps no history: nothing to resume
      } else if (!answer.recovered) {
        this.positions[answer.group] = { epoch: answer.epoch, offset: answer.offset };
      }
      const outcome = Object.assign({}, answer, {
        elapsedMs: now() - this._connectStartedAt,
      });
      this.lastRecovery[answer.group] = outcome;
      call(this.options.onRecovery, outcome);
    }

    _closed(event) {
      this._socket = null;
      const detail = { code: event.code, reason: event.reason || "", wasClean: !!event.wasClean };
      const decide = this.options.shouldReconnect;
      if (this._stopped || (decide && decide(event) === false)) {
        this._stopped = true;
        this._setState("closed", detail);
        return;
      }
      if (this._openedAt && now() - this._openedAt >= this.options.stableAfterMs) this.attempt = 0;
      this._openedAt = 0;
      const ceiling = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** this.attempt);
      const delay = Math.floor(this.options.random() * ceiling);
      this.attempt += 1;
      this._setState("reconnecting", Object.assign(detail, { delayMs: delay, attempt: this.attempt }));
      this._timer = setTimeout(() => {
        this._timer = null;
        if (!this._stopped) this._open("reconnecting");
      }, delay);
    }

    _setState(state, detail) {
      this.state = state;
      call(this.options.onState, state, detail || {});
    }
  }

  function call(callback, ...args) {
    if (typeof callback !== "function") return;
    try {
      callback(...args);
    } catch (error) {
      // An app callback's error must not stop the socket's own bookkeeping.
      setTimeout(() => { throw error; });
    }
  }

  function now() {
    return root.performance && root.performance.now ? root.performance.now() : Date.now();
  }

  // "/ws/chat/x" on a page becomes ws(s)://<this host>/ws/chat/x, as WebSocket needs.
  function absolute(url) {
    if (/^wss?:\/\//.test(url)) return url;
    const location = root.location;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return new URL(url, `${scheme}//${location.host}${location.pathname}`).toString();
  }

  root.FastChannelsSocket = FastChannelsSocket;
  if (typeof module !== "undefined" && module.exports) module.exports = { FastChannelsSocket };
})(typeof globalThis !== "undefined" ? globalThis : this);
