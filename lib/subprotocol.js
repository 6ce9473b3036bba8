'use strict';

/**
 * Parsing of the `Sec-WebSocket-Protocol` request header (RFC 6455 4.1: a comma
 * separated list of tokens, optional white space around commas), with ws's verdicts.
 * It runs before `verifyClient` on whatever a client sends, so it is one linear scan:
 * no regular expression that backtracks over white space.
 */

const { isTokenChar } = require('./validation');

/**
 * @param {string} header The header value
 * @return {Set<string>} The offered subprotocols, in order
 * @throws {SyntaxError} If the list is malformed or has a duplicate
 */
function parse(header) {
  const protocols = new Set();
  // The current token is header[start, end); end stays -1 until white space or a
  // comma ends it.
  let start = -1;
  let end = -1;
  let i = 0;

  for (; i < header.length; i++) {
    const code = header.charCodeAt(i);

    if (end === -1 && isTokenChar(code)) {
      if (start === -1) start = i;
    } else if (i !== 0 && (code === 0x20 || code === 0x09)) {
      if (end === -1 && start !== -1) end = i;
    } else if (code === 0x2c) {
      if (start === -1) throw new SyntaxError(`Unexpected character at index ${i}`);
      if (end === -1) end = i;
      add(protocols, header.slice(start, end));
      start = end = -1;
    } else {
      throw new SyntaxError(`Unexpected character at index ${i}`);
    }
  }

  if (start === -1 || end !== -1) throw new SyntaxError('Unexpected end of input');
  add(protocols, header.slice(start, i));
  return protocols;
}

function add(protocols, protocol) {
  if (protocols.has(protocol)) {
    throw new SyntaxError(`The "${protocol}" subprotocol is duplicated`);
  }
  protocols.add(protocol);
}

module.exports = { parse };
