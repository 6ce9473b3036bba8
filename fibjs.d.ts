// Types of require('ws-rs/fibjs'): the shape of fibjs's ws module on ws-rs.

import * as http from 'http';
import * as net from 'net';
import WebSocket = require('./index');

export interface UpgradeOptions extends WebSocket.ServerOptions {
  /** Default true, as fibjs. */
  perMessageDeflate?: boolean | WebSocket.PerMessageDeflateOptions;
  /** Default 64 MiB, as fibjs. */
  maxPayload?: number;
}

export declare function upgrade(
  accept: (conn: WebSocket, req: http.IncomingMessage) => void
): (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void;
export declare function upgrade(
  opts: UpgradeOptions,
  accept: (conn: WebSocket, req: http.IncomingMessage) => void
): (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void;

export declare class Socket extends WebSocket {
  constructor(url: string, protocols?: string | string[] | WebSocket.ClientOptions, opts?: WebSocket.ClientOptions);
}

export declare const CONTINUE: 0;
export declare const TEXT: 1;
export declare const BINARY: 2;
export declare const CLOSE: 8;
export declare const PING: 9;
export declare const PONG: 10;
export declare const CONNECTING: 0;
export declare const OPEN: 1;
export declare const CLOSING: 2;
export declare const CLOSED: 3;
