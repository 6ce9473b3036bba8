// Code written for nodejs-websocket, typed against ws-rs's adapter.
import * as ws from '../../nodejs-websocket';

const server = ws.createServer({ validProtocols: ['chat'] }, (conn: ws.Connection) => {
  conn.on('text', (str: string) => conn.sendText(str.toUpperCase() + '!!!'));
  conn.on('binary', (inStream) => inStream.pipe(conn.beginBinary() ?? process.stdout));
  conn.on('close', (code: number, reason: string) => console.log(code, reason));
});
server.listen(8001, () => console.log(server.connections.length));

const client: ws.Connection = ws.connect('ws://localhost:8001/chat', { protocols: ['chat'] }, () => {
  client.send('hi');
  client.sendPing('p');
  client.close(1000, 'done');
});
ws.setBinaryFragmentation(1024);
