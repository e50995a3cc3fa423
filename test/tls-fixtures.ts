/** Paths of the test-only TLS material in test/fixtures/tls (see its README). */
import { fileURLToPath } from 'node:url';

const dir = (name: string): string => fileURLToPath(new URL(`./fixtures/tls/${name}`, import.meta.url));
export const TEST_CA = dir('ca.pem');
export const TEST_CERT = dir('server.pem');
export const TEST_KEY = dir('server.key');
