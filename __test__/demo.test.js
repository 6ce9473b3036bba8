'use strict';

// `npm start`'s chat demo: the page is served and messages are relayed to everyone.

const { test } = require('node:test');
const assert = require('node:assert');
const { spawn } = require('child_process');
const path = require('path');
const http = require('http');
const { once } = require('events');

const WebSocket = require('..');

test('chat demo serves its page and relays messages to every client', async () => {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'examples', 'chat', 'server.js')], {
    env: { ...process.env, PORT: '0' }
  });
  try {
    const [line] = await once(child.stdout, 'data');
    const port = Number(/localhost:(\d+)/.exec(line.toString())[1]);
    const page = await new Promise((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/`, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    assert.match(page, /new WebSocket\(/);

    const a = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    const b = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    await Promise.all([once(a, 'open'), once(b, 'open')]);
    const relayed = new Promise((resolve) =>
      b.on('message', (d) => {
        const m = JSON.parse(d);
        if (m.type === 'message') resolve(m);
      })
    );
    // Both are registered once each has its welcome.
    await new Promise((resolve) => setTimeout(resolve, 100));
    a.send('hello everyone');
    const m = await relayed;
    assert.strictEqual(m.text, 'hello everyone');
    a.close();
    b.close();
    await Promise.all([once(a, 'close'), once(b, 'close')]);
  } finally {
    child.kill();
  }
});
