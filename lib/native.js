'use strict';

/**
 * The JS side of the N-API bridge: loads the addon, walks each batch of events (from
 * this thread's event loop, the io threads or a bridged socket) and calls the owning
 * connection, and collects every outgoing frame of a tick into one outbox handed to
 * Rust in a single call.
 *
 * A connection registers an object with these methods (symbols from constants.js),
 * called in wire order:
 * `kOnMessage(data, isBinary)`, `kOnFrameEnd(length)` (a frame of a fragmented binary
 * message ended: the message's length so far), `kOnPing(data)`, `kOnPong(data)`,
 * `kOnCloseFrame(code, reason)`, `kOnProtocolError(kind, arg)`, `kOnWritten(frames)`,
 * `kOnEnd()`, `kOnClosed()`; and, for `ws._socket`, `kOnSocketData(bytes)` (what was
 * read, when tapped) and `kOnSocketError(errno, syscall)` (a failed read or write);
 * and, when watched for `idleTimeout`, `kOnIdle()` (silent for the whole idle time).
 */

// Not the globals: in Node, `Buffer` and `process` are getters run on every use.
const { Buffer } = require('buffer');
const process = require('process');
const { performance } = require('perf_hooks');
const binding = require('./binding.js');
const {
  EMPTY_BUFFER,
  kOnMessage,
  kOnFrameEnd,
  kOnPing,
  kOnPong,
  kOnCloseFrame,
  kOnProtocolError,
  kOnWritten,
  kOnEnd,
  kOnClosed,
  kOnSocketData,
  kOnSocketError,
  kOnIdle
} = require('./constants');

// The wire format (event kinds, outbox ops and flags, sizes), defined once in
// src/wire.rs.
const W = binding.wireConstants();
const OP = {
  CONTINUATION: W.OP_CONTINUATION,
  TEXT: W.OP_TEXT,
  BINARY: W.OP_BINARY,
  CLOSE: W.OP_CLOSE,
  PING: W.OP_PING,
  PONG: W.OP_PONG,
  END: W.OP_END,
  RAW: W.OP_RAW
};
const FLAG = {
  FIN: W.FLAG_FIN,
  RSV1: W.FLAG_RSV1,
  MASK: W.FLAG_MASK,
  BIG: W.FLAG_BIG,
  KEYED: W.FLAG_KEYED,
  PUBLISH: W.FLAG_PUBLISH
};
const SOCKOPT = { NO_DELAY: W.SOCKOPT_NO_DELAY, KEEP_ALIVE: W.SOCKOPT_KEEP_ALIVE };
const {
  EV_TEXT,
  EV_BINARY,
  EV_PING,
  EV_PONG,
  EV_CLOSE_FRAME,
  EV_PROTOCOL_ERROR,
  EV_WRITTEN,
  EV_EOF,
  EV_CLOSED,
  EV_HANDSHAKE,
  EV_FALLBACK,
  EV_DATA,
  EV_SOCKET_ERROR,
  EV_FRAME_END,
  SYSCALL_READ,
  EV_BIG,
  EV_DIRECT,
  EV_KIND_MASK,
  LOG_CAP,
  BIG_SEND,
  FLUSH_BRIDGED,
  LOOP_NEW_ARENA,
  LOOP_BIGS,
  LOOP_NEW_READ_ARENA,
  LOOP_COUNT_MASK
} = W;

const inLogBytes = Buffer.alloc(LOG_CAP * 16);
const inLog = new Uint32Array(inLogBytes.buffer, inLogBytes.byteOffset, LOG_CAP * 4);

// What `loopTake` fills for connections served on this thread's event loop: a header
// (record count, arena base, whether more batches wait) and the records.
const loopLogBytes = Buffer.alloc(16 + LOG_CAP * 16);
const loopHead = new Uint32Array(loopLogBytes.buffer, loopLogBytes.byteOffset, 4);
const loopLog = new Uint32Array(loopLogBytes.buffer, loopLogBytes.byteOffset + 16, LOG_CAP * 4);
let loopArena = null;
// The Buffer the driver reads sockets into: DIRECT records are views of it.
let loopReadArena = null;
let loopBigs = null;
// Records of the current loop batch not yet dispatched (kept past a turn's budget).
let heldPos = 0;
let heldEnd = 0;
let heldBase = 0;
// One event-loop callback dispatches for at most this long, then lets timers and
// other I/O run before it goes on.
const TURN_MS = 2;

const conns = new Map();
// Bridged connections: id -> the Node socket that stays in charge of the bytes.
const bridgedSockets = new Map();
// Adopted connections still counted by the net.Server that accepted them: id -> server.
const countedBy = new Map();
// Natively accepted listening sockets (lib/accept.js): listener id -> handlers.
const listeners = new Map();
let liveCount = 0;

const state = binding.init(onWake, onLoop, loopLogBytes);

const OUTBOX_SIZE = 1024 * 1024;
let outData = Buffer.allocUnsafeSlow(OUTBOX_SIZE);
let outPos = 0;
let outLogBytes = Buffer.alloc(4096 * 16);
let outLog = new Uint32Array(outLogBytes.buffer, outLogBytes.byteOffset, 4096 * 4);
let outCount = 0;
let outBigs = [];
let flushQueued = false;
// Where `flush` reports frames written at once: [id, frames] pairs.
const WRITTEN_PAIRS = 4096;
const writtenBytes = Buffer.alloc(WRITTEN_PAIRS * 8);
const written = new Uint32Array(writtenBytes.buffer, writtenBytes.byteOffset, WRITTEN_PAIRS * 2);
let flushDepth = 0;
// How many dispatch loops are running (a bridged socket can deliver data while
// another connection's listener runs, e.g. with in-process stream pairs).
let dispatching = 0;

/**
 * Called from the event loop when connections served on it have events: dispatch
 * every staged batch, within the turn's budget, then send what the handlers queued.
 *
 * @param {number} first The first batch, already taken (as `loopTake` returns it),
 *     or 0 to finish the records kept from the last call
 * @return {boolean} false if records were kept for the next call
 */
function onLoop(first) {
  dispatching++;
  const deadline = performance.now() + TURN_MS;
  try {
    let n = first;
    if (n === 0) {
      if (heldEnd !== 0 && !dispatchLoop(heldPos, heldEnd, heldBase, deadline)) return false;
      n = binding.loopTake(state);
    }
    while (n !== 0) {
      if (n & LOOP_NEW_ARENA) loopArena = binding.loopArena(state);
      if (n & LOOP_NEW_READ_ARENA) loopReadArena = binding.loopReadArena(state);
      loopBigs = n & LOOP_BIGS ? binding.loopBigs(state) : null;
      if (!dispatchLoop(0, n & LOOP_COUNT_MASK, loopHead[1], deadline)) return false;
      // Records staged while dispatching come with the driver's next call.
      n = loopHead[2] !== 0 ? binding.loopTake(state) : 0;
    }
    return true;
  } finally {
    dispatching--;
    flush();
  }
}

/**
 * Dispatches records [from, to) of `log` in slices of 16, stopping once `deadline`
 * has passed; returns where it stopped (`to` when all were dispatched).
 */
function dispatchUntil(log, from, to, arena, bigs, base, direct, deadline) {
  for (let pos = from; pos < to; ) {
    const next = Math.min(pos + 16, to);
    dispatch(log, pos, next, arena, bigs, base, direct);
    pos = next;
    if (pos < to && performance.now() > deadline) return pos;
  }
  return to;
}

/** Dispatches loop records [from, to) within the turn; keeps the rest for the next. */
function dispatchLoop(from, to, base, deadline) {
  const stop = dispatchUntil(loopLog, from, to, loopArena, loopBigs, base, loopReadArena, deadline);
  if (stop < to) {
    heldPos = stop;
    heldEnd = to;
    heldBase = base;
    return false;
  }
  heldEnd = 0;
  return true;
}

// Records of an io-thread batch left when a turn's budget ran out: copied out of the
// shared log (a bridged feed may reuse it meanwhile), with the batch's payloads.
let wakeHeld = null;

/**
 * Called by the io threads' wake-up: deliver waiting batches for at most one turn's
 * budget, then send what the handlers queued. What is left continues after timers and
 * other I/O had their turn (the queue does not wake JS again until it was emptied).
 */
function onWake() {
  const [logBytes, log] = logFor();
  const deadline = performance.now() + TURN_MS;
  dispatching++;
  try {
    if (wakeHeld !== null) {
      const held = wakeHeld;
      wakeHeld = null;
      if (!dispatchWake(held.log, held.count, held.arena, held.bigs, deadline)) return;
    }
    let batch;
    while ((batch = binding.drain(state, logBytes)) != null) {
      if (!dispatchWake(log, batch.count, batch.arena, batch.bigs, deadline)) return;
      if (performance.now() > deadline) {
        setImmediate(onWake);
        return;
      }
    }
  } finally {
    dispatching--;
    flush();
  }
}

/**
 * Dispatches an io-thread batch of `count` records within the turn; keeps the rest in
 * `wakeHeld`, to continue after timers and I/O, and returns false if the turn ends.
 */
function dispatchWake(log, count, arena, bigs, deadline) {
  const stop = dispatchUntil(log, 0, count, arena, bigs, 0, null, deadline);
  if (stop === count) return true;
  wakeHeld = { log: log.slice(stop * 4, count * 4), count: count - stop, arena, bigs };
  setImmediate(onWake);
  return false;
}

/** The shared record log, or a private one for a nested dispatch. */
function logFor() {
  if (dispatching === 0) return [inLogBytes, inLog];
  const bytes = Buffer.alloc(LOG_CAP * 16);
  return [bytes, new Uint32Array(bytes.buffer, bytes.byteOffset, LOG_CAP * 4)];
}

// Node's own Buffer class, the one Buffer.from returns, is the species constructor
// Buffer#subarray uses. Constructing it directly skips Buffer.from's checks (one C++
// call among them): half the cost of a message's Buffer. Buffer.from if a Node ever
// answers something else.
const NodeBuffer = Buffer[Symbol.species];
const bufferOf =
  typeof NodeBuffer === 'function' && NodeBuffer.prototype === Buffer.prototype
    ? (buffer, at, len) => new NodeBuffer(buffer, at, len)
    : (buffer, at, len) => Buffer.from(buffer, at, len);

/**
 * A view of `len` bytes of `buffer` (an ArrayBuffer) from `at`; empty payloads are ws's
 * shared EMPTY_BUFFER, as ws's receiver gives them (code compares by identity). No
 * copy: an event arena is at most 64 KiB (`wire::ARENA_CAP`), so a payload a handler
 * keeps pins at most that, as ws's message pins at most its socket read.
 */
function view(buffer, at, len) {
  return len === 0 ? EMPTY_BUFFER : bufferOf(buffer, at, len);
}

/**
 * Calls the owning connection for records [from, to) of `log`; payloads are at
 * `base + offset` in `arena`, in `bigs`, or (DIRECT) at `offset` in `direct`.
 */
function dispatch(log, from, to, arena, bigs, base, direct) {
  const end = to * 4;
  // Views are made from the ArrayBuffers (cheaper than subarray), so read `.buffer`
  // once per call, not per message.
  const arenaBuffer = arena != null ? arena.buffer : null;
  const arenaStart = arena != null ? arena.byteOffset + base : 0;
  const directBuffer = direct != null ? direct.buffer : null;
  const directStart = direct != null ? direct.byteOffset : 0;
  // Consecutive records are often for the same connection.
  let lastId = 0;
  let conn;

  for (let i = from * 4; i < end; i += 4) {
    const id = log[i];
    if (id !== lastId) {
      conn = conns.get(id);
      lastId = id;
    }
    if (conn === undefined) {
      const kind = log[i + 1] & EV_KIND_MASK;
      if (kind === EV_HANDSHAKE || kind === EV_FALLBACK) {
        try {
          onAccepted(id, kind, log[i + 1] >>> 8, arena, base + log[i + 2], log[i + 3]);
        } catch (err) {
          process.nextTick(rethrow, err);
        }
      }
      continue;
    }

    const kindWord = log[i + 1];
    const a = log[i + 2];
    const b = log[i + 3];

    try {
      switch (kindWord & EV_KIND_MASK) {
        case EV_TEXT:
        case EV_BINARY:
          conn[kOnMessage](
            kindWord & EV_DIRECT
              ? bufferOf(directBuffer, directStart + a, b)
              : kindWord & EV_BIG
                ? bigs[a]
                : view(arenaBuffer, arenaStart + a, b),
            (kindWord & EV_KIND_MASK) === EV_BINARY
          );
          break;
        case EV_FRAME_END:
          conn[kOnFrameEnd](a + b * 0x100000000);
          break;
        case EV_PING:
          conn[kOnPing](view(arenaBuffer, arenaStart + a, b));
          break;
        case EV_PONG:
          conn[kOnPong](view(arenaBuffer, arenaStart + a, b));
          break;
        case EV_CLOSE_FRAME:
          conn[kOnCloseFrame](kindWord >>> 8, view(arenaBuffer, arenaStart + a, b));
          break;
        case EV_PROTOCOL_ERROR:
          // An inflate failure carries zlib's message as its payload.
          conn[kOnProtocolError](kindWord >>> 8, b === 0 ? a : arena.toString('latin1', base + a, base + a + b));
          break;
        case EV_WRITTEN:
          conn[kOnWritten](a);
          break;
        case EV_EOF:
          conn[kOnEnd]();
          break;
        case EV_DATA:
          conn[kOnSocketData](view(arenaBuffer, arenaStart + a, b));
          break;
        case EV_SOCKET_ERROR:
          conn[kOnSocketError](kindWord >>> 8, a === SYSCALL_READ ? 'read' : 'write');
          break;
        case EV_CLOSED:
          conns.delete(id);
          lastId = 0;
          release();
          uncount(id);
          // Its payload: bytes read and written over the connection's life (u64 LE).
          if (b === 16) {
            const at = base + a;
            conn[kOnClosed](
              arena.readUInt32LE(at) + arena.readUInt32LE(at + 4) * 2 ** 32,
              arena.readUInt32LE(at + 8) + arena.readUInt32LE(at + 12) * 2 ** 32
            );
          } else {
            conn[kOnClosed]();
          }
          break;
      }
    } catch (err) {
      // A listener threw. ws would let it escape from the socket's 'data' handler;
      // do the same without dropping the rest of the batch.
      process.nextTick(rethrow, err);
    }
  }
}

/**
 * A socket the driver accepted sent its request: a whole upgrade request (HANDSHAKE,
 * its fields as Latin-1 text) or something for Node's own server (FALLBACK). Goes to the listener's handlers, or closes the socket when the
 * listener has stopped meanwhile.
 */
function onAccepted(id, kind, listenerId, arena, at, len) {
  const listener = listeners.get(listenerId);
  if (listener === undefined) {
    binding.pendingClose(state, id, false);
    return;
  }
  if (kind === EV_HANDSHAKE) {
    keepCounted(listener.server, id);
    listener.onHandshake(id, arena.toString('latin1', at, at + len).split('\0'));
  } else {
    listener.onFallback(id);
  }
}

function rethrow(err) {
  throw err;
}

function retain() {
  if (liveCount++ === 0) binding.setRef(state, true);
}

function release() {
  if (--liveCount === 0) binding.setRef(state, false);
}

/**
 * Takes over a connected TCP socket after its handshake. Must run in one synchronous
 * turn: drain what Node already read, stop Node reading, hand the fd to Rust, destroy
 * the JS socket (never `end()` it: that would shut down the shared socket).
 *
 * When Rust cannot take the socket (no file descriptor left for the dup, libuv
 * refusing the handle, the peer already gone), nothing was taken over: Node reads the
 * socket again, the drained bytes are put back, and -1 tells the caller to run the
 * connection bridged, as ws would have run it.
 *
 * @param {net.Socket} socket The upgraded socket
 * @param {Buffer} head Bytes that came with the upgrade
 * @param {Buffer} preamble Bytes to write first (the server's 101 response)
 * @param {Object} options `isServer`, `maxPayload`, `maxFragments`, `maxBufferedChunks`,
 *     `skipUTF8Validation`
 * @param {Object} conn The object to receive this connection's events
 * @return {number} The connection id, or -1 if the socket stays Node's
 */
function adopt(socket, head, preamble, options, conn) {
  const chunks = head.length ? [head] : [];
  let chunk;
  while ((chunk = socket.read()) !== null) chunks.push(chunk);
  const handle = socket._handle;
  handle.readStop();
  // As ws's setSocket does; Node skips the syscall when the server already set it.
  socket.setNoDelay(true);
  const pending = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);

  let id;
  try {
    id = binding.adopt(state, handle.fd, pending, preamble, options);
  } catch {
    // Node still counts the handle as reading (`handle.reading`), so restart it.
    handle.readStart();
    if (pending.length > 0) socket.unshift(pending);
    return -1;
  }

  conns.set(id, conn);
  retain();
  if (pending.length > 0) turnSoon();
  const server = socket.server;
  socket.destroy();
  keepCounted(server, id);
  return id;
}

/**
 * Node's server counted the socket it accepted until we destroyed it; count the
 * connection again until it closes, so `server.getConnections()` and
 * `server.close(cb)` behave as with ws (the close callback waits for open
 * WebSockets). Uses the same private counter Node's own sockets use.
 */
function keepCounted(server, id) {
  if (server == null || typeof server._connections !== 'number') return;
  server._connections++;
  countedBy.set(id, server);
}

function uncount(id) {
  const server = countedBy.get(id);
  if (server === undefined) return;
  countedBy.delete(id);
  server._connections--;
  if (typeof server._emitCloseIfDrained === 'function') server._emitCloseIfDrained();
}

/**
 * Accepts the connections of Node's listening socket `fd` on this thread's event loop
 * (`src/io/js_loop/accept.rs`).
 *
 * @param {number} fd The listening socket's fd (`server._handle.fd`)
 * @param {Object} limits `maxHeaderSize` and `headersTimeout` (ms, 0: none)
 * @param {Object} handlers `server` (counts the connections), `onHandshake(id,
 *     fields)` and `onFallback(id)`
 * @return {number} The listener id, or -1 if Node keeps accepting
 */
function listen(fd, limits, handlers) {
  const id = binding.listen(state, fd, limits.maxHeaderSize, limits.headersTimeout);
  if (id >= 0) listeners.set(id, handlers);
  return id;
}

/** Whether listener `id` hands every connection to Node's server unread. */
function listenerToNode(id, on) {
  binding.listenerToNode(state, id, on);
}

/** Stops listener `id`; see `listen`. */
function unlisten(id) {
  listeners.delete(id);
  binding.unlisten(state, id);
}

/**
 * Serves accepted socket `id` as a WebSocket connection; see `adopt` for the
 * arguments. A socket that is gone or breaks on the 101 closes as any broken one.
 */
function pendingAccept(id, preamble, options, conn) {
  conns.set(id, conn);
  retain();
  binding.pendingAccept(state, id, preamble, options);
  turnSoon();
}

let turnScheduled = false;

function turnNow() {
  turnScheduled = false;
  binding.loopTurn(state);
}

/**
 * What came with an upgrade (already parsed and staged) is delivered on the next
 * tick, after the `'open'`/`'connection'` handlers, as ws parses its `head` then;
 * waiting for the loop's next poll phase would let a Blob read or a timer go first.
 */
function turnSoon() {
  if (turnScheduled) return;
  turnScheduled = true;
  process.nextTick(turnNow);
}

/** Writes bytes to an accepted socket before its upgrade; false if it is broken. */
function pendingWrite(id, bytes) {
  return binding.pendingWrite(state, id, bytes);
}

/** Closes an accepted socket before its upgrade (`end`: FIN first). */
function pendingClose(id, end) {
  binding.pendingClose(state, id, end);
  uncount(id);
}

/**
 * Takes over a connection Node's handle of listener `listenerId` accepted (before
 * the driver took the listening socket over); false if it stays Node's.
 */
function pendingFromFd(listenerId, fd) {
  return binding.pendingFromFd(state, listenerId, fd);
}

/**
 * Hands an accepted socket to Node: `{ fd, bytes }` (the bytes read so far), or null.
 * It no longer counts as the driver's.
 */
function pendingRelease(id) {
  const released = binding.pendingRelease(state, id);
  uncount(id);
  return released;
}

/** The local address of an accepted socket or connection, or null. */
function localAddress(id) {
  return binding.localAddress(state, id);
}

/**
 * Whether `socket` can be taken over by the io driver: a plain TCP socket whose fd
 * Node exposes. Anything else (TLS, pipes, other streams) runs bridged.
 */
function canAdopt(socket) {
  const handle = socket._handle;
  return (
    !socket.encrypted &&
    handle != null &&
    handle.constructor != null &&
    handle.constructor.name === 'TCP' &&
    typeof handle.fd === 'number' &&
    handle.fd >= 0 &&
    typeof handle.readStop === 'function'
  );
}

/**
 * Runs a connection whose socket stays in Node: its bytes go through the protocol
 * core on this thread, its frames come back from `flush` for `socket.write`.
 *
 * @param {Duplex} socket The upgraded socket or stream
 * @param {Buffer} head Bytes that came with the upgrade
 * @param {Object} options As for `adopt`
 * @param {Object} conn The object to receive this connection's events
 * @return {number} The connection id
 */
function bridge(socket, head, options, conn) {
  const id = binding.bridgedOpen(state, options);
  conns.set(id, conn);
  bridgedSockets.set(id, socket);
  const deflate = options.deflate != null;
  if (deflate) bridgedDeflating++;

  if (socket.setTimeout) socket.setTimeout(0);
  if (socket.setNoDelay) socket.setNoDelay();
  if (head.length > 0) socket.unshift(head);

  socket.on('data', (chunk) => {
    feed(id, chunk);
    sweepIdleContexts();
  });
  socket.on('end', () => {
    const c = conns.get(id);
    if (c !== undefined) c[kOnEnd]();
  });
  socket.on('error', destroySelf);
  socket.on('close', () => {
    if (!conns.has(id)) return;
    conns.delete(id);
    bridgedSockets.delete(id);
    if (deflate) bridgedDeflating--;
    binding.bridgedClose(state, id);
    conn[kOnClosed]();
  });
  return id;
}

/**
 * A protocol core with no socket, for `WebSocket.Receiver`: bytes go in with
 * `parse`, events come out through `conn`'s hooks, as for a bridged connection.
 *
 * @param {Object} options As for `bridge`
 * @param {Object} conn The hooks' owner
 * @return {number} The parser's id
 */
function openParser(options, conn) {
  const id = binding.bridgedOpen(state, options);
  conns.set(id, conn);
  return id;
}

/** Feeds `chunk` to parser `id`; its events reach the hooks before this returns. */
function parse(id, chunk) {
  feed(id, chunk);
}

/** Payload bytes of the message parser `id` is in the middle of (0 between messages). */
function parserMessageLength(id) {
  return binding.bridgedMessageLength(state, id);
}

/** Frees parser `id`. */
function closeParser(id) {
  if (!conns.delete(id)) return;
  binding.bridgedClose(state, id);
}

// Open bridged connections with permessage-deflate, and the timer that lets their idle
// halves give back zlib contexts (the io driver's connections do that on their own).
let bridgedDeflating = 0;
let sweepTimer = null;

/**
 * Starts the sweep if a bridged connection may hold a zlib context and it is not
 * running; the sweep stops once none holds one, and is restarted by traffic.
 */
function sweepIdleContexts() {
  if (sweepTimer !== null || bridgedDeflating === 0) return;
  const period = Math.max(1, binding.deflateIdleMs() >> 1);
  sweepTimer = setInterval(() => {
    if (binding.bridgedReleaseIdle(state) === 0) {
      clearInterval(sweepTimer);
      sweepTimer = null;
    }
  }, period);
  sweepTimer.unref();
}

// `idleTimeout` (ws-rs's heartbeat): the watched connections live in Rust; one
// interval per environment sweeps them, every eighth of the shortest idle time (so a
// silent connection goes within idle + a quarter). A sweep looks at every watched
// connection, about 30 ns each when cached, 300 ns when cold: 10k connections with a
// 30 s idle time cost under 3 ms every 3.75 s.
let idleTimer = null;
let idlePeriod = 0;

/**
 * Watches connection `id` for silence: Rust pings it after three quarters of
 * `idleMs` (with `sendPings`), and `conn[kOnIdle]()` is called after `idleMs`.
 *
 * @param {number} id Connection id
 * @param {number} idleMs Idle time in ms (1 to 2^31 - 1)
 * @param {boolean} sendPings Ping quiet connections first
 * @param {boolean} masked The connection is a client's
 */
function watchIdle(id, idleMs, sendPings, masked) {
  binding.heartbeatWatch(state, id, idleMs, sendPings, masked);
  const period = Math.max(10, Math.floor(idleMs / 8));
  if (idleTimer !== null && period >= idlePeriod) return;
  clearInterval(idleTimer);
  idlePeriod = period;
  idleTimer = setInterval(sweepIdle, period);
  idleTimer.unref();
}

/** Stops watching connection `id` (its closing handshake started). */
function unwatchIdle(id) {
  binding.heartbeatUnwatch(state, id);
}

function sweepIdle() {
  const silent = binding.heartbeatSweep(state);
  // Pings of bridged connections: Node's sockets write them.
  for (const w of binding.takeBridgedWrites(state)) writeBridged(w);
  for (const id of silent) {
    const conn = conns.get(id);
    if (conn !== undefined) conn[kOnIdle]();
  }
  if (binding.heartbeatCount(state) === 0) {
    clearInterval(idleTimer);
    idleTimer = null;
  }
}

function destroySelf() {
  this.destroy();
}

function feed(id, chunk) {
  const [logBytes, log] = logFor();
  dispatching++;
  try {
    let batch = binding.bridgedFeed(state, id, chunk, logBytes);
    while (batch != null) {
      dispatch(log, 0, batch.count, batch.arena, batch.bigs, 0);
      batch = binding.bridgedDrain(state, logBytes);
    }
  } finally {
    dispatching--;
    flush();
  }
}

/**
 * Queues one outgoing frame (or `END`) for connection `id`. Framing happens on the io
 * thread; this only copies the payload into the outbox.
 *
 * @param {number} id Connection id
 * @param {number} op One of `OP`
 * @param {number} flags `FLAG` bits
 * @param {(Buffer|string|null)} data The payload
 * @param {Buffer} [key] A masking key of the user's (`generateMask`)
 * @return {number} Payload length in bytes
 */
function queue(id, op, flags, data, key) {
  let len = 0;
  let big = 0;

  if (key !== undefined) {
    growData(4);
    outData.set(key, outPos);
    outPos += 4;
    flags |= FLAG.KEYED;
  }

  if (typeof data === 'string') {
    if (data.length !== 0) {
      if (hasRoom(data.length * 3)) len = outData.utf8Write(data, outPos);
      else {
        len = Buffer.byteLength(data);
        growData(len);
        outData.utf8Write(data, outPos);
      }
      outPos += len;
    }
  } else if (data !== null && data.length !== 0) {
    len = data.length;
    if (len >= BIG_SEND) {
      // Handed to Rust by reference in the same flush: no copy into the outbox.
      flags |= FLAG.BIG;
      // One entry for a Buffer sent to many connections in a row (a broadcast loop):
      // Rust then holds it once for all of them.
      big = outBigs.length - 1;
      if (big === -1 || outBigs[big] !== data) big = outBigs.push(data) - 1;
    } else {
      growData(len);
      if (len <= 8) {
        // Cheaper than TypedArray#set only for the shortest payloads.
        const to = outData;
        const at = outPos;
        for (let j = 0; j < len; j++) to[at + j] = data[j];
      } else {
        outData.set(data, outPos);
      }
      outPos += len;
    }
  }

  if (outCount * 4 === outLog.length) growLog();
  const at = outCount * 4;
  outLog[at] = id;
  outLog[at + 1] = op | (flags << 8);
  outLog[at + 2] = len;
  outLog[at + 3] = big;
  outCount++;

  if (!flushQueued && dispatching === 0) {
    flushQueued = true;
    queueMicrotask(flush);
  }

  return len;
}

/**
 * Queues one message for every connection in `ids` (a publish, lib/topics.js): one
 * record, its payload once, the ids before it. Returns the payload's length.
 */
function publish(ids, op, flags, data) {
  growData(ids.length * 4);
  for (let i = 0; i < ids.length; i++) {
    outData.writeUInt32LE(ids[i], outPos);
    outPos += 4;
  }
  return queue(ids.length, op, flags | FLAG.PUBLISH, data);
}

function hasRoom(n) {
  return outData.length - outPos >= n;
}

function growData(n) {
  if (outData.length - outPos >= n) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(outData.length * 2, outPos + n));
  outData.copy(bigger, 0, 0, outPos);
  outData = bigger;
}

function growLog() {
  const bigger = Buffer.alloc(outLogBytes.length * 2);
  outLogBytes.copy(bigger);
  outLogBytes = bigger;
  outLog = new Uint32Array(bigger.buffer, bigger.byteOffset, bigger.length / 4);
}

/**
 * Hands everything queued this tick to Rust in one call. Connections on this thread's
 * loop are written at once; the frames the kernel took are acknowledged here.
 */
function flush() {
  flushQueued = false;
  if (outCount === 0) return;
  // A callback below may flush again (terminate() does): it gets its own pair array.
  const pairsBytes = flushDepth === 0 ? writtenBytes : Buffer.alloc(WRITTEN_PAIRS * 8);
  const pairs =
    flushDepth === 0 ? written : new Uint32Array(pairsBytes.buffer, pairsBytes.byteOffset, WRITTEN_PAIRS * 2);
  const result = binding.flush(state, outData.subarray(0, outPos), outLogBytes, outCount, outBigs, pairsBytes);
  outPos = 0;
  outCount = 0;
  if (outBigs.length !== 0) outBigs = [];
  if (outData.length > OUTBOX_SIZE) outData = Buffer.allocUnsafeSlow(OUTBOX_SIZE);
  flushDepth++;
  try {
    const n = (result & ~FLUSH_BRIDGED) * 2;
    for (let i = 0; i < n; i += 2) {
      const conn = conns.get(pairs[i]);
      if (conn === undefined) continue;
      try {
        conn[kOnWritten](pairs[i + 1]);
      } catch (err) {
        process.nextTick(rethrow, err);
      }
    }
  } finally {
    flushDepth--;
  }
  // Only now write bridged frames: a write can re-enter (and queue and flush again).
  if (result & FLUSH_BRIDGED) {
    for (const w of binding.takeBridgedWrites(state)) writeBridged(w);
    sweepIdleContexts();
  }
}

function writeBridged({ id, data, frames, end }) {
  const socket = bridgedSockets.get(id);
  const conn = conns.get(id);
  if (socket === undefined || conn === undefined) return;
  // (A heartbeat ping can find the write side already ended.)
  if (socket.writableEnded) return;
  if (data.length > 0) {
    socket.write(data, (err) => {
      if (!err && frames > 0) conn[kOnWritten](frames);
    });
  }
  if (end) socket.end();
}

/** Stops or restarts reading from connection `id`. */
function pause(id, paused) {
  const socket = bridgedSockets.get(id);
  if (socket === undefined) binding.pause(state, id, paused);
  else if (paused) socket.pause();
  else socket.resume();
}

/**
 * Sets TCP_NODELAY or SO_KEEPALIVE (with Node's initial delay in ms) on an adopted
 * connection's socket.
 *
 * @param {number} id Connection id
 * @param {number} option One of `SOCKOPT`
 * @param {boolean} on
 * @param {number} [delayMs] Keep-alive idle time
 * @return {boolean} false if the connection is not served on this thread's loop
 */
function socketOption(id, option, on, delayMs = 0) {
  return binding.socketOption(state, id, option, on, Number(delayMs) || 0);
}

/**
 * Bytes read and written so far by an adopted connection.
 *
 * @param {number} id Connection id
 * @return {?number[]} `[read, written]`, or null once it is closed
 */
function socketStats(id) {
  return binding.socketStats(state, id);
}

/**
 * Reports (or stops reporting) what connection `id` reads as `kOnSocketData`, for
 * `ws._socket`'s `'data'` listeners.
 */
function socketTap(id, on) {
  binding.socketTap(state, id, on);
}

/**
 * Feeds `bytes` to connection `id`'s parser as if they had been read, or (null) acts
 * as if the peer ended its side: `ws._socket.push(...)`.
 *
 * @param {number} id
 * @param {?Buffer} bytes
 */
function socketPush(id, bytes) {
  binding.socketPush(state, id, bytes);
}

/** Drops connection `id` with a TCP reset (`ws._socket.resetAndDestroy()`). */
function socketReset(id) {
  flush();
  binding.socketReset(state, id);
}

/** Drops connection `id` at once. */
function terminate(id) {
  flush();
  const socket = bridgedSockets.get(id);
  if (socket === undefined) binding.terminate(state, id);
  else socket.destroy();
}

module.exports = {
  adopt,
  bridge,
  canAdopt,
  listen,
  listenerToNode,
  unlisten,
  pendingAccept,
  pendingWrite,
  pendingClose,
  pendingRelease,
  pendingFromFd,
  localAddress,
  openParser,
  parse,
  parserMessageLength,
  closeParser,
  queue,
  publish,
  pause,
  socketOption,
  socketStats,
  socketTap,
  socketPush,
  socketReset,
  terminate,
  watchIdle,
  unwatchIdle,
  OP,
  FLAG,
  SOCKOPT
};
