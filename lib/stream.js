'use strict';

/**
 * `createWebSocketStream(ws, options)`: a Duplex over a WebSocket with ws's semantics.
 * Messages are pushed to the readable side (text as strings in object mode); writes
 * are sent as messages; back-pressure pauses the WebSocket; ending the writable side
 * starts the closing handshake; destroying the stream terminates the connection.
 */

const process = require('process');
const { Duplex } = require('stream');

function emitClose(stream) {
  stream.emit('close');
}

function duplexOnEnd() {
  if (!this.destroyed && this._writableState.finished) this.destroy();
}

// _final completes only once the WebSocket has closed, so the readable side has ended
// by then or is about to: whichever of 'end' and 'finish' comes last destroys.
function duplexOnFinish() {
  if (!this.destroyed && this._readableState.endEmitted) this.destroy();
}

function duplexOnError(err) {
  this.removeListener('error', duplexOnError);
  this.destroy();
  if (this.listenerCount('error') === 0) this.emit('error', err);
}

/**
 * @param {WebSocket} ws The WebSocket to wrap
 * @param {Object} [options] Duplex options (object modes are forced off for writes)
 * @return {Duplex}
 * @public
 */
function createWebSocketStream(ws, options) {
  let terminateOnDestroy = true;

  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false
  });

  ws.on('message', (msg, isBinary) => {
    const data = !isBinary && duplex._readableState.objectMode ? msg.toString() : msg;
    if (!duplex.push(data)) ws.pause();
  });

  ws.once('error', (err) => {
    if (duplex.destroyed) return;
    // The connection is already failing: let it close by itself.
    terminateOnDestroy = false;
    duplex.destroy(err);
  });

  ws.once('close', () => {
    if (duplex.destroyed) return;
    duplex.push(null);
  });

  duplex._destroy = (err, callback) => {
    if (ws.readyState === ws.CLOSED) {
      callback(err);
      process.nextTick(emitClose, duplex);
      return;
    }

    let called = false;
    ws.once('error', (error) => {
      called = true;
      callback(error);
    });
    ws.once('close', () => {
      if (!called) callback(err);
      process.nextTick(emitClose, duplex);
    });

    if (terminateOnDestroy) ws.terminate();
  };

  duplex._final = (callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => duplex._final(callback));
      return;
    }

    // ws waits for its socket's 'finish' (the write side shut down after the closing
    // handshake); here the socket belongs to the io driver, so wait for 'close'.
    if (ws.readyState === ws.CLOSED) {
      callback();
      if (duplex._readableState.endEmitted) duplex.destroy();
      return;
    }
    ws.once('close', () => callback());
    ws.close();
  };

  duplex._read = () => {
    if (ws.isPaused) ws.resume();
  };

  duplex._write = (chunk, encoding, callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => duplex._write(chunk, encoding, callback));
      return;
    }
    ws.send(chunk, callback);
  };

  duplex.on('end', duplexOnEnd);
  duplex.on('finish', duplexOnFinish);
  duplex.on('error', duplexOnError);
  return duplex;
}

module.exports = createWebSocketStream;
