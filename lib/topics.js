'use strict';

/**
 * Topics (opt-in, in the spirit of uWebSockets.js and Bun): a server's connections
 * subscribe to topics, and one `publish` sends a message to every subscriber.
 *
 * The message is held once: it becomes one outbox record carrying the subscribers'
 * connection ids (`FLAG_PUBLISH` in `src/wire.rs`), and Rust frames it for each of
 * them in its place among that connection's other records, so a publish is ordered
 * with everything else the connection sends. Each subscriber's callbacks and
 * `bufferedAmount` account for it as for a send without a callback.
 */

const native = require('./native');
const { EMPTY_BUFFER, kId } = require('./constants');
const { isBlob, toBuffer } = require('./validation');

/** Per-connection hooks the WebSocket implements (see lib/websocket.js). */
const kPublishFlags = Symbol('publishFlags');
const kPublished = Symbol('published');
/** The server's registry on each of its connections, and the topics of one. */
const kRegistry = Symbol('topicRegistry');
const kTopics = Symbol('topics');

/** What a connection's `kPublishFlags` answers when it takes no part in a publish. */
const SKIP = -1;
/** ... when it queued the message itself (a send of its own was waiting on a Blob). */
const QUEUED = -2;

/**
 * Which connections of one server subscribed to which topic.
 */
class TopicRegistry {
  constructor() {
    /** @type {Map<string, Set<import('./websocket')>>} */
    this.subscribers = new Map();
  }

  /**
   * @param {import('./websocket')} ws
   * @param {string} topic
   * @return {boolean} Whether it was not subscribed before
   */
  subscribe(ws, topic) {
    let set = this.subscribers.get(topic);
    if (set === undefined) {
      set = new Set();
      this.subscribers.set(topic, set);
    }
    if (set.has(ws)) return false;
    set.add(ws);
    if (ws[kTopics] === null) ws[kTopics] = new Set();
    ws[kTopics].add(topic);
    return true;
  }

  /**
   * @return {boolean} Whether it was subscribed
   */
  unsubscribe(ws, topic) {
    const set = this.subscribers.get(topic);
    if (set === undefined || !set.delete(ws)) return false;
    if (set.size === 0) this.subscribers.delete(topic);
    ws[kTopics].delete(topic);
    return true;
  }

  /** Ends every subscription of `ws` (it closed). */
  leaveAll(ws) {
    const topics = ws[kTopics];
    if (topics === null) return;
    for (const topic of topics) {
      const set = this.subscribers.get(topic);
      if (set !== undefined && set.delete(ws) && set.size === 0) this.subscribers.delete(topic);
    }
    ws[kTopics] = null;
  }

  /** @return {number} */
  count(topic) {
    const set = this.subscribers.get(topic);
    return set === undefined ? 0 : set.size;
  }

  /**
   * Sends `data` to every open subscriber of `topic` but `except`.
   *
   * @param {string} topic
   * @param {*} data What `send` takes, but a Blob
   * @param {{ binary?: boolean, compress?: boolean }} [options]
   * @param {import('./websocket')|null} except
   * @return {number} The number of connections the message was queued to
   */
  publish(topic, data, options, except) {
    checkTopic(topic);
    if (typeof data === 'number') data = data.toString();
    if (isBlob(data)) throw new TypeError('publish() takes a string, Buffer, ArrayBuffer or typed array, not a Blob');
    const set = this.subscribers.get(topic);
    if (set === undefined) return 0;

    let binary = typeof data !== 'string';
    let compress = true;
    if (typeof options === 'object' && options !== null) {
      if (options.binary !== undefined) binary = !!options.binary;
      if (options.compress !== undefined) compress = !!options.compress;
    }
    const payload = typeof data === 'string' ? data : data === undefined ? EMPTY_BUFFER : toBuffer(data);
    const op = binary ? native.OP.BINARY : native.OP.TEXT;

    // Two classes of frame at most: compressed (connections that agreed on
    // permessage-deflate and compress this message) and not.
    let queued = 0;
    const plain = [];
    const deflated = [];
    for (const ws of set) {
      if (ws === except) continue;
      const flags = ws[kPublishFlags](data, payload, op, binary, compress);
      if (flags === SKIP) continue;
      queued++;
      if (flags === QUEUED) continue;
      (flags & native.FLAG.RSV1 ? deflated : plain).push(ws);
    }
    for (const group of [plain, deflated]) {
      if (group.length === 0) continue;
      const flags = native.FLAG.FIN | (group === deflated ? native.FLAG.RSV1 : 0);
      const ids = new Array(group.length);
      for (let i = 0; i < group.length; i++) ids[i] = group[i][kId];
      const len = native.publish(ids, op, flags, payload);
      for (const ws of group) ws[kPublished](len);
    }
    return queued;
  }
}

/** Topics are strings, as in Bun (uWebSockets.js also takes bytes). */
function checkTopic(topic) {
  if (typeof topic !== 'string') {
    throw new TypeError(`The topic must be a string, got ${topic === null ? 'null' : typeof topic}`);
  }
}

module.exports = {
  TopicRegistry,
  checkTopic,
  kPublishFlags,
  kPublished,
  kRegistry,
  kTopics,
  SKIP,
  QUEUED
};
