// Type definitions for ws-rs: the ws 8 API. Shaped like @types/ws so that code typed
// against `ws` compiles unchanged with `ws-rs`.

/// <reference types="node" />

import { EventEmitter } from 'events';
import {
  Agent,
  ClientRequest,
  ClientRequestArgs,
  IncomingMessage,
  OutgoingHttpHeaders,
  Server as HTTPServer
} from 'http';
import { Server as HTTPSServer } from 'https';
import { Duplex, DuplexOptions } from 'stream';
import { SecureContextOptions } from 'tls';
import { URL } from 'url';
import { ZlibOptions } from 'zlib';

declare class WebSocket extends EventEmitter {
  /** The connection is not yet open. */
  static readonly CONNECTING: 0;
  /** The connection is open and ready to communicate. */
  static readonly OPEN: 1;
  /** The connection is in the process of closing. */
  static readonly CLOSING: 2;
  /** The connection is closed. */
  static readonly CLOSED: 3;

  binaryType: 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';
  readonly bufferedAmount: number;
  readonly extensions: string;
  readonly isPaused: boolean;
  readonly protocol: string;
  readonly readyState: typeof WebSocket.CONNECTING | typeof WebSocket.OPEN | typeof WebSocket.CLOSING | typeof WebSocket.CLOSED;
  readonly url: string;

  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;

  onopen: ((event: WebSocket.Event) => void) | null;
  onerror: ((event: WebSocket.ErrorEvent) => void) | null;
  onclose: ((event: WebSocket.CloseEvent) => void) | null;
  onmessage: ((event: WebSocket.MessageEvent) => void) | null;

  constructor(address: null);
  constructor(address: string | URL, options?: WebSocket.ClientOptions | ClientRequestArgs);
  constructor(address: string | URL, protocols?: string | string[], options?: WebSocket.ClientOptions | ClientRequestArgs);

  close(code?: number, data?: string | Buffer): void;
  ping(data?: any, mask?: boolean, cb?: (err: Error) => void): void;
  pong(data?: any, mask?: boolean, cb?: (err: Error) => void): void;
  /**
   * Queues a message. Returns undefined as ws does, unless `maxBackpressure` is set:
   * then true if more may be sent, false if the message was dropped or
   * `bufferedAmount` is now at the limit (wait for 'drain').
   */
  send(data: WebSocket.BufferLike, cb?: (err?: Error) => void): boolean | undefined;
  send(
    data: WebSocket.BufferLike,
    options: { mask?: boolean | undefined; binary?: boolean | undefined; compress?: boolean | undefined; fin?: boolean | undefined },
    cb?: (err?: Error) => void
  ): boolean | undefined;
  terminate(): void;
  pause(): void;
  resume(): void;

  /** ws-rs: the topics this connection is subscribed to (a copy). */
  readonly topics: string[];
  /**
   * ws-rs: subscribes this connection of a WebSocketServer to `topic`; false if it
   * already was (or is closed). Subscriptions end when the connection closes.
   */
  subscribe(topic: string): boolean;
  /** ws-rs: false if it was not subscribed. */
  unsubscribe(topic: string): boolean;
  isSubscribed(topic: string): boolean;
  /**
   * ws-rs: sends `data` to every other open connection of the server subscribed to
   * `topic`; returns how many it was queued to.
   */
  publish(topic: string, data: WebSocket.PublishData, options?: WebSocket.PublishOptions): number;

  addEventListener<K extends keyof WebSocket.WebSocketEventMap>(
    type: K,
    listener: ((event: WebSocket.WebSocketEventMap[K]) => void) | { handleEvent(event: WebSocket.WebSocketEventMap[K]): void },
    options?: WebSocket.EventListenerOptions
  ): void;
  removeEventListener<K extends keyof WebSocket.WebSocketEventMap>(
    type: K,
    listener: ((event: WebSocket.WebSocketEventMap[K]) => void) | { handleEvent(event: WebSocket.WebSocketEventMap[K]): void }
  ): void;

  on(event: 'close', listener: (this: WebSocket, code: number, reason: Buffer) => void): this;
  on(event: 'error', listener: (this: WebSocket, error: Error) => void): this;
  on(event: 'upgrade', listener: (this: WebSocket, request: IncomingMessage) => void): this;
  on(event: 'message', listener: (this: WebSocket, data: WebSocket.RawData, isBinary: boolean) => void): this;
  on(event: 'open', listener: (this: WebSocket) => void): this;
  on(event: 'ping' | 'pong', listener: (this: WebSocket, data: Buffer) => void): this;
  on(event: 'redirect', listener: (this: WebSocket, url: string, request: ClientRequest) => void): this;
  on(event: 'unexpected-response', listener: (this: WebSocket, request: ClientRequest, response: IncomingMessage) => void): this;
  on(event: 'dropped', listener: (this: WebSocket, data: WebSocket.BufferLike, isBinary: boolean) => void): this;
  on(event: 'drain', listener: (this: WebSocket) => void): this;
  on(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;

  once(event: 'close', listener: (this: WebSocket, code: number, reason: Buffer) => void): this;
  once(event: 'error', listener: (this: WebSocket, error: Error) => void): this;
  once(event: 'upgrade', listener: (this: WebSocket, request: IncomingMessage) => void): this;
  once(event: 'message', listener: (this: WebSocket, data: WebSocket.RawData, isBinary: boolean) => void): this;
  once(event: 'open', listener: (this: WebSocket) => void): this;
  once(event: 'ping' | 'pong', listener: (this: WebSocket, data: Buffer) => void): this;
  once(event: 'redirect', listener: (this: WebSocket, url: string, request: ClientRequest) => void): this;
  once(event: 'unexpected-response', listener: (this: WebSocket, request: ClientRequest, response: IncomingMessage) => void): this;
  once(event: 'dropped', listener: (this: WebSocket, data: WebSocket.BufferLike, isBinary: boolean) => void): this;
  once(event: 'drain', listener: (this: WebSocket) => void): this;
  once(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;

  off(event: 'close', listener: (this: WebSocket, code: number, reason: Buffer) => void): this;
  off(event: 'error', listener: (this: WebSocket, error: Error) => void): this;
  off(event: 'upgrade', listener: (this: WebSocket, request: IncomingMessage) => void): this;
  off(event: 'message', listener: (this: WebSocket, data: WebSocket.RawData, isBinary: boolean) => void): this;
  off(event: 'open', listener: (this: WebSocket) => void): this;
  off(event: 'ping' | 'pong', listener: (this: WebSocket, data: Buffer) => void): this;
  off(event: 'redirect', listener: (this: WebSocket, url: string, request: ClientRequest) => void): this;
  off(event: 'unexpected-response', listener: (this: WebSocket, request: ClientRequest, response: IncomingMessage) => void): this;
  off(event: 'dropped', listener: (this: WebSocket, data: WebSocket.BufferLike, isBinary: boolean) => void): this;
  off(event: 'drain', listener: (this: WebSocket) => void): this;
  off(event: string | symbol, listener: (this: WebSocket, ...args: any[]) => void): this;

  addListener(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  addListener(event: 'error', listener: (error: Error) => void): this;
  addListener(event: 'upgrade', listener: (request: IncomingMessage) => void): this;
  addListener(event: 'message', listener: (data: WebSocket.RawData, isBinary: boolean) => void): this;
  addListener(event: 'open', listener: () => void): this;
  addListener(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  addListener(event: 'redirect', listener: (url: string, request: ClientRequest) => void): this;
  addListener(event: 'unexpected-response', listener: (request: ClientRequest, response: IncomingMessage) => void): this;
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;

  removeListener(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  removeListener(event: 'error', listener: (error: Error) => void): this;
  removeListener(event: 'upgrade', listener: (request: IncomingMessage) => void): this;
  removeListener(event: 'message', listener: (data: WebSocket.RawData, isBinary: boolean) => void): this;
  removeListener(event: 'open', listener: () => void): this;
  removeListener(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  removeListener(event: 'redirect', listener: (url: string, request: ClientRequest) => void): this;
  removeListener(event: 'unexpected-response', listener: (request: ClientRequest, response: IncomingMessage) => void): this;
  removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
}

declare const WebSocketAlias: typeof WebSocket;
interface WebSocketAlias extends WebSocket {}

declare namespace WebSocket {
  /** Data a message can carry, depending on `binaryType`. */
  type RawData = Buffer | ArrayBuffer | Buffer[];

  /** What `send` accepts. */
  type Data = string | Buffer | ArrayBuffer | Buffer[];

  /** ws-rs: what `publish` accepts (what `send` does, but a Blob). */
  type PublishData = string | number | Buffer | ArrayBuffer | ArrayBufferView | SharedArrayBuffer;

  /** ws-rs: `publish` options; `binary` defaults to whether data is not a string. */
  interface PublishOptions {
    binary?: boolean | undefined;
    compress?: boolean | undefined;
  }

  type BufferLike =
    | string
    | Buffer
    | DataView
    | number
    | ArrayBufferView
    | Uint8Array
    | ArrayBuffer
    | SharedArrayBuffer
    | Blob
    | readonly any[]
    | readonly number[]
    | { valueOf(): ArrayBuffer }
    | { valueOf(): SharedArrayBuffer }
    | { valueOf(): Uint8Array }
    | { valueOf(): readonly number[] }
    | { valueOf(): string }
    | { [Symbol.toPrimitive](hint: string): string };

  type CertMeta = string | string[] | Buffer | Buffer[];

  type VerifyClientCallbackSync<Request extends IncomingMessage = IncomingMessage> = (info: {
    origin: string;
    secure: boolean;
    req: Request;
  }) => boolean;

  type VerifyClientCallbackAsync<Request extends IncomingMessage = IncomingMessage> = (
    info: { origin: string; secure: boolean; req: Request },
    callback: (res: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders) => void
  ) => void;

  type FinishRequestCallback = (request: ClientRequest, websocket: WebSocket) => void;

  interface ClientOptions extends SecureContextOptions {
    protocol?: string | undefined;
    followRedirects?: boolean | undefined;
    generateMask?(mask: Buffer): void;
    handshakeTimeout?: number | undefined;
    maxRedirects?: number | undefined;
    perMessageDeflate?: boolean | PerMessageDeflateOptions | undefined;
    localAddress?: string | undefined;
    protocolVersion?: number | undefined;
    headers?: { [key: string]: string } | undefined;
    origin?: string | undefined;
    agent?: Agent | undefined;
    host?: string | undefined;
    family?: number | undefined;
    checkServerIdentity?(servername: string, cert: CertMeta): boolean;
    rejectUnauthorized?: boolean | undefined;
    allowSynchronousEvents?: boolean | undefined;
    autoPong?: boolean | undefined;
    closeTimeout?: number | undefined;
    maxBufferedChunks?: number | undefined;
    /** ws-rs: bytes of `bufferedAmount` past which messages are dropped (default off). */
    maxBackpressure?: number | undefined;
    /** ws-rs: terminate the connection at the first dropped message (default false). */
    closeOnBackpressureLimit?: boolean | undefined;
    /**
     * ws-rs: terminate a connection that received nothing for this many ms (default
     * off); it is pinged after three quarters of it (see `sendPings`).
     */
    idleTimeout?: number | undefined;
    /** ws-rs: ping quiet connections before `idleTimeout` ends them (default true). */
    sendPings?: boolean | undefined;
    maxFragments?: number | undefined;
    maxPayload?: number | undefined;
    maxPendingAutoPongs?: number | undefined;
    skipUTF8Validation?: boolean | undefined;
    createConnection?: typeof import('net').createConnection | undefined;
    finishRequest?: FinishRequestCallback | undefined;
  }

  interface PerMessageDeflateOptions {
    serverNoContextTakeover?: boolean | undefined;
    clientNoContextTakeover?: boolean | undefined;
    serverMaxWindowBits?: number | undefined;
    clientMaxWindowBits?: number | undefined;
    zlibDeflateOptions?:
      | { flush?: number | undefined; finishFlush?: number | undefined; chunkSize?: number | undefined; windowBits?: number | undefined; level?: number | undefined; memLevel?: number | undefined; strategy?: number | undefined; dictionary?: Buffer | Buffer[] | DataView | undefined; info?: boolean | undefined }
      | undefined;
    zlibInflateOptions?: ZlibOptions | undefined;
    threshold?: number | undefined;
    concurrencyLimit?: number | undefined;
  }

  interface Event {
    type: string;
    target: WebSocket;
  }

  interface ErrorEvent {
    error: any;
    message: string;
    type: string;
    target: WebSocket;
  }

  interface CloseEvent {
    wasClean: boolean;
    code: number;
    reason: string;
    type: string;
    target: WebSocket;
  }

  interface MessageEvent {
    data: Data;
    type: string;
    target: WebSocket;
  }

  interface WebSocketEventMap {
    open: Event;
    error: ErrorEvent;
    close: CloseEvent;
    message: MessageEvent;
  }

  interface EventListenerOptions {
    once?: boolean | undefined;
  }

  interface ServerOptions<
    U extends typeof WebSocket = typeof WebSocket,
    V extends typeof IncomingMessage = typeof IncomingMessage
  > {
    host?: string | undefined;
    port?: number | undefined;
    backlog?: number | undefined;
    server?: HTTPServer<V> | HTTPSServer<V> | undefined;
    verifyClient?: VerifyClientCallbackAsync<InstanceType<V>> | VerifyClientCallbackSync<InstanceType<V>> | undefined;
    handleProtocols?: (protocols: Set<string>, request: InstanceType<V>) => string | false;
    path?: string | undefined;
    noServer?: boolean | undefined;
    allowSynchronousEvents?: boolean | undefined;
    autoPong?: boolean | undefined;
    clientTracking?: boolean | undefined;
    closeTimeout?: number | undefined;
    perMessageDeflate?: boolean | PerMessageDeflateOptions | undefined;
    maxBufferedChunks?: number | undefined;
    /** ws-rs: bytes of `bufferedAmount` past which messages are dropped (default off). */
    maxBackpressure?: number | undefined;
    /** ws-rs: terminate the connection at the first dropped message (default false). */
    closeOnBackpressureLimit?: boolean | undefined;
    /**
     * ws-rs: terminate a connection that received nothing for this many ms (default
     * off); it is pinged after three quarters of it (see `sendPings`).
     */
    idleTimeout?: number | undefined;
    /** ws-rs: ping quiet connections before `idleTimeout` ends them (default true). */
    sendPings?: boolean | undefined;
    maxFragments?: number | undefined;
    maxPayload?: number | undefined;
    maxPendingAutoPongs?: number | undefined;
    skipUTF8Validation?: boolean | undefined;
    WebSocket?: U | undefined;
  }

  interface AddressInfo {
    address: string;
    family: string;
    port: number;
  }

  class Server<
    T extends typeof WebSocket = typeof WebSocket,
    U extends typeof IncomingMessage = typeof IncomingMessage
  > extends EventEmitter {
    options: ServerOptions<T, U>;
    path: string;
    clients: Set<InstanceType<T>>;

    constructor(options?: ServerOptions<T, U>, callback?: () => void);

    address(): AddressInfo | string | null;
    close(cb?: (err?: Error) => void): void;
    /**
     * ws-rs: sends `data` to every open connection subscribed to `topic` (held once,
     * in order with each connection's other sends); returns how many it was queued to.
     */
    publish(topic: string, data: PublishData, options?: PublishOptions): number;
    /** ws-rs: how many connections are subscribed to `topic`. */
    subscriberCount(topic: string): number;
    handleUpgrade(
      request: InstanceType<U>,
      socket: Duplex,
      upgradeHead: Buffer,
      callback: (client: InstanceType<T>, request: InstanceType<U>) => void
    ): void;
    shouldHandle(request: InstanceType<U>): boolean | Promise<boolean>;

    on(event: 'connection', cb: (this: Server<T>, websocket: InstanceType<T>, request: InstanceType<U>) => void): this;
    on(event: 'error', cb: (this: Server<T>, error: Error) => void): this;
    on(event: 'headers', cb: (this: Server<T>, headers: string[], request: InstanceType<U>) => void): this;
    on(event: 'close' | 'listening', cb: (this: Server<T>) => void): this;
    on(event: 'wsClientError', cb: (this: Server<T>, error: Error, socket: Duplex, request: InstanceType<U>) => void): this;
    on(event: string | symbol, listener: (this: Server<T>, ...args: any[]) => void): this;

    once(event: 'connection', cb: (this: Server<T>, websocket: InstanceType<T>, request: InstanceType<U>) => void): this;
    once(event: 'error', cb: (this: Server<T>, error: Error) => void): this;
    once(event: 'headers', cb: (this: Server<T>, headers: string[], request: InstanceType<U>) => void): this;
    once(event: 'close' | 'listening', cb: (this: Server<T>) => void): this;
    once(event: 'wsClientError', cb: (this: Server<T>, error: Error, socket: Duplex, request: InstanceType<U>) => void): this;
    once(event: string | symbol, listener: (this: Server<T>, ...args: any[]) => void): this;

    off(event: 'connection', cb: (this: Server<T>, websocket: InstanceType<T>, request: InstanceType<U>) => void): this;
    off(event: 'error', cb: (this: Server<T>, error: Error) => void): this;
    off(event: 'headers', cb: (this: Server<T>, headers: string[], request: InstanceType<U>) => void): this;
    off(event: 'close' | 'listening', cb: (this: Server<T>) => void): this;
    off(event: 'wsClientError', cb: (this: Server<T>, error: Error, socket: Duplex, request: InstanceType<U>) => void): this;
    off(event: string | symbol, listener: (this: Server<T>, ...args: any[]) => void): this;

    addListener(event: 'connection', cb: (websocket: InstanceType<T>, request: InstanceType<U>) => void): this;
    addListener(event: 'error', cb: (error: Error) => void): this;
    addListener(event: 'headers', cb: (headers: string[], request: InstanceType<U>) => void): this;
    addListener(event: 'close' | 'listening', cb: () => void): this;
    addListener(event: 'wsClientError', cb: (error: Error, socket: Duplex, request: InstanceType<U>) => void): this;
    addListener(event: string | symbol, listener: (...args: any[]) => void): this;

    removeListener(event: 'connection', cb: (websocket: InstanceType<T>, request: InstanceType<U>) => void): this;
    removeListener(event: 'error', cb: (error: Error) => void): this;
    removeListener(event: 'headers', cb: (headers: string[], request: InstanceType<U>) => void): this;
    removeListener(event: 'close' | 'listening', cb: () => void): this;
    removeListener(event: 'wsClientError', cb: (error: Error, socket: Duplex, request: InstanceType<U>) => void): this;
    removeListener(event: string | symbol, listener: (...args: any[]) => void): this;
  }

  const WebSocketServer: typeof Server;
  interface WebSocketServer extends Server {}
  const WebSocket: typeof WebSocketAlias;
  interface WebSocket extends WebSocketAlias {}

  function createWebSocketStream(websocket: WebSocket, options?: DuplexOptions): Duplex;
}

export = WebSocket;
