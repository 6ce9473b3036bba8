'use strict';

const { Buffer } = require('buffer');

/**
 * Values shared across the JS layer, with ws's names and defaults.
 */

const BINARY_TYPES = ['nodebuffer', 'arraybuffer', 'fragments'];
if (typeof Blob !== 'undefined') BINARY_TYPES.push('blob');

module.exports = {
  BINARY_TYPES,
  EMPTY_BUFFER: Buffer.alloc(0),
  GUID: '258EAFA5-E914-47DA-95CA-C5AB0DC85B11',
  kStatusCode: Symbol('status-code'),
  kWebSocket: Symbol('websocket'),
  // On the wrapper `addEventListener` registers: the listener it wraps (as in ws).
  kListener: Symbol('kListener'),
  // What lib/native.js calls on a connection, in wire order (see its header). Symbols,
  // so that fields users put on a WebSocket cannot shadow them.
  kOnMessage: Symbol('onMessage'),
  kOnFrameEnd: Symbol('onFrameEnd'),
  kOnPing: Symbol('onPing'),
  kOnPong: Symbol('onPong'),
  kOnCloseFrame: Symbol('onCloseFrame'),
  kOnProtocolError: Symbol('onProtocolError'),
  kOnWritten: Symbol('onWritten'),
  kOnIdle: Symbol('onIdle'),
  kOnEnd: Symbol('onEnd'),
  kOnClosed: Symbol('onClosed'),
  kOnSocketData: Symbol('onSocketData'),
  kOnSocketError: Symbol('onSocketError'),
  // A WebSocket's native connection id. A symbol, not `_id`: libraries tag sockets
  // with fields of their own (one popular RPC library sets `socket._id`).
  kId: Symbol('kId'),
  // WebSocket internals its socket stand-ins (lib/socket.js) call.
  kQueue: Symbol('queue'),
  kEnd: Symbol('end'),
  kEnded: Symbol('ended'),
  /** Defaults both ws classes share. */
  DEFAULTS: {
    allowSynchronousEvents: true,
    autoPong: true,
    closeTimeout: 30000,
    maxBufferedChunks: 256 * 1024,
    maxFragments: 16 * 1024,
    maxPayload: 100 * 1024 * 1024,
    maxPendingAutoPongs: 60,
    skipUTF8Validation: false
  }
};
