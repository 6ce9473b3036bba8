'use strict';

/**
 * The `Sec-WebSocket-Extensions` header: parse (RFC 6455 9.1 grammar, as strict as
 * ws: no white space around `=` or at either end, quoted values of token characters
 * with optional backslash escapes) and format.
 */

const { isTokenChar } = require('./validation');

function fail(index) {
  throw new SyntaxError(index === undefined ? 'Unexpected end of input' : `Unexpected character at index ${index}`);
}

/** Splits the header into tokens, quoted strings and `; , =`, noting where white
 * space preceded each. */
function tokenize(header) {
  const tokens = [];
  let space = -1; // index of the white space run before the next token, or -1
  let i = 0;

  while (i < header.length) {
    const c = header[i];
    if (c === ' ' || c === '\t') {
      if (i === 0) fail(i);
      if (space === -1) space = i;
      i++;
      continue;
    }

    const start = i;
    let token;
    if (isTokenChar(header.charCodeAt(i))) {
      while (i < header.length && isTokenChar(header.charCodeAt(i))) i++;
      token = { type: 'token', value: header.slice(start, i) };
    } else if (c === '"') {
      let value = '';
      for (i++; ; i++) {
        if (i === header.length) fail();
        const q = header[i];
        if (q === '"' && value !== '') break;
        if (q === '\\') i++;
        if (i === header.length) fail();
        if (!isTokenChar(header.charCodeAt(i))) fail(i);
        value += header[i];
      }
      i++;
      token = { type: 'quoted', value };
    } else if (c === ';' || c === ',' || c === '=') {
      i++;
      token = { type: c };
    } else {
      fail(i);
    }

    token.index = start;
    token.spaceAt = space;
    space = -1;
    tokens.push(token);
  }

  // Trailing white space: right after '=' it is the unexpected character (as in ws),
  // anywhere else the input ended too soon.
  if (space !== -1) {
    const last = tokens[tokens.length - 1];
    if (last !== undefined && last.type === '=') fail(space);
    fail();
  }
  return tokens;
}

/**
 * @param {string} header The header value
 * @return {Object<string, Object[]>} Extension name -> offers (each a map of
 *     parameter name -> array of values, `true` for a parameter without value)
 * @throws {SyntaxError} If the header is malformed
 */
function parse(header) {
  const tokens = tokenize(header);
  const offers = Object.create(null);
  let i = 0;

  const next = () => tokens[i++];
  const expect = (type) => {
    const t = next();
    if (t === undefined) fail();
    if (t.type !== type) fail(t.index);
    return t;
  };

  for (;;) {
    const name = expect('token').value;
    const params = Object.create(null);

    let t = next();
    while (t !== undefined && t.type === ';') {
      const key = expect('token').value;
      let value = true;
      t = next();
      if (t !== undefined && t.type === '=') {
        if (t.spaceAt !== -1) fail(t.index);
        const v = next();
        if (v === undefined) fail();
        if (v.spaceAt !== -1) fail(v.spaceAt);
        if (v.type !== 'token' && v.type !== 'quoted') fail(v.index);
        value = v.value;
        t = next();
      }
      (params[key] || (params[key] = [])).push(value);
    }

    (offers[name] || (offers[name] = [])).push(params);

    if (t === undefined) return offers;
    if (t.type !== ',') fail(t.index);
  }
}

/**
 * @param {Object<string, (Object|Object[])>} extensions Name -> params (or a list)
 * @return {string} The header value
 */
function format(extensions) {
  return Object.keys(extensions)
    .map((name) => {
      const configurations = [].concat(extensions[name]);
      return configurations
        .map((params) =>
          [name]
            .concat(
              Object.keys(params).map((key) =>
                []
                  .concat(params[key])
                  .map((v) => (v === true ? key : `${key}=${v}`))
                  .join('; ')
              )
            )
            .join('; ')
        )
        .join(', ');
    })
    .join(', ');
}

module.exports = { format, parse };
