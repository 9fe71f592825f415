// The DHCPv6 codec: hand-built bytes both ways, the messages of a real exchange with dnsmasq (recorded by
// scripts/record-dhcpv6-fixture.sh), every malformation we check for, and random or mutated bytes that never throw.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DHCPV6_CLIENT_PORT, DHCPV6_SERVER_PORT, Dhcpv6Type as T, duidLl, encodeDhcpv6, MAX_IA_ADDRS, parseDhcpv6, type Dhcpv6Message,
} from '../../src/dhcp/dhcpv6-wire.ts';
import { parseIpv6 as parseIpv6Text, parseMac } from '../../src/net/addr.ts';
import { parseIpv6 } from '../../src/net/ipv6-wire.ts';
import { readPcap } from '../../src/net/pcap.ts';
import { seededRandom } from '../../src/random.ts';

const v6 = (s: string): bigint => parseIpv6Text(s) ?? 0n;
const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g) ?? [], (b) => parseInt(b, 16));

/** The DHCPv6 payloads of the fixture, in order, with the direction of each. */
function fixture(): { payload: Uint8Array; fromClient: boolean }[] {
  const frames = readPcap(new Uint8Array(readFileSync(new URL('../fixtures/dnsmasq-dhcpv6.pcap', import.meta.url)))).map((r) => r.frame);
  return frames.flatMap((f) => {
    const ip = parseIpv6(f.subarray(14));
    if (!ip.ok || ip.protocol !== 17) return [];
    const udp = ip.payload;
    const src = (udp[0] ?? 0) * 256 + (udp[1] ?? 0);
    return [{ payload: udp.subarray(8), fromClient: src === DHCPV6_CLIENT_PORT }];
  });
}

describe('DHCPv6 codec', () => {
  // A Solicit as RFC 8415 lays it out: type 1, xid, Client ID (DUID-LL), IA_NA (IAID, T1, T2), ORO, Elapsed Time.
  const solicitBytes = hex(`
    01 a3 5c 1e
    0001 000a 0003 0001 02 00 5e 00 00 46
    0003 000c 5e000046 00000000 00000000
    0006 0004 0017 0052
    0008 0002 0000`);
  const solicit: Dhcpv6Message = {
    type: T.SOLICIT, xid: 0xa35c1e, clientId: duidLl(parseMac('02:00:5e:00:00:46') ?? 0),
    iaNa: [{ iaid: 0x5e000046, t1: 0, t2: 0, addresses: [] }], oro: [23, 82], elapsed: 0,
  };

  it('parses and encodes a Solicit byte for byte', () => {
    expect(parseDhcpv6(solicitBytes)).toEqual({ ok: true, message: solicit });
    expect(Array.from(encodeDhcpv6(solicit))).toEqual(Array.from(solicitBytes));
  });

  it('round-trips every option it knows, nested IAADDR and status codes included', () => {
    const m: Dhcpv6Message = {
      type: T.REPLY, xid: 0x123456, clientId: hex('00030001020000aabbcc'), serverId: hex('000100012f11223302000000004d'),
      iaNa: [{
        iaid: 7, t1: 100, t2: 160, status: { code: 0, message: 'ok' },
        addresses: [{ address: v6('fd77::1a2'), preferred: 300, valid: 600, status: { code: 0, message: '' } }, { address: v6('fd77::1a3'), preferred: 0, valid: 0 }],
      }],
      oro: [23], preference: 200, elapsed: 513, status: { code: 2, message: 'no addresses, sorry: ünïcode' }, rapidCommit: true,
      dnsServers: [v6('fd77::2'), v6('2001:db8::53')], informationRefreshTime: 3600, solMaxRt: 7200, infMaxRt: 120,
    };
    expect(parseDhcpv6(encodeDhcpv6(m))).toEqual({ ok: true, message: m });
  });

  it("reads dnsmasq's Advertise and Reply, and our Solicit, Request and Release re-encode to the bytes we sent", () => {
    const msgs = fixture();
    expect(msgs.map((x) => parseDhcpv6(x.payload).ok)).toEqual(msgs.map(() => true));
    const parsed = msgs.map((x) => ({ ...x, m: (parseDhcpv6(x.payload) as { ok: true; message: Dhcpv6Message }).message }));
    expect(parsed.map((x) => x.m.type)).toEqual([T.SOLICIT, T.ADVERTISE, T.REQUEST, T.REPLY, T.RELEASE, T.REPLY]);
    for (const x of parsed.filter((p) => p.fromClient)) expect(Array.from(encodeDhcpv6(x.m))).toEqual(Array.from(x.payload));
    const adv = parsed[1]?.m;
    expect(adv?.preference).toBe(255);
    expect(adv?.serverId?.length).toBeGreaterThan(2);
    expect(adv?.dnsServers).toEqual([v6('fd77::2')]);
    const ia = adv?.iaNa[0];
    expect(ia?.t1).toBe(21600);
    expect(ia?.t2).toBe(37800);
    expect(ia?.addresses[0]?.valid).toBe(43200);
    const a = ia?.addresses[0]?.address ?? 0n;
    expect(a >= v6('fd77::100') && a <= v6('fd77::1ff')).toBe(true);
    expect(parsed[3]?.m.iaNa[0]?.addresses[0]?.address).toBe(a); // the Reply leases what was advertised
    expect(parsed[5]?.m.status?.code).toBe(0);
    expect(parsed.filter((p) => !p.fromClient).every((p) => p.m.xid === parsed.find((q) => q.fromClient && q.m.xid === p.m.xid)?.m.xid)).toBe(true);
  });

  it('refuses what does not hold together, with a reason', () => {
    const bad: [string, Uint8Array][] = [
      ['header', hex('010000')],
      ['option header', hex('01000000 0001')],
      ['overrun', hex('01000000 0001 0010 0003')],
      ['short DUID', hex('01000000 0001 0001 00')],
      ['long DUID', Uint8Array.from([1, 0, 0, 0, 0, 1, 0, 131, ...new Uint8Array(131)])],
      ['short IA_NA', hex('01000000 0003 0008 0000000000000000')],
      ['IAADDR overrun', hex('01000000 0003 0010 00000001 00000000 00000000 0005 0018')],
      ['short IAADDR', hex('01000000 0003 0014 00000001 00000000 00000000 0005 0004 00000000')],
      ['odd ORO', hex('01000000 0006 0003 001700')],
      ['elapsed', hex('01000000 0008 0001 00')],
      ['preference', hex('01000000 0007 0002 0000')],
      ['rapid commit', hex('01000000 000e 0001 00')],
      ['DNS', hex('01000000 0017 0004 00000000')],
      ['short status', hex('01000000 000d 0001 00')],
      ['refresh time', hex('01000000 0020 0002 0000')],
      ['relay', hex('0c000000')],
    ];
    for (const [what, b] of bad) {
      const r = parseDhcpv6(b);
      expect(r.ok, what).toBe(false);
    }
  });

  it('keeps the first of a repeated option, skips unknown ones, and bounds what it keeps', () => {
    const many = { type: T.REPLY, xid: 1, iaNa: [{ iaid: 1, t1: 0, t2: 0, addresses: Array.from({ length: 20 }, (_, i) => ({ address: BigInt(i + 1), preferred: 1, valid: 2 })) }] };
    const enc = encodeDhcpv6(many);
    const withUnknown = new Uint8Array([...enc, 0x12, 0x34, 0, 2, 9, 9, 0, 7, 0, 1, 9]);
    const r = parseDhcpv6(withUnknown);
    if (!r.ok) throw new Error(r.reason);
    expect(r.message.iaNa[0]?.addresses).toHaveLength(MAX_IA_ADDRS);
    expect(r.message.preference).toBe(9);
    const twice = parseDhcpv6(hex('07000001 0007 0001 05 0007 0001 06'));
    expect(twice.ok && twice.message.preference).toBe(5);
  });

  it('never throws on random or mutated bytes, and what it accepts re-encodes to something it accepts again', () => {
    const rnd = seededRandom(42);
    const seeds = [solicitBytes, ...fixture().map((x) => x.payload)];
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      let b: Uint8Array;
      if (i % 3 === 0) b = Uint8Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256));
      else {
        const base = seeds[i % seeds.length] ?? solicitBytes;
        b = base.slice(0, Math.max(0, base.length - (i % 5 === 0 ? Math.floor(rnd() * 20) : 0)));
        for (let k = 0; k < 1 + (i % 4); k++) if (b.length > 0) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      }
      const r = parseDhcpv6(b);
      if (r.ok) {
        accepted++;
        expect(parseDhcpv6(encodeDhcpv6(r.message)).ok).toBe(true);
      }
    }
    expect(accepted).toBeGreaterThan(100);
    expect(DHCPV6_SERVER_PORT).toBe(547);
  });
});
