'use strict';

/**
 * The `WebSocket` class: ws 8's API for both the client and the server side of a
 * connection. Frames are read and written by the io driver; this class owns what ws
 * users observe: `readyState`, `bufferedAmount`, callbacks, and the order and
 * exactly-once delivery of `open`, `message`, `ping`, `pong`, `error` and `close`.
 */

const { Buffer } = require('buffer');
const process = require('process');
const EventEmitter = require('events');
const http = require('http');
const https = require('https');
const net = require('net');
const { randomBytes, createHash } = require('crypto');
const { URL } = require('url');

const native = require('./native');
const Sender = require('./sender');
const { closePayload } = Sender;
const { defineEventAttributes } = require('./event-target');
const extension = require('./extension');
const { EXTENSION_NAME, PerMessageDeflate, offer } = require('./permessage-deflate');
const { backpressureError, protocolError, streamDestroyedError } = require('./errors');
const { byteLengthOf, isBlob, toBinaryType, toBuffer, withFrameEnd, writeCallback } = require('./validation');
const ConnectionReceiver = require('./connection-receiver');
const { checkTopic, kPublishFlags, kPublished, kRegistry, kTopics, SKIP, QUEUED } = require('./topics');
const {
  BINARY_TYPES,
  DEFAULTS,
  EMPTY_BUFFER,
  GUID,
  kStatusCode,
  kWebSocket,
  kOnMessage,
  kOnFrameEnd,
  kOnPing,
  kOnPong,
  kOnCloseFrame,
  kOnProtocolError,
  kOnWritten,
  kOnEnd,
  kOnSocketData,
  kOnSocketError,
  kOnIdle,
  kOnClosed,
  kId,
  kQueue,
  kEnd,
  kEnded
} = require('./constants');
const { AdoptedSocket, AcceptedSocket } = require('./socket');

const { OP, FLAG } = native;
const readyStates = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
const protocolVersions = [8, 13];
const subprotocolRegex = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;
const kAborted = Symbol('kAborted');
// Set by terminate(): the socket is gone at once, as ws's destroyed socket is.
const kTerminated = Symbol('kTerminated');
const hasOwn = Object.prototype.hasOwnProperty;
// ws-rs's own state and methods live under symbols, like kId: code and libraries put
// `_…` fields of their own on sockets, and only ws's own `_…` fields (`_readyState`,
// `_socket`, `_isServer`, ...) keep their names, because code reads them.
const kPendingHead = Symbol('pendingHead');
const kDeferred = Symbol('deferred');
const kPendingTail = Symbol('pendingTail');
const kBlocked = Symbol('blocked');
// Where the frames of the fragmented binary message being received ended.
const kFrameEnds = Symbol('frameEnds');
const kDefer = Symbol('defer');
const kPending = Symbol('pending');
const kReceiverErrored = Symbol('receiverErrored');
const kPendingAutoPongs = Symbol('pendingAutoPongs');
const kDeferScheduled = Symbol('deferScheduled');
const kAllowSynchronousEvents = Symbol('allowSynchronousEvents');
const kScheduleDeferred = Symbol('scheduleDeferred');
const kMaxPendingAutoPongs = Symbol('maxPendingAutoPongs');
const kMaxBackpressure = Symbol('maxBackpressure');
const kCloseOnBackpressureLimit = Symbol('closeOnBackpressureLimit');
const kOverLimit = Symbol('overLimit');
const kDroppingMessage = Symbol('droppingMessage');
const kDrop = Symbol('drop');
const kIdleTimeout = Symbol('idleTimeout');
const kSendPings = Symbol('sendPings');
const kMaskFlag = Symbol('maskFlag');
const kGenerateMask = Symbol('generateMask');
const kFragmenting = Symbol('fragmenting');
const kCompressing = Symbol('compressing');
const kUnblock = Symbol('unblock');
const kOnBlobError = Symbol('onBlobError');
const kSender = Symbol('sender');
const kHandleProtocolError = Symbol('handleProtocolError');
const kHandlePong = Symbol('handlePong');
const kHandlePing = Symbol('handlePing');
const kHandleMessage = Symbol('handleMessage');
const kHandleEnd = Symbol('handleEnd');
const kHandleClosed = Symbol('handleClosed');
const kHandleCloseFrame = Symbol('handleCloseFrame');
const kControl = Symbol('control');
const kBlock = Symbol('block');
const kAfterWritten = Symbol('afterWritten');
const kAwaitWritten = Symbol('awaitWritten');
const kReceiverView = Symbol('receiverView');
const kCoreOptions = Symbol('coreOptions');
const kWrittenWaiter = Symbol('writtenWaiter');
const kWillCompress = Symbol('willCompress');
const kUnderLimit = Symbol('underLimit');

class WebSocket extends EventEmitter {
  /**
   * Creates a client connecting to `address`, or (with `address` null) the server
   * side of an accepted connection.
   *
   * @param {(string|URL|null)} address The URL to connect to
   * @param {(string|string[])} [protocols] Subprotocols to offer
   * @param {Object} [options] ws's client options
   */
  constructor(address, protocols, options) {
    super();

    this._binaryType = BINARY_TYPES[0];
    this._bufferedAmount = 0;
    this._closeCode = 1006;
    this._closeFrameReceived = false;
    this._closeFrameSent = false;
    this._closeMessage = EMPTY_BUFFER;
    this._closeTimer = null;
    this[kEnded] = false;
    this._errorEmitted = false;
    this._extensions = {};
    this[kFragmenting] = false;
    this[kCompressing] = false;
    this[kId] = 0;
    this._paused = false;
    // [length, callback] pairs of queued frames, oldest at `kPendingHead`, next free
    // slot at `kPendingTail`.
    this[kPending] = [];
    this[kPendingHead] = 0;
    this[kPendingTail] = 0;
    // Sends waiting behind a Blob being read, or null.
    this[kBlocked] = null;
    this[kFrameEnds] = null;
    // Runs once every frame queued so far is written (see kAfterWritten), or null.
    this[kWrittenWaiter] = null;
    // Topics (lib/topics.js): the server's registry, and this connection's topics.
    this[kRegistry] = null;
    this[kTopics] = null;
    // `_receiver` (made on first use) and the options the Rust core was opened with.
    this[kReceiverView] = undefined;
    this[kCoreOptions] = null;
    this._protocol = '';
    this._readyState = WebSocket.CONNECTING;
    this[kReceiverErrored] = false;
    this._socket = null;
    this._url = undefined;

    if (address !== null) {
      this._isServer = false;
      this._redirects = 0;

      // As ws: explicit protocols win; else `options.protocols`; an object in the
      // protocols position is the options.
      const fromOptions = (opts) =>
        !opts || opts.protocols === undefined ? [] : Array.isArray(opts.protocols) ? opts.protocols : [opts.protocols];
      if (protocols === undefined) {
        protocols = fromOptions(options);
      } else if (!Array.isArray(protocols)) {
        if (typeof protocols === 'object' && protocols !== null) {
          options = protocols;
          protocols = fromOptions(options);
        } else {
          protocols = [protocols];
        }
      }

      options = initAsClient(this, address, protocols, options);
    } else {
      this._isServer = true;
    }

    this[kGenerateMask] = typeof options.generateMask === 'function' ? options.generateMask : undefined;
    this[kAllowSynchronousEvents] = options.allowSynchronousEvents !== false;
    // Events held back (allowSynchronousEvents: false, or while paused), in order.
    this[kDeferred] = null;
    this[kDeferScheduled] = false;
    this._autoPong = !!options.autoPong;
    this[kPendingAutoPongs] = 0;
    this[kMaxPendingAutoPongs] = options.maxPendingAutoPongs | 0;
    this._closeTimeout = options.closeTimeout;
    // ws-rs's opt-in back-pressure limit (README, "Heartbeat and back-pressure").
    this[kMaxBackpressure] = byteLimit(options.maxBackpressure);
    this[kCloseOnBackpressureLimit] = !!options.closeOnBackpressureLimit;
    // Over the limit since the last 'drain'; dropping the rest of a fragmented message.
    this[kOverLimit] = false;
    this[kDroppingMessage] = false;
    // ws-rs's opt-in heartbeat (README, "Heartbeat and back-pressure"): watched in Rust.
    this[kIdleTimeout] = idleTime(options.idleTimeout);
    this[kSendPings] = options.sendPings !== false;
  }

  /**
   * ws's `_receiver`: a view of the connection's parser (lib/connection-receiver.js),
   * made on first use; null before the connection opens.
   */
  get _receiver() {
    if (this[kReceiverView] === undefined && this[kCoreOptions] !== null) {
      this[kReceiverView] = new ConnectionReceiver(this, this[kCoreOptions], this[kAllowSynchronousEvents]);
    }
    return this[kReceiverView] === undefined ? null : this[kReceiverView];
  }

  /**
   * ws's `_sender`: made on first use (engine.io sends pre-built frames with
   * `ws._sender.sendFrame(list, cb)`); its frames go through this connection's outbox.
   */
  get _sender() {
    if (this[kSender] === undefined) {
      this[kSender] = this._readyState === WebSocket.CONNECTING
        ? null
        : Sender.forWebSocket(this, (op, flags, payload, cb) => this[kQueue](op, flags, payload, cb));
    }
    return this[kSender];
  }

  set _sender(value) {
    this[kSender] = value;
  }

  get binaryType() {
    return this._binaryType;
  }

  set binaryType(type) {
    if (!BINARY_TYPES.includes(type)) return;
    this._binaryType = type;
  }

  get bufferedAmount() {
    return this._bufferedAmount;
  }

  get extensions() {
    return Object.keys(this._extensions).join();
  }

  get isPaused() {
    return this._paused;
  }

  get protocol() {
    return this._protocol;
  }

  get readyState() {
    return this._readyState;
  }

  get url() {
    return this._url;
  }

  /**
   * The topics this connection is subscribed to (a copy; see `subscribe`).
   * @type {string[]}
   */
  get topics() {
    return this[kTopics] === null ? [] : [...this[kTopics]];
  }

  /**
   * Subscribes this connection of a `WebSocketServer` to `topic`, for the server's
   * `publish` and the other connections' `publish`. Subscriptions end when the
   * connection closes. An addition of ws-rs (ws has no topics).
   * @param {string} topic
   * @return {boolean} `false` if it was subscribed already, or is closed
   * @public
   */
  subscribe(topic) {
    checkTopic(topic);
    const registry = topicRegistry(this);
    if (this._readyState === WebSocket.CLOSED) return false;
    return registry.subscribe(this, topic);
  }

  /**
   * @param {string} topic
   * @return {boolean} Whether it was subscribed
   * @public
   */
  unsubscribe(topic) {
    checkTopic(topic);
    return topicRegistry(this).unsubscribe(this, topic);
  }

  /**
   * @param {string} topic
   * @return {boolean}
   * @public
   */
  isSubscribed(topic) {
    checkTopic(topic);
    return this[kTopics] !== null && this[kTopics].has(topic);
  }

  /**
   * Sends `data` to every other open connection of the server subscribed to `topic`
   * (see `WebSocketServer#publish`).
   * @param {string} topic
   * @param {*} data A string, Buffer, ArrayBuffer or typed array
   * @param {{ binary?: boolean, compress?: boolean }} [options]
   * @return {number} The number of connections it was queued to
   * @public
   */
  publish(topic, data, options) {
    return topicRegistry(this).publish(topic, data, options, this);
  }

  /**
   * Hands an upgraded socket to the io driver (or, for sockets it cannot take over,
   * to the bridged path) and opens the connection. ws's signature: code outside ws
   * (@fastify/websocket's injectWS) calls it with an in-memory stream.
   *
   * @param {Duplex} socket The upgraded socket
   * @param {Buffer} head Bytes that came with the upgrade
   * @param {Object} options Receiver options (`maxPayload`, `maxFragments`,
   *     `maxBufferedChunks`, `skipUTF8Validation`)
   * @param {Buffer} [preamble] Bytes to write first (the server's 101 response; the
   *     io driver writes it in the same call that takes the socket over)
   * @private
   */
  setSocket(socket, head, options, preamble = EMPTY_BUFFER) {
    const protocolOptions = {
      isServer: this._isServer,
      // As ws's Receiver: `| 0`, so Infinity, NaN and non-numbers mean "no limit".
      maxPayload: options.maxPayload | 0,
      maxFragments: options.maxFragments | 0,
      maxBufferedChunks: Math.max(0, options.maxBufferedChunks | 0),
      skipUTF8Validation: !!options.skipUTF8Validation,
      deflate: this._extensions[EXTENSION_NAME] ? this._extensions[EXTENSION_NAME].coreOptions() : undefined
    };
    this[kCoreOptions] = protocolOptions;

    let id = -1;
    if (socket instanceof AcceptedSocket && socket.pendingId !== null) {
      // Accepted by the driver itself (`{ port }` servers): it already holds the
      // socket, and what the client sent after its request.
      socket[kWebSocket] = this;
      this._socket = socket;
      id = socket.upgraded();
      native.pendingAccept(id, preamble, protocolOptions, this);
    } else if (native.canAdopt(socket)) {
      // Made first: it reads the addresses while Node's socket still has them.
      this._socket = new AdoptedSocket(this, socket);
      id = native.adopt(socket, head, preamble, protocolOptions, this);
      // Not taken over: the drained bytes are back in the socket.
      if (id === -1) head = EMPTY_BUFFER;
    }
    if (id === -1) {
      // TLS, pipes and other streams stay in Node ("bridged").
      this._socket = socket;
      if (preamble.length > 0) socket.write(preamble);
      id = native.bridge(socket, head, protocolOptions, this);
    }
    this[kId] = id;
    if (this._socket instanceof AdoptedSocket) this._socket.adopted();

    this._readyState = WebSocket.OPEN;
    if (this[kIdleTimeout] !== 0) native.watchIdle(id, this[kIdleTimeout], this[kSendPings], !this._isServer);
    this.emit('open');
  }

  /**
   * Starts the closing handshake.
   *
   * @param {number} [code] Status code
   * @param {(string|Buffer)} [data] Reason (at most 123 bytes)
   * @public
   */
  close(code, data) {
    if (this._readyState === WebSocket.CLOSED) return;
    if (this._readyState === WebSocket.CONNECTING) {
      abortHandshake(this, this._req, 'WebSocket was closed before the connection was established');
      return;
    }

    if (this._readyState === WebSocket.CLOSING) {
      if (this._closeFrameSent && (this._closeFrameReceived || this[kReceiverErrored])) {
        this[kEnd]();
      }
      return;
    }

    const payload = closePayload(code, data);

    this[kQueue](OP.CLOSE, FLAG.FIN | this[kMaskFlag](!this._isServer), payload, (err) => {
      if (err) return;
      this._closeFrameSent = true;
      if (this._closeFrameReceived || this[kReceiverErrored]) this[kEnd]();
    });

    this._readyState = WebSocket.CLOSING;
    this._closeTimer = setTimeout(() => this.terminate(), this._closeTimeout);
    // From here ws's close timeout is in charge, as in ws.
    if (this[kIdleTimeout] !== 0) native.unwatchIdle(this[kId]);
  }

  /**
   * Stops reading from the socket.
   * @public
   */
  pause() {
    if (this._readyState === WebSocket.CONNECTING || this._readyState === WebSocket.CLOSED) return;
    this._paused = true;
    native.pause(this[kId], true);
  }

  /**
   * Resumes reading after `pause()`.
   * @public
   */
  resume() {
    if (this._readyState === WebSocket.CONNECTING || this._readyState === WebSocket.CLOSED) return;
    this._paused = false;
    native.pause(this[kId], false);
    // Events that arrived while paused are delivered now, in order.
    if (this[kDeferred] !== null) this[kScheduleDeferred]();
  }

  /**
   * Sends a ping.
   *
   * @param {*} [data] Payload (at most 125 bytes)
   * @param {boolean} [mask] Whether to mask it
   * @param {Function} [cb] Called once it is written
   * @public
   */
  ping(data, mask, cb) {
    this[kControl](OP.PING, data, mask, cb);
  }

  /**
   * Sends a pong.
   *
   * @param {*} [data] Payload (at most 125 bytes)
   * @param {boolean} [mask] Whether to mask it
   * @param {Function} [cb] Called once it is written
   * @public
   */
  pong(data, mask, cb) {
    this[kControl](OP.PONG, data, mask, cb);
  }

  [kControl](op, data, mask, cb) {
    if (this._readyState === WebSocket.CONNECTING) {
      throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    }

    if (typeof data === 'function') {
      cb = data;
      data = mask = undefined;
    } else if (typeof mask === 'function') {
      cb = mask;
      mask = undefined;
    }

    if (typeof data === 'number') data = data.toString();

    if (this._readyState !== WebSocket.OPEN) {
      sendAfterClose(this, data, cb);
      return;
    }

    const payload = data === undefined ? EMPTY_BUFFER : isBlob(data) ? data : toBuffer(data);
    if (byteLengthOf(payload) > 125) {
      throw new RangeError('The data size must not be greater than 125 bytes');
    }

    if (mask === undefined) mask = !this._isServer;
    this[kQueue](op, FLAG.FIN | this[kMaskFlag](mask), payload, writeCallback(cb));
  }

  /**
   * Sends a data message.
   *
   * @param {*} data The message
   * @param {Object} [options] `binary`, `compress`, `fin`, `mask`
   * @param {Function} [cb] Called once it is written
   * @public
   */
  send(data, options, cb) {
    if (this._readyState === WebSocket.CONNECTING) {
      throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    }

    if (typeof options === 'function') {
      cb = options;
      options = {};
    }

    if (typeof data === 'number') data = data.toString();

    if (this._readyState !== WebSocket.OPEN) {
      sendAfterClose(this, data, cb);
      return;
    }

    // ws spreads `options` over these defaults; reading its own enumerable properties
    // gives the same result without building an object per message.
    let binary = typeof data !== 'string';
    let mask = !this._isServer;
    let compress = true;
    let fin = true;
    if (typeof options === 'object' && options !== null) {
      // for-in gives the enumerable keys (from V8's per-shape cache: cheap), hasOwn
      // drops inherited ones; propertyIsEnumerable would be a C++ call per key.
      for (const key in options) {
        if (!hasOwn.call(options, key)) continue;
        if (key === 'binary') binary = options.binary;
        else if (key === 'mask') mask = options.mask;
        else if (key === 'compress') compress = options.compress;
        else if (key === 'fin') fin = options.fin;
      }
    }

    const payload =
      typeof data === 'string' || isBlob(data) ? data : data === undefined ? EMPTY_BUFFER : toBuffer(data);
    // Before anything is queued or decided: a bad callback throws and sends nothing.
    cb = writeCallback(cb);

    const limit = this[kMaxBackpressure];
    if (limit !== 0) {
      // A message is dropped whole: at its first frame when over the limit (its later
      // fragments with it); one already started is finished.
      const starts = !this[kFragmenting];
      if (starts ? this._bufferedAmount >= limit : this[kDroppingMessage]) {
        this[kFragmenting] = !fin;
        this[kDroppingMessage] = !fin;
        this[kDrop](data, binary, cb);
        return false;
      }
    }

    let op;
    if (this[kFragmenting]) {
      op = OP.CONTINUATION;
    } else {
      op = binary ? OP.BINARY : OP.TEXT;
      // Decided once per message; its later fragments follow the first.
      this[kCompressing] = this[kWillCompress](compress, payload);
    }
    this[kFragmenting] = !fin;

    const flags = (fin ? FLAG.FIN : 0) | this[kMaskFlag](mask) | (this[kCompressing] ? FLAG.RSV1 : 0);
    this[kQueue](op, flags, payload, cb);
    // ws returns nothing; with a limit, whether more may be sent (as stream.write).
    return limit === 0 ? undefined : this[kUnderLimit]();
  }

  /** Whether a message sent with `compress` is compressed (as ws decides it). */
  [kWillCompress](compress, payload) {
    const deflate = this._extensions[EXTENSION_NAME];
    return !!(compress && deflate && deflate.shouldCompress(payload));
  }

  /**
   * After a queue with `maxBackpressure` set: whether `bufferedAmount` is still under
   * it; at or over it, 'drain' is owed once it falls back.
   */
  [kUnderLimit]() {
    if (this._bufferedAmount < this[kMaxBackpressure]) return true;
    this[kOverLimit] = true;
    return false;
  }

  /**
   * A message `maxBackpressure` keeps out: its callback gets the error, `'dropped'`
   * is emitted (next tick, so a handler that sends again does not recurse), and with
   * `closeOnBackpressureLimit` the connection is terminated (close code 1006: a peer
   * that does not read would not read a Close frame either).
   */
  [kDrop](data, isBinary, cb) {
    this[kOverLimit] = true;
    const err = backpressureError(this[kMaxBackpressure]);
    process.nextTick(() => {
      this.emit('dropped', data, isBinary);
      if (cb) cb(err);
    });
    if (this[kCloseOnBackpressureLimit]) this.terminate();
  }

  /**
   * This connection's part in a publish (lib/topics.js): `SKIP` when it takes none
   * (not open, in the middle of a fragmented message of its own, or over
   * `maxBackpressure`, which drops it as a send would), `QUEUED` when it queued the
   * message itself (its sends wait behind a Blob), else the frame's flags.
   */
  [kPublishFlags](data, payload, op, binary, compress) {
    if (this._readyState !== WebSocket.OPEN || this[kFragmenting] || this[kId] === 0) return SKIP;
    const limit = this[kMaxBackpressure];
    if (limit !== 0 && this._bufferedAmount >= limit) {
      this[kDrop](data, binary, undefined);
      return SKIP;
    }
    const flags = FLAG.FIN | (this[kWillCompress](compress, payload) ? FLAG.RSV1 : 0);
    if (this[kBlocked] !== null) {
      this[kQueue](op, flags, payload, undefined);
      return QUEUED;
    }
    return flags;
  }

  /** A published frame of `len` bytes was queued for this connection. */
  [kPublished](len) {
    this[kAwaitWritten](len, undefined);
    if (this[kMaxBackpressure] !== 0) this[kUnderLimit]();
  }

  /**
   * Destroys the connection at once.
   * @public
   */
  terminate() {
    if (this._readyState === WebSocket.CLOSED) return;
    if (this._readyState === WebSocket.CONNECTING) {
      abortHandshake(this, this._req, 'WebSocket was closed before the connection was established');
      return;
    }

    if (this[kId] !== 0) {
      this._readyState = WebSocket.CLOSING;
      this[kTerminated] = true;
      native.terminate(this[kId]);
    }
  }

  [kMaskFlag](mask) {
    return mask ? FLAG.MASK : 0;
  }

  [kQueue](op, flags, payload, cb) {
    // A Blob is read asynchronously; it and everything queued after it wait, in order.
    if (this[kBlocked] !== null || isBlob(payload)) {
      this[kBlock](op, flags, payload, cb);
      return;
    }
    let key;
    if (this[kGenerateMask] !== undefined && flags & FLAG.MASK) {
      key = Buffer.alloc(4);
      this[kGenerateMask](key);
    }
    this[kAwaitWritten](native.queue(this[kId], op, flags, payload, key), cb);
  }

  /** A frame of `len` bytes was queued: counted until the driver reports it written. */
  [kAwaitWritten](len, cb) {
    this._bufferedAmount += len;
    const pending = this[kPending];
    const tail = this[kPendingTail];
    pending[tail] = len;
    pending[tail + 1] = cb;
    this[kPendingTail] = tail + 2;
  }

  [kBlock](op, flags, payload, cb) {
    const entry = [op, flags, payload, cb];
    if (this[kBlocked] === null) this[kBlocked] = [];
    this[kBlocked].push(entry);
    if (!isBlob(payload)) return;

    this._bufferedAmount += payload.size;
    payload.arrayBuffer().then(
      (buffer) => {
        this._bufferedAmount -= payload.size;
        entry[2] = Buffer.from(buffer);
        this[kUnblock]();
      },
      (err) => {
        // As ws's sender: nothing queued from here on is sent; this send's callback
        // and those of every send waiting behind it get the error (next tick, so a
        // throw there is not swallowed by the promise), then the connection fails.
        this._bufferedAmount -= payload.size;
        const waiting = this[kBlocked];
        this[kBlocked] = [];
        this[kAfterWritten](() => {
          for (const [, , , callback] of waiting) if (typeof callback === 'function') callback(err);
          this[kOnBlobError](err);
        });
      }
    );
  }

  /**
   * Runs `fn` on a later tick, once the frames queued before it are written (their
   * callbacks called) or the connection closed. In ws those frames were written by
   * the time a Blob read fails, so their callbacks come first; with `WS_RS_IO=threads`
   * the io threads acknowledge them later, hence the wait. At most 1 s: a peer that
   * does not read must not hold the failure back.
   */
  [kAfterWritten](fn) {
    if (this[kPendingHead] === this[kPendingTail] || this._readyState === WebSocket.CLOSED) {
      process.nextTick(fn);
      return;
    }
    const run = () => {
      if (this[kWrittenWaiter] !== run) return;
      this[kWrittenWaiter] = null;
      clearTimeout(timer);
      process.nextTick(fn);
    };
    const timer = setTimeout(run, 1000);
    timer.unref();
    this[kWrittenWaiter] = run;
  }

  /**
   * A Blob could not be read: ws's sender error. The socket ends its write side (the
   * peer may still finish what it sends) and `error` is emitted once, unless the
   * connection already closed.
   */
  [kOnBlobError](err) {
    if (this._readyState === WebSocket.CLOSED) return;
    if (this._readyState === WebSocket.OPEN) {
      this._readyState = WebSocket.CLOSING;
      this._closeTimer = setTimeout(() => this.terminate(), this._closeTimeout);
    }
    // Everything else stays held, as in ws.
    this[kEnd]();
    if (!this._errorEmitted) {
      this._errorEmitted = true;
      this.emit('error', err);
    }
  }

  [kUnblock]() {
    const blocked = this[kBlocked];
    while (blocked.length !== 0 && !isBlob(blocked[0][2])) {
      const [op, flags, payload, cb] = blocked.shift();
      if (this._readyState === WebSocket.CLOSED || this[kTerminated] === true) {
        if (cb) process.nextTick(cb, new Error('The socket was closed while the blob was being read'));
        continue;
      }
      this[kBlocked] = null;
      this[kQueue](op, flags, payload, cb);
      this[kBlocked] = blocked;
    }
    if (blocked.length === 0) this[kBlocked] = null;
  }

  /**
   * Ends the write side after the frames already in the outbox. Sends still waiting
   * for a Blob do not hold it back: ws ends its socket directly (the peer's FIN, a
   * completed close, `_socket.end()`), and what its sender still holds fails later.
   */
  [kEnd]() {
    if (this[kEnded]) return;
    this[kEnded] = true;
    // Nothing more is written: no more heartbeat pings either.
    if (this[kIdleTimeout] !== 0) native.unwatchIdle(this[kId]);
    native.queue(this[kId], OP.END, 0, null);
  }

  // Events from the io driver, in wire order (see lib/native.js). With
  // `allowSynchronousEvents: false` each message, ping and pong waits for its own
  // setImmediate, as in ws, and later events wait behind it. While paused, events
  // that were already read are held until resume(), as ws's paused socket holds them.

  [kOnMessage](data, isBinary) {
    // As ws, the binary type in force when the message arrived decides its form.
    if (isBinary) {
      data = toBinaryType(data, this._binaryType, this[kFrameEnds]);
      this[kFrameEnds] = null;
    }
    if (this[kAllowSynchronousEvents] && this[kDeferred] === null && !this._paused) this[kHandleMessage](data, isBinary);
    else this[kDefer](true, this[kHandleMessage], data, isBinary);
  }

  [kOnPing](data) {
    if (this[kAllowSynchronousEvents] && this[kDeferred] === null && !this._paused) this[kHandlePing](data);
    else this[kDefer](true, this[kHandlePing], data);
  }

  [kOnPong](data) {
    if (this[kAllowSynchronousEvents] && this[kDeferred] === null && !this._paused) this[kHandlePong](data);
    else this[kDefer](true, this[kHandlePong], data);
  }

  [kOnCloseFrame](code, reason) {
    if (this[kDeferred] === null) this[kHandleCloseFrame](code, reason);
    else this[kDefer](false, this[kHandleCloseFrame], code, Buffer.from(reason));
  }

  [kOnProtocolError](kind, arg) {
    if (this[kDeferred] === null) this[kHandleProtocolError](kind, arg);
    else this[kDefer](false, this[kHandleProtocolError], kind, arg);
  }

  [kOnEnd]() {
    if (this[kDeferred] === null) this[kHandleEnd]();
    else this[kDefer](false, this[kHandleEnd]);
  }

  [kOnClosed](bytesRead, bytesWritten) {
    // An adopted socket's totals, for `ws._socket.bytesRead`/`bytesWritten` after close.
    if (bytesRead !== undefined && this._socket instanceof AdoptedSocket) {
      this._socket.closed(bytesRead, bytesWritten);
    }
    if (this[kDeferred] === null) this[kHandleClosed]();
    else this[kDefer](false, this[kHandleClosed]);
  }

  /** Silent for `idleTimeout` (and unanswered pings): as `terminate()`. */
  [kOnIdle]() {
    this.terminate();
  }

  [kOnSocketData](bytes) {
    if (this._socket instanceof AdoptedSocket) this._socket.emit('data', bytes);
  }

  [kOnSocketError](errno, syscall) {
    if (this._socket instanceof AdoptedSocket) this._socket.failed(errno, syscall);
  }

  [kDefer](ownTurn, handler, a, b) {
    if (this[kDeferred] === null) {
      this[kDeferred] = [];
      this[kScheduleDeferred]();
    }
    this[kDeferred].push(ownTurn, handler, a, b);
  }

  [kScheduleDeferred]() {
    if (this[kDeferScheduled] || this._paused) return;
    this[kDeferScheduled] = true;
    setImmediate(runDeferred, this);
  }

  [kHandleMessage](data, isBinary) {
    this.emit('message', data, isBinary);
  }

  [kOnFrameEnd](length) {
    this[kFrameEnds] = withFrameEnd(this[kFrameEnds], this._binaryType, length);
  }

  [kHandlePing](data) {
    if (this._autoPong && this._readyState === WebSocket.OPEN) {
      if (this[kMaxPendingAutoPongs] > 0 && this[kPendingAutoPongs] >= this[kMaxPendingAutoPongs]) {
        this.terminate();
      } else {
        this[kPendingAutoPongs]++;
        this.pong(data, !this._isServer, () => this[kPendingAutoPongs]--);
      }
    }
    this.emit('ping', data);
  }

  [kHandlePong](data) {
    this.emit('pong', data);
  }

  [kHandleCloseFrame](code, reason) {
    this._closeFrameReceived = true;
    this._closeCode = code;
    this._closeMessage = reason.length === 0 ? EMPTY_BUFFER : Buffer.from(reason);

    if (code === 1005) this.close();
    else this.close(code, this._closeMessage);
    if (this[kReceiverView]) this[kReceiverView].emit('conclude', code, this._closeMessage);
  }

  [kHandleProtocolError](kind, arg) {
    const err = protocolError(kind, arg);
    this[kReceiverErrored] = true;
    this.close(err[kStatusCode]);

    if (!this._errorEmitted) {
      this._errorEmitted = true;
      this.emit('error', err);
    }
  }

  [kOnWritten](frames) {
    // What it still held is reported lost by _handleClosed: the io threads may have
    // written it meanwhile, ws's socket never would have.
    if (terminatedWhileCompressing(this)) return;
    // `kPending` is a queue of [length, callback] pairs from `kPendingHead` to
    // `kPendingTail`, so a write burst costs no array copy and a drained queue is
    // reused as it is. A callback may queue more meanwhile.
    const pending = this[kPending];
    const end = Math.min(this[kPendingHead] + frames * 2, this[kPendingTail]);
    while (this[kPendingHead] < end) {
      const i = this[kPendingHead];
      this[kPendingHead] = i + 2;
      this._bufferedAmount -= pending[i];
      const cb = pending[i + 1];
      pending[i + 1] = undefined;
      if (cb) cb(null);
    }
    if (this[kPendingHead] === this[kPendingTail]) {
      this[kPendingHead] = 0;
      this[kPendingTail] = 0;
      // A deep queue is not kept by a connection that went quiet.
      if (pending.length > 256) this[kPending] = [];
      if (this[kWrittenWaiter] !== null) this[kWrittenWaiter]();
    } else if (this[kPendingHead] > 4096) {
      pending.splice(0, this[kPendingHead]);
      this[kPendingTail] -= this[kPendingHead];
      this[kPendingHead] = 0;
    }
    // 'drain' once back under half the limit, as a net.Socket after write() said no.
    if (this[kOverLimit] && this._bufferedAmount <= this[kMaxBackpressure] / 2) {
      this[kOverLimit] = false;
      if (this._readyState === WebSocket.OPEN) this.emit('drain');
    }
  }

  [kHandleEnd]() {
    this._readyState = WebSocket.CLOSING;
    this[kEnd]();
  }

  [kHandleClosed]() {
    clearTimeout(this._closeTimer);
    const pending = this[kPending];
    const head = this[kPendingHead];
    const tail = this[kPendingTail];
    this[kPending] = [];
    this[kPendingHead] = 0;
    this[kPendingTail] = 0;
    // Frames not yet written when the connection went.
    const compressing = terminatedWhileCompressing(this);
    for (let i = head + 1; i < tail; i += 2) {
      if (pending[i]) {
        pending[i](compressing ? new Error('The socket was closed while data was being compressed') : streamDestroyedError());
      }
    }
    if (this[kWrittenWaiter] !== null) this[kWrittenWaiter]();
    this._readyState = WebSocket.CLOSING;
    this.emitClose();
    // After the WebSocket's own 'close', as ws's listener on its socket comes first.
    if (this._socket instanceof AdoptedSocket) this._socket.emit('close', false);
  }

  /** @private */
  emitClose() {
    this._readyState = WebSocket.CLOSED;
    if (this[kTopics] !== null) this[kRegistry].leaveAll(this);
    this.emit('close', this._closeCode, this._closeMessage);
  }
}

for (const [i, name] of readyStates.entries()) {
  Object.defineProperty(WebSocket, name, { enumerable: true, value: i });
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value: i });
}

for (const property of ['binaryType', 'bufferedAmount', 'extensions', 'isPaused', 'protocol', 'readyState', 'url']) {
  Object.defineProperty(WebSocket.prototype, property, { enumerable: true });
}

defineEventAttributes(WebSocket.prototype);

/**
 * Delivers one deferred message (or ping or pong), then everything after it up to the
 * next one, which gets a later turn of the event loop.
 */
function runDeferred(websocket) {
  websocket[kDeferScheduled] = false;
  const queue = websocket[kDeferred];
  if (queue === null || websocket._paused) return;
  let i = 0;
  try {
    do {
      const [handler, a, b] = [queue[i + 1], queue[i + 2], queue[i + 3]];
      i += 4;
      handler.call(websocket, a, b);
    } while (i < queue.length && !queue[i] && !websocket._paused);
  } finally {
    // A listener that throws still leaves the rest for later turns.
    queue.splice(0, i);
    if (queue.length === 0) websocket[kDeferred] = null;
    else websocket[kScheduleDeferred]();
  }
}

module.exports = WebSocket;


/**
 * Whether terminate() ended a compressing connection: what it had not written yet
 * was, in ws's terms, still being compressed (ws compresses on zlib's threadpool),
 * and ws reports that to each waiting callback.
 */
function terminatedWhileCompressing(websocket) {
  return websocket[kTerminated] === true && websocket._extensions[EXTENSION_NAME] !== undefined;
}

/**
 * A byte count option: a positive number of bytes (fractions dropped), else 0 for
 * "off". `Infinity` is off too: no limit.
 */
function byteLimit(value) {
  return typeof value === 'number' && value >= 1 && value < Infinity ? Math.floor(value) : 0;
}

/** `idleTimeout`: as `byteLimit`, at most 2^31 - 1 ms (as timers take). */
function idleTime(value) {
  return Math.min(byteLimit(value), 2 ** 31 - 1);
}

/** The topic registry of `websocket`'s server; throws for other WebSockets. */
function topicRegistry(websocket) {
  const registry = websocket[kRegistry];
  if (registry === null) throw new Error('Topics are for the connections of a WebSocketServer');
  return registry;
}

function sendAfterClose(websocket, data, cb) {
  if (data) websocket._bufferedAmount += byteLengthOf(data);

  if (cb) {
    const err = new Error(
      `WebSocket is not open: readyState ${websocket._readyState} (${readyStates[websocket._readyState]})`
    );
    process.nextTick(cb, err);
  }
}

/**
 * Sets up a client: validates options and URL as ws does, sends the upgrade request
 * and, on a valid 101, hands the socket to the io driver.
 */
function initAsClient(websocket, address, protocols, options) {
  const opts = {
    ...DEFAULTS,
    protocolVersion: protocolVersions[1],
    perMessageDeflate: true,
    followRedirects: false,
    maxRedirects: 10,
    ...options,
    socketPath: undefined,
    hostname: undefined,
    protocol: undefined,
    protocols: undefined,
    timeout: undefined,
    method: 'GET',
    host: undefined,
    path: undefined,
    port: undefined
  };

  if (!protocolVersions.includes(opts.protocolVersion)) {
    throw new RangeError(
      `Unsupported protocol version: ${opts.protocolVersion} (supported versions: ${protocolVersions.join(', ')})`
    );
  }

  let parsedUrl;
  if (address instanceof URL) {
    parsedUrl = address;
  } else {
    try {
      parsedUrl = new URL(address);
    } catch {
      throw new SyntaxError(`Invalid URL: ${address}`);
    }
  }

  if (parsedUrl.protocol === 'http:' || parsedUrl.protocol === 'https:') {
    parsedUrl = new URL(parsedUrl);
    parsedUrl.protocol = parsedUrl.protocol === 'http:' ? 'ws:' : 'wss:';
  }

  websocket._url = parsedUrl.href;

  const isSecure = parsedUrl.protocol === 'wss:';
  const isIpcUrl = parsedUrl.protocol === 'ws+unix:';
  let invalidUrlMessage;

  if (parsedUrl.protocol !== 'ws:' && !isSecure && !isIpcUrl) {
    invalidUrlMessage = 'The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"';
  } else if (isIpcUrl && !parsedUrl.pathname) {
    invalidUrlMessage = "The URL's pathname is empty";
  } else if (parsedUrl.hash) {
    invalidUrlMessage = 'The URL contains a fragment identifier';
  }

  if (invalidUrlMessage) {
    const err = new SyntaxError(invalidUrlMessage);
    // A bad first URL throws; a bad redirect target fails the connection.
    if (websocket._redirects === 0) throw err;
    emitErrorAndClose(websocket, err);
    return;
  }

  const defaultPort = isSecure ? 443 : 80;
  const key = randomBytes(16).toString('base64');
  const request = isSecure ? https.request : http.request;
  const protocolSet = new Set();

  opts.createConnection = opts.createConnection || (isSecure ? tlsConnect : netConnect);
  opts.defaultPort = opts.defaultPort || defaultPort;
  opts.port = parsedUrl.port || defaultPort;
  opts.host = parsedUrl.hostname.startsWith('[') ? parsedUrl.hostname.slice(1, -1) : parsedUrl.hostname;
  opts.headers = {
    ...opts.headers,
    'Sec-WebSocket-Version': opts.protocolVersion,
    'Sec-WebSocket-Key': key,
    Connection: 'Upgrade',
    Upgrade: 'websocket'
  };
  opts.path = parsedUrl.pathname + parsedUrl.search;
  opts.timeout = opts.handshakeTimeout;

  let deflateOptions;
  if (opts.perMessageDeflate) {
    deflateOptions = opts.perMessageDeflate === true ? {} : opts.perMessageDeflate;
    opts.headers['Sec-WebSocket-Extensions'] = extension.format({ [EXTENSION_NAME]: offer(deflateOptions) });
  }

  if (protocols.length) {
    for (const protocol of protocols) {
      if (typeof protocol !== 'string' || !subprotocolRegex.test(protocol) || protocolSet.has(protocol)) {
        throw new SyntaxError('An invalid or duplicated subprotocol was specified');
      }
      protocolSet.add(protocol);
    }
    opts.headers['Sec-WebSocket-Protocol'] = protocols.join(',');
  }

  if (opts.origin) {
    if (opts.protocolVersion < 13) opts.headers['Sec-WebSocket-Origin'] = opts.origin;
    else opts.headers.Origin = opts.origin;
  }

  if (parsedUrl.username || parsedUrl.password) {
    opts.auth = `${decodeURIComponent(parsedUrl.username)}:${decodeURIComponent(parsedUrl.password)}`;
  }

  if (isIpcUrl) {
    const i = opts.path.indexOf(':');
    if (i === -1) {
      opts.socketPath = opts.path;
      opts.path = '';
    } else {
      opts.socketPath = opts.path.slice(0, i);
      opts.path = opts.path.slice(i + 1);
    }
  }

  let req;

  if (opts.followRedirects) {
    if (websocket._redirects === 0) {
      websocket._originalIpc = isIpcUrl;
      websocket._originalSecure = isSecure;
      websocket._originalHostOrSocketPath = isIpcUrl ? opts.socketPath : parsedUrl.host;

      // Header names are compared lowercased across redirects.
      const headers = options && options.headers;
      options = { ...options, headers: {} };
      if (headers) {
        for (const [name, value] of Object.entries(headers)) options.headers[name.toLowerCase()] = value;
      }
    } else if (websocket.listenerCount('redirect') === 0) {
      const isSameHost = isIpcUrl
        ? websocket._originalIpc && opts.socketPath === websocket._originalHostOrSocketPath
        : !websocket._originalIpc && parsedUrl.host === websocket._originalHostOrSocketPath;

      // Credentials do not follow a redirect to another host or from wss: to ws:.
      if (!isSameHost || (websocket._originalSecure && !isSecure)) {
        delete opts.headers.authorization;
        delete opts.headers.cookie;
        if (!isSameHost) delete opts.headers.host;
        opts.auth = undefined;
      }
    }

    if (opts.auth && !options.headers.authorization) {
      options.headers.authorization = 'Basic ' + Buffer.from(opts.auth).toString('base64');
    }

    req = websocket._req = request(opts);

    if (websocket._redirects) websocket.emit('redirect', websocket.url, req);
  } else {
    req = websocket._req = request(opts);
  }

  if (opts.timeout) {
    req.on('timeout', () => {
      abortHandshake(websocket, req, 'Opening handshake has timed out');
    });
  }

  req.on('error', (err) => {
    if (req === null || req[kAborted]) return;
    req = websocket._req = null;
    emitErrorAndClose(websocket, err);
  });

  req.on('response', (res) => {
    const location = res.headers.location;
    const statusCode = res.statusCode;

    if (location && opts.followRedirects && statusCode >= 300 && statusCode < 400) {
      if (++websocket._redirects > opts.maxRedirects) {
        abortHandshake(websocket, req, 'Maximum redirects exceeded');
        return;
      }

      req.abort();

      let addr;
      try {
        addr = new URL(location, address);
      } catch {
        emitErrorAndClose(websocket, new SyntaxError(`Invalid URL: ${location}`));
        return;
      }

      initAsClient(websocket, addr, protocols, options);
    } else if (!websocket.emit('unexpected-response', req, res)) {
      abortHandshake(websocket, req, `Unexpected server response: ${res.statusCode}`);
    }
  });

  req.on('upgrade', (res, socket, head) => {
    websocket.emit('upgrade', res);

    if (websocket.readyState !== WebSocket.CONNECTING) return;

    req = websocket._req = null;

    const upgrade = res.headers.upgrade;
    if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') {
      abortHandshake(websocket, socket, 'Invalid Upgrade header');
      return;
    }

    const digest = createHash('sha1').update(key + GUID).digest('base64');
    if (res.headers['sec-websocket-accept'] !== digest) {
      abortHandshake(websocket, socket, 'Invalid Sec-WebSocket-Accept header');
      return;
    }

    const serverProt = res.headers['sec-websocket-protocol'];
    let protError;
    if (serverProt !== undefined) {
      if (!protocolSet.size) protError = 'Server sent a subprotocol but none was requested';
      else if (!protocolSet.has(serverProt)) protError = 'Server sent an invalid subprotocol';
    } else if (protocolSet.size) {
      protError = 'Server sent no subprotocol';
    }

    if (protError) {
      abortHandshake(websocket, socket, protError);
      return;
    }

    if (serverProt) websocket._protocol = serverProt;

    const secWebSocketExtensions = res.headers['sec-websocket-extensions'];

    if (secWebSocketExtensions !== undefined) {
      if (!deflateOptions) {
        abortHandshake(websocket, socket, 'Server sent a Sec-WebSocket-Extensions header but no extension was requested');
        return;
      }

      let extensions;
      try {
        extensions = extension.parse(secWebSocketExtensions);
      } catch {
        abortHandshake(websocket, socket, 'Invalid Sec-WebSocket-Extensions header');
        return;
      }

      const names = Object.keys(extensions);
      if (names.length !== 1 || names[0] !== EXTENSION_NAME) {
        abortHandshake(websocket, socket, 'Server indicated an extension that was not requested');
        return;
      }

      const perMessageDeflate = new PerMessageDeflate(deflateOptions, false, opts.maxPayload);
      try {
        perMessageDeflate.accept(extensions[EXTENSION_NAME]);
      } catch {
        abortHandshake(websocket, socket, 'Invalid Sec-WebSocket-Extensions header');
        return;
      }

      websocket._extensions[EXTENSION_NAME] = perMessageDeflate;
    }

    websocket.setSocket(socket, head, opts);
  });

  if (opts.finishRequest) opts.finishRequest(req, websocket);
  else req.end();

  return opts;
}

function emitErrorAndClose(websocket, err) {
  websocket._readyState = WebSocket.CLOSING;
  websocket._errorEmitted = true;
  websocket.emit('error', err);
  websocket.emitClose();
}

function netConnect(options) {
  options.path = options.socketPath;
  return net.connect(options);
}

function tlsConnect(options) {
  const tls = require('tls');
  options.path = undefined;
  if (!options.servername && options.servername !== '') {
    options.servername = net.isIP(options.host) ? '' : options.host;
  }
  return tls.connect(options);
}

function abortHandshake(websocket, stream, message) {
  websocket._readyState = WebSocket.CLOSING;

  const err = new Error(message);
  Error.captureStackTrace(err, abortHandshake);

  if (stream.setHeader) {
    stream[kAborted] = true;
    stream.abort();
    if (stream.socket && !stream.socket.destroyed) stream.socket.destroy();
    process.nextTick(emitErrorAndClose, websocket, err);
  } else {
    stream.destroy(err);
    stream.once('error', websocket.emit.bind(websocket, 'error'));
    stream.once('close', websocket.emitClose.bind(websocket));
  }
}
