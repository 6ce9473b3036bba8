'use strict';

/**
 * `ws._receiver` of a connection. In ws it is the connection's frame parser; here the
 * Rust core parses, and this is a view of what code reads from ws's: the limits and
 * options it was made with, the negotiated extensions, `_binaryType`, and its
 * `'conclude'` event (code, reason) when a Close frame arrives. Made on first use.
 */

const EventEmitter = require('events');

const kWebSocket = Symbol('websocket');

class ConnectionReceiver extends EventEmitter {
  /**
   * @param {import('./websocket')} websocket
   * @param {Object} options What the connection's core was opened with
   * @param {boolean} allowSynchronousEvents
   */
  constructor(websocket, options, allowSynchronousEvents) {
    super();
    this[kWebSocket] = websocket;
    this._allowSynchronousEvents = allowSynchronousEvents;
    this._extensions = websocket._extensions;
    this._isServer = options.isServer;
    this._maxPayload = options.maxPayload;
    this._maxFragments = options.maxFragments;
    this._maxBufferedChunks = options.maxBufferedChunks;
    this._skipUTF8Validation = options.skipUTF8Validation;
  }

  /** As in ws, it follows the WebSocket's `binaryType`. */
  get _binaryType() {
    return this[kWebSocket].binaryType;
  }
}

module.exports = ConnectionReceiver;
