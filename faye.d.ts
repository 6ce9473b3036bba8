// Types of require('ws-rs/faye'): faye-websocket 0.11's API on ws-rs.

import { Stream } from 'stream';
import * as http from 'http';
import * as net from 'net';

/** What faye's server socket and client share. */
declare class FayeSocket extends Stream {
  readonly url: string;
  readonly version: string;
  readyState: 0 | 1 | 2 | 3;
  readonly bufferedAmount: number;
  protocol: string;
  statusCode?: number;
  headers?: http.IncomingHttpHeaders;
  onopen: ((event: FayeWebSocket.Event) => void) | null;
  onmessage: ((event: FayeWebSocket.MessageEvent) => void) | null;
  onerror: ((event: FayeWebSocket.ErrorEvent) => void) | null;
  onclose: ((event: FayeWebSocket.CloseEvent) => void) | null;
  send(data: unknown): boolean;
  ping(message?: string, callback?: () => void): boolean;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'error' | 'close', listener: (event: any) => void): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
}

declare namespace FayeWebSocket {
  interface Event {
    type: string;
    target: FayeSocket;
    currentTarget: FayeSocket;
  }
  interface MessageEvent extends Event {
    data: string | Buffer;
  }
  interface CloseEvent extends Event {
    code: number;
    reason: string;
  }
  interface ErrorEvent extends Event {
    message: string;
  }
  interface Options {
    /** Extra response (server) or request (client) headers. */
    headers?: Record<string, string>;
    /** Any non-empty list turns permessage-deflate on. */
    extensions?: unknown[];
    maxLength?: number;
    /** Seconds between automatic pings. */
    ping?: number;
  }
  interface ClientOptions extends Options {
    tls?: Record<string, unknown>;
    ca?: string | Buffer | Array<string | Buffer>;
    net?: Record<string, unknown>;
    proxy?: { origin: string; headers?: Record<string, string>; tls?: Record<string, unknown> };
  }

  class Client extends FayeSocket {
    constructor(url: string, protocols?: string[] | null, options?: ClientOptions);
  }

  /** Server-sent events on an HTTP response's socket. */
  class EventSource extends Stream {
    constructor(
      request: http.IncomingMessage,
      response: http.ServerResponse,
      options?: { headers?: Record<string, string>; retry?: number; ping?: number }
    );
    static isEventSource(request: http.IncomingMessage): boolean;
    readonly url: string;
    readonly lastEventId: string;
    readyState: 0 | 1 | 3;
    onopen: ((event: Event) => void) | null;
    onclose: ((event: Event) => void) | null;
    send(message: unknown, options?: { event?: string; id?: string }): boolean;
    ping(): boolean;
    close(): boolean;
    addEventListener(type: 'open' | 'close', listener: (event: Event) => void): void;
    removeEventListener(type: string, listener: (event: Event) => void): void;
  }
}

declare class FayeWebSocket extends FayeSocket {
  constructor(request: http.IncomingMessage, socket: net.Socket | Stream, body: Buffer, protocols?: string[] | null, options?: FayeWebSocket.Options);
  static isWebSocket(request: http.IncomingMessage): boolean;
  static validateOptions(options: object, validKeys: string[]): void;
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
}

export = FayeWebSocket;
