'use strict';

/**
 * ws-rs: the npm `ws` package's API (v8), with frames handled by a Rust io driver.
 * `require('ws-rs')` is a drop-in for `require('ws')`.
 */

const WebSocket = require('./lib/websocket');
const WebSocketServer = require('./lib/websocket-server');
const createWebSocketStream = require('./lib/stream');

WebSocket.createWebSocketStream = createWebSocketStream;
// ws's header parsers, with its verdicts (linear scans: they run on what clients send).
WebSocket.extension = require('./lib/extension');
WebSocket.subprotocol = require('./lib/subprotocol');
// ws's frame-level classes: Receiver parses with the Rust core, Sender frames with it.
WebSocket.PerMessageDeflate = require('./lib/permessage-deflate').PerMessageDeflate;
WebSocket.Receiver = require('./lib/receiver');
WebSocket.Sender = require('./lib/sender');
WebSocket.WebSocket = WebSocket;
WebSocket.WebSocketServer = WebSocketServer;
WebSocket.Server = WebSocketServer;

module.exports = WebSocket;
