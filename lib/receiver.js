'use strict';

/**
 * ws's `Receiver` (`WebSocket.Receiver`): a Writable that parses the frames written to
 * it and emits `message`, `ping`, `pong`, `conclude` (a Close frame) and `error`. The
 * parsing, unmasking, UTF-8 checks, limits and inflating are the Rust protocol core's,
 * the same one that serves connections (lib/native.js `openParser`).
 */

const { Writable } = require('stream');

const native = require('./native');
const { protocolError } = require('./errors');
const { BINARY_TYPES, EMPTY_BUFFER, kOnMessage, kOnFrameEnd, kOnPing, kOnPong, kOnCloseFrame, kOnProtocolError } =
  require('./constants');
const { EXTENSION_NAME } = require('./permessage-deflate');
const { toBinaryType, withFrameEnd } = require('./validation');

const kId = Symbol('kId');
const kEvents = Symbol('kEvents');
const kError = Symbol('kError');
const kFrameEnds = Symbol('kFrameEnds');

class Receiver extends Writable {
  /**
   * @param {Object} [options]
   * @param {boolean} [options.allowSynchronousEvents=true] false: each message, ping
   *     and pong is emitted in its own turn (setImmediate), as in ws
   * @param {string} [options.binaryType='nodebuffer']
   * @param {Object} [options.extensions] Negotiated extensions (a PerMessageDeflate)
   * @param {boolean} [options.isServer=false] Frames must be masked (server side)
   * @param {number} [options.maxPayload=0] Largest message (0: no limit)
   * @param {number} [options.maxFragments] Most fragments per message
   * @param {number} [options.maxBufferedChunks] Most writes one frame may span
   * @param {boolean} [options.skipUTF8Validation=false]
   */
  constructor(options = {}) {
    super();
    this._allowSynchronousEvents = options.allowSynchronousEvents !== undefined ? options.allowSynchronousEvents : true;
    this._binaryType = options.binaryType || BINARY_TYPES[0];
    this._extensions = options.extensions || {};
    this._isServer = !!options.isServer;
    this._maxPayload = options.maxPayload | 0;
    this._maxFragments = options.maxFragments | 0;
    this._maxBufferedChunks = options.maxBufferedChunks | 0;
    this._skipUTF8Validation = !!options.skipUTF8Validation;
    this._errored = false;
    this._closed = false;
    this[kEvents] = [];
    this[kError] = null;
    this[kFrameEnds] = null;

    const deflate = this._extensions[EXTENSION_NAME];
    this[kId] = native.openParser(
      {
        isServer: this._isServer,
        maxPayload: this._maxPayload,
        maxFragments: this._maxFragments,
        maxBufferedChunks: Math.max(0, this._maxBufferedChunks),
        skipUTF8Validation: this._skipUTF8Validation,
        deflate: deflate && deflate.params && typeof deflate.coreOptions === 'function' ? deflate.coreOptions() : undefined
      },
      this
    );
  }

  /** ws's count of the payload bytes received of the message in progress. */
  get _totalPayloadLength() {
    return native.parserMessageLength(this[kId]);
  }

  _write(chunk, encoding, cb) {
    // After a Close frame, as in ws, the rest is not parsed.
    if (this._closed || this._errored) return cb();
    native.parse(this[kId], chunk);
    const events = this[kEvents];
    this[kEvents] = [];
    const async = this._extensions[EXTENSION_NAME] !== undefined && events.includes('message');
    if (this._allowSynchronousEvents) {
      for (let i = 0; i < events.length; i += 3) this.emit(events[i], events[i + 1], events[i + 2]);
      this.#conclude(cb, async);
    } else {
      this.#emitEachTurn(events, 0, cb);
    }
  }

  _destroy(err, cb) {
    native.closeParser(this[kId]);
    cb(err);
  }

  _final(cb) {
    native.closeParser(this[kId]);
    cb();
  }

  #emitEachTurn(events, i, cb) {
    if (i >= events.length) {
      this.#conclude(cb, false);
      return;
    }
    const name = events[i];
    this.emit(name, events[i + 1], events[i + 2]);
    // Messages, pings and pongs each get their own turn; conclude follows at once.
    if (name === 'conclude') this.#emitEachTurn(events, i + 3, cb);
    else setImmediate(() => this.#emitEachTurn(events, i + 3, cb));
  }

  #conclude(cb, async) {
    const err = this[kError];
    if (err !== null) {
      this[kError] = null;
      cb(err);
      return;
    }
    // As ws, the receiver ends after a Close frame: writes already buffered behind
    // this one are taken and ignored, later ones refused.
    if (this._closed && !this.writableEnded) this.end();
    // ws inflates asynchronously, so a write that held a compressed message calls
    // back a turn later and the writes made meanwhile wait; the same here.
    if (async) setImmediate(cb);
    else cb();
  }

  [kOnMessage](data, isBinary) {
    const frameEnds = this[kFrameEnds];
    this[kFrameEnds] = null;
    if (this._errored || this._closed) return;
    this[kEvents].push('message', isBinary ? toBinaryType(data, this._binaryType, frameEnds) : data, isBinary);
  }

  [kOnFrameEnd](length) {
    this[kFrameEnds] = withFrameEnd(this[kFrameEnds], this._binaryType, length);
  }

  [kOnPing](data) {
    if (!this._errored && !this._closed) this[kEvents].push('ping', data, undefined);
  }

  [kOnPong](data) {
    if (!this._errored && !this._closed) this[kEvents].push('pong', data, undefined);
  }

  [kOnCloseFrame](code, reason) {
    if (this._errored || this._closed) return;
    this._closed = true;
    this[kEvents].push('conclude', code, reason.length === 0 ? EMPTY_BUFFER : reason);
  }

  [kOnProtocolError](kind, arg) {
    if (this._errored || this._closed) return;
    this._errored = true;
    this[kError] = protocolError(kind, arg);
  }
}

module.exports = Receiver;
