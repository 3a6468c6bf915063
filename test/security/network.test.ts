import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  runAttackExpectingVerdict,
  sleep,
  startSecurityEngine,
  type SecurityEngine,
} from '../helpers/security.js';

/**
 * Threat: network egress. The sandbox has its own network namespace with only its own loopback:
 * no route anywhere, no DNS, no host listener (TCP or abstract Unix socket), no raw sockets.
 */

let engine: SecurityEngine;
const servers: Server[] = [];
let connections = 0;

async function listen(options: { host?: string; path?: string }): Promise<Server> {
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  server.listen(options.path !== undefined ? { path: options.path } : { host: options.host, port: 0 });
  await once(server, 'listening');
  servers.push(server);
  return server;
}

beforeAll(async () => {
  engine = await startSecurityEngine('network');
});

afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await engine?.stop();
});

describe('network egress', () => {
  it('reaches no host listener, no public address, no DNS, and cannot open raw or packet sockets', async () => {
    const loopback = await listen({ host: '127.0.0.1' });
    const anyAddress = await listen({ host: '0.0.0.0' });
    const abstractName = `vivarium-test-${randomBytes(8).toString('hex')}`;
    await listen({ path: `\0${abstractName}` });
    const loopbackPort = (loopback.address() as AddressInfo).port;
    const anyPort = (anyAddress.address() as AddressInfo).port;
    // The host's own addresses, reachable from the host itself: the listener on 0.0.0.0 accepts them.
    const hostAddresses = Object.values(networkInterfaces())
      .flatMap((entries) => entries ?? [])
      .filter((entry) => entry.family === 'IPv4')
      .map((entry) => [entry.address, anyPort]);
    expect(hostAddresses.length).toBeGreaterThan(0);

    const session = await engine.session();
    const startedAt = Date.now();
    const verdict = await runAttackExpectingVerdict(session, 'network_egress', {
      args: {
        loopbackPort,
        hostAddresses,
        publicIp: '1.1.1.1',
        publicIp6: '2606:4700:4700::1111',
        dnsName: 'example.com',
        abstractName,
      },
      timeoutMs: 45_000,
    });
    const elapsedMs = Date.now() - startedAt;

    // The host listeners are there and answer on the host.
    expect(connections).toBe(0);

    expect(verdict.loopbackTcp).toMatchObject({ succeeded: false, errno: 'ECONNREFUSED' });
    for (const [address, outcome] of Object.entries(
      verdict.hostAddressTcp as Record<string, { succeeded: boolean; errno: string }>,
    )) {
      expect(outcome.succeeded, address).toBe(false);
      // 127.x is the sandbox's own loopback (refused); other host addresses have no route.
      expect(['ECONNREFUSED', 'ENETUNREACH'], address).toContain(outcome.errno);
    }
    // No route: fails at once, no hanging until a timeout.
    for (const key of ['publicTcp', 'publicTcp6', 'publicUdp']) {
      expect(verdict[key], key).toMatchObject({ succeeded: false, errno: 'ENETUNREACH' });
      expect(verdict[key].seconds, key).toBeLessThan(2);
    }
    expect(verdict.dns).toMatchObject({ succeeded: false, error: 'gaierror' });
    expect(verdict.dns.seconds).toBeLessThan(5);
    expect(verdict.abstractUnix).toMatchObject({ succeeded: false, errno: 'ECONNREFUSED' });
    expect(verdict.rawSocket).toMatchObject({ succeeded: false, errno: 'EPERM' });
    expect(verdict.packetSocket).toMatchObject({ succeeded: false, errno: 'EPERM' });
    expect(verdict.interfaces).toEqual(['lo']);
    expect(elapsedMs).toBeLessThan(15_000);
    expect(connections).toBe(0);
  });

  it('the same host listeners accept connections from the host (the control)', async () => {
    expect(servers).toHaveLength(3);
    for (const server of servers) {
      const address = server.address();
      const socket =
        typeof address === 'string'
          ? connect({ path: address })
          : connect({ host: '127.0.0.1', port: (address as AddressInfo).port });
      await once(socket, 'connect');
      socket.destroy();
    }
    await sleep(100);
    expect(connections).toBe(3);
  });
});
