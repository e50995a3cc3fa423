/** Test servers on loopback, port 0: listen and close, the same way everywhere; and the client side's stall. */
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

/** Hold this thread for `ms` (a GC pause, or the VM taking the core): nothing else runs, nothing is read. */
export function stallFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy on purpose
  }
}
