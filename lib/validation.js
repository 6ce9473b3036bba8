'use strict';

const { format } = require('util');

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
 * `[buffer]` for 'fragments' (the core delivers whole messages), or a Blob.
 *
 * @param {Buffer} data
 * @param {string} binaryType One of BINARY_TYPES
 * @return {(Buffer|ArrayBuffer|Buffer[]|Blob)}
 */
function toBinaryType(data, binaryType) {
  if (binaryType === 'arraybuffer') return data.buffer.slice(data.byteOffset, data.byteOffset + data.length);
  if (binaryType === 'fragments') return [data];
  if (binaryType === 'blob') return new Blob([data]);
  return data;
}

/**
 * Whether `value` is a Blob (sent asynchronously, as ws does).
 *
 * @param {*} value
 * @return {boolean}
 */
function isBlob(value) {
  return typeof Blob !== 'undefined' && value instanceof Blob;
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

module.exports = { byteLengthOf, isBlob, isTokenChar, isValidStatusCode, toBinaryType, toBuffer, writeCallback };
