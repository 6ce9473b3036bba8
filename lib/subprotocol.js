'use strict';

/**
 * Parsing of the `Sec-WebSocket-Protocol` request header (RFC 6455 4.1: a comma
 * separated list of tokens, optional white space around commas).
 */

const tokenRegex = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

/**
 * @param {string} header The header value
 * @return {Set<string>} The offered subprotocols, in order
 * @throws {SyntaxError} If the list is malformed or has a duplicate
 */
function parse(header) {
  const protocols = new Set();

  for (const raw of header.split(',')) {
    const protocol = raw.replace(/^[ \t]+|[ \t]+$/g, '');

    if (!tokenRegex.test(protocol)) {
      throw new SyntaxError(`Invalid subprotocol "${protocol}"`);
    }
    if (protocols.has(protocol)) {
      throw new SyntaxError(`The "${protocol}" subprotocol is duplicated`);
    }
    protocols.add(protocol);
  }

  return protocols;
}

module.exports = { parse };
