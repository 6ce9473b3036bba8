// Code written in fibjs's ws style, typed against ws-rs's adapter.
import * as ws from '../../fibjs';
import * as http from 'http';

const server = http.createServer();
server.on('upgrade', ws.upgrade({ maxPayload: 1 << 20 }, (conn, req) => {
  conn.onmessage = (msg) => conn.send(`echo ${msg.data}`);
  console.log(req.url, conn.readyState === ws.OPEN);
}));
const client = new ws.Socket('ws://localhost:8080/', ['chat']);
client.onopen = () => client.send('hi');
