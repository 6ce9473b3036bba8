'use strict';

/**
 * ws's `Sender` (`WebSocket.Sender`): the static `Sender.frame(data, options)` that
 * builds a frame once (socket.io's adapter does, to broadcast it), and the frame
 * writer. Headers and masking come from the protocol core (`binding.frameHeader`,
 * `binding.maskPayload`).
 *
 * Two kinds of instance:
 * - `new Sender(socket, extensions, generateMask)`, ws's constructor: writes frames
 *   to `socket` (any stream with `write`);
 * - `ws._sender` of a ws-rs WebSocket: its messages and control frames go through the
 *   connection's ordered outbox (framed by Rust, as `ws.send()`'s are) and its
 *   `sendFrame` lists as raw bytes, so they keep their place among `ws.send()`s, count
 *   in `bufferedAmount` and call back once written (engine.io sends socket.io's
 *   pre-built broadcast frames with `ws._sender.sendFrame(frame, cb)`).
 */

const { Buffer } = require('buffer');
const process = require('process');
const { randomFillSync } = require('crypto');

const binding = require('./binding.js');
const { OP, FLAG } = require('./native');
const { EMPTY_BUFFER } = require('./constants');
const { isBlob, isValidStatusCode, toBuffer } = require('./validation');

const { EXTENSION_NAME } = require('./permessage-deflate');

// What a standalone Sender is doing: sends made meanwhile wait in `_queue`.
const DEFAULT = 0;
const DEFLATING = 1;
const READING = 2;
const kByteLength = Symbol('kByteLength');
// ws's control opcodes as outbox operations.
const CONTROL_OPS = { 8: OP.CLOSE, 9: OP.PING, 10: OP.PONG };
const kWebSocket = Symbol('kWebSocket');
const maskBuffer = Buffer.alloc(4);
const RANDOM_POOL_SIZE = 8 * 1024;
let randomPool;
let randomPoolPointer = RANDOM_POOL_SIZE;

/** Fills `mask` with the next four random bytes (ws draws them from a pool too). */
function randomMask(mask) {
  if (randomPoolPointer === RANDOM_POOL_SIZE) {
    if (randomPool === undefined) randomPool = Buffer.alloc(RANDOM_POOL_SIZE);
    randomFillSync(randomPool, 0, RANDOM_POOL_SIZE);
    randomPoolPointer = 0;
  }
  for (let i = 0; i < 4; i++) mask[i] = randomPool[randomPoolPointer++];
}

class Sender {
  /**
   * A frame writer on `socket`, as ws's.
   *
   * @param {Duplex} socket The stream frames are written to
   * @param {Object} [extensions] Negotiated extensions
   * @param {Function} [generateMask] Fills a 4-byte Buffer with a masking key
   */
  constructor(socket, extensions, generateMask) {
    this._extensions = extensions || {};
    if (generateMask) {
      this._generateMask = generateMask;
      this._maskBuffer = Buffer.alloc(4);
    }
    this._socket = socket;
    this._firstFragment = true;
    this._compress = false;
    this._bufferedBytes = 0;
    this._queue = [];
    this._state = DEFAULT;
    this.onerror = null;
    this[kWebSocket] = null;
  }

  /**
   * The sender of a ws-rs connection (`ws._sender`): writes through its outbox.
   *
   * @param {WebSocket} websocket
   * @param {Function} queue `(op, flags, payload, cb)`: the connection's outbox
   * @return {Sender}
   * @private
   */
  static forWebSocket(websocket, queue) {
    const sender = new Sender(null, websocket._extensions, undefined);
    sender[kWebSocket] = { websocket, queue };
    return sender;
  }

  /**
   * Frames `data`: returns `[header, payload]`, or `[frame]` when a masked read-only
   * payload was masked into the header's Buffer. As in ws, a payload that is not
   * read-only is masked in place.
   *
   * @param {(Buffer|string)} data The payload
   * @param {Object} options
   * @param {boolean} [options.fin=false]
   * @param {Function} [options.generateMask] Fills the masking key
   * @param {boolean} [options.mask=false]
   * @param {Buffer} [options.maskBuffer] Where the masking key goes
   * @param {number} options.opcode
   * @param {boolean} [options.readOnly=false] Whether `data` must not be modified
   * @param {boolean} [options.rsv1=false]
   * @return {(Buffer|string)[]}
   */
  static frame(data, options) {
    let mask = null;
    let skipMasking = false;
    if (options.mask) {
      mask = options.maskBuffer || maskBuffer;
      if (options.generateMask) options.generateMask(mask);
      else randomMask(mask);
      skipMasking = (mask[0] | mask[1] | mask[2] | mask[3]) === 0;
    }

    let dataLength;
    let merge = false;
    if (typeof data === 'string') {
      if ((!options.mask || skipMasking) && options[kByteLength] !== undefined) {
        dataLength = options[kByteLength];
      } else {
        data = Buffer.from(data);
        dataLength = data.length;
      }
    } else {
      dataLength = data.length;
      merge = !!(options.mask && options.readOnly && !skipMasking);
    }

    const header = binding.frameHeader(
      options.opcode,
      !!options.fin,
      !!options.rsv1,
      dataLength,
      mask,
      merge ? dataLength : 0
    );
    // ws 8.23: an empty payload is the header alone.
    if (dataLength === 0) return [header];
    if (!options.mask || skipMasking) return [header, data];
    if (merge) {
      binding.maskPayload(data, mask, header, header.length - dataLength);
      return [header];
    }
    binding.maskPayload(data, mask);
    return [header, data];
  }

  /**
   * Sends a Close frame.
   *
   * @param {number} [code] Status code
   * @param {(string|Buffer)} [data] Reason
   * @param {boolean} [mask=false]
   * @param {Function} [cb]
   */
  close(code, data, mask, cb) {
    const buf = closePayload(code, data);
    this.#submit(buf, false, this.#options(0x08, true, mask, false, buf.length), cb);
  }

  /**
   * Sends a Ping frame.
   *
   * @param {*} data Payload (at most 125 bytes; a Blob is read first)
   * @param {boolean} [mask=false]
   * @param {Function} [cb]
   */
  ping(data, mask, cb) {
    this.#control(0x09, data, mask, cb);
  }

  /**
   * Sends a Pong frame.
   *
   * @param {*} data Payload (at most 125 bytes; a Blob is read first)
   * @param {boolean} [mask=false]
   * @param {Function} [cb]
   */
  pong(data, mask, cb) {
    this.#control(0x0a, data, mask, cb);
  }

  /**
   * Sends a data frame (a message or one fragment of it). With `compress` and a
   * negotiated permessage-deflate, the payload is compressed first; frames keep the
   * order of the calls.
   *
   * @param {*} data
   * @param {Object} options
   * @param {boolean} [options.binary=false]
   * @param {boolean} [options.compress=false]
   * @param {boolean} [options.fin=false]
   * @param {boolean} [options.mask=false]
   * @param {Function} [cb]
   */
  send(data, options, cb) {
    const bound = this[kWebSocket];
    if (bound !== null) {
      bound.websocket.send(data, options, cb);
      return;
    }
    const perMessageDeflate = this._extensions[EXTENSION_NAME];
    let opcode = options.binary ? 2 : 1;
    let rsv1 = options.compress;
    let byteLength;
    let readOnly = false;
    if (typeof data === 'string') {
      byteLength = Buffer.byteLength(data);
    } else if (isBlob(data)) {
      byteLength = data.size;
    } else {
      data = toBuffer(data);
      byteLength = data.length;
      readOnly = toBuffer.readOnly;
    }

    if (this._firstFragment) {
      this._firstFragment = false;
      // As ws: below the threshold a message goes uncompressed, but only without
      // context takeover (otherwise the peer's window would miss it).
      if (
        rsv1 &&
        perMessageDeflate &&
        perMessageDeflate.params[
          perMessageDeflate._isServer ? 'server_no_context_takeover' : 'client_no_context_takeover'
        ]
      ) {
        rsv1 = byteLength >= perMessageDeflate._threshold;
      }
      this._compress = !!(rsv1 && perMessageDeflate);
    } else {
      rsv1 = false;
      opcode = 0;
    }
    if (options.fin) this._firstFragment = true;

    const frameOptions = this.#options(opcode, options.fin, options.mask, readOnly, byteLength);
    frameOptions.rsv1 = !!rsv1 && this._compress;
    this.#submit(data, this._compress, frameOptions, cb);
  }

  /**
   * Writes a frame built by `Sender.frame`, in order with everything else sent.
   *
   * @param {(Buffer|string)[]} list
   * @param {Function} [cb] Called once it is written
   */
  sendFrame(list, cb) {
    const bound = this[kWebSocket];
    if (bound !== null) {
      const last = list.length - 1;
      for (let i = 0; i <= last; i++) {
        const piece = typeof list[i] === 'string' ? Buffer.from(list[i]) : list[i];
        bound.queue(OP.RAW, 0, piece, i === last ? cb : undefined);
      }
      return;
    }
    if (list.length === 2) {
      if (this._socket.cork) this._socket.cork();
      this._socket.write(list[0]);
      this._socket.write(list[1], cb);
      if (this._socket.uncork) this._socket.uncork();
    } else {
      this._socket.write(list[0], cb);
    }
  }

  #control(opcode, data, mask, cb) {
    let payload;
    let byteLength;
    let readOnly = false;
    if (typeof data === 'string') {
      payload = data;
      byteLength = Buffer.byteLength(data);
    } else if (isBlob(data)) {
      payload = data;
      byteLength = data.size;
    } else {
      payload = toBuffer(data === undefined ? EMPTY_BUFFER : data);
      byteLength = payload.length;
      readOnly = toBuffer.readOnly;
    }
    if (byteLength > 125) throw new RangeError('The data size must not be greater than 125 bytes');
    this.#submit(payload, false, this.#options(opcode, true, mask, readOnly, byteLength), cb);
  }

  /** Sends now, or after what is being compressed or read (order is kept). */
  #submit(data, compress, options, cb) {
    const bound = this[kWebSocket];
    if (bound !== null) {
      // A connection's control frame: its outbox keeps the order and Rust frames it.
      bound.queue(CONTROL_OPS[options.opcode], FLAG.FIN | (options.mask ? FLAG.MASK : 0), data, cb);
      return;
    }
    if (this._state !== DEFAULT) {
      this._bufferedBytes += options[kByteLength];
      this._queue.push([data, compress, options, cb]);
      return;
    }
    if (isBlob(data)) this.#readBlob(data, compress, options, cb);
    else this.#dispatch(data, compress, options, cb);
  }

  #readBlob(blob, compress, options, cb) {
    this._state = READING;
    blob.arrayBuffer().then(
      (arrayBuffer) => {
        if (this._socket.destroyed) {
          const err = new Error('The socket was closed while the blob was being read');
          process.nextTick(() => this.#fail(err, cb));
          return;
        }
        this._state = DEFAULT;
        const data = Buffer.from(arrayBuffer);
        options.readOnly = false;
        this.#dispatch(data, compress, options, cb);
        this.#dequeue();
      },
      (err) => process.nextTick(() => this.#fail(err, cb, true))
    );
  }

  #dispatch(data, compress, options, cb) {
    if (!compress) {
      this.sendFrame(Sender.frame(data, options), cb);
      return;
    }
    this._state = DEFLATING;
    this._extensions[EXTENSION_NAME].compress(data, options.fin, (_, compressed) => {
      if (this._socket.destroyed) {
        this.#fail(new Error('The socket was closed while data was being compressed'), cb);
        return;
      }
      this._state = DEFAULT;
      options.readOnly = false;
      this.sendFrame(Sender.frame(compressed, options), cb);
      this.#dequeue();
    });
  }

  #dequeue() {
    while (this._state === DEFAULT && this._queue.length) {
      const [data, compress, options, cb] = this._queue.shift();
      this._bufferedBytes -= options[kByteLength];
      this.#submit(data, compress, options, cb);
    }
  }

  /** ws's callCallbacks (+ onerror): this send's callback and every queued one. */
  #fail(err, cb, notify = false) {
    if (typeof cb === 'function') cb(err);
    for (const queued of this._queue) if (typeof queued[3] === 'function') queued[3](err);
    if (notify && typeof this.onerror === 'function') this.onerror(err);
  }

  #options(opcode, fin, mask, readOnly, byteLength) {
    return {
      [kByteLength]: byteLength,
      fin,
      generateMask: this._generateMask,
      mask,
      maskBuffer: this._maskBuffer,
      opcode,
      readOnly,
      rsv1: false
    };
  }
}

/**
 * The payload of a Close frame: nothing, or the code and the reason, with ws's
 * checks and errors.
 *
 * @param {number} [code]
 * @param {(string|Uint8Array)} [data] The reason (at most 123 bytes)
 * @return {Buffer}
 */
function closePayload(code, data) {
  if (code === undefined) return EMPTY_BUFFER;
  if (typeof code !== 'number' || !isValidStatusCode(code)) {
    throw new TypeError('First argument must be a valid error code number');
  }
  if (data === undefined || !data.length) {
    const buf = Buffer.allocUnsafe(2);
    buf.writeUInt16BE(code, 0);
    return buf;
  }
  const length = Buffer.byteLength(data);
  if (length > 123) {
    throw new RangeError('The message must not be greater than 123 bytes');
  }
  const buf = Buffer.allocUnsafe(2 + length);
  buf.writeUInt16BE(code, 0);
  if (typeof data === 'string') buf.write(data, 2);
  else if (data instanceof Uint8Array) buf.set(data, 2);
  else throw new TypeError('Second argument must be a string or a Uint8Array');
  return buf;
}

module.exports = Sender;
module.exports.closePayload = closePayload;
