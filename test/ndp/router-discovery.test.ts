// Router discovery (RFC 4861 §6.3) with a hand-moved clock: the solicitations at start, and what an
// advertisement brings (dnsmasq's own, from the recorded fixture, and hand-made ones for each rule).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseIpv6 as parseIpv6Text } from '../../src/net/addr.ts';
import { parseIcmpv6 } from '../../src/net/icmpv6-wire.ts';
import { NH_ICMPV6, ipv6Pseudo, parseIpv6 } from '../../src/net/ipv6-wire.ts';
import { readPcap } from '../../src/net/pcap.ts';
import { parseNd, type NdMessage, type PrefixInfo } from '../../src/ndp/ndp-wire.ts';
import { LIFETIME_INFINITE, RouterDiscovery } from '../../src/ndp/router-discovery.ts';

const v6 = (s: string): bigint => parseIpv6Text(s) ?? 0n;
const ROUTER = v6('fe80::ff:fe00:7702');
type Ra = Extract<NdMessage, { kind: 'ra' }>;

/** dnsmasq's advertisement from the fixture. */
function recordedRa(): { ra: Ra; src: bigint } {
  const frames = readPcap(new Uint8Array(readFileSync(new URL('../fixtures/linux-dnsmasq-ipv6.pcap', import.meta.url)))).map((r) => r.frame);
  for (const f of frames) {
    const ip = parseIpv6(f.subarray(14));
    if (!ip.ok || ip.protocol !== NH_ICMPV6) continue;
    const m = parseIcmpv6(ip.payload, ipv6Pseudo(ip.header.src, ip.header.dst, NH_ICMPV6));
    if (!m.ok) continue;
    const n = parseNd(m.message);
    if (n.ok && n.message.kind === 'ra') return { ra: n.message, src: ip.header.src };
  }
  throw new Error('no RA in the fixture');
}

const prefix = (p: Partial<PrefixInfo> = {}): PrefixInfo => ({
  prefixLength: 64, onLink: true, autonomous: true, validLifetime: 3600, preferredLifetime: 1800, prefix: v6('2001:db8:1::'), ...p,
});
const ra = (r: Partial<Ra> = {}, prefixes: PrefixInfo[] = [prefix()]): Ra => ({
  kind: 'ra', curHopLimit: 64, managed: false, other: false, routerLifetime: 1800, reachableTime: 0, retransTimer: 0, options: { prefixes }, ...r,
});

describe('router discovery (RFC 4861 §6.3)', () => {
  it('solicits after a random delay up to 1 s, then every 4 s, three times, and stops once advertised to', () => {
    const rd = new RouterDiscovery(() => 0.25, 1500);
    rd.start(1000);
    const times: number[] = [];
    for (let d = rd.nextDeadline(); d !== undefined; d = rd.nextDeadline()) {
      rd.poll(d);
      if (rd.takeEvents().some((e) => e.kind === 'solicit')) times.push(d);
    }
    expect(times).toEqual([1250, 5250, 9250]);
    const early = new RouterDiscovery(() => 0, 1500);
    early.start(0);
    early.poll(0);
    expect(early.takeEvents()).toEqual([{ kind: 'solicit' }]);
    early.receiveAdvertisement(ra(), ROUTER, 10);
    early.takeEvents();
    early.poll(4000);
    expect(early.takeEvents()).toEqual([]);
  });

  it("takes dnsmasq's advertisement: a default router, DHCPv6 for other configuration, the MTU, a /64 to autoconfigure", () => {
    const { ra: recorded, src } = recordedRa();
    const rd = new RouterDiscovery(() => 0, 1500);
    rd.receiveAdvertisement(recorded, src, 0);
    expect(rd.takeEvents()).toEqual([
      { kind: 'routers' },
      { kind: 'dhcpv6', managed: false, other: true },
      { kind: 'link', mtu: 1500, hopLimit: 64, reachableTimeMs: undefined, retransTimerMs: undefined },
      { kind: 'autoconf', prefix: v6('fd77::'), validLifetime: 3600, preferredLifetime: 3600 },
    ]);
    expect(rd.defaultRouters(0)).toEqual([ROUTER]);
    expect(rd.isOnLink(v6('fd77::1234'), 0)).toBe(true);
    expect(rd.isOnLink(v6('fd78::1'), 0)).toBe(false);
    expect(rd.isOnLink(v6('fe80::9'), 0)).toBe(true);
  });

  it('lets routers and on-link prefixes expire; a router lifetime of 0 removes the router at once', () => {
    const rd = new RouterDiscovery(() => 0, 1500);
    rd.receiveAdvertisement(ra({ routerLifetime: 10 }, [prefix({ validLifetime: 20 })]), ROUTER, 0);
    rd.takeEvents();
    expect(rd.nextDeadline()).toBe(10_000);
    rd.poll(10_000);
    expect(rd.takeEvents()).toEqual([{ kind: 'routers' }]);
    expect(rd.defaultRouters(10_000)).toEqual([]);
    expect(rd.isOnLink(v6('2001:db8:1::5'), 19_999)).toBe(true);
    rd.poll(20_000);
    expect(rd.isOnLink(v6('2001:db8:1::5'), 20_000)).toBe(false);
    rd.receiveAdvertisement(ra({}, []), ROUTER, 30_000);
    rd.receiveAdvertisement(ra({ routerLifetime: 0 }, []), ROUTER, 30_001);
    expect(rd.takeEvents().filter((e) => e.kind === 'routers')).toHaveLength(2);
    expect(rd.defaultRouters(30_001)).toEqual([]);
    const inf = new RouterDiscovery(() => 0, 1500);
    inf.receiveAdvertisement(ra({}, [prefix({ validLifetime: LIFETIME_INFINITE, preferredLifetime: LIFETIME_INFINITE })]), ROUTER, 0);
    expect(inf.isOnLink(v6('2001:db8:1::5'), 10 ** 12)).toBe(true);
  });

  it('ignores an MTU under 1280 or over the link’s; link-local prefixes; autoconf with preferred > valid or not /64', () => {
    const rd = new RouterDiscovery(() => 0, 1500);
    rd.receiveAdvertisement(ra({ curHopLimit: 0, options: { prefixes: [], mtu: 1200 } }), ROUTER, 0);
    rd.receiveAdvertisement(ra({ curHopLimit: 0, options: { prefixes: [], mtu: 9000 } }), ROUTER, 0);
    expect(rd.takeEvents().filter((e) => e.kind === 'link')).toEqual([]);
    rd.receiveAdvertisement(ra({}, [prefix({ prefix: v6('fe80::') }), prefix({ preferredLifetime: 7200 }), prefix({ prefixLength: 56 })]), ROUTER, 0);
    expect(rd.takeEvents().filter((e) => e.kind === 'autoconf')).toEqual([]);
    expect(rd.isOnLink(v6('2001:db8:1::5'), 0)).toBe(true); // the on-link flag still counts for the valid ones
  });

  it('bounds the router and prefix lists', () => {
    const rd = new RouterDiscovery(() => 0, 1500, { maxRouters: 2, maxPrefixes: 1 });
    for (let i = 1; i <= 3; i++) rd.receiveAdvertisement(ra({}, [prefix({ prefix: v6(`2001:db8:${i}::`) })]), v6(`fe80::${i}`), 0);
    expect(rd.defaultRouters(0)).toEqual([v6('fe80::1'), v6('fe80::2')]);
    expect([1, 2, 3].map((i) => rd.isOnLink(v6(`2001:db8:${i}::1`), 0))).toEqual([true, false, false]);
  });

  it('reports the M and O flags when they change, and DNS servers with their lifetime', () => {
    const rd = new RouterDiscovery(() => 0, 1500);
    rd.receiveAdvertisement(ra({ managed: true }), ROUTER, 0);
    rd.receiveAdvertisement(ra({ managed: true }), ROUTER, 1);
    rd.receiveAdvertisement(ra({ options: { prefixes: [], dns: { lifetime: 60, servers: [v6('fd77::2')] } } }), ROUTER, 2);
    const ev = rd.takeEvents();
    expect(ev.filter((e) => e.kind === 'dhcpv6')).toEqual([{ kind: 'dhcpv6', managed: true, other: false }, { kind: 'dhcpv6', managed: false, other: false }]);
    expect(ev.filter((e) => e.kind === 'dns')).toEqual([{ kind: 'dns', servers: [v6('fd77::2')], expiresAt: 60_002 }]);
  });
});
