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

module.exports = Event;
