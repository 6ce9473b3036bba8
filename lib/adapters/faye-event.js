'use strict';

/**
 * The event objects of the faye adapters: a type and the given fields; dispatch sets
 * `target`, `currentTarget` and `eventPhase`.
 */

class Event {
  constructor(type, fields) {
    this.type = type;
    Object.assign(this, fields);
  }

  initEvent(type, bubbles, cancelable) {
    this.type = type;
    this.bubbles = bubbles;
    this.cancelable = cancelable;
  }

  stopPropagation() {}

  preventDefault() {}
}
Event.CAPTURING_PHASE = 1;
Event.AT_TARGET = 2;
Event.BUBBLING_PHASE = 3;

/**
 * faye's EventTarget methods, for classes that are EventEmitters: `on…` attributes
 * run first, then the listeners of the event's type.
 */
const eventTarget = {
  addEventListener(type, listener) {
    this.on(type, listener);
  },

  removeEventListener(type, listener) {
    this.removeListener(type, listener);
  },

  dispatchEvent(event) {
    event.target = event.currentTarget = this;
    event.eventPhase = Event.AT_TARGET;
    const handler = this[`on${event.type}`];
    if (typeof handler === 'function') handler.call(this, event);
    this.emit(event.type, event);
  }
};

/**
 * Milliseconds for a `ping` option given in seconds, or null when it is not a
 * positive finite number (faye would hand `Infinity` to setInterval, which Node turns
 * into a 1 ms interval).
 *
 * @param {*} seconds
 * @return {?number}
 */
function pingInterval(seconds) {
  const ms = Number(seconds) * 1000;
  return Number.isFinite(ms) && ms >= 1 && ms <= 2 ** 31 - 1 ? ms : null;
}

module.exports = { Event, eventTarget, pingInterval };
