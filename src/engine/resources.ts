/**
 * What the machine lets one process open: file descriptors and local ports.
 * Read once, in the main thread, to choose defaults and to name a limit when
 * one is met.
 */
import { readFileSync } from 'node:fs';

/**
 * The process's open-file limit (Node raises the soft limit to the hard one at
 * start), or null where /proc does not say.
 */
export function openFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft === undefined) return null;
    return soft === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(soft) || null;
  } catch {
    return null;
  }
}

/** Local ports the kernel hands out for outgoing connections, or null where /proc does not say. */
export function ephemeralPorts(): number | null {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low !== undefined && high !== undefined && high >= low ? high - low + 1 : null;
  } catch {
    return null;
  }
}
