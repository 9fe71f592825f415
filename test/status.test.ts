// SIGUSR1's status, rendered from stacks built in process: the address, the lease, the ARP cache, the TCP table
// and the counters, each table capped so that the whole fits one screen.

import { describe, expect, it } from 'vitest';
import { DhcpMessageType, encodeDhcp, parseDhcp } from '../src/dhcp/dhcp-wire.ts';
import { Dhcpv6Type, encodeDhcpv6, type Dhcpv6Message } from '../src/dhcp/dhcpv6-wire.ts';
import { MAC_BROADCAST, macToString } from '../src/net/addr.ts';
import { Stack } from '../src/stack/stack.ts';
import { TcpSocket } from '../src/net/tcp/tcp-socket.ts';
import { seededRandom } from '../src/random.ts';
import { formatBytes, formatDuration, renderDirectStatus, renderSocketStatus, DEFAULT_TCP_ROWS, DEFAULT_ARP_ROWS } from '../src/status.ts';
import { GW_IP, GW_MAC, OUR_IP, OUR_MAC, PEER_MAC, decode, ip, isAt, mac, staticStack, udpFrame, whoHas } from './net/frames.ts';
import { parseTcp } from '../src/net/tcp/tcp-wire.ts';
import { ipv4Pseudo } from '../src/net/checksum.ts';
import { Net } from './net/tcp/harness.ts';

/** What fits a terminal without scrolling. */
const SCREEN_LINES = 40;

describe('status rendering', () => {
  it('shows the address, the ARP cache, the TCP table with queues and timers, and the counters', async () => {
    const net = new Net();
    net.a.tcp.listen(8088, () => {});
    const sock = new TcpSocket(net.b.tcp.connect(OUR_IP, 8088));
    net.run();
    net.advance(50);
    await sock.write(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'));
    await net.settle();
    net.advance(3_000);

    const lines = renderDirectStatus({
      stack: net.a, now: net.now, listening: [8088, 9100],
      traffic: { framesIn: 7, bytesIn: 2048, framesOut: 6, bytesOut: 1000 },
      http: { connections: 1, responses: new Map([[401, 2], [200, 5]]) },
      process: { uptimeMs: 123_000, rssBytes: 80 * 1024 * 1024 },
    });
    const text = lines.join('\n');
    expect(lines[0]).toBe(`status: 192.168.77.10/24 gw 192.168.77.2, mac ${macToString(OUR_MAC)}, up 2m03s, rss 80.0 MiB`);
    expect(text).toContain('  IPv4: static address');
    // The peer is in the cache, learnt from its ARP request three seconds ago.
    expect(text).toMatch(new RegExp(`\\n    192\\.168\\.77\\.1 +${macToString(PEER_MAC)}  3\\.0s\\n`));
    expect(text).toContain('  TCP: 1 connection, listening on 8088 9100');
    // The accepted connection: nobody read the request, so its 18 bytes wait in the receive queue.
    const row = lines.find((l) => l.includes('192.168.77.10:8088'));
    expect(row).toMatch(/^ {4}192\.168\.77\.10:8088 +192\.168\.77\.1:\d+ +ESTABLISHED +0 +18 +\d+ms +[\d.]+ms$/);
    expect(text).toContain('  HTTP: 1 open, answered 200 x5, 401 x2');
    expect(text).toContain('  frames in 7 (2.0 KiB), out 6 (1000 B); tcp.retransmit 0');
    expect(lines.at(-1)).toBe('  drops and errors: none');
    sock.abort();
  });

  it('caps the TCP table and the ARP cache to one screen and says how many more', () => {
    const net = new Net({ tcp: { maxSynBacklog: 1000 } });
    net.a.tcp.listen(8088, () => {});
    for (let i = 0; i < 40; i++) net.b.tcp.connect(OUR_IP, 8088);
    // ARP holds 16 packets per address being resolved: the other SYNs go again after their RTO.
    net.advance(5_000);
    // 30 hosts ask for us: each lands in the cache.
    for (let i = 0; i < 30; i++) net.a.receive(whoHas(OUR_IP, { mac: mac(`02:00:00:00:01:${(i + 16).toString(16)}`), ip: ip(`192.168.77.${100 + i}`) }), net.now);
    net.run();
    net.a.counters.inc('eth.rx_unknown_type', 3);
    net.a.counters.inc('arp.rx_malformed');

    const lines = renderDirectStatus({ stack: net.a, now: net.now, listening: [8088] });
    expect(lines.length).toBeLessThanOrEqual(SCREEN_LINES);
    expect(lines.filter((l) => /^ {4}192\.168\.77\.10:8088 /.test(l))).toHaveLength(DEFAULT_TCP_ROWS);
    expect(lines).toContain(`    ... and ${40 - DEFAULT_TCP_ROWS} more (ESTABLISHED ${40 - DEFAULT_TCP_ROWS})`);
    expect(lines.filter((l) => /^ {4}192\.168\.77\.\d+ +[0-9a-f:]{17} /.test(l))).toHaveLength(DEFAULT_ARP_ROWS);
    expect(lines).toContain('  ARP cache: 31 entries (IP -> MAC, age)');
    expect(lines).toContain(`    ... and ${31 - DEFAULT_ARP_ROWS} more`);
    expect(lines.at(-1)).toBe('  drops and errors: eth.rx_unknown_type 3, arp.rx_malformed 1');
    expect(lines.every((l) => l.length <= 120)).toBe(true);
  });

  it('shows the DHCP lease: time left, server, renewal', () => {
    const stack = new Stack({ mac: OUR_MAC, mtu: 1500, random: seededRandom(3), log: () => {}, acd: { probeNum: 0 } });
    const none = renderDirectStatus({ stack, now: 0, listening: [] });
    expect(none[0]).toContain('status: no address,');
    stack.start(0);
    expect(renderDirectStatus({ stack, now: 0, listening: [] })).toContain('  DHCP selecting: no lease');
    const xid = parseDhcp(decode(stack.takeFrames()[0] ?? new Uint8Array()).udp?.payload ?? new Uint8Array())?.xid ?? 0;
    const reply = (type: number): Uint8Array =>
      udpFrame(
        {
          srcPort: 67, dstPort: 68,
          payload: encodeDhcp({
            op: 2, xid, secs: 0, flags: 0x8000, ciaddr: 0, yiaddr: ip('192.168.77.50'), siaddr: 0, giaddr: 0, chaddr: OUR_MAC,
            options: { messageType: type, serverId: GW_IP, leaseTime: 3600, subnetMask: ip('255.255.255.0'), routers: [GW_IP] },
          }),
        },
        { src: GW_IP, dst: ip('255.255.255.255') },
        MAC_BROADCAST,
      );
    stack.receive(reply(DhcpMessageType.OFFER), 10);
    stack.takeFrames();
    stack.receive(reply(DhcpMessageType.ACK), 20);
    const lines = renderDirectStatus({ stack, now: 60_010, listening: [] });
    expect(lines[0]).toMatch(/^status: 192\.168\.77\.50\/24 gw 192\.168\.77\.2, mac /);
    expect(lines[1]).toBe('  DHCP bound: lease 59m00s left of 1h00m, server 192.168.77.2, renewal in 29m00s');
    expect(lines).toContain('  TCP: 0 connections, no listeners, buffers 0 B');
  });

  it('a lease with DNS servers and an interface MTU (option 26): both shown, the MTU used for IP and the MSS', () => {
    const logs: string[] = [];
    const stack = new Stack({ mac: OUR_MAC, mtu: 1500, random: seededRandom(3), log: (l) => logs.push(l), acd: { probeNum: 0 } });
    stack.start(0);
    const xid = parseDhcp(decode(stack.takeFrames()[0] ?? new Uint8Array()).udp?.payload ?? new Uint8Array())?.xid ?? 0;
    const reply = (type: number): Uint8Array =>
      udpFrame(
        {
          srcPort: 67, dstPort: 68,
          payload: encodeDhcp({
            op: 2, xid, secs: 0, flags: 0x8000, ciaddr: 0, yiaddr: ip('192.168.77.50'), siaddr: 0, giaddr: 0, chaddr: OUR_MAC,
            options: { messageType: type, serverId: GW_IP, leaseTime: 3600, subnetMask: ip('255.255.255.0'), routers: [GW_IP], dnsServers: [GW_IP], interfaceMtu: 1400 },
          }),
        },
        { src: GW_IP, dst: ip('255.255.255.255') },
        MAC_BROADCAST,
      );
    stack.receive(reply(DhcpMessageType.OFFER), 10);
    stack.takeFrames();
    stack.receive(reply(DhcpMessageType.ACK), 20);
    const lines = renderDirectStatus({ stack, now: 60_010, listening: [] });
    expect(lines[1]).toBe('  DHCP bound: lease 59m00s left of 1h00m, server 192.168.77.2, renewal in 29m00s, DNS 192.168.77.2, MTU 1400');
    expect(logs).toContain('DHCP: interface MTU 1400 (option 26)');
    expect(stack.ipv4.maxPayload(GW_IP)).toBe(1380);
    const conn = stack.tcp.connect(GW_IP, 80);
    stack.poll(30);
    stack.receive(isAt({ mac: GW_MAC, ip: GW_IP }, { mac: OUR_MAC, ip: ip('192.168.77.50') }), 31);
    stack.poll(31);
    const syn = stack.takeFrames().map(decode).find((d) => d.ip?.protocol === 6);
    const seg = parseTcp(syn?.payload ?? new Uint8Array(), ipv4Pseudo(ip('192.168.77.50'), GW_IP, 6));
    expect(seg.ok && seg.segment.options.mss).toBe(1360); // 1400 − 40
    conn.abort();
  });

  it('renders the socket stack in two lines', () => {
    expect(
      renderSocketStatus({
        listening: [{ address: '127.0.0.1', port: 8088 }, { address: '127.0.0.1', port: 9100 }],
        http: { connections: 0, responses: new Map() },
        process: { uptimeMs: 5_000, rssBytes: 1536 },
      }),
    ).toEqual(['status: stack socket, listening on 127.0.0.1:8088 127.0.0.1:9100, up 5.0s, rss 1.5 KiB', '  HTTP: 0 open, answered nothing yet']);
  });

  it('formats durations and sizes', () => {
    expect([0.4, 999, 1000, 59_949, 60_000, 3_599_000, 3_600_000, 90_000_000, -1500].map(formatDuration)).toEqual([
      '0ms', '999ms', '1.0s', '59.9s', '1m00s', '59m59s', '1h00m', '1d01h', '-1.5s',
    ]);
    expect([0, 1023, 1024, 5 * 1024 * 1024, 3 * 1024 ** 3].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '5.0 MiB', '3.00 GiB']);
  });

  it('reads a static stack that has seen nothing', () => {
    const { stack } = staticStack();
    const lines = renderDirectStatus({ stack, now: 0, listening: [8088] });
    expect(lines).toEqual([
      `status: 192.168.77.10/24 gw 192.168.77.2, mac ${macToString(OUR_MAC)}`,
      '  IPv4: static address',
      '  ARP cache: 0 entries',
      '  TCP: 0 connections, listening on 8088, buffers 0 B',
      '  frames in 0, out 1; tcp.retransmit 0, tcp.rx_reset 0, tcp.tx_reset 0, arp.conflict 0',
      '  drops and errors: none',
    ]);
  });

  it('shows IPv6: the addresses with their state, origin and lifetime, the neighbour cache and the default routers', async () => {
    const v6 = { ipv6: { secret: new Uint8Array(16), ndp: { addresses: { iid: 'eui64' as const } } } };
    const net = new Net(v6, v6);
    net.advance(3000);
    const server = net.a.ndp?.addresses.list()[0]?.address ?? 0n;
    net.a.tcp.listen(80, () => {});
    const sock = new TcpSocket(net.b.tcp.connect(server, 80));
    net.run();
    await sock.established();
    const text = renderDirectStatus({ stack: net.a, now: net.now, listening: [80] }).join('\n');
    expect(text).toContain('  IPv6: 1 address (address, state, origin, valid for)');
    expect(text).toMatch(/\n {4}fe80::5eff:fe00:42 +preferred +link-local +forever\n/);
    expect(text).toMatch(new RegExp(`\\n {4}fe80::ff:fe00:1 +${macToString(PEER_MAC)}  (REACHABLE|STALE|DELAY|PROBE)\\n`));
    expect(text).toContain('  neighbours: 1 entry (IPv6 -> MAC, state), 0 default routers');
    const v4only = renderDirectStatus({ stack: new Net().a, now: 0, listening: [] }).join('\n');
    expect(v4only).not.toContain('IPv6');
    sock.abort();
  });

  it('shows the DHCPv6 lease (addresses, time left, renewal) and the DNS servers it gave', () => {
    const net = new Net({ ipv6: { secret: new Uint8Array(16) } });
    net.advance(3000);
    const c = net.a.dhcp6;
    if (c === undefined) throw new Error('no DHCPv6 client');
    const reply = (type: number, extra: Partial<Dhcpv6Message>): void =>
      c.receive(encodeDhcpv6({ type, xid: c.xid ?? 0, clientId: c.clientId, serverId: Uint8Array.of(0, 3, 0, 1, 2, 0, 0, 0, 0, 2), iaNa: [], ...extra }), net.now);
    c.routerFlags(false, true, net.now);
    net.advance(1200);
    reply(Dhcpv6Type.REPLY, { dnsServers: [0xfd77n << 112n | 2n] });
    expect(renderDirectStatus({ stack: net.a, now: net.now, listening: [] }).join('\n')).toContain('  DHCPv6 informed: no lease, DNS fd77::2');
    c.routerFlags(true, true, net.now);
    net.advance(1200);
    const ia = { iaid: c.iaid, t1: 1800, t2: 2880, addresses: [{ address: 0xfd77n << 112n | 0x1a2n, preferred: 3600, valid: 7200 }] };
    reply(Dhcpv6Type.ADVERTISE, { iaNa: [ia], preference: 255 });
    reply(Dhcpv6Type.REPLY, { iaNa: [ia], dnsServers: [0xfd77n << 112n | 2n] });
    const text = renderDirectStatus({ stack: net.a, now: net.now, listening: [] }).join('\n');
    expect(text).toContain(`  DHCPv6 bound: fd77::1a2, lease ${formatDuration(7200_000)} left, renewal in ${formatDuration(1800_000)}, DNS fd77::2`);
  });
});
