'use strict';

/**
 * The browser-style API ws adds to `WebSocket`: `Event`, `MessageEvent`,
 * `CloseEvent`, `ErrorEvent`, `addEventListener`/`removeEventListener` and the
 * `onopen`/`onmessage`/`onclose`/`onerror` attributes, all on top of EventEmitter.
 */

const { kListener } = require('./constants');

const kForOnEventAttribute = Symbol('kIsForOnEventAttribute');
const kFields = Symbol('kFields');

class Event {
  /**
   * @param {string} type
   */
  constructor(type) {
    this[kFields] = { target: null, type };
  }

  get target() {
    return this[kFields].target;
  }

  get type() {
    return this[kFields].type;
  }
}

class CloseEvent extends Event {
  /**
   * @param {string} type
   * @param {{code?: number, reason?: string, wasClean?: boolean}} [options]
   */
  constructor(type, options = {}) {
    super(type);
    this[kFields].code = options.code === undefined ? 0 : options.code;
    this[kFields].reason = options.reason === undefined ? '' : options.reason;
    this[kFields].wasClean = options.wasClean === undefined ? false : options.wasClean;
  }

  get code() {
    return this[kFields].code;
  }

  get reason() {
    return this[kFields].reason;
  }

  get wasClean() {
    return this[kFields].wasClean;
  }
}

class ErrorEvent extends Event {
  /**
   * @param {string} type
   * @param {{error?: *, message?: string}} [options]
   */
  constructor(type, options = {}) {
    super(type);
    this[kFields].error = options.error === undefined ? null : options.error;
    this[kFields].message = options.message === undefined ? '' : options.message;
  }

  get error() {
    return this[kFields].error;
  }

  get message() {
    return this[kFields].message;
  }
}

class MessageEvent extends Event {
  /**
   * @param {string} type
   * @param {{data?: *}} [options]
   */
  constructor(type, options = {}) {
    super(type);
    this[kFields].data = options.data === undefined ? null : options.data;
  }

  get data() {
    return this[kFields].data;
  }
}

// Accessors are enumerable, as in ws (and the DOM).
for (const [Class, names] of [
  [Event, ['target', 'type']],
  [CloseEvent, ['code', 'reason', 'wasClean']],
  [ErrorEvent, ['error', 'message']],
  [MessageEvent, ['data']]
]) {
  for (const name of names) Object.defineProperty(Class.prototype, name, { enumerable: true });
}

// How each WebSocket event becomes a DOM-style event object.
const makeEvent = {
  open: () => new Event('open'),
  message: (ws, data, isBinary) => new MessageEvent('message', { data: isBinary ? data : data.toString() }),
  close: (ws, code, reason) =>
    new CloseEvent('close', {
      code,
      reason: reason.toString(),
      wasClean: ws._closeFrameReceived && ws._closeFrameSent
    }),
  error: (ws, error) => new ErrorEvent('error', { error, message: error.message })
};

const EventTarget = {
  /**
   * Registers a listener for `open`, `message`, `close` or `error`; other types are
   * ignored. A function or an object with `handleEvent`; `{ once }` is honoured; the
   * same listener is never added twice.
   */
  addEventListener(type, handler, options = {}) {
    const forAttribute = !!options[kForOnEventAttribute];
    for (const listener of this.listeners(type)) {
      if (!forAttribute && listener[kListener] === handler && !listener[kForOnEventAttribute]) return;
    }

    const make = makeEvent[type];
    if (make === undefined) return;

    const wrapper = function (...args) {
      const event = make(this, ...args);
      event[kFields].target = this;
      if (typeof handler === 'object' && handler.handleEvent) handler.handleEvent.call(handler, event);
      else handler.call(this, event);
    };
    wrapper[kForOnEventAttribute] = forAttribute;
    wrapper[kListener] = handler;

    if (options.once) this.once(type, wrapper);
    else this.on(type, wrapper);
  },

  /** Removes a listener added with `addEventListener`. */
  removeEventListener(type, handler) {
    for (const listener of this.listeners(type)) {
      if (listener[kListener] === handler && !listener[kForOnEventAttribute]) {
        this.removeListener(type, listener);
        break;
      }
    }
  }
};

/**
 * Defines `onopen`, `onmessage`, `onclose` and `onerror` on a prototype.
 *
 * @param {Object} proto
 */
function defineEventAttributes(proto) {
  for (const type of ['open', 'error', 'close', 'message']) {
    Object.defineProperty(proto, `on${type}`, {
      // As ws's (it redefines accessors its class declares, which are configurable).
      configurable: true,
      enumerable: true,
      get() {
        for (const listener of this.listeners(type)) {
          if (listener[kForOnEventAttribute]) return listener[kListener];
        }
        return null;
      },
      set(handler) {
        for (const listener of this.listeners(type)) {
          if (listener[kForOnEventAttribute]) {
            this.removeListener(type, listener);
            break;
          }
        }
        if (typeof handler !== 'function') return;
        this.addEventListener(type, handler, { [kForOnEventAttribute]: true });
      }
    });
  }
  proto.addEventListener = EventTarget.addEventListener;
  proto.removeEventListener = EventTarget.removeEventListener;
}

module.exports = { CloseEvent, ErrorEvent, Event, EventTarget, MessageEvent, defineEventAttributes };
