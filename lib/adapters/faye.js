'use strict';

/**
 * faye-websocket's API (0.11) on ws-rs: `require('ws-rs/faye')` in place of
 * `require('faye-websocket')`. The server-side `WebSocket(request, socket, body,
 * protocols, options)`, `WebSocket.Client(url, protocols, options)` (with an HTTP
 * CONNECT `proxy`) and `WebSocket.isWebSocket`. Every frame goes through ws-rs's
 * WebSocket and its Rust core; this module maps faye's names, events and states.
 *
 * `WebSocket.EventSource` (server-sent events) is in faye-eventsource.js.
 */

const net = require('net');
const tls = require('tls');
const { Stream } = require('stream');

const WebSocket = require('../websocket');
const { Event, eventTarget, pingInterval } = require('./faye-event');
const EventSource = require('./faye-eventsource');
const WebSocketServer = require('../websocket-server');

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
// websocket-driver's default maxLength.
const MAX_LENGTH = 2 ** 26 - 1;
const VALID_OPTIONS = ['headers', 'extensions', 'maxLength', 'ping', 'proxy', 'tls', 'ca', 'net'];

const kWs = Symbol('ws');
const kQueue = Symbol('queue');
const kPings = Symbol('pings');
const kPingTimer = Symbol('pingTimer');

/** As websocket-driver: an unknown option key throws. */
function validateOptions(options, validKeys) {
  for (const key of Object.keys(options)) {
    if (!validKeys.includes(key)) {
      throw new Error(`Unrecognized option: ${require('util').inspect(key)}`);
    }
  }
}

/**
 * What faye's server socket and client share: a legacy Stream (so `ws.pipe(ws)`
 * echoes), the `on…` attributes and `addEventListener`, and the methods.
 */
class FayeSocket extends Stream {
  constructor(url, options) {
    super();
    validateOptions(options, VALID_OPTIONS);
    this.readable = this.writable = true;
    this.readyState = CONNECTING;
    this.protocol = '';
    this.url = url;
    this.version = 'hybi-13';
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
    this[kWs] = null;
    this[kQueue] = [];
    this[kPings] = new Map();
    this[kPingTimer] = null;
    // faye never lets an 'error' event throw.
    this.on('error', () => {});
    const every = pingInterval(options.ping);
    if (every !== null) {
      let id = 0;
      this[kPingTimer] = setInterval(() => this.ping(String(++id)), every);
    }
  }

  /** Bytes queued and not yet written. */
  get bufferedAmount() {
    return this[kWs] === null ? 0 : this[kWs].bufferedAmount;
  }

  /** Drives this object from ws-rs WebSocket `ws`. @private */
  _attach(ws) {
    this[kWs] = ws;
    ws.on('open', () => this._open());
    ws.on('message', (data, isBinary) => this._receive(isBinary ? data : data.toString()));
    ws.on('pong', (data) => {
      const key = data.toString();
      const callback = this[kPings].get(key);
      if (callback === undefined) return;
      this[kPings].delete(key);
      callback();
    });
    ws.on('error', (err) => this._error(err.message));
    ws.on('close', (code, reason) => this._closed(code, reason.toString()));
    // Already open (server side): faye reports it on the next tick, once the caller
    // has attached its listeners.
    if (ws.readyState === WebSocket.OPEN) process.nextTick(() => this._open());
  }

  _open() {
    if (this.readyState !== CONNECTING) return;
    this.readyState = OPEN;
    this.protocol = this[kWs].protocol || '';
    const queued = this[kQueue];
    this[kQueue] = [];
    for (const data of queued) this[kWs].send(data);
    this.dispatchEvent(new Event('open'));
  }

  _receive(data) {
    if (this.readyState > OPEN) return;
    if (this.readable) this.emit('data', data);
    this.dispatchEvent(new Event('message', { data }));
  }

  _error(message) {
    if (this.readyState >= CLOSING) return;
    this.dispatchEvent(new Event('error', { message }));
  }

  _closed(code, reason) {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    if (this[kPingTimer] !== null) clearInterval(this[kPingTimer]);
    if (this.readable) this.emit('end');
    this.readable = this.writable = false;
    this.dispatchEvent(new Event('close', { code, reason }));
  }

  /**
   * Sends a message: a Buffer as binary, anything else as `String(data)`. Before the
   * handshake completes it is queued; after close it is dropped.
   *
   * @param {*} data
   * @return {boolean}
   */
  send(data) {
    if (this.readyState > OPEN) return false;
    if (!Buffer.isBuffer(data)) data = String(data);
    if (this.readyState === CONNECTING) this[kQueue].push(data);
    else this[kWs].send(data);
    return true;
  }

  /**
   * Sends a ping; `callback` runs when the pong with the same payload arrives.
   *
   * @param {string} [message='']
   * @param {Function} [callback]
   * @return {boolean}
   */
  ping(message, callback) {
    if (this.readyState > OPEN || this[kWs] === null || this.readyState === CONNECTING) return false;
    message = message === undefined ? '' : String(message);
    if (typeof callback === 'function') this[kPings].set(message, callback);
    this[kWs].ping(message);
    return true;
  }

  /**
   * Starts the closing handshake.
   *
   * @param {number} [code=1000] 1000 or 3000-4999
   * @param {string} [reason='']
   */
  close(code, reason) {
    if (code === undefined) code = 1000;
    if (reason === undefined) reason = '';
    if (code !== 1000 && (code < 3000 || code > 4999)) {
      throw new Error(
        "Failed to execute 'close' on WebSocket: The code must be either 1000, or between 3000 and 4999. " +
          `${code} is neither.`
      );
    }
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    if (this[kWs] !== null) this[kWs].close(code, reason);
  }

  write(data) {
    return this.send(data);
  }

  end(data) {
    if (data !== undefined) this.send(data);
    this.close();
  }

  pause() {
    if (this[kWs] !== null) this[kWs].pause();
  }

  resume() {
    if (this[kWs] !== null) this[kWs].resume();
  }
}

Object.assign(FayeSocket.prototype, eventTarget);

/** Whether `extensions` asks for permessage-deflate (faye takes extension objects). */
function wantsDeflate(extensions) {
  return Array.isArray(extensions) ? extensions.length > 0 : !!extensions;
}

/**
 * The server side of a connection, made inside an `'upgrade'` listener: answers the
 * handshake on `socket` and is usable at once (sends wait for the handshake).
 */
class FayeWebSocket extends FayeSocket {
  /**
   * @param {http.IncomingMessage} request
   * @param {net.Socket} socket
   * @param {Buffer} body The upgrade's head
   * @param {string[]} [protocols] Subprotocols the server supports
   * @param {Object} [options] `headers`, `extensions`, `maxLength`, `ping`
   */
  constructor(request, socket, body, protocols, options) {
    options = options || {};
    const secure = !!(request.socket && request.socket.encrypted);
    super(`${secure ? 'wss' : 'ws'}://${request.headers.host || 'localhost'}${request.url || '/'}`, options);
    if (!socket || !socket.writable) return;
    const supported = Array.isArray(protocols) ? protocols : protocols ? [protocols] : [];
    const wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: wantsDeflate(options.extensions),
      maxPayload: options.maxLength || MAX_LENGTH,
      // websocket-driver picks the first protocol of the client's that it supports.
      handleProtocols: (offered) => [...offered].find((p) => supported.includes(p)) || false
    });
    if (options.headers) {
      wss.on('headers', (lines) => {
        for (const [name, value] of Object.entries(options.headers)) lines.push(`${name}: ${value}`);
      });
    }
    wss.handleUpgrade(request, socket, body || Buffer.alloc(0), (ws) => this._attach(ws));
  }

  /**
   * Whether `request` asks for a WebSocket upgrade.
   *
   * @param {http.IncomingMessage} request
   * @return {boolean}
   */
  static isWebSocket(request) {
    const headers = request.headers || {};
    return (
      request.method === 'GET' &&
      String(headers.upgrade || '').toLowerCase() === 'websocket' &&
      String(headers.connection || '')
        .toLowerCase()
        .split(/\s*,\s*/)
        .includes('upgrade')
    );
  }

  static validateOptions(options, validKeys) {
    validateOptions(options, validKeys);
  }
}

/**
 * Opens a connection through an HTTP CONNECT proxy (`proxy.origin`, `proxy.headers`,
 * `proxy.tls` for an https proxy), then TLS to the target when it is `wss:`; the
 * socket goes to ws-rs's client as its connection.
 */
function proxiedConnection(proxy, target, originTLS) {
  return (options, done) => {
    const origin = new URL(proxy.origin);
    const secureProxy = origin.protocol === 'https:' || origin.protocol === 'wss:';
    const port = Number(origin.port) || (secureProxy ? 443 : 80);
    const socket = secureProxy
      ? tls.connect({ host: origin.hostname, port, servername: origin.hostname, ...(proxy.tls || {}) })
      : net.connect({ host: origin.hostname, port });
    const authority = `${target.hostname}:${Number(target.port) || (target.protocol === 'wss:' ? 443 : 80)}`;
    const headers = { Host: authority, ...(proxy.headers || {}) };
    let response = Buffer.alloc(0);
    const fail = (err) => {
      socket.destroy();
      done(err);
    };
    const onData = (chunk) => {
      response = Buffer.concat([response, chunk]);
      const end = response.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.removeListener('data', onData);
      socket.removeListener('error', fail);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(response.toString('latin1', 0, end));
      if (!status || status[1] !== '200') {
        fail(new Error(`Can't establish a connection to the server at ${proxy.origin}`));
        return;
      }
      // The target does not speak first, so nothing should follow the proxy's answer
      // yet; if something does, it goes back to be read by the HTTP client.
      const rest = response.subarray(end + 4);
      if (rest.length) socket.unshift(rest);
      if (target.protocol !== 'wss:') {
        done(null, socket);
        return;
      }
      const secured = tls.connect({ socket, servername: target.hostname, ...originTLS });
      // The tunnel goes with the TLS session inside it.
      secured.once('close', () => socket.destroy());
      secured.once('secureConnect', () => done(null, secured));
      secured.once('error', (err) => done(err));
    };
    socket.on('data', onData);
    socket.on('error', fail);
    socket.write(
      `CONNECT ${authority} HTTP/1.1\r\n` +
        Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join('') +
        '\r\n'
    );
  };
}

/** faye's client: `new WebSocket.Client(url, protocols, options)`. */
class Client extends FayeSocket {
  /**
   * @param {string} url `ws://` or `wss://`
   * @param {string[]} [protocols]
   * @param {Object} [options] `headers`, `extensions`, `maxLength`, `ping`, `tls`,
   *     `ca`, `net`, `proxy: { origin, headers, tls }`
   */
  constructor(url, protocols, options) {
    options = options || {};
    super(url, options);
    const target = new URL(url);
    const originTLS = { ...(options.tls || {}) };
    if (options.ca && !originTLS.ca) originTLS.ca = options.ca;
    const wsOptions = {
      ...originTLS,
      ...(options.net || {}),
      headers: options.headers,
      perMessageDeflate: wantsDeflate(options.extensions),
      maxPayload: options.maxLength || MAX_LENGTH
    };
    if (options.proxy && options.proxy.origin) {
      wsOptions.createConnection = proxiedConnection(options.proxy, target, originTLS);
    }
    const ws = new WebSocket(url, Array.isArray(protocols) ? protocols : protocols ? [protocols] : [], wsOptions);
    ws.on('upgrade', (res) => {
      this.headers = res.headers;
      this.statusCode = res.statusCode;
    });
    ws.on('unexpected-response', (req, res) => {
      this.headers = res.headers;
      this.statusCode = res.statusCode;
      this._error(`Unexpected response code: ${res.statusCode}`);
      req.destroy();
      this._closed(1002, '');
    });
    this._attach(ws);
  }
}

FayeWebSocket.WebSocket = FayeWebSocket;
FayeWebSocket.Client = Client;
FayeWebSocket.EventSource = EventSource;
FayeWebSocket.CONNECTING = CONNECTING;
FayeWebSocket.OPEN = OPEN;
FayeWebSocket.CLOSING = CLOSING;
FayeWebSocket.CLOSED = CLOSED;

module.exports = FayeWebSocket;
