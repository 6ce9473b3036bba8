'use strict';

/**
 * Native accept for the HTTP server ws-rs makes itself (`new WebSocketServer({ port
 * })`): once Node's server listens, Rust accepts its connections and parses their
 * upgrade requests (`src/io/js_loop/accept.rs`). Each request reaches the server as
 * Node would deliver it, an `'upgrade'` event with an `http.IncomingMessage` and a
 * socket (an `AcceptedSocket`), so ws's own handshake code, `verifyClient`,
 * `handleProtocols`, `'headers'` and `wsClientError` run unchanged. Whatever Rust's
 * parser leaves to Node (plain HTTP requests, unusual heads) becomes a `net.Socket` of
 * Node's server with the bytes read so far, exactly as if Node had accepted it.
 *
 * `WS_RS_ACCEPT=node` turns this off (Node accepts every connection, and sockets are
 * handed over after the handshake, as for `{ server }` and `noServer`).
 */

const fs = require('fs');
const http = require('http');
const net = require('net');

const native = require('./native');
const { AcceptedSocket } = require('./socket');
const { EMPTY_BUFFER } = require('./constants');

const enabled = process.env.WS_RS_ACCEPT !== 'node';

/**
 * Makes Rust accept `server`'s connections once it listens (when it can: a TCP
 * listener whose fd Node exposes, on Linux). Call before `server.listen()`, so this
 * runs before the `listening` listeners users add.
 *
 * @param {http.Server} server The server ws-rs made for `{ port }`
 */
function acceptNatively(server) {
  if (!enabled) return;
  // Node's own 'connection' listener (its HTTP parser); users who add theirs (to
  // count, tag or inspect sockets) get every connection as a net.Socket from Node.
  const ownListeners = server.listenerCount('connection');
  server.once('listening', () => {
    const handle = server._handle;
    if (handle == null || typeof handle.fd !== 'number' || handle.fd < 0) return;
    const limits = {
      maxHeaderSize: server.maxHeaderSize || http.maxHeaderSize,
      headersTimeout: firstTimeout(server.headersTimeout, server.requestTimeout)
    };
    const id = native.listen(handle.fd, limits, {
      server,
      onHandshake: (pendingId, fields) => onHandshake(server, pendingId, fields),
      onFallback: (pendingId, bytes) => onFallback(server, pendingId, bytes)
    });
    if (id < 0) return;
    // 'newListener' comes before the listener is added, 'removeListener' after.
    const follow = (extra) => native.listenerToNode(id, server.listenerCount('connection') + extra > ownListeners);
    follow(0);
    server.on('newListener', (event) => {
      if (event === 'connection') follow(1);
    });
    server.on('removeListener', (event) => {
      if (event === 'connection') follow(0);
    });
    // The loop's first iteration may still report a connection to Node's handle
    // (both watch the socket until the driver's first accept): take those too.
    const onconnection = handle.onconnection;
    handle.onconnection = function (err, clientHandle) {
      if (!err && clientHandle && clientHandle.fd >= 0 && native.pendingFromFd(id, clientHandle.fd)) {
        clientHandle.close();
        return;
      }
      return onconnection.call(this, err, clientHandle);
    };
    // Rust holds a duplicate of the listening fd: it must stop with Node's handle.
    const close = server.close;
    server.close = function (...args) {
      native.unlisten(id);
      server.close = close;
      return close.apply(this, args);
    };
  });
}

/** The smaller of Node's two request-head deadlines that are set (0: none). */
function firstTimeout(headersTimeout, requestTimeout) {
  const set = [headersTimeout, requestTimeout].filter((t) => typeof t === 'number' && t > 0);
  return set.length ? Math.min(...set) : 0;
}

/**
 * A whole upgrade request: the `'upgrade'` event Node's server would emit, with the
 * request as Node builds it (headers from `rawHeaders` by Node's own rules).
 *
 * @param {http.Server} server
 * @param {number} id The pending socket
 * @param {string[]} fields See `handshake_fields` in src/wire.rs
 */
function onHandshake(server, id, fields) {
  // 'upgrade' listeners besides ws's own may do anything with a socket (pipe it,
  // read it): they get Node's, with the request parsed again by Node.
  if (server.listenerCount('upgrade') > 1) {
    onFallback(server, id);
    return;
  }
  const socket = new AcceptedSocket(id, fields);
  const req = new http.IncomingMessage(socket);
  req.method = fields[0];
  req.url = fields[1];
  req.httpVersion = fields[2];
  req.httpVersionMajor = 1;
  req.httpVersionMinor = +fields[2].slice(2);
  req.upgrade = true;
  const raw = fields.slice(7);
  if (typeof req._addHeaderLines === 'function') {
    req._addHeaderLines(raw, raw.length);
  } else {
    req.rawHeaders = raw;
    const headers = {};
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      headers[name] = name in headers ? `${headers[name]}, ${raw[i + 1]}` : raw[i + 1];
    }
    req.headers = headers;
  }
  // As Node's server: no listener, no answer.
  if (server.listenerCount('upgrade') > 0) server.emit('upgrade', req, socket, EMPTY_BUFFER);
  else socket.destroy();
}

/**
 * Something for Node's HTTP parser: the socket becomes a `net.Socket` of `server`,
 * set up as `net.Server` sets up the sockets it accepts, with the bytes already read
 * put back in front.
 *
 * @param {http.Server} server
 * @param {number} id The pending socket
 */
function onFallback(server, id) {
  const released = native.pendingRelease(id);
  if (released == null) return;
  const { fd, bytes } = released;
  let socket;
  try {
    socket = new net.Socket({ fd, allowHalfOpen: server.allowHalfOpen, readable: true, writable: true });
  } catch {
    fs.close(fd, () => {});
    return;
  }
  server._connections++;
  socket.server = server;
  socket._server = server;
  if (bytes.length > 0) socket.unshift(bytes);
  server.emit('connection', socket);
}

module.exports = { acceptNatively };
