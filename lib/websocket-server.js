'use strict';

/**
 * `WebSocketServer`: ws 8's server. The opening handshake's decisions are made here
 * (`verifyClient`, `handleProtocols`, the `headers` event, ws's refusal responses);
 * after the 101 is decided the socket is handed to the io driver, which writes the 101
 * and runs the connection. With `{ port }`, the driver also accepts the connections
 * and parses their requests itself (lib/accept.js).
 */

const { Buffer } = require('buffer');
const process = require('process');
const EventEmitter = require('events');
const http = require('http');
const { createHash } = require('crypto');

const extension = require('./extension');
const subprotocol = require('./subprotocol');
const { EXTENSION_NAME, PerMessageDeflate } = require('./permessage-deflate');
const WebSocket = require('./websocket');
const { acceptNatively } = require('./accept');
const { DEFAULTS, GUID, kWebSocket } = require('./constants');
const { TopicRegistry, checkTopic, kRegistry } = require('./topics');

const keyRegex = /^[+/0-9A-Za-z]{22}==$/;

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;

class WebSocketServer extends EventEmitter {
  /**
   * @param {Object} options ws's server options
   * @param {Function} [callback] A listener for the `listening` event
   */
  constructor(options, callback) {
    super();

    options = {
      ...DEFAULTS,
      perMessageDeflate: false,
      handleProtocols: null,
      clientTracking: true,
      verifyClient: null,
      noServer: false,
      backlog: null,
      server: null,
      host: null,
      path: null,
      port: null,
      WebSocket,
      ...options
    };

    if (
      (options.port == null && !options.server && !options.noServer) ||
      (options.port != null && (options.server || options.noServer)) ||
      (options.server && options.noServer)
    ) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }

    if (options.port != null) {
      this._server = http.createServer((req, res) => {
        const body = http.STATUS_CODES[426];
        res.writeHead(426, { 'Content-Length': body.length, 'Content-Type': 'text/plain' });
        res.end(body);
      });
      acceptNatively(this._server);
      this._server.listen(options.port, options.host, options.backlog, callback);
    } else if (options.server) {
      this._server = options.server;
    }

    if (this._server) {
      const emitConnection = this.emit.bind(this, 'connection');
      this._removeListeners = addListeners(this._server, {
        listening: this.emit.bind(this, 'listening'),
        error: this.emit.bind(this, 'error'),
        upgrade: (req, socket, head) => {
          this.handleUpgrade(req, socket, head, emitConnection);
        }
      });
    }

    if (options.perMessageDeflate === true) options.perMessageDeflate = {};
    if (options.clientTracking) {
      this.clients = new Set();
      this._shouldEmitClose = false;
    }

    this.options = options;
    this._state = RUNNING;
    this[kRegistry] = new TopicRegistry();
  }

  /**
   * Sends `data` to every open connection subscribed to `topic` (`ws.subscribe`):
   * the message is held once and framed once per kind of connection, in order with
   * everything else each connection sends. An addition of ws-rs, after
   * uWebSockets.js and Bun.
   * @param {string} topic
   * @param {*} data A string, Buffer, ArrayBuffer or typed array
   * @param {{ binary?: boolean, compress?: boolean }} [options] `binary` defaults
   *     to whether `data` is not a string, `compress` to `true` (as in `send`)
   * @return {number} The number of connections it was queued to
   * @public
   */
  publish(topic, data, options) {
    return this[kRegistry].publish(topic, data, options, null);
  }

  /**
   * @param {string} topic
   * @return {number} How many connections are subscribed to `topic`
   * @public
   */
  subscriberCount(topic) {
    checkTopic(topic);
    return this[kRegistry].count(topic);
  }

  /**
   * The bound address, as `server.address()`.
   * @public
   */
  address() {
    if (this.options.noServer) {
      throw new Error('The server is operating in "noServer" mode');
    }
    if (!this._server) return null;
    return this._server.address();
  }

  /**
   * Stops accepting connections; closes the internal HTTP server if there is one.
   * Existing connections are not closed (ws semantics).
   *
   * @param {Function} [cb] Called on `close`
   * @public
   */
  close(cb) {
    if (this._state === CLOSED) {
      if (cb) this.once('close', () => cb(new Error('The server is not running')));
      process.nextTick(emitClose, this);
      return;
    }

    if (cb) this.once('close', cb);

    if (this._state === CLOSING) return;
    this._state = CLOSING;

    if (this.options.noServer || this.options.server) {
      if (this._server) {
        this._removeListeners();
        this._removeListeners = this._server = null;
      }

      if (this.clients && this.clients.size) this._shouldEmitClose = true;
      else process.nextTick(emitClose, this);
    } else {
      const server = this._server;
      this._removeListeners();
      this._removeListeners = this._server = null;
      server.close(() => emitClose(this));
    }
  }

  /**
   * Whether this server handles `req` (checks `path`).
   *
   * @param {http.IncomingMessage} req
   * @return {boolean}
   * @public
   */
  shouldHandle(req) {
    if (this.options.path) {
      const index = req.url.indexOf('?');
      const pathname = index !== -1 ? req.url.slice(0, index) : req.url;
      if (pathname !== this.options.path) return false;
    }
    return true;
  }

  /**
   * Validates an upgrade request and, if acceptable, completes the handshake.
   *
   * @param {http.IncomingMessage} req The request
   * @param {net.Socket} socket Its socket
   * @param {Buffer} head Bytes after the request
   * @param {Function} cb Called with `(ws, req)`
   * @public
   */
  handleUpgrade(req, socket, head, cb) {
    socket.on('error', socketOnError);

    const key = req.headers['sec-websocket-key'];
    const upgrade = req.headers.upgrade;
    const version = +req.headers['sec-websocket-version'];

    if (req.method !== 'GET') {
      abortHandshakeOrEmitwsClientError(this, req, socket, 405, 'Invalid HTTP method');
      return;
    }

    if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') {
      abortHandshakeOrEmitwsClientError(this, req, socket, 400, 'Invalid Upgrade header');
      return;
    }

    if (key === undefined || !keyRegex.test(key)) {
      abortHandshakeOrEmitwsClientError(this, req, socket, 400, 'Missing or invalid Sec-WebSocket-Key header');
      return;
    }

    if (version !== 13 && version !== 8) {
      abortHandshakeOrEmitwsClientError(this, req, socket, 400, 'Missing or invalid Sec-WebSocket-Version header', {
        'Sec-WebSocket-Version': '13, 8'
      });
      return;
    }

    if (!this.shouldHandle(req)) {
      abortHandshake(socket, 400);
      return;
    }

    const secWebSocketProtocol = req.headers['sec-websocket-protocol'];
    let protocols = new Set();

    if (secWebSocketProtocol !== undefined) {
      try {
        protocols = subprotocol.parse(secWebSocketProtocol);
      } catch {
        abortHandshakeOrEmitwsClientError(this, req, socket, 400, 'Invalid Sec-WebSocket-Protocol header');
        return;
      }
    }

    const secWebSocketExtensions = req.headers['sec-websocket-extensions'];
    const extensions = {};

    if (this.options.perMessageDeflate && secWebSocketExtensions !== undefined) {
      try {
        const offers = extension.parse(secWebSocketExtensions);
        if (offers[EXTENSION_NAME]) {
          const options = this.options.perMessageDeflate;
          const perMessageDeflate = new PerMessageDeflate(options, true, this.options.maxPayload);
          perMessageDeflate.accept(offers[EXTENSION_NAME]);
          extensions[EXTENSION_NAME] = perMessageDeflate;
        }
      } catch {
        abortHandshakeOrEmitwsClientError(this, req, socket, 400, 'Invalid or unacceptable Sec-WebSocket-Extensions header');
        return;
      }
    }

    if (this.options.verifyClient) {
      const info = {
        origin: req.headers[`${version === 8 ? 'sec-websocket-origin' : 'origin'}`],
        secure: !!(req.socket.authorized || req.socket.encrypted),
        req
      };

      if (this.options.verifyClient.length === 2) {
        this.options.verifyClient(info, (verified, code, message, headers) => {
          if (!verified) return abortHandshake(socket, code || 401, message, headers);
          this.completeUpgrade(extensions, key, protocols, req, socket, head, cb);
        });
        return;
      }

      if (!this.options.verifyClient(info)) return abortHandshake(socket, 401);
    }

    this.completeUpgrade(extensions, key, protocols, req, socket, head, cb);
  }

  /**
   * Sends the 101 (through the io driver) and emits the new connection.
   * @private
   */
  completeUpgrade(extensions, key, protocols, req, socket, head, cb) {
    // Checked first: an adopted socket is already destroyed by the first call.
    if (socket[kWebSocket]) {
      throw new Error(
        'server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration'
      );
    }

    if (!socket.readable || !socket.writable) return socket.destroy();

    if (this._state > RUNNING) return abortHandshake(socket, 503);

    const digest = createHash('sha1').update(key + GUID).digest('base64');
    const headers = [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${digest}`
    ];

    const ws = new this.options.WebSocket(null, undefined, this.options);
    if (kRegistry in ws) ws[kRegistry] = this[kRegistry];

    if (protocols.size) {
      const protocol = this.options.handleProtocols
        ? this.options.handleProtocols(protocols, req)
        : protocols.values().next().value;

      if (protocol) {
        headers.push(`Sec-WebSocket-Protocol: ${protocol}`);
        ws._protocol = protocol;
      }
    }

    if (extensions[EXTENSION_NAME]) {
      const value = extension.format({ [EXTENSION_NAME]: [extensions[EXTENSION_NAME].params] });
      headers.push(`Sec-WebSocket-Extensions: ${value}`);
      ws._extensions = extensions;
    }

    this.emit('headers', headers, req);

    socket[kWebSocket] = ws;
    socket.removeListener('error', socketOnError);

    ws.setSocket(socket, head, this.options, Buffer.from(headers.concat('\r\n').join('\r\n')));

    if (this.clients) {
      this.clients.add(ws);
      ws.on('close', () => {
        this.clients.delete(ws);
        if (this._shouldEmitClose && !this.clients.size) process.nextTick(emitClose, this);
      });
    }

    cb(ws, req);
  }
}

module.exports = WebSocketServer;

function addListeners(server, map) {
  for (const event of Object.keys(map)) server.on(event, map[event]);
  return function removeListeners() {
    for (const event of Object.keys(map)) server.removeListener(event, map[event]);
  };
}

function emitClose(server) {
  server._state = CLOSED;
  server.emit('close');
}

function socketOnError() {
  this.destroy();
}

/**
 * Refuses the handshake with an HTTP response, byte for byte as ws does.
 */
function abortHandshake(socket, code, message, headers) {
  message = message || http.STATUS_CODES[code];
  headers = {
    Connection: 'close',
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(message),
    ...headers
  };

  socket.once('finish', socket.destroy);
  socket.end(
    `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\n` +
      Object.keys(headers)
        .map((h) => `${h}: ${headers[h]}`)
        .join('\r\n') +
      '\r\n\r\n' +
      message
  );
}

function abortHandshakeOrEmitwsClientError(server, req, socket, code, message, headers) {
  if (server.listenerCount('wsClientError')) {
    const err = new Error(message);
    Error.captureStackTrace(err, abortHandshakeOrEmitwsClientError);
    server.emit('wsClientError', err, socket, req);
  } else {
    abortHandshake(socket, code, message, headers);
  }
}
