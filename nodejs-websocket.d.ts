// Types of require('ws-rs/nodejs-websocket'): nodejs-websocket 1.7's API on ws-rs.

import { EventEmitter } from 'events';
import { Readable, Writable } from 'stream';
import * as http from 'http';
import * as net from 'net';

export interface ServerOptions extends Record<string, unknown> {
  /** TLS: the other options go to https.createServer. */
  secure?: boolean;
  /** Protocols the server accepts; it picks the client's most preferred one. */
  validProtocols?: string[];
  /** Picks the protocol (or returns nothing for none). */
  selectProtocol?: (conn: { path: string; headers: http.IncomingHttpHeaders; protocols: string[] }, protocols: string[]) => string | undefined;
}

export interface ConnectOptions extends Record<string, unknown> {
  extraHeaders?: Record<string, string>;
  protocols?: string[];
}

export declare class Connection extends EventEmitter {
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;
  readyState: 0 | 1 | 2 | 3;
  server: Server | null;
  socket: net.Socket | EventEmitter;
  path: string | null;
  host: string | null;
  headers: Record<string, string | string[] | undefined>;
  protocols: string[];
  protocol: string | undefined;
  outStream: Writable | null;
  sendText(str: string, callback?: (err?: Error) => void): void;
  beginBinary(): Writable | undefined;
  sendBinary(data: Buffer, callback?: (err?: Error) => void): void;
  send(data: string | Buffer, callback?: (err?: Error) => void): void;
  sendPing(data?: string): void;
  close(code?: number, reason?: string): void;
  on(event: 'connect', listener: () => void): this;
  on(event: 'text', listener: (str: string) => void): this;
  on(event: 'binary', listener: (inStream: Readable) => void): this;
  on(event: 'pong', listener: (data: string) => void): this;
  on(event: 'close', listener: (code: number, reason: string) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export declare class Server extends EventEmitter {
  socket: http.Server;
  connections: Connection[];
  listen(port: number, host?: string | (() => void), callback?: () => void): this;
  close(callback?: () => void): void;
  on(event: 'connection', listener: (conn: Connection) => void): this;
  on(event: 'listening' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export declare function createServer(options?: ServerOptions | ((conn: Connection) => void), callback?: (conn: Connection) => void): Server;
export declare function connect(url: string, options?: ConnectOptions | (() => void), callback?: () => void): Connection;
export declare function setBinaryFragmentation(bytes: number): void;
export declare function setMaxBufferLength(bytes: number): void;
