// The metrics listener in process: two of our stacks on an in-memory link with a hand-moved clock, the auth
// service and the metrics server on one of them (through CountingDevice, as --metrics-port runs it), scraped over
// our own TCP from the other. The text must parse as Prometheus 0.0.4 and its counters only grow.

import type { NetDevice } from '../src/net/device.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualTimers } from '../src/clock.ts';
import { CountingDevice } from '../src/stack/direct-stack.ts';
import { DhcpMessageType, encodeDhcp, parseDhcp } from '../src/dhcp/dhcp-wire.ts';
import { HttpServer } from '../src/http/server.ts';
import { MemoryLogger } from '../src/log.ts';
import { createMetricsRegistry, metricsHandler } from '../src/metrics.ts';
import { MAC_BROADCAST } from '../src/net/addr.ts';
import { createMemoryLink } from '../src/net/memory-link.ts';
import { Stack } from '../src/stack/stack.ts';
import { StackDriver } from '../src/stack/driver.ts';
import { TcpSocket } from '../src/net/tcp/tcp-socket.ts';
import { seededRandom } from '../src/random.ts';
import { createAuthService } from '../src/service.ts';
import { GW_IP, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, decode, ip, udpFrame } from './net/frames.ts';
import { counterRegressions, parseExposition, sampleValue, type Exposition } from './prometheus-text.ts';

const AUTH_PORT = 8088;
const METRICS_PORT = 9100;

interface Lab {
  timers: ManualTimers;
  server: Stack;
  client: Stack;
  traffic: CountingDevice;
  log: MemoryLogger;
  /** One HTTP/1.1 request over a new connection from the client stack; the raw response. */
  get(port: number, target: string, method?: string): Promise<string>;
  stop(): Promise<void>;
}

let dataDir = '';

beforeEach(() => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'metrics-test-'));
  writeFileSync(path.join(dataDir, 'john'), 'password\n');
});

afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

async function lab(): Promise<Lab> {
  const timers = new ManualTimers();
  const [la, lb] = createMemoryLink(timers, OUR_MAC, PEER_MAC, { latencyMs: 1 });
  const mk = (mac: number, address: number, seed: number, device: NetDevice): StackDriver =>
    new StackDriver(device, timers, { mac, mtu: 1500, random: seededRandom(seed), log: () => {}, ipv4: { address, prefix: 24, gateway: GW_IP }, arp: { announceCount: 0 } });
  const traffic = new CountingDevice(la);
  const ds = mk(OUR_MAC, OUR_IP, 5, traffic);
  const dc = mk(PEER_MAC, PEER_IP, 6, lb);
  const server = ds.stack;
  const client = dc.stack;
  ds.start();
  dc.start();
  const log = new MemoryLogger();
  const service = await createAuthService(dataDir, timers, log);
  const metrics = new HttpServer(
    metricsHandler(createMetricsRegistry({ direct: { stack: server, traffic, now: () => timers.now() }, responses: service.responses }), log),
    timers,
  );
  server.tcp.listen(AUTH_PORT, (c) => void service.http.serve(new TcpSocket(c)));
  server.tcp.listen(METRICS_PORT, (c) => void metrics.serve(new TcpSocket(c)));

  const get = async (port: number, target: string, method = 'GET'): Promise<string> => {
    const sock = new TcpSocket(client.tcp.connect(OUR_IP, port));
    const chunks: Uint8Array[] = [];
    let done = false;
    void (async () => {
      await sock.established();
      await sock.write(new TextEncoder().encode(`${method} ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      for (let c = await sock.read(); c !== null; c = await sock.read()) chunks.push(c);
      await sock.close();
      done = true;
    })().catch(() => {
      done = true;
    });
    // Real file reads (the user store) and promise turns in between simulated milliseconds.
    for (let i = 0; !done && i < 20_000; i++) {
      await new Promise<void>((r) => setImmediate(r));
      timers.advance(1);
    }
    if (!done) throw new Error(`no answer to ${target} on ${port}`);
    return Buffer.concat(chunks).toString('utf8');
  };
  return {
    timers, server, client, traffic, log, get,
    stop: async () => {
      await Promise.all([ds.stop(0), dc.stop(0)]);
    },
  };
}

function body(raw: string): string {
  const i = raw.indexOf('\r\n\r\n');
  if (i < 0) throw new Error(`no response head in ${JSON.stringify(raw)}`);
  return raw.slice(i + 4);
}

async function scrape(l: Lab): Promise<Exposition> {
  const raw = await l.get(METRICS_PORT, '/metrics');
  expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(raw).toMatch(/\r\ncontent-type: text\/plain; version=0\.0\.4; charset=utf-8\r\n/);
  return parseExposition(body(raw));
}

describe('metrics over our own TCP', () => {
  it('parses as Prometheus text, and counters only grow as traffic passes', async () => {
    const l = await lab();
    const first = await scrape(l);
    // Every line of the text is a sample or a comment (parseExposition throws otherwise); spot-check the families.
    expect(first.types.get('direct_stack_events_total')).toBe('counter');
    expect(first.types.get('direct_stack_device_frames_total')).toBe('counter');
    expect(first.types.get('direct_stack_device_bytes_total')).toBe('counter');
    expect(first.types.get('direct_stack_tcp_retransmits_total')).toBe('counter');
    expect(first.types.get('direct_stack_tcp_connections')).toBe('gauge');
    expect(first.types.get('direct_stack_arp_cache_entries')).toBe('gauge');
    expect(first.types.get('direct_stack_ipv6_addresses')).toBe('gauge');
    expect(first.types.get('direct_stack_ipv6_neighbours')).toBe('gauge');
    expect(first.types.get('process_resident_memory_bytes')).toBe('gauge');
    expect(sampleValue(first, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    // A static address: no DHCP client, so no lease gauge.
    expect(first.types.has('direct_stack_dhcp_lease_remaining_seconds')).toBe(false);
    // The scrape itself rides an ESTABLISHED connection, and every state is listed.
    expect(sampleValue(first, 'direct_stack_tcp_connections', { state: 'ESTABLISHED' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(first, 'direct_stack_tcp_connections', { state: 'TIME_WAIT' })).toBe(0);
    expect(sampleValue(first, 'direct_stack_arp_cache_entries')).toBe(1);
    expect(sampleValue(first, 'direct_stack_events_total', { name: 'tcp.passive_open' })).toBe(1);
    expect(sampleValue(first, 'direct_stack_device_frames_total', { direction: 'in' })).toBeGreaterThan(0);

    expect(body(await l.get(AUTH_PORT, '/?user=john&password=password'))).toBe('hello john!\n');
    expect(body(await l.get(AUTH_PORT, '/?user=john&password=nope'))).toBe('Invalid login\n');
    expect(body(await l.get(AUTH_PORT, '/?user=john&password=nope'))).toBe('Invalid login\n');
    const second = await scrape(l);

    expect(counterRegressions(first, second)).toEqual([]);
    for (const direction of ['in', 'out']) {
      for (const name of ['direct_stack_device_frames_total', 'direct_stack_device_bytes_total']) {
        expect(sampleValue(second, name, { direction }), `${name} ${direction}`).toBeGreaterThan(sampleValue(first, name, { direction }) ?? Infinity);
      }
    }
    expect(sampleValue(first, 'auth_http_requests_total', { status: '200' })).toBeUndefined();
    expect(sampleValue(second, 'auth_http_requests_total', { status: '200' })).toBe(1);
    expect(sampleValue(second, 'auth_http_requests_total', { status: '401' })).toBe(2);
    expect(sampleValue(second, 'direct_stack_events_total', { name: 'tcp.passive_open' })).toBe(5);
    // The device counts what the stack saw, frame for frame, and what it sent (a frame still in the stack's
    // outbox at scrape time is counted by the stack only).
    const events = (name: string): number | undefined => sampleValue(second, 'direct_stack_events_total', { name });
    expect(sampleValue(second, 'direct_stack_device_frames_total', { direction: 'in' })).toBe(events('eth.rx'));
    expect(sampleValue(second, 'direct_stack_device_frames_total', { direction: 'out' })).toBeLessThanOrEqual(events('eth.tx') ?? 0);
    expect(sampleValue(second, 'direct_stack_device_frames_total', { direction: 'out' })).toBeGreaterThanOrEqual((events('eth.tx') ?? 0) - 2);
    // The earlier connections wait in TIME_WAIT on whichever side closed first; ours closed after its answer.
    expect(sampleValue(second, 'direct_stack_tcp_connections', { state: 'TIME_WAIT' })).toBeGreaterThan(0);
    // Passwords are never in what the service logs.
    expect([...l.log.lines, ...l.log.warnings, ...l.log.debugLines].join('\n')).not.toContain('password=');
    await l.stop();
  });

  it('answers 404 off /metrics, 405 for other methods, and HEAD without a body', async () => {
    const l = await lab();
    expect(await l.get(METRICS_PORT, '/')).toMatch(/^HTTP\/1\.1 404 /);
    expect(await l.get(METRICS_PORT, '/metrics/extra')).toMatch(/^HTTP\/1\.1 404 /);
    const post = await l.get(METRICS_PORT, '/metrics', 'POST');
    expect(post).toMatch(/^HTTP\/1\.1 405 /);
    expect(post).toMatch(/\r\nallow: GET, HEAD\r\n/);
    const head = await l.get(METRICS_PORT, '/metrics', 'HEAD');
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(body(head)).toBe('');
    // A scrape is not a request to the auth service.
    const e = await scrape(l);
    expect(e.samples.filter((s) => s.name === 'auth_http_requests_total')).toEqual([]);
    await l.stop();
  });
});

describe('metrics of a DHCP stack', () => {
  const OFFERED = ip('192.168.77.50');
  const reply = (type: number, xid: number): Uint8Array =>
    udpFrame(
      {
        srcPort: 67, dstPort: 68,
        payload: encodeDhcp({
          op: 2, xid, secs: 0, flags: 0x8000, ciaddr: 0, yiaddr: OFFERED, siaddr: 0, giaddr: 0, chaddr: OUR_MAC,
          options: { messageType: type, serverId: GW_IP, leaseTime: 3600, subnetMask: ip('255.255.255.0'), routers: [GW_IP] },
        }),
      },
      { src: GW_IP, dst: ip('255.255.255.255') },
      MAC_BROADCAST,
    );

  it('reports the lease remaining, 0 before there is one', async () => {
    let now = 0;
    const stack = new Stack({ mac: OUR_MAC, mtu: 1500, random: seededRandom(3), log: () => {}, acd: { probeNum: 0 } });
    const traffic = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0 };
    const registry = createMetricsRegistry({ direct: { stack, traffic, now: () => now }, defaultMetrics: false });
    stack.start(0);
    const discover = parseDhcp(decode(stack.takeFrames()[0] ?? new Uint8Array()).udp?.payload ?? new Uint8Array());
    const xid = discover?.xid ?? 0;
    const lease = async (): Promise<number | undefined> => sampleValue(parseExposition(await registry.metrics()), 'direct_stack_dhcp_lease_remaining_seconds');
    expect(await lease()).toBe(0);
    stack.receive(reply(DhcpMessageType.OFFER, xid), 10);
    stack.takeFrames();
    stack.receive(reply(DhcpMessageType.ACK, xid), 20);
    expect(stack.dhcp?.state).toBe('bound');
    now = 600_010; // ten minutes after the REQUEST went out (at 10)
    expect(await lease()).toBe(3000);
    // No process metrics when asked not to.
    expect(parseExposition(await registry.metrics()).types.has('process_resident_memory_bytes')).toBe(false);
  });
});
