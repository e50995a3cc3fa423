/**
 * The built-in DNS server's stream listeners: DNS over TCP (RFC 7766) and
 * over TLS (RFC 7858). They frame messages and hand each query to the
 * server's own answer function, so UDP, TCP and TLS answer alike.
 *
 * Queries pipelined on one connection are answered in order, all the answers
 * to one read in one write. An idle connection is closed after
 * `idleTimeoutMs` (RFC 7766 §6.2.3 lets a server close idle connections; the
 * default is BIND's tcp-idle-timeout), and a message longer than its length
 * prefix allows cannot occur: the prefix is the length.
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { ServerStartError } from '../errors.js';

export interface StreamListenerOptions {
  host: string;
  port: number;
  /** PEM certificate chain and key: TLS; without them, plain TCP. */
  tls?: { cert: string; key: string };
  /** The reply to one query (the message without its prefix), or null for none. */
  answer: (msg: Buffer) => Buffer | null;
  /** Close a connection after this long without a query; default 30 s. */
  idleTimeoutMs?: number;
}

export interface StreamListener {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function listenDnsStream(o: StreamListenerOptions): Promise<StreamListener> {
  const open = new Set<Socket>();
  let accepted = 0;
  const idleMs = o.idleTimeoutMs ?? 30_000;

  function serve(socket: Socket): void {
    accepted++;
    open.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(idleMs, () => socket.end());
    let pending: Buffer | null = null;
    socket.on('data', (chunk: Buffer) => {
      let buf = pending === null ? chunk : Buffer.concat([pending, chunk]);
      pending = null;
      let off = 0;
      socket.cork();
      while (buf.length - off >= 2) {
        const len = buf.readUInt16BE(off);
        if (buf.length - off - 2 < len) break;
        const out = o.answer(buf.subarray(off + 2, off + 2 + len));
        off += 2 + len;
        if (out === null) continue;
        const prefix = Buffer.allocUnsafe(2);
        prefix.writeUInt16BE(out.length, 0);
        socket.write(prefix);
        socket.write(out);
      }
      socket.uncork();
      if (off < buf.length) {
        // The rest of a message split across reads: kept, with its own memory (chunk may be pooled).
        buf = buf.subarray(off);
        pending = Buffer.from(buf);
      }
    });
    // A client that goes away is no error of the server's.
    socket.on('error', () => {});
    socket.on('close', () => open.delete(socket));
  }

  const server: Server = o.tls === undefined ? createTcpServer(serve) : createTlsServer({ cert: o.tls.cert, key: o.tls.key }, serve);
  // A failed handshake concerns that client only.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(new ServerStartError(`dns target: cannot listen on ${o.tls === undefined ? 'TCP' : 'TLS'} ${o.host}:${o.port}: ${error.message}`, { cause: error }));
    };
    server.once('error', onError);
    // '' would listen on every address; the callers pass a host, and none means loopback.
    server.listen(o.port, o.host === '' ? '127.0.0.1' : o.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : o.port;
  let closing: Promise<void> | null = null;
  return {
    port,
    connections: () => accepted,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      });
      return closing;
    },
  };
}
