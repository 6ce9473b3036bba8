'use strict';

/**
 * Every Error the JS layer creates for the wire protocol, with ws's classes, messages,
 * `code`s and close status codes. The Rust core reports a violation as a number
 * (`ProtoError::kind_id`) and an argument; this table turns it into ws's Error.
 */

const { kStatusCode } = require('./constants');

// [Error class, message (or function of the argument), "Invalid WebSocket frame: "
//  prefix, close code, err.code], indexed by kind id.
const PROTOCOL_ERRORS = [
  null,
  [RangeError, 'RSV2 and RSV3 must be clear', true, 1002, 'WS_ERR_UNEXPECTED_RSV_2_3'],
  [RangeError, 'RSV1 must be clear', true, 1002, 'WS_ERR_UNEXPECTED_RSV_1'],
  [RangeError, (n) => `invalid opcode ${n}`, true, 1002, 'WS_ERR_INVALID_OPCODE'],
  [RangeError, 'FIN must be set', true, 1002, 'WS_ERR_EXPECTED_FIN'],
  [
    RangeError,
    (n) => `invalid payload length ${n}`,
    true,
    1002,
    'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'
  ],
  [RangeError, 'MASK must be set', true, 1002, 'WS_ERR_EXPECTED_MASK'],
  [RangeError, 'MASK must be clear', true, 1002, 'WS_ERR_UNEXPECTED_MASK'],
  [
    RangeError,
    'Unsupported WebSocket frame: payload length > 2^53 - 1',
    false,
    1009,
    'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH'
  ],
  [RangeError, 'Max payload size exceeded', false, 1009, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'],
  [RangeError, 'Too many message fragments', false, 1008, 'WS_ERR_TOO_MANY_BUFFERED_PARTS'],
  [Error, 'invalid UTF-8 sequence', true, 1007, 'WS_ERR_INVALID_UTF8'],
  [RangeError, (n) => `invalid status code ${n}`, true, 1002, 'WS_ERR_INVALID_CLOSE_CODE'],
  // zlib's own error, as ws passes it on from its inflate stream.
  [Error, (message) => message, false, 1007, 'Z_DATA_ERROR'],
  [RangeError, 'Too many buffered chunks', false, 1008, 'WS_ERR_TOO_MANY_BUFFERED_PARTS']
];

/**
 * The Error ws raises for a protocol violation reported by the core.
 *
 * @param {number} kind The core's error kind id
 * @param {(number|string)} arg What the message quotes (a number, or zlib's text)
 * @return {Error}
 */
function protocolError(kind, arg) {
  const entry = PROTOCOL_ERRORS[kind] || [Error, 'unknown error', true, 1002, 'WS_ERR_UNKNOWN'];
  const [ErrorClass, text, prefixed, statusCode, code] = entry;
  const message = typeof text === 'function' ? text(arg) : text;
  const err = new ErrorClass(prefixed ? `Invalid WebSocket frame: ${message}` : message);
  err.code = code;
  // zlib's errors carry its errno; every inflate failure is a Z_DATA_ERROR.
  if (code === 'Z_DATA_ERROR') err.errno = -3;
  err[kStatusCode] = statusCode;
  return err;
}

/**
 * The Error Node gives write callbacks of a stream destroyed before they ran.
 *
 * @return {Error}
 */
function streamDestroyedError() {
  const err = new Error('Cannot call write after a stream was destroyed');
  err.code = 'ERR_STREAM_DESTROYED';
  return err;
}

/**
 * What a send dropped by `maxBackpressure` (a ws-rs option) is called back with.
 *
 * @param {number} limit The limit in bytes
 * @return {Error}
 */
function backpressureError(limit) {
  const err = new Error(`The back-pressure limit (${limit} bytes) was reached; the message was dropped`);
  err.code = 'WS_ERR_BACKPRESSURE_LIMIT';
  return err;
}

module.exports = { backpressureError, protocolError, streamDestroyedError };
