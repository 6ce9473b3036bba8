'use strict';

const { format } = require('util');
// Not the globals: in Node these are getters, run on every use.
const { Blob, Buffer } = require('buffer');

/**
 * Checks and conversions on values users pass in, with ws's rules.
 */

// RFC 7230 `tchar`: the characters of a token in an HTTP header, by char code.
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TOKEN_CHARS[c.charCodeAt(0)] = 1;
}

/**
 * Whether a char code is an HTTP token character.
 *
 * @param {number} code
 * @return {boolean}
 */
function isTokenChar(code) {
  return code < 128 && TOKEN_CHARS[code] === 1;
}

/**
 * Whether a close code may be sent, by ws's rule (1000-1014 except 1004-1006, or
 * 3000-4999).
 *
 * @param {number} code
 * @return {boolean}
 */
function isValidStatusCode(code) {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/**
 * Turns send()'s data into a Buffer without copying where possible, as ws's toBuffer.
 *
 * @param {*} data
 * @return {Buffer}
 */
function toBuffer(data) {
  // Whether the result shares the caller's memory (ws's flag: `Sender.frame` must not
  // mask such a payload in place).
  toBuffer.readOnly = true;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // Arrays of bytes, objects with valueOf or toPrimitive: what Buffer.from takes (as ws).
  toBuffer.readOnly = false;
  return Buffer.from(data);
}
toBuffer.readOnly = true;

/**
 * A received binary message as `binaryType` asks: a Buffer, an ArrayBuffer (a copy),
 * one Buffer per frame for 'fragments', or a Blob.
 *
 * @param {Buffer} data The whole message
 * @param {string} binaryType One of BINARY_TYPES
 * @param {?number[]} [frameEnds] Where its frames ended (`kOnFrameEnd`), if it had several
 * @return {(Buffer|ArrayBuffer|Buffer[]|Blob)}
 */
function toBinaryType(data, binaryType, frameEnds) {
  if (binaryType === 'arraybuffer') return data.buffer.slice(data.byteOffset, data.byteOffset + data.length);
  if (binaryType === 'fragments') return fragmentsOf(data, frameEnds);
  if (binaryType === 'blob') return new Blob([data]);
  return data;
}

/**
 * ws's `'fragments'`: one Buffer per frame that carried bytes (views of `data`, cut
 * where the frames ended), so an empty message is `[]`.
 *
 * @param {Buffer} data The whole message
 * @param {?number[]} frameEnds Increasing, each above 0: as `withFrameEnd` keeps them
 * @return {Buffer[]}
 */
function fragmentsOf(data, frameEnds) {
  const fragments = [];
  let start = 0;
  if (frameEnds !== null && frameEnds !== undefined) {
    for (const end of frameEnds) {
      fragments.push(data.subarray(start, end));
      start = end;
    }
  }
  if (data.length > start) fragments.push(start === 0 ? data : data.subarray(start));
  return fragments;
}

/**
 * The frame ends of a message being received after one more (`kOnFrameEnd`): kept
 * only while `binaryType` is 'fragments', and only for frames that carried bytes, so a
 * peer's run of empty frames costs nothing.
 *
 * @param {?number[]} frameEnds The ends so far, or null
 * @param {string} binaryType
 * @param {number} length The message's length after this frame
 * @return {?number[]}
 */
function withFrameEnd(frameEnds, binaryType, length) {
  if (binaryType !== 'fragments' || length === 0) return frameEnds;
  if (frameEnds === null) return [length];
  if (length > frameEnds[frameEnds.length - 1]) frameEnds.push(length);
  return frameEnds;
}

/**
 * Whether `value` is a Blob (sent asynchronously, as ws does).
 *
 * @param {*} value
 * @return {boolean}
 */
function isBlob(value) {
  // Buffers (most of what is sent) are rejected before the prototype walk.
  return typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && value instanceof Blob;
}

/**
 * The byte length of send()'s data without converting it.
 *
 * @param {(string|Buffer|Blob)} data
 * @return {number}
 */
function byteLengthOf(data) {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (isBlob(data)) return data.size;
  return toBuffer(data).length;
}

/**
 * Checks a send/ping/pong callback as ws's path checks it: ws hands it to
 * `socket.write()` as the second argument, where a value that is not a function is an
 * encoding. Throws Node's TypeError for one Node does not know; returns the callback,
 * or undefined for a falsy value or an encoding name (ignored, as there).
 *
 * @param {*} cb
 * @return {(Function|undefined)}
 */
function writeCallback(cb) {
  if (typeof cb === 'function') return cb;
  if (cb && cb !== 'buffer' && !(typeof cb === 'string' && Buffer.isEncoding(cb))) {
    const err = new TypeError(`Unknown encoding: ${format('%s', cb)}`);
    err.code = 'ERR_UNKNOWN_ENCODING';
    throw err;
  }
  return undefined;
}

module.exports = { byteLengthOf, isBlob, isTokenChar, isValidStatusCode, toBinaryType, toBuffer, withFrameEnd, writeCallback };
