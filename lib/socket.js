'use strict';

/**
 * What `ws._socket` (and, for natively accepted connections, `req.socket`) is once
 * Rust holds the socket's fd: `AdoptedSocket` for a socket taken over from Node after
 * its handshake, `AcceptedSocket` for one the JS-loop driver accepted itself
 * (`lib/accept.js`), which before the upgrade also answers what ws's handshake code
 * and `wsClientError` listeners do with a socket (`write`, `end`, `destroy`).
 */

const { Buffer } = require('buffer');
const process = require('process');
const EventEmitter = require('events');
const util = require('util');

const native = require('./native');
const { toBuffer } = require('./validation');
const { kWebSocket, kId, kQueue, kEnd, kEnded } = require('./constants');

const { OP } = native;
// WebSocket.CLOSED.
const CLOSED = 3;
const kBase = Symbol('base');
const kTotals = Symbol('totals');
const kTimeout = Symbol('timeout');
const kPendingId = Symbol('pendingId');
const kDestroyed = Symbol('destroyed');
const kLocal = Symbol('local');

/**
 * What `ws._socket` answers once the real socket has been handed to the io driver:
 * the addresses as they were, and the methods code commonly calls on it. A class, so
 * each connection pays for five fields and no closures.
 */
class AdoptedSocket extends EventEmitter {
  /**
   * @param {WebSocket} websocket The connection (undefined until the upgrade, for an
   *     AcceptedSocket)
   * @param {net.Socket} [socket] Node's socket, whose addresses and counts are kept
   */
  constructor(websocket, socket) {
    super();
    this[kWebSocket] = websocket;
    // What Node's socket counted before the handover (the upgrade request); the io
    // driver counts from there.
    this[kBase] = socket ? [socket.bytesRead, socket.bytesWritten] : [0, 0];
    this[kTotals] = null;
    this[kTimeout] = null;
    if (socket) {
      this.remoteAddress = socket.remoteAddress;
      this.remotePort = socket.remotePort;
      this.remoteFamily = socket.remoteFamily;
      this.localAddress = socket.localAddress;
      this.localPort = socket.localPort;
      this.localFamily = socket.localFamily;
    }
  }

  /** What was sent but not yet taken by the kernel: the WebSocket's bufferedAmount. */
  get writableLength() {
    const websocket = this[kWebSocket];
    return websocket ? websocket.bufferedAmount : 0;
  }

  /** The part of Node's internal writable state code reads of a socket (`length`). */
  get _writableState() {
    return { length: this.writableLength, ended: this[kTotals] !== null };
  }

  /**
   * The connection closed: `bytesRead`/`bytesWritten` keep its final counts.
   * @param {number} bytesRead
   * @param {number} bytesWritten
   */
  closed(bytesRead, bytesWritten) {
    this[kTotals] = [bytesRead, bytesWritten];
    if (this[kTimeout] !== null) this.setTimeout(0);
  }

  /**
   * Whether reading is paused (`ws.pause()`), as `net.Socket#isPaused`.
   * @return {boolean}
   */
  isPaused() {
    return this[kWebSocket]._paused;
  }

  /**
   * The local address, as `net.Socket#address()`.
   * @return {{address: string, family: string, port: number}}
   */
  address() {
    return { address: this.localAddress, family: this.localFamily, port: this.localPort };
  }

  /** Bytes received, as `net.Socket#bytesRead` (the upgrade request included). */
  get bytesRead() {
    return this[kBase][0] + this.#counts()[0];
  }

  /** Bytes sent, as `net.Socket#bytesWritten`. */
  get bytesWritten() {
    return this[kBase][1] + this.#counts()[1];
  }

  #counts() {
    if (this[kTotals] !== null) return this[kTotals];
    return native.socketStats(this[kWebSocket][kId]) || [0, 0];
  }

  /**
   * As `net.Socket#setTimeout`: 'timeout' is emitted once the socket has neither read
   * nor written anything for `ms` (0 turns it off); `callback` becomes a one-time
   * listener. Checked every `ms` from the driver's byte counts, so it costs nothing per
   * message; like Node's, the timer does not keep the process alive.
   *
   * @param {number} ms
   * @param {Function} [callback]
   * @return {AdoptedSocket}
   */
  setTimeout(ms, callback) {
    if (this[kTimeout] !== null) {
      clearInterval(this[kTimeout]);
      this[kTimeout] = null;
    }
    ms = Number(ms);
    if (typeof callback === 'function') {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    if (!(ms > 0) || this[kTotals] !== null) return this;
    let last = -1;
    let fired = false;
    this[kTimeout] = setInterval(() => {
      if (this[kTotals] !== null) {
        clearInterval(this[kTimeout]);
        this[kTimeout] = null;
        return;
      }
      const [read, written] = this.#counts();
      const seen = read + written;
      if (seen !== last) {
        last = seen;
        fired = false;
      } else if (!fired) {
        fired = true;
        this.emit('timeout');
      }
    }, ms);
    this[kTimeout].unref();
    return this;
  }

  /**
   * TCP_NODELAY on the adopted socket, as `net.Socket#setNoDelay` (on by default).
   * @param {boolean} [noDelay=true]
   */
  setNoDelay(noDelay = true) {
    native.socketOption(this[kWebSocket][kId], native.SOCKOPT.NO_DELAY, !!noDelay);
    return this;
  }

  /**
   * SO_KEEPALIVE on the adopted socket, as `net.Socket#setKeepAlive`.
   * @param {boolean} [enable=false]
   * @param {number} [initialDelay=0] Idle time before the first probe, in ms
   */
  setKeepAlive(enable = false, initialDelay = 0) {
    native.socketOption(this[kWebSocket][kId], native.SOCKOPT.KEEP_ALIVE, !!enable, initialDelay);
    return this;
  }

  /**
   * Writes bytes as they are, in order with the frames sent before and after (code
   * and tests that inject raw frames use it, as on ws's real socket).
   *
   * @param {(string|Buffer|Uint8Array)} data
   * @param {string} [encoding] For a string
   * @param {Function} [cb] Called once the kernel took the bytes
   * @return {boolean}
   */
  write(data, encoding, cb) {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    const websocket = this[kWebSocket];
    if (websocket._readyState === CLOSED || websocket[kEnded]) {
      const err = new Error('write after end');
      err.code = 'ERR_STREAM_WRITE_AFTER_END';
      if (typeof cb === 'function') process.nextTick(cb, err);
      return false;
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, encoding) : toBuffer(data);
    websocket[kQueue](OP.RAW, 0, bytes, typeof cb === 'function' ? cb : undefined);
    return true;
  }

  /**
   * As `Readable#push` on ws's socket: `chunk` is parsed as if it had been read (and
   * reaches `'data'` listeners); `null` acts as if the peer ended its side.
   *
   * @param {?(string|Buffer|Uint8Array)} chunk
   * @param {string} [encoding] For a string
   * @return {boolean}
   */
  push(chunk, encoding) {
    const websocket = this[kWebSocket];
    if (!websocket[kId] || this[kTotals] !== null) return false;
    const bytes = chunk === null ? null : typeof chunk === 'string' ? Buffer.from(chunk, encoding) : toBuffer(chunk);
    native.socketPush(websocket[kId], bytes);
    return chunk !== null;
  }

  /**
   * Closes the connection with a TCP reset, as `net.Socket#resetAndDestroy`: the
   * peer's socket errors with ECONNRESET; here the connection closes as with
   * `terminate()`.
   */
  resetAndDestroy() {
    const websocket = this[kWebSocket];
    if (websocket[kId] && this[kTotals] === null) native.socketReset(websocket[kId]);
    else websocket.terminate();
    return this;
  }

  /**
   * A read or write failed (the connection is closing): Node's error, to `'error'`
   * listeners if there are any (ws's own socket listener swallows it, so none is
   * not an uncaught error).
   *
   * @param {number} errno The OS error number (0 if unknown)
   * @param {string} syscall `read` or `write`
   */
  failed(errno, syscall) {
    if (this.listenerCount('error') === 0) return;
    let name = 'EIO';
    try {
      if (errno > 0) name = util.getSystemErrorName(-errno);
    } catch {
      // An errno Node does not know: keep EIO.
    }
    const err = new Error(`${syscall} ${name}`);
    err.errno = -errno;
    err.code = name;
    err.syscall = syscall;
    this.emit('error', err);
  }

  destroy() {
    this[kWebSocket].terminate();
    return this;
  }

  end() {
    this[kWebSocket][kEnd]();
    return this;
  }

  // `'data'` listeners see the bytes as read: Rust reports each read of this
  // connection (a copy) only while there are some, so others pay nothing.
  on(event, listener) {
    super.on(event, listener);
    if (event === 'data') this.#tap();
    return this;
  }

  addListener(event, listener) {
    return this.on(event, listener);
  }

  prependListener(event, listener) {
    super.prependListener(event, listener);
    if (event === 'data') this.#tap();
    return this;
  }

  removeListener(event, listener) {
    super.removeListener(event, listener);
    if (event === 'data') this.#tap();
    return this;
  }

  off(event, listener) {
    return this.removeListener(event, listener);
  }

  removeAllListeners(event) {
    super.removeAllListeners(event);
    if (event === undefined || event === 'data') this.#tap();
    return this;
  }

  #tap() {
    const id = this[kWebSocket] && this[kWebSocket][kId];
    if (id && this[kTotals] === null) native.socketTap(id, this.listenerCount('data') > 0);
  }

  /** The connection is now served by Rust: report reads if listeners came first. */
  adopted() {
    if (this.listenerCount('data') > 0) this.#tap();
  }
}

/**
 * A socket the JS-loop driver accepted (`new WebSocketServer({ port })`): `req.socket`
 * during the handshake and `ws._socket` after it, as in ws where both are the same
 * `net.Socket`. Until the upgrade, what is written goes straight out and `end` /
 * `destroy` close the socket; from `setSocket` on, it behaves as an AdoptedSocket.
 */
class AcceptedSocket extends AdoptedSocket {
  /**
   * @param {number} id The pending socket's id (the connection's, once upgraded)
   * @param {string[]} fields The HANDSHAKE record's fields (see src/wire.rs)
   */
  constructor(id, fields) {
    super(undefined);
    this[kPendingId] = id;
    this[kDestroyed] = false;
    this[kLocal] = null;
    this[kBase][0] = +fields[6];
    this.remoteAddress = fields[3] || undefined;
    this.remotePort = fields[4] ? +fields[4] : undefined;
    this.remoteFamily = fields[5] || undefined;
  }

  /** The pending id until the upgrade, then null. */
  get pendingId() {
    return this[kPendingId];
  }

  /**
   * Called by `setSocket`: the socket becomes connection `id` of `websocket`.
   * @return {number} The pending id it had
   */
  upgraded() {
    const id = this[kPendingId];
    this[kPendingId] = null;
    return id;
  }

  #local() {
    if (this[kLocal] === null) {
      const id = this[kPendingId] !== null ? this[kPendingId] : this[kWebSocket] && this[kWebSocket][kId];
      const name = id != null ? native.localAddress(id) : null;
      if (name == null) return {};
      this[kLocal] = name;
    }
    return this[kLocal];
  }

  get localAddress() {
    return this.#local().address;
  }

  get localPort() {
    return this.#local().port;
  }

  get localFamily() {
    return this.#local().family;
  }

  get readable() {
    return this[kPendingId] !== null ? !this[kDestroyed] : this[kTotals] === null;
  }

  get writable() {
    return this.readable;
  }

  get destroyed() {
    return this[kPendingId] !== null ? this[kDestroyed] : this[kTotals] !== null;
  }

  isPaused() {
    return this[kPendingId] !== null ? false : super.isPaused();
  }

  setTimeout(ms, callback) {
    return this[kPendingId] !== null ? this : super.setTimeout(ms, callback);
  }

  setNoDelay(noDelay = true) {
    // Accepted with TCP_NODELAY on, as Node's http.Server does.
    return this[kPendingId] !== null ? this : super.setNoDelay(noDelay);
  }

  setKeepAlive(enable = false, initialDelay = 0) {
    return this[kPendingId] !== null ? this : super.setKeepAlive(enable, initialDelay);
  }

  write(data, encoding, cb) {
    if (this[kPendingId] === null) return super.write(data, encoding, cb);
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    let err = null;
    if (this[kDestroyed]) {
      err = new Error('write after end');
      err.code = 'ERR_STREAM_WRITE_AFTER_END';
    } else {
      const bytes = typeof data === 'string' ? Buffer.from(data, encoding) : toBuffer(data);
      if (!native.pendingWrite(this[kPendingId], bytes)) {
        err = new Error('write EPIPE');
        err.code = 'EPIPE';
      }
    }
    if (typeof cb === 'function') process.nextTick(cb, err);
    return err === null;
  }

  end(data, encoding, cb) {
    if (this[kPendingId] === null) return super.end();
    if (typeof data === 'function') {
      cb = data;
      data = undefined;
    } else if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (this[kDestroyed]) return this;
    if (data != null) this.write(data, encoding);
    this[kDestroyed] = true;
    native.pendingClose(this[kPendingId], true);
    process.nextTick(() => {
      this.emit('finish');
      if (typeof cb === 'function') cb();
      this.emit('close', false);
    });
    return this;
  }

  destroy(err) {
    if (this[kPendingId] === null) return super.destroy();
    if (this[kDestroyed]) return this;
    this[kDestroyed] = true;
    native.pendingClose(this[kPendingId], false);
    process.nextTick(() => {
      if (err) this.emit('error', err);
      this.emit('close', !!err);
    });
    return this;
  }
}

module.exports = { AdoptedSocket, AcceptedSocket };
