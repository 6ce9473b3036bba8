'use strict';

// Frameworks our users plug ws into, run unchanged with ws-rs in ws's place:
// @fastify/websocket (which requires 'ws' itself, and whose injectWS() testing helper
// drives a client over an in-memory Duplex with setSocket), express-ws (requires 'ws';
// a server per app, routes by path, a broadcast over getWss().clients) and graphql-ws
// (given a ws server: a query, a subscription, a query that fails). Each scenario runs
// in a child process (__test__/fixtures/frameworks.js) once with ws and once with
// ws-rs aliased as 'ws'; what each observed must be the same. socket.io, which takes
// ws-rs as its wsEngine, has its own file.

const { test } = require('node:test');
const assert = require('node:assert');
const path = require('path');
const { execFile } = require('child_process');

const fixture = path.join(__dirname, 'fixtures', 'frameworks.js');

function run(impl, scenario) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [fixture, scenario], { env: { ...process.env, WS_IMPL: impl }, timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${scenario} on ${impl}: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

for (const scenario of ['fastify', 'express', 'graphql']) {
  test(`${scenario}: the same as with ws when ws-rs is aliased as 'ws'`, async () => {
    const ws = await run('ws', scenario);
    const wsRs = await run('ws-rs', scenario);
    assert.strictEqual(ws.ws, path.join('node_modules', 'ws', 'index.js'));
    assert.strictEqual(wsRs.ws, 'index.js');
    assert.ok(ws.seen.length >= 3, JSON.stringify(ws.seen));
    assert.deepStrictEqual(wsRs.seen, ws.seen);
  });
}
