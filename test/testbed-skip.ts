/**
 * Why a test of the testbed cannot run here, or undefined when it can: it
 * needs root (network namespaces), iproute2, and the binaries it names.
 */
import { findBinary } from '../src/testbed/system.js';

const PACKAGES: Record<string, string> = {
  nginx: 'nginx-light',
  lighttpd: 'lighttpd',
  nsd: 'nsd',
  'qemu-system-x86_64': 'qemu-system-x86',
};

export function testbedSkipReason(binaries: readonly string[] = []): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (the testbed creates network namespaces)';
  if (findBinary('ip') === undefined || findBinary('tc') === undefined) return 'no `ip`/`tc` (apt-get install iproute2)';
  const missing = binaries.find((b) => findBinary(b) === undefined);
  return missing === undefined ? undefined : `no ${missing} (apt-get install ${PACKAGES[missing] ?? missing})`;
}
