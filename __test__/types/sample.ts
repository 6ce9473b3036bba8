// Code written against @types/ws, with only the module name changed. Compiled (not
// run) by __test__/types.test.js.

import WebSocket, { WebSocketServer, createWebSocketStream, RawData } from '../..';
import * as http from 'http';

const wss: WebSocket.Server = new WebSocket.Server({ port: 8080, perMessageDeflate: false, maxPayload: 1024 });
const other = new WebSocketServer({ noServer: true, clientTracking: true });
const attached = new WebSocketServer({ server: http.createServer(), path: '/ws', verifyClient: (info, cb) => cb(true) });

wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
  ws.on('message', (data: RawData, isBinary: boolean) => {
    ws.send(data, { binary: isBinary }, (err?: Error) => {
      if (err) console.error(err.message);
    });
  });
  ws.on('close', (code: number, reason: Buffer) => console.log(code, reason.toString(), req.url));
  ws.ping();
  ws.binaryType = 'arraybuffer';
  const state: number = ws.readyState;
  if (state === WebSocket.OPEN) ws.close(1000, 'bye');
});

other.on('headers', (headers: string[]) => headers.push('X-A: b'));
attached.close();

const client = new WebSocket('ws://localhost:8080', ['chat'], { handshakeTimeout: 1000, followRedirects: true });
client.onopen = (event: WebSocket.Event) => console.log(event.type);
client.onmessage = (event: WebSocket.MessageEvent) => console.log(event.data);
client.addEventListener('close', (event) => console.log(event.code, event.wasClean), { once: true });
client.on('unexpected-response', (req, res) => console.log(res.statusCode));
const duplex = createWebSocketStream(client, { encoding: 'utf8' });
duplex.pipe(process.stdout);
const amount: number = client.bufferedAmount;
console.log(amount, client.protocol, client.extensions, client.url, WebSocket.WebSocketServer === WebSocketServer);

// ws-rs's opt-in back-pressure limit.
const rooms = new WebSocketServer({ port: 8084 });
rooms.on('connection', (ws) => {
  const joined: boolean = ws.subscribe('room:1');
  if (ws.isSubscribed('room:1') && joined) ws.publish('room:1', 'hello', { binary: false });
  const topics: string[] = ws.topics;
  ws.unsubscribe(topics[0]);
  const queued: number = rooms.publish('room:1', Buffer.from('all'), { compress: false });
  console.log(queued, rooms.subscriberCount('room:1'));
});

const limited = new WebSocketServer({ port: 8082, maxBackpressure: 4 << 20, closeOnBackpressureLimit: false });
limited.on('connection', (ws) => {
  ws.on('dropped', (data, isBinary: boolean) => console.log('dropped', isBinary, data));
  ws.on('drain', () => console.log('drained', ws.bufferedAmount));
  const more: boolean | undefined = ws.send('hello');
  console.log(more);
});

// ws-rs's opt-in heartbeat, on both sides.
const watched = new WebSocketServer({ port: 8083, idleTimeout: 30000, sendPings: true });
watched.close();
const watchedClient = new WebSocket('ws://localhost:8083', { idleTimeout: 60000, sendPings: false, maxBackpressure: 1 << 20 });
watchedClient.terminate();
