'use strict';

// Every export of require('ws') is in require('ws-rs') and behaves as ws's:
// Sender.frame builds the same bytes, Receiver parses to the same events and errors,
// PerMessageDeflate negotiates and (de)compresses interchangeably with ws's, and
// `ws._sender.sendFrame` sends a pre-built frame in order (socket.io's broadcast path).

const { test } = require('node:test');
const assert = require('node:assert');
const { once } = require('events');

const { impls, startServer, stopServer, seeded } = require('./helpers');

const ours = impls['ws-rs'];
const theirs = impls.ws;

test('require("ws-rs") has every key require("ws") has', () => {
  assert.deepStrictEqual(Object.keys(ours).sort(), Object.keys(theirs).sort());
  for (const name of ['Receiver', 'Sender', 'PerMessageDeflate']) assert.strictEqual(typeof ours[name], 'function', name);
  assert.strictEqual(ours.PerMessageDeflate.extensionName, 'permessage-deflate');
});

test('Sender.frame: the same bytes as ws for lengths, opcodes, flags and masks', () => {
  const random = seeded(7);
  const keys = [
    [1, 2, 3, 4],
    [0, 0, 0, 0]
  ];
  for (const length of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    const payload = Buffer.from(Array.from({ length }, () => random() & 0xff));
    for (const opcode of [0, 1, 2, 8, 9, 10]) {
      for (const mask of [false, true]) {
        for (const readOnly of [false, true]) {
          for (const key of mask ? keys : [null]) {
            const options = () => ({
              opcode,
              fin: opcode !== 0,
              rsv1: opcode === 1,
              mask,
              readOnly,
              generateMask: key ? (m) => m.set(key) : undefined
            });
            const a = Buffer.from(payload);
            const b = Buffer.from(payload);
            const ourFrame = ours.Sender.frame(a, options());
            const theirFrame = theirs.Sender.frame(b, options());
            const what = `length ${length} opcode ${opcode} mask ${mask} readOnly ${readOnly} key ${key}`;
            assert.strictEqual(ourFrame.length, theirFrame.length, what);
            assert.ok(Buffer.concat(ourFrame).equals(Buffer.concat(theirFrame)), what);
            // In-place masking of a payload that is not read-only, as ws does.
            assert.ok(a.equals(b), what);
          }
        }
      }
    }
  }
  // Strings, with and without masking.
  for (const mask of [false, true]) {
    const options = { opcode: 1, fin: true, mask, generateMask: (m) => m.set([9, 8, 7, 6]) };
    const a = ours.Sender.frame('héllo', { ...options });
    const b = theirs.Sender.frame('héllo', { ...options });
    assert.ok(Buffer.concat(a.map((x) => Buffer.from(x))).equals(Buffer.concat(b.map((x) => Buffer.from(x)))));
  }
});

/** Feeds `chunks` to a Receiver of `impl` and returns what it emitted. */
async function receive(impl, options, chunks) {
  const receiver = new impls[impl].Receiver(options);
  const events = [];
  const describe = (v) => (Buffer.isBuffer(v) ? `buf:${v.toString('hex')}` : v);
  receiver.on('message', (data, isBinary) => events.push(['message', describe(data), isBinary]));
  receiver.on('ping', (data) => events.push(['ping', describe(data)]));
  receiver.on('pong', (data) => events.push(['pong', describe(data)]));
  receiver.on('conclude', (code, reason) => events.push(['conclude', code, describe(reason)]));
  receiver.on('error', (err) => events.push(['error', err.constructor.name, err.code, err.message]));
  for (const chunk of chunks) {
    if (receiver.destroyed) break;
    // A copy: both receivers unmask in place, as ws's does.
    receiver.write(Buffer.from(chunk));
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
  return events;
}

test('Receiver: the same events and errors as ws, whole and byte by byte', async () => {
  const frame = (data, options) => Buffer.concat(theirs.Sender.frame(Buffer.from(data), { fin: true, ...options }));
  const masked = { mask: true, generateMask: (m) => m.set([1, 2, 3, 4]) };
  const cases = [
    ['text, binary, ping, pong, close', {}, [
      frame('hello', { opcode: 1 }),
      frame([1, 2, 3], { opcode: 2 }),
      frame('p', { opcode: 9 }),
      frame('q', { opcode: 10 }),
      frame([3, 232, 98, 121, 101], { opcode: 8 })
    ]],
    ['fragmented text', {}, [
      frame('he', { opcode: 1, fin: false }),
      frame('ll', { opcode: 0, fin: false }),
      frame('o', { opcode: 0 })
    ]],
    ['server side, masked', { isServer: true }, [frame('hi', { opcode: 1, ...masked })]],
    ['server side, unmasked', { isServer: true }, [frame('hi', { opcode: 1 })]],
    ['client side, masked', {}, [frame('hi', { opcode: 1, ...masked })]],
    ['invalid UTF-8', {}, [frame([0xff, 0xfe], { opcode: 1 })]],
    ['over maxPayload', { maxPayload: 4 }, [frame('hello', { opcode: 1 })]],
    // Whole it is one write; byte by byte, a fourth write of one frame fails.
    ['maxBufferedChunks', { maxBufferedChunks: 3 }, [frame('hello', { opcode: 1 })]],
    ['bad opcode', {}, [Buffer.from([0x83, 0x00])]],
    ['RSV1 without deflate', {}, [Buffer.from([0xc1, 0x00])]],
    ['bad close code', {}, [frame([3, 231], { opcode: 8 })]],
    ['empty close', {}, [frame([], { opcode: 8 })]],
    ['data after close is ignored', {}, [frame([], { opcode: 8 }), frame('late', { opcode: 1 })]]
  ];
  for (const [name, options, chunks] of cases) {
    const whole = [Buffer.concat(chunks)];
    const bytes = [...Buffer.concat(chunks)].map((b) => Buffer.from([b]));
    for (const input of [whole, bytes]) {
      const a = await receive('ws-rs', options, input);
      const b = await receive('ws', options, input);
      assert.deepStrictEqual(a, b, `${name} (${input.length} chunks)`);
    }
  }
});

test('PerMessageDeflate: same negotiation as ws; each side inflates what the other deflates', async () => {
  const offers = [
    'permessage-deflate',
    'permessage-deflate; client_max_window_bits',
    'permessage-deflate; server_no_context_takeover; client_max_window_bits=10',
    'permessage-deflate; server_max_window_bits=9'
  ];
  const serverOptions = [{}, { serverMaxWindowBits: 10 }, { serverNoContextTakeover: true, clientMaxWindowBits: 12 }];
  for (const header of offers) {
    for (const options of serverOptions) {
      const result = (impl) => {
        const pmd = new impls[impl].PerMessageDeflate({ ...options, isServer: true });
        try {
          return { ...pmd.accept(impls[impl].extension.parse(header)['permessage-deflate']) };
        } catch (err) {
          return err.message;
        }
      };
      assert.deepStrictEqual(result('ws-rs'), result('ws'), `${header} with ${JSON.stringify(options)}`);
    }
  }

  const promisify = (pmd, method) => (data, fin) =>
    new Promise((resolve, reject) => pmd[method](data, fin, (err, out) => (err ? reject(err) : resolve(out))));
  const message = Buffer.from(JSON.stringify({ hello: 'world', list: Array.from({ length: 200 }, (_, i) => i) }));
  for (const [from, to] of [
    ['ws-rs', 'ws'],
    ['ws', 'ws-rs']
  ]) {
    const sender = new impls[from].PerMessageDeflate({ isServer: false });
    sender.accept([{}]);
    const receiver = new impls[to].PerMessageDeflate({ isServer: true });
    receiver.accept([{}]);
    // Three messages with context takeover, the last in two fragments.
    for (let i = 0; i < 3; i++) {
      const compress = promisify(sender, 'compress');
      const decompress = promisify(receiver, 'decompress');
      let inflated;
      if (i < 2) {
        inflated = await decompress(await compress(message, true), true);
      } else {
        const first = await compress(message.subarray(0, 100), false);
        const rest = await compress(message.subarray(100), true);
        inflated = Buffer.concat([await decompress(first, false), await decompress(rest, true)]);
      }
      assert.ok(inflated.equals(message), `${from} -> ${to}, message ${i}`);
    }
  }

  // maxPayload and corrupt data give ws's errors.
  for (const impl of ['ws', 'ws-rs']) {
    const pmd = new impls[impl].PerMessageDeflate({ isServer: true, maxPayload: 10 });
    pmd.accept([{}]);
    const big = await promisify(pmd, 'compress')(Buffer.alloc(100, 97), true);
    const err = await promisify(pmd, 'decompress')(big, true).then(
      () => null,
      (e) => e
    );
    assert.deepStrictEqual([err.constructor.name, err.code, err.message], ['RangeError', 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 'Max payload size exceeded'], impl);
    const bad = await promisify(pmd, 'decompress')(Buffer.from([0xff, 0xff, 0xff]), true).then(
      () => null,
      (e) => e
    );
    assert.deepStrictEqual([bad.code, bad.errno], ['Z_DATA_ERROR', -3], impl);
  }
});

test('ws._sender.sendFrame: a frame built once goes to many sockets in order with their sends', async () => {
  const results = {};
  for (const impl of ['ws', 'ws-rs']) {
    const { wss, url } = await startServer(impl);
    const clients = [];
    for (let i = 0; i < 3; i++) {
      const ws = new theirs(url);
      const got = [];
      ws.on('message', (data, isBinary) => got.push([data.toString(), isBinary]));
      clients.push({ ws, got });
      await once(ws, 'open');
    }
    while (wss.clients.size < 3) await new Promise((resolve) => setImmediate(resolve));

    // socket.io-adapter's way: one frame for everyone, then engine.io's sendFrame.
    const text = impls[impl].Sender.frame(Buffer.from('broadcast'), { opcode: 1, fin: true, mask: false, readOnly: false });
    const binary = impls[impl].Sender.frame(Buffer.alloc(20000, 7), {
      opcode: 2,
      fin: true,
      mask: false,
      readOnly: false
    });
    const callbacks = [];
    for (const socket of wss.clients) {
      socket.send('before');
      socket._sender.sendFrame(text, (err) => callbacks.push(err));
      socket._sender.sendFrame(binary, (err) => callbacks.push(err));
      socket.send('after', (err) => callbacks.push(err));
    }
    while (clients.some((c) => c.got.length < 4)) await new Promise((resolve) => setTimeout(resolve, 5));
    const buffered = [...wss.clients].map((s) => s.bufferedAmount);
    results[impl] = {
      got: clients.map((c) => c.got.map(([d, b]) => [d.length > 30 ? `${d.length} bytes` : d, b])),
      callbacks: callbacks.map((e) => e == null),
      buffered
    };
    for (const c of clients) c.ws.close();
    await stopServer(wss);
  }
  assert.deepStrictEqual(results['ws-rs'], results.ws);
  assert.deepStrictEqual(results['ws-rs'].got[0], [
    ['before', false],
    ['broadcast', false],
    ['20000 bytes', true],
    ['after', false]
  ]);
  assert.strictEqual(results['ws-rs'].callbacks.length, 9);
});

test('ws._sender.ping/pong/close on a server socket: the peer gets them in order, callbacks run', async () => {
  const results = {};
  for (const impl of ['ws', 'ws-rs']) {
    const { wss, url } = await startServer(impl);
    const client = new theirs(url);
    const seen = [];
    client.on('ping', (d) => seen.push(['ping', d.toString()]));
    client.on('pong', (d) => seen.push(['pong', d.toString()]));
    client.on('message', (d) => seen.push(['message', d.toString()]));
    const closed = new Promise((resolve) => client.on('close', (code, reason) => resolve([code, reason.toString()])));
    await once(client, 'open');
    while (wss.clients.size < 1) await new Promise((resolve) => setImmediate(resolve));
    const [socket] = wss.clients;
    const callbacks = [];
    socket._sender.ping(Buffer.from('p'), false, (err) => callbacks.push(['ping', err == null]));
    socket._sender.send(Buffer.from('m'), { fin: true }, (err) => callbacks.push(['send', err == null]));
    socket._sender.pong('q', false, (err) => callbacks.push(['pong', err == null]));
    socket._sender.close(4001, 'by sender', false, (err) => callbacks.push(['close', err == null]));
    results[impl] = { closed: await closed, seen, callbacks };
    await stopServer(wss);
  }
  assert.deepStrictEqual(results['ws-rs'], results.ws);
});
