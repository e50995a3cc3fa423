/** Test servers on loopback, port 0: listen and close, the same way everywhere. */
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';

type Listener = NetServer | HttpServer;

/** Listen on 127.0.0.1 on a free port; resolves to the port. */
export async function listenLoopback(server: Listener): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** Stop listening; resolves once the server's connections are gone too. */
export function closeServer(server: Listener): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}
