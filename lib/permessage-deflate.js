'use strict';

/**
 * permessage-deflate negotiation (RFC 7692), with ws's option names, defaults and
 * refusals. Compression itself runs in the Rust core; this module only decides the
 * parameters and turns them into what the core needs.
 */

const { Buffer } = require('buffer');
const binding = require('./binding.js');
const { protocolError } = require('./errors');
const { byteLengthOf, toBuffer } = require('./validation');

const EXTENSION_NAME = 'permessage-deflate';
// zlib.constants' values, without loading zlib.
const Z_MIN_CHUNK = 64;
const Z_DEFAULT_CHUNK = 16 * 1024;

/**
 * The parameters a client offers for ws's `perMessageDeflate` options.
 *
 * @param {Object} options ws's PerMessageDeflate options
 * @return {Object} Parameters for `extension.format`
 */
function offer(options) {
  const params = {};
  if (options.serverNoContextTakeover) params.server_no_context_takeover = true;
  if (options.clientNoContextTakeover) params.client_no_context_takeover = true;
  if (options.serverMaxWindowBits) params.server_max_window_bits = options.serverMaxWindowBits;
  if (options.clientMaxWindowBits) params.client_max_window_bits = options.clientMaxWindowBits;
  else if (options.clientMaxWindowBits == null) params.client_max_window_bits = true;
  return params;
}

/**
 * Checks every parameter's name and value and unwraps single values.
 *
 * @param {Object[]} configurations Parsed offers or response
 * @param {boolean} isServer Which side reads them
 * @return {Object[]} The same objects, normalized
 * @throws {Error} On an unknown, repeated or invalid parameter
 */
function normalizeParams(configurations, isServer) {
  for (const params of configurations) {
    for (const key of Object.keys(params)) {
      if (params[key].length > 1) throw new Error(`Parameter "${key}" must have only a single value`);
      let value = params[key][0];
      const invalid = () => new TypeError(`Invalid value for parameter "${key}": ${value}`);

      if (key === 'client_max_window_bits' || key === 'server_max_window_bits') {
        // Only a client may leave client_max_window_bits without a value, in an offer.
        if (value === true && key === 'client_max_window_bits') {
          if (!isServer) throw invalid();
        } else {
          const bits = +value;
          if (!Number.isInteger(bits) || bits < 8 || bits > 15) throw invalid();
          value = bits;
        }
      } else if (key === 'client_no_context_takeover' || key === 'server_no_context_takeover') {
        if (value !== true) throw invalid();
      } else {
        throw new Error(`Unknown parameter "${key}"`);
      }
      params[key] = value;
    }
  }
  return configurations;
}

/**
 * The server's answer: the first offer compatible with `options`, completed.
 *
 * @param {Object} options The server's perMessageDeflate options
 * @param {Object[]} offers Normalized offers
 * @return {Object} Accepted parameters
 * @throws {Error} If no offer can be accepted
 */
function acceptAsServer(options, offers) {
  const accepted = offers.find(
    (params) =>
      !(
        (options.serverNoContextTakeover === false && params.server_no_context_takeover) ||
        (params.server_max_window_bits &&
          (options.serverMaxWindowBits === false ||
            (typeof options.serverMaxWindowBits === 'number' &&
              options.serverMaxWindowBits > params.server_max_window_bits))) ||
        (typeof options.clientMaxWindowBits === 'number' &&
          (typeof params.client_max_window_bits === 'number'
            ? options.clientMaxWindowBits > params.client_max_window_bits
            : !params.client_max_window_bits))
      )
  );

  if (!accepted) throw new Error('None of the extension offers can be accepted');

  if (options.serverNoContextTakeover) accepted.server_no_context_takeover = true;
  if (options.clientNoContextTakeover) accepted.client_no_context_takeover = true;
  if (typeof options.serverMaxWindowBits === 'number') {
    accepted.server_max_window_bits = options.serverMaxWindowBits;
  }
  if (typeof options.clientMaxWindowBits === 'number') {
    accepted.client_max_window_bits = options.clientMaxWindowBits;
  } else if (accepted.client_max_window_bits === true || options.clientMaxWindowBits === false) {
    delete accepted.client_max_window_bits;
  }
  return accepted;
}

/**
 * The client's check of the server's answer.
 *
 * @param {Object} options The client's perMessageDeflate options
 * @param {Object[]} response Normalized response (one configuration)
 * @return {Object} Agreed parameters
 * @throws {Error} If the server answered something the client did not allow
 */
function acceptAsClient(options, response) {
  const params = response[0];

  if (options.clientNoContextTakeover === false && params.client_no_context_takeover) {
    throw new Error('Unexpected parameter "client_no_context_takeover"');
  }

  if (!params.client_max_window_bits) {
    if (typeof options.clientMaxWindowBits === 'number') {
      params.client_max_window_bits = options.clientMaxWindowBits;
    }
  } else if (
    options.clientMaxWindowBits === false ||
    (typeof options.clientMaxWindowBits === 'number' && params.client_max_window_bits > options.clientMaxWindowBits)
  ) {
    throw new Error('Unexpected or invalid parameter "client_max_window_bits"');
  }

  return params;
}

/**
 * What the Rust core needs for an agreement, seen from one side.
 *
 * @param {Object} params Agreed parameters
 * @param {Object} options perMessageDeflate options (zlibDeflateOptions.level)
 * @param {boolean} isServer Which side this connection is
 * @return {Object} `{ inflateWindowBits, inflateNoContextTakeover, deflateWindowBits,
 *     deflateNoContextTakeover, level, memLevel, strategy }`
 */
function coreOptions(params, options, isServer) {
  const us = isServer ? 'server' : 'client';
  const peer = isServer ? 'client' : 'server';
  const bits = (v) => (typeof v === 'number' ? v : 15);
  // ws hands zlibDeflateOptions to zlib with the negotiated windowBits in place of
  // the user's; level, memLevel and strategy reach the core the same way (zlib's
  // defaults where a value is missing or out of range; chunkSize has no meaning here).
  const zlib = options.zlibDeflateOptions || {};
  const within = (v, lo, hi, fallback) => (Number.isInteger(v) && v >= lo && v <= hi ? v : fallback);
  return {
    inflateWindowBits: bits(params[`${peer}_max_window_bits`]),
    inflateNoContextTakeover: !!params[`${peer}_no_context_takeover`],
    deflateWindowBits: bits(params[`${us}_max_window_bits`]),
    deflateNoContextTakeover: !!params[`${us}_no_context_takeover`],
    // Z_DEFAULT_COMPRESSION (-1) is level 6.
    level: within(zlib.level, 0, 9, 6),
    memLevel: within(zlib.memLevel, 1, 9, 8),
    strategy: within(zlib.strategy, 0, 4, 0)
  };
}

/**
 * The fields a Node zlib stream has for its options (`_level`, `_strategy`,
 * `_chunkSize`), on the core's stream that stands in for it as `_deflate`/`_inflate`.
 * The core makes one output Buffer per call, so `chunkSize` is kept but has no effect.
 */
function zlibFields(stream, level, strategy, zlibOptions) {
  const chunkSize = zlibOptions && zlibOptions.chunkSize;
  if (level !== undefined) {
    stream._level = level;
    stream._strategy = strategy;
  }
  stream._chunkSize = Number.isFinite(chunkSize) && chunkSize >= Z_MIN_CHUNK ? chunkSize : Z_DEFAULT_CHUNK;
}

/**
 * ws's `PerMessageDeflate` (`WebSocket.PerMessageDeflate`): one side's agreement, as a
 * WebSocket keeps it in `ws._extensions['permessage-deflate']`. Negotiation happens
 * here. A connection's contexts live in the Rust core with the connection; `compress`
 * and `decompress` (ws's API, for code that builds frames itself) use contexts of the
 * same core held by this object, until `cleanup()`.
 */
class PerMessageDeflate {
  /**
   * Both of ws's signatures: `(options)` with `options.isServer` and
   * `options.maxPayload` (ws 8.18+), and `(options, isServer, maxPayload)`.
   *
   * @param {Object} [options] ws's perMessageDeflate options
   * @param {boolean} [isServer=false]
   * @param {number} [maxPayload=0] Largest message after inflating (0: no limit)
   */
  constructor(options, isServer, maxPayload) {
    this._options = options || {};
    this._threshold = this._options.threshold !== undefined ? this._options.threshold : 1024;
    this._maxPayload = (maxPayload !== undefined ? maxPayload : this._options.maxPayload) | 0;
    this._isServer = isServer !== undefined ? !!isServer : !!this._options.isServer;
    this._deflate = null;
    this._inflate = null;
    this.params = null;
  }

  /**
   * The parameters a client offers (`Sec-WebSocket-Extensions`).
   * @return {Object}
   */
  offer() {
    return offer(this._options);
  }

  /**
   * Accepts an offer (server) or the server's answer (client); sets `params`.
   *
   * @param {Object[]} configurations Parsed parameters, as `extension.parse` gives
   * @return {Object} The agreed parameters
   * @throws {Error} If nothing acceptable was offered or answered
   */
  accept(configurations) {
    const normalized = normalizeParams(configurations, this._isServer);
    this.params = this._isServer ? acceptAsServer(this._options, normalized) : acceptAsClient(this._options, normalized);
    return this.params;
  }

  /** Frees the contexts `compress`/`decompress` made. */
  cleanup() {
    this._deflate = null;
    this._inflate = null;
  }

  /**
   * Compresses one fragment of a message (`fin`: the last), as ws's.
   *
   * @param {(Buffer|string)} data
   * @param {boolean} fin
   * @param {Function} callback `(err, compressed)`, called asynchronously
   */
  compress(data, fin, callback) {
    if (this._deflate === null) {
      const core = this.coreOptions();
      this._deflate = new binding.DeflateStream(core);
      zlibFields(this._deflate, core.level, core.strategy, this._options.zlibDeflateOptions);
    }
    const stream = this._deflate;
    const out = stream.compress(typeof data === 'string' ? Buffer.from(data) : toBuffer(data), !!fin);
    // Called back a turn later, as zlib would: a cleanup() meanwhile fails it, as in ws.
    setImmediate(() => {
      if (this._deflate === stream) callback(null, out);
      else callback(new Error('The deflate stream was closed while data was being processed'));
    });
  }

  /**
   * Decompresses one fragment of a message (`fin`: the last), as ws's: an error if
   * this call would produce more than `maxPayload` bytes or the data is not valid.
   *
   * @param {Buffer} data
   * @param {boolean} fin
   * @param {Function} callback `(err, decompressed)`, called asynchronously
   */
  decompress(data, fin, callback) {
    if (this._inflate === null) {
      const core = this.coreOptions();
      this._inflate = new binding.InflateStream(core.inflateWindowBits, core.inflateNoContextTakeover);
      zlibFields(this._inflate, undefined, undefined, this._options.zlibInflateOptions);
    }
    const stream = this._inflate;
    const result = stream.decompress(toBuffer(data), !!fin, this._maxPayload);
    // As ws: the stream that failed is dropped, and the next message starts afresh.
    if (result.data == null) this._inflate = null;
    setImmediate(() => {
      // ws drops the callback of a stream cleanup() closed meanwhile.
      if (this._inflate !== stream && result.data != null) return;
      if (result.data == null) callback(protocolError(result.errorKind, result.errorMessage));
      else callback(null, result.data);
    });
  }

  static get extensionName() {
    return EXTENSION_NAME;
  }

  /**
   * Whether a message sent with `compress: true` is compressed: as in ws, the
   * threshold only applies without context takeover on our side.
   *
   * @param {(string|Buffer|Blob)} data The message (its size is only measured if needed)
   */
  shouldCompress(data) {
    const noTakeover = this.params[this._isServer ? 'server_no_context_takeover' : 'client_no_context_takeover'];
    if (!noTakeover) return true;
    return byteLengthOf(data) >= this._threshold;
  }

  /** The Rust core's view of this agreement. */
  coreOptions() {
    return coreOptions(this.params || {}, this._options, this._isServer);
  }
}

module.exports = { EXTENSION_NAME, PerMessageDeflate, acceptAsClient, acceptAsServer, normalizeParams, offer };
