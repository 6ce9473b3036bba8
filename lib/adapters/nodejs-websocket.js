'use strict';

/**
 * nodejs-websocket's API (sitegui/nodejs-websocket 1.7) on ws-rs:
 * `require('ws-rs/nodejs-websocket')` in place of `require('nodejs-websocket')`.
 * Every frame goes through ws-rs's WebSocket and its Rust core; this module only
 * translates names, events and states.
 *
 * Differences that come from the core: a binary message reaches the `binary`
 * stream whole (nodejs-websocket pushes each frame as it arrives); messages are
 * bounded by `setMaxBufferLength` as a whole (default ws's 100 MiB, where
 * nodejs-websocket bounds its 2 MiB read buffer); no permessage-deflate, as in
 * nodejs-websocket.
 */

const EventEmitter = require('events');
const http = require('http');
const https = require('https');
const { Readable, Writable } = require('stream');

const WebSocket = require('../websocket');
const WebSocketServer = require('../websocket-server');

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

// Module-wide settings, as nodejs-websocket keeps them on its Connection class.
const settings = {
  binaryFragmentation: 512 * 1024,
  maxBufferLength: 0
};
const DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024;

const kWs = Symbol('ws');
const kPending = Symbol('pending');

/** `callback` with write-callback arguments, or nothing if it is not a function. */
function forgivingCallback(callback) {
  if (typeof callback !== 'function') return undefined;
  return (err) => callback(err || undefined);
}

/**
 * A WebSocket connection, client or server side, with nodejs-websocket's methods,
 * fields and events (`connect`, `text`, `binary`, `pong`, `close`, `error`).
 */
class Connection extends EventEmitter {
  /**
   * @param {WebSocket} ws The ws-rs WebSocket it drives
   * @param {?Server} server The server that accepted it, or null for a client
   * @param {Object} details `path`, `host`, `extraHeaders`, `protocols`, `headers`
   * @private
   */
  constructor(ws, server, details) {
    super();
    this[kWs] = ws;
    this.server = server;
    this.path = details.path;
    this.host = details.host;
    this.extraHeaders = details.extraHeaders;
    this.protocols = details.protocols;
    this.protocol = undefined;
    this.headers = details.headers || {};
    this.readyState = CONNECTING;
    this.outStream = null;
    this.socket = ws._socket;

    ws.on('message', (data, isBinary) => {
      if (this.readyState !== OPEN) return;
      if (!isBinary) {
        this.emit('text', data.toString());
        return;
      }
      const inStream = new Readable({ read() {} });
      this.emit('binary', inStream);
      inStream.push(data);
      inStream.push(null);
    });
    ws.on('pong', (data) => this.emit('pong', data.toString()));
    ws.on('error', (err) => this.emit('error', err));
    ws.on('close', (code, reason) => {
      const wasOpen = this.readyState === CONNECTING || this.readyState === OPEN;
      this.readyState = CLOSED;
      if (this.outStream !== null) {
        this.outStream.end();
        this.outStream = null;
      }
      // Closing by close() already emitted 'close', as nodejs-websocket does.
      if (wasOpen) this.emit('close', code === 1005 ? 1005 : code, reason.toString());
    });
  }

  /** Marks the connection open once the handshake is done. @private */
  _opened() {
    this.socket = this[kWs]._socket;
    this.protocol = this[kWs].protocol || undefined;
    this.readyState = OPEN;
    this.emit('connect');
  }

  /**
   * Sends a text message.
   *
   * @param {string} str
   * @param {Function} [callback] Called when written
   */
  sendText(str, callback) {
    if (!this.#refused('text')) this[kWs].send(String(str), forgivingCallback(callback));
  }

  /**
   * Starts a binary message sent in frames of at least `setBinaryFragmentation`
   * bytes; it ends when the returned stream finishes.
   *
   * @return {?Writable}
   */
  beginBinary() {
    if (this.#refused('binary')) return undefined;
    this.outStream = new OutStream(this);
    return this.outStream;
  }

  /**
   * Sends one binary message in one frame.
   *
   * @param {Buffer} data
   * @param {Function} [callback] Called when written
   */
  sendBinary(data, callback) {
    if (!this.#refused('binary')) this[kWs].send(data, { binary: true }, forgivingCallback(callback));
  }

  /**
   * `sendText` for a string, `sendBinary` for a Buffer.
   *
   * @param {(string|Buffer)} data
   * @param {Function} [callback]
   */
  send(data, callback) {
    if (typeof data === 'string') this.sendText(data, callback);
    else if (Buffer.isBuffer(data)) this.sendBinary(data, callback);
    else throw new TypeError('data should be either a string or a Buffer instance');
  }

  /**
   * Sends a ping; the answer is the `pong` event.
   *
   * @param {string} [data='']
   */
  sendPing(data) {
    if (this.#refused('ping')) return;
    this[kWs].ping(data === undefined ? '' : String(data));
  }

  /**
   * Whether a `kind` send ('text', 'binary' or 'ping') must be refused now; if so, the
   * `error` nodejs-websocket emits for it is emitted.
   */
  #refused(kind) {
    let message = null;
    if (this.readyState !== OPEN) {
      message = "You can't write to a non-open connection";
    } else if (this.outStream !== null && kind === 'text') {
      message = "You can't send a text frame until you finish sending binary frames";
    } else if (this.outStream !== null && kind === 'binary') {
      message = "You can't send more binary frames until you finish sending the previous binary frames";
    }
    if (message !== null) this.emit('error', new Error(message));
    return message !== null;
  }

  /**
   * Starts the closing handshake (or ends a connection not yet open) and emits
   * `close` with these arguments at once, as nodejs-websocket does.
   *
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code, reason) {
    if (this.readyState === OPEN) {
      this[kWs].close(code, reason);
      this.readyState = CLOSING;
    } else if (this.readyState !== CLOSED) {
      this[kWs].terminate();
      this.readyState = CLOSED;
    }
    this.emit('close', code, reason);
  }
}

Connection.prototype.CONNECTING = CONNECTING;
Connection.prototype.OPEN = OPEN;
Connection.prototype.CLOSING = CLOSING;
Connection.prototype.CLOSED = CLOSED;

/**
 * What `beginBinary()` returns: buffers writes and sends them as fragments of one
 * binary message once `setBinaryFragmentation` bytes are waiting; `end()` sends the
 * last fragment.
 */
class OutStream extends Writable {
  constructor(connection) {
    super();
    this.connection = connection;
    this.buffer = [];
    this.buffered = 0;
    this.on('finish', () => {
      if (connection.readyState === OPEN) {
        connection[kWs].send(Buffer.concat(this.buffer), { binary: true, fin: true });
      }
      this.buffer = [];
      connection.outStream = null;
    });
  }

  _write(chunk, encoding, callback) {
    this.buffer.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < settings.binaryFragmentation || this.connection.readyState !== OPEN) {
      callback();
      return;
    }
    const fragment = Buffer.concat(this.buffer);
    this.buffer = [];
    this.buffered = 0;
    this.connection[kWs].send(fragment, { binary: true, fin: false }, () => callback());
  }
}

/** A WebSocket server with nodejs-websocket's API. */
class Server extends EventEmitter {
  /**
   * @param {boolean} secure TLS (`options` go to `https.createServer`)
   * @param {Object} [options] `validProtocols`, `selectProtocol`, and server options
   * @param {Function} [callback] A `connection` listener
   */
  constructor(secure, options, callback) {
    super();
    if (typeof options === 'function') {
      callback = options;
      options = undefined;
    }
    options = options || {};
    this.connections = [];
    this._selectProtocol = null;
    if (typeof options.selectProtocol === 'function') {
      this._selectProtocol = options.selectProtocol;
    } else if (Array.isArray(options.validProtocols)) {
      const valid = options.validProtocols;
      this._selectProtocol = (conn, protocols) => protocols.find((p) => valid.includes(p));
    }

    this.socket = secure ? https.createServer(options) : http.createServer();
    // Not a WebSocket handshake: nodejs-websocket drops such sockets.
    this.socket.on('request', (req, res) => {
      res.writeHead(400, { Connection: 'close' });
      res.end();
    });
    this.socket.on('close', () => this.emit('close'));
    this.socket.on('error', (err) => this.emit('error', err));

    const wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: settings.maxBufferLength || DEFAULT_MAX_PAYLOAD,
      handleProtocols: (protocols, req) => {
        if (this._selectProtocol === null) return false;
        const pending = req[kPending];
        const picked = this._selectProtocol(pending, [...protocols]);
        return picked === undefined || picked === null || picked === '' ? false : picked;
      }
    });
    this.socket.on('upgrade', (req, socket, head) => {
      const url = req.url || '/';
      // What selectProtocol sees of the connection being handshaken.
      const pending = {
        server: this,
        readyState: CONNECTING,
        path: url,
        host: req.headers.host,
        extraHeaders: null,
        protocols: req.headers['sec-websocket-protocol']
          ? req.headers['sec-websocket-protocol'].split(',').map((p) => p.trim())
          : [],
        headers: req.headers
      };
      req[kPending] = pending;
      wss.handleUpgrade(req, socket, head, (ws) => this._accept(pending, ws));
    });
    if (callback) this.on('connection', callback);
  }

  /** Binds the handshaken WebSocket to its Connection and announces it. @private */
  _accept(pending, ws) {
    const conn = new Connection(ws, this, pending);
    conn.protocols = pending.protocols;
    conn.on('close', () => {
      const at = this.connections.indexOf(conn);
      if (at !== -1) this.connections.splice(at, 1);
    });
    conn.once('connect', () => {
      this.connections.push(conn);
      this.emit('connection', conn);
    });
    conn._opened();
  }

  /**
   * @param {number} port
   * @param {string} [host]
   * @param {Function} [callback] A `listening` listener
   * @return {Server}
   */
  listen(port, host, callback) {
    if (typeof host === 'function') {
      callback = host;
      host = undefined;
    }
    if (callback) this.on('listening', callback);
    this.socket.listen(port, host, () => this.emit('listening'));
    return this;
  }

  /**
   * Stops accepting connections; `close` is emitted once the open ones have ended.
   *
   * @param {Function} [callback] A `close` listener
   */
  close(callback) {
    if (callback) this.once('close', callback);
    this.socket.close();
  }
}


/**
 * @param {Object} [options] `secure`, `validProtocols`, `selectProtocol`, and what
 *     `https.createServer` takes
 * @param {Function} [callback] A `connection` listener
 * @return {Server}
 */
function createServer(options, callback) {
  if (typeof options === 'function' || options === undefined) return new Server(false, options);
  return new Server(Boolean(options.secure), options, callback);
}

/**
 * Opens a client connection.
 *
 * @param {string} url `ws://host[:port]/path` or `wss://...`
 * @param {Object} [options] `extraHeaders`, `protocols`, and `net`/`tls` connect options
 * @param {Function} [callback] A `connect` listener
 * @return {Connection}
 */
function connect(url, options, callback) {
  if (typeof options === 'function') {
    callback = options;
    options = undefined;
  }
  options = options || {};
  const parsed = new URL(/^[a-z]+:/i.test(url) ? url : `ws://${url}`);
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new Error(`Invalid protocol ${parsed.protocol}. It must be ws or wss`);
  }
  const { extraHeaders, protocols, ...tlsOptions } = options;
  const ws = new WebSocket(parsed.href, Array.isArray(protocols) ? protocols : [], {
    ...tlsOptions,
    headers: extraHeaders || undefined,
    perMessageDeflate: false,
    maxPayload: settings.maxBufferLength || DEFAULT_MAX_PAYLOAD
  });
  const conn = new Connection(ws, null, {
    path: parsed.pathname + parsed.search,
    host: parsed.host,
    extraHeaders: extraHeaders || null,
    protocols: Array.isArray(protocols) ? protocols : []
  });
  ws.on('upgrade', (res) => {
    conn.headers = res.headers;
  });
  ws.on('open', () => conn._opened());
  if (typeof callback === 'function') conn.once('connect', callback);
  return conn;
}

/** @param {number} bytes Least bytes per frame of a `beginBinary` stream */
function setBinaryFragmentation(bytes) {
  settings.binaryFragmentation = bytes;
}

/** @param {number} bytes Largest message accepted (ws-rs bounds whole messages) */
function setMaxBufferLength(bytes) {
  settings.maxBufferLength = bytes;
}

module.exports = { createServer, connect, setBinaryFragmentation, setMaxBufferLength, Server, Connection };
