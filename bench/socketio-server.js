'use strict';

// The server side of the socket.io broadcast benchmark: every `m` event a client
// emits is sent to every client with `io.emit`, socket.io's broadcast, over the
// WebSocket transport with ws or ws-rs as engine.io's `wsEngine`.
// Usage: node bench/socketio-server.js ws|ws-rs PORT. Prints "ready" once listening.

const http = require('http');
const { Server } = require('socket.io');

const impl = process.argv[2];
const port = Number(process.argv[3]);
const wsEngine = impl === 'ws' ? require('ws').Server : require('..').Server;

const httpServer = http.createServer();
const io = new Server(httpServer, { transports: ['websocket'], perMessageDeflate: false, wsEngine });
io.on('connection', (socket) => socket.on('m', (data) => io.emit('m', data)));
httpServer.listen(port, '127.0.0.1', () => console.log('ready'));
