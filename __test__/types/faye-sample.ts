// Code written for faye-websocket, typed against ws-rs's adapter.
import WebSocket = require('../../faye');
import * as http from 'http';

const server = http.createServer();
server.on('upgrade', (request: http.IncomingMessage, socket, body: Buffer) => {
  if (!WebSocket.isWebSocket(request)) return;
  const ws = new WebSocket(request, socket, body, ['chat'], { ping: 30 });
  ws.on('message', (event: WebSocket.MessageEvent) => ws.send(event.data));
  ws.on('close', (event: WebSocket.CloseEvent) => console.log(event.code, event.reason));
});

const client = new WebSocket.Client('ws://localhost:8000/', [], { proxy: { origin: 'http://proxy:3128' } });
client.onopen = () => client.ping('x', () => client.close(1000, 'done'));
client.onmessage = (event) => console.log(event.data);

http.createServer((request, response) => {
  if (!WebSocket.EventSource.isEventSource(request)) return;
  const es = new WebSocket.EventSource(request, response, { retry: 10 });
  es.onopen = () => es.send('hello', { event: 'greeting', id: es.lastEventId || '1' });
});
