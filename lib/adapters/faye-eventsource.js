'use strict';

/**
 * faye-websocket's `WebSocket.EventSource`: server-sent events on the socket of an
 * HTTP request, with faye's API (`isEventSource`, `send(data, {event, id})`, `ping`,
 * `retry`, `lastEventId`, `close`, `open`/`close` events, a writable Stream). Plain
 * HTTP text, no WebSocket framing, so nothing here needs the Rust core.
 */

const { Stream } = require('stream');

const { Event, eventTarget, pingInterval } = require('./faye-event');

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;
const DEFAULT_PING = 10;
const DEFAULT_RETRY = 5;

const kSocket = Symbol('socket');
const kPingTimer = Symbol('pingTimer');

class EventSource extends Stream {
  /**
   * Answers `request` with an event stream on `response`'s socket.
   *
   * @param {http.IncomingMessage} request
   * @param {http.ServerResponse} response
   * @param {Object} [options] `headers`, `retry` (seconds, default 5), `ping`
   *     (seconds between comment lines, default 10)
   */
  constructor(request, response, options) {
    super();
    options = options || {};
    this.writable = true;
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
    const secure = !!(request.socket && request.socket.encrypted);
    this.url = `${secure ? 'https:' : 'http:'}//${request.headers.host}${request.url}`;
    this.lastEventId = request.headers['last-event-id'] || '';
    this.readyState = CONNECTING;
    this[kSocket] = response.socket;
    this[kPingTimer] = null;
    const socket = this[kSocket];
    if (!socket || !socket.writable) return;

    process.nextTick(() => this._open());
    if (socket.setTimeout) socket.setTimeout(0);
    if (socket.setNoDelay) socket.setNoDelay(true);

    const retry = options.retry || DEFAULT_RETRY;
    const extra = Object.entries(options.headers || {})
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    this._write(
      'HTTP/1.1 200 OK\r\n' +
        'Content-Type: text/event-stream\r\n' +
        'Cache-Control: no-cache, no-store\r\n' +
        'Connection: close\r\n' +
        extra +
        '\r\n' +
        `retry: ${Math.floor(retry * 1000)}\r\n\r\n`
    );
    socket.on('drain', () => this.emit('drain'));
    const every = pingInterval(options.ping || DEFAULT_PING);
    if (every !== null) this[kPingTimer] = setInterval(() => this.ping(), every);
    socket.on('error', () => this.close());
    socket.on('end', () => this.close());
  }

  /**
   * Whether `request` asks for an event stream (GET, `Accept: text/event-stream`).
   *
   * @param {http.IncomingMessage} request
   * @return {boolean}
   */
  static isEventSource(request) {
    if (request.method !== 'GET') return false;
    return String(request.headers.accept || '')
      .split(/\s*,\s*/)
      .includes('text/event-stream');
  }

  _write(text) {
    if (!this.writable) return false;
    try {
      return this[kSocket].write(text, 'utf8');
    } catch {
      return false;
    }
  }

  _open() {
    if (this.readyState !== CONNECTING) return;
    this.readyState = OPEN;
    this.dispatchEvent(new Event('open'));
  }

  /**
   * Sends one event; each line of `message` becomes a `data:` line.
   *
   * @param {*} message
   * @param {Object} [options] `event` (its type), `id`
   * @return {boolean}
   */
  send(message, options) {
    if (this.readyState > OPEN) return false;
    options = options || {};
    const data = String(message).replace(/(\r\n|\r|\n)/g, '$1data: ');
    let frame = '';
    if (options.event) frame += `event: ${options.event}\r\n`;
    if (options.id) frame += `id: ${options.id}\r\n`;
    return this._write(`${frame}data: ${data}\r\n\r\n`);
  }

  /** A comment line, which keeps proxies from timing the stream out. */
  ping() {
    return this._write(':\r\n\r\n');
  }

  write(message) {
    return this.send(message);
  }

  end(message) {
    if (message !== undefined) this.write(message);
    this.close();
  }

  /**
   * Ends the stream and emits `close`.
   *
   * @return {boolean} false if it was closed already
   */
  close() {
    if (this.readyState > OPEN) return false;
    this.readyState = CLOSED;
    this.writable = false;
    if (this[kPingTimer] !== null) clearInterval(this[kPingTimer]);
    if (this[kSocket]) this[kSocket].end();
    this.dispatchEvent(new Event('close'));
    return true;
  }
}

Object.assign(EventSource.prototype, eventTarget);

EventSource.DEFAULT_PING = DEFAULT_PING;
EventSource.DEFAULT_RETRY = DEFAULT_RETRY;

module.exports = EventSource;
