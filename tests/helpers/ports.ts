/** Ports for test servers: the product's helper (lib/ports.ts). */
export { freePort } from '../../lib/ports';
