'use strict';

/**
 * The shape of fibjs's `ws` module on ws-rs: `require('ws-rs/fibjs')`.
 *
 * - `upgrade([opts], accept)` returns a listener for Node's `http.Server` `'upgrade'`
 *   event; each handshaken connection is passed to `accept(conn, req)`.
 * - `Socket` is the client class (`new Socket(url, [protocols], [opts])`).
 * - The opcode constants `CONTINUE`, `TEXT`, `BINARY`, `CLOSE`, `PING`, `PONG` and the
 *   states `CONNECTING`, `OPEN`, `CLOSING`, `CLOSED`.
 *
 * Connections are ws-rs WebSockets, so fibjs-style code (`conn.onmessage = (msg) =>
 * msg.data`, `conn.send`, `conn.close`) and ws-style code both work on them. As fibjs
 * documents, `perMessageDeflate` defaults to on and `maxPayload` to 64 MiB, on both
 * sides.
 */

const WebSocket = require('../websocket');
const WebSocketServer = require('../websocket-server');

const FIBJS_DEFAULTS = { perMessageDeflate: true, maxPayload: 64 * 1024 * 1024 };

/**
 * @param {Object} [opts] `perMessageDeflate` (default true), `maxPayload` (default
 *     64 MiB), and ws's other server options (`handleProtocols`, `verifyClient`, ...)
 * @param {Function} accept `(conn, req)`, called with each handshaken connection
 * @return {Function} `(req, socket, head)`: an `'upgrade'` listener
 */
function upgrade(opts, accept) {
  if (typeof opts === 'function') {
    accept = opts;
    opts = {};
  }
  if (typeof accept !== 'function') throw new TypeError('accept must be a function');
  const wss = new WebSocketServer({ ...FIBJS_DEFAULTS, ...opts, noServer: true, clientTracking: false });
  return function onUpgrade(req, socket, head) {
    wss.handleUpgrade(req, socket, head, (conn) => accept(conn, req));
  };
}

/** fibjs's client class: a ws-rs WebSocket with fibjs's defaults. */
class Socket extends WebSocket {
  /**
   * @param {string} url
   * @param {(string|string[]|Object)} [protocols] Or the options
   * @param {Object} [opts] ws's client options
   */
  constructor(url, protocols, opts) {
    if (protocols !== null && typeof protocols === 'object' && !Array.isArray(protocols)) {
      opts = protocols;
      protocols = undefined;
    }
    super(url, protocols, { ...FIBJS_DEFAULTS, ...(opts || {}) });
  }
}

module.exports = {
  upgrade,
  Socket,
  CONTINUE: 0,
  TEXT: 1,
  BINARY: 2,
  CLOSE: 8,
  PING: 9,
  PONG: 10,
  CONNECTING: WebSocket.CONNECTING,
  OPEN: WebSocket.OPEN,
  CLOSING: WebSocket.CLOSING,
  CLOSED: WebSocket.CLOSED
};
