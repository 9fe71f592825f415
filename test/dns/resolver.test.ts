// The DNS codec and the stub resolver, with a transport played by the test and the clock moved by hand:
// answers, CNAMEs, caching by TTL and its bound, negative answers, truncation and TCP, answers that do not match
// the query (RFC 5452), timeouts and retries over several servers.

import { describe, expect, it } from 'vitest';
import { ManualTimers } from '../../src/clock.ts';
import { ipv4ToString, parseIpv4, parseIpv6, type IpAddr } from '../../src/net/addr.ts';
import { seededRandom } from '../../src/random.ts';
import { encodeQuery, parseAnswer, TYPE_A, TYPE_AAAA, TYPE_CNAME } from '../../src/dns/dns-wire.ts';
import { DnsError, Resolver, type DnsTransport } from '../../src/dns/resolver.ts';

const S1 = parseIpv4('192.168.77.2') ?? 0;
const S2 = parseIpv4('192.168.77.3') ?? 0;

interface Rec { name?: string; type: number; ttl: number; data: Uint8Array | string }

/** An answer to `query`: its id and question, QR and RA set, the records (names as labels, no compression but in the question pointer). */
function answerTo(query: Uint8Array, recs: Rec[], o: { rcode?: number; tc?: boolean; id?: number } = {}): Uint8Array {
  const qEnd = query.length;
  const parts: number[] = [...query.subarray(0, qEnd)];
  const v = new DataView(new Uint8Array(parts).buffer);
  const id = o.id ?? v.getUint16(0);
  parts[0] = id >> 8;
  parts[1] = id & 0xff;
  parts[2] = 0x81 | (o.tc === true ? 0x02 : 0);
  parts[3] = 0x80 | (o.rcode ?? 0);
  parts[6] = recs.length >> 8;
  parts[7] = recs.length & 0xff;
  const name = (n: string): number[] => [...n.split('.').flatMap((l) => [l.length, ...[...l].map((c) => c.charCodeAt(0))]), 0];
  for (const r of recs) {
    const data = typeof r.data === 'string' ? name(r.data) : [...r.data];
    parts.push(...(r.name === undefined ? [0xc0, 12] : name(r.name)), r.type >> 8, r.type & 0xff, 0, 1, (r.ttl >>> 24) & 0xff, (r.ttl >> 16) & 0xff, (r.ttl >> 8) & 0xff, r.ttl & 0xff, data.length >> 8, data.length & 0xff, ...data);
  }
  return Uint8Array.from(parts);
}

const A = (addr: string): Uint8Array => {
  const a = parseIpv4(addr) ?? 0;
  return Uint8Array.from([a >>> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff]);
};

/** A transport whose servers answer with `answer(server, query)` (undefined: silence), after `delayMs`. */
function fakeTransport(timers: ManualTimers, answer: (server: IpAddr, query: Uint8Array, via: 'udp' | 'tcp') => { bytes: Uint8Array; fromPort?: number; from?: IpAddr }[] | undefined): DnsTransport & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    udp(server, _port, query, onReply) {
      asked.push(`udp ${ipv4ToString(server as number)}`);
      let open = true;
      const replies = answer(server, query, 'udp') ?? [];
      timers.setTimer(5, () => {
        for (const r of replies) if (open) onReply(r.bytes, { address: r.from ?? server, port: r.fromPort ?? 53 });
      });
      return { close: () => (open = false) };
    },
    tcp(server, query) {
      asked.push(`tcp ${ipv4ToString(server as number)}`);
      const r = answer(server, query, 'tcp')?.[0];
      return r === undefined ? Promise.reject(new Error('refused')) : Promise.resolve(r.bytes);
    },
  };
}

/** Moves the clock in steps until `p` settles (or `ms` pass). */
async function run<T>(timers: ManualTimers, p: Promise<T>, ms = 30_000): Promise<T> {
  let settled = false;
  void p.then(() => (settled = true), () => (settled = true));
  for (let t = 0; t < ms && !settled; t += 5) {
    await Promise.resolve();
    timers.advance(5);
    await new Promise((r) => setImmediate(r));
  }
  return p;
}

describe('the DNS codec', () => {
  it('encodes a recursive query for one name and type', () => {
    const q = encodeQuery(0x1234, 'peer.lab', TYPE_A);
    expect([...(q ?? [])]).toEqual([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 4, ...'peer'.split('').map((c) => c.charCodeAt(0)), 3, ...'lab'.split('').map((c) => c.charCodeAt(0)), 0, 0, 1, 0, 1]);
    expect(encodeQuery(1, 'a'.repeat(64) + '.lab', TYPE_A)).toBeUndefined();
    expect(encodeQuery(1, `${'a.'.repeat(127)}ab`, TYPE_A)).toBeUndefined();
    expect(encodeQuery(1, 'bad name.lab', TYPE_A)).toBeUndefined();
    expect(encodeQuery(1, '', TYPE_A)).toBeUndefined();
  });

  it('parses an answer with a compressed name and a CNAME; refuses loops and records past the end', () => {
    const q = encodeQuery(7, 'www.lab', TYPE_A) ?? new Uint8Array();
    const a = answerTo(q, [{ type: TYPE_CNAME, ttl: 60, data: 'host.lab' }, { name: 'host.lab', type: TYPE_A, ttl: 30, data: A('192.168.77.1') }]);
    const p = parseAnswer(a);
    expect(p.ok && p.message.question).toEqual({ name: 'www.lab', type: TYPE_A, class: 1 });
    expect(p.ok && p.message.answers.map((r) => [r.name, r.type, r.ttl, r.target])).toEqual([['www.lab', TYPE_CNAME, 60, 'host.lab'], ['host.lab', TYPE_A, 30, undefined]]);
    // A pointer to itself: a loop.
    const loop = Uint8Array.from(a);
    loop[12] = 0xc0;
    loop[13] = 12;
    expect(parseAnswer(loop)).toEqual({ ok: false, reason: 'bad_name' });
    expect(parseAnswer(a.subarray(0, a.length - 2))).toEqual({ ok: false, reason: 'bad_record' });
    expect(parseAnswer(a.subarray(0, 5))).toEqual({ ok: false, reason: 'short' });
  });
});

describe('the resolver', () => {
  const setup = (answer: Parameters<typeof fakeTransport>[1], servers: IpAddr[] = [S1], opts = {}) => {
    const timers = new ManualTimers();
    const t = fakeTransport(timers, answer);
    const r = new Resolver(() => servers, t, timers, seededRandom(9), { timeoutMs: 1000, attempts: 2, ...opts });
    return { timers, t, r };
  };

  it('resolves A and AAAA, through a CNAME, and keeps the answer for its TTL', async () => {
    const { timers, t, r } = setup((_s, q) => {
      const type = q[q.length - 3];
      return [{ bytes: answerTo(q, type === TYPE_A ? [{ type: TYPE_CNAME, ttl: 300, data: 'host.lab' }, { name: 'host.lab', type: TYPE_A, ttl: 60, data: A('192.168.77.1') }] : [{ type: TYPE_AAAA, ttl: 60, data: new Uint8Array(16).fill(0).map((_, i) => (i === 0 ? 0xfd : i === 1 ? 0x77 : i === 15 ? 1 : 0)) }]) }];
    });
    const got = await run(timers, r.lookup('peer.lab'));
    expect(got).toEqual([parseIpv4('192.168.77.1'), parseIpv6('fd77::1')]);
    expect(t.asked).toEqual(['udp 192.168.77.2', 'udp 192.168.77.2']);
    await run(timers, r.lookup('PEER.lab.', 4)); // the same name, another spelling: from the cache
    expect(r.stats.cacheHits).toBe(1);
    timers.advance(61_000); // the TTL (the smallest on the way: 60 s) is over
    await run(timers, r.lookup('peer.lab', 4));
    expect(t.asked).toHaveLength(3);
  });

  it('ignores answers with another id, from another port or for another name, and takes the right one', async () => {
    const { timers, r } = setup((_s, q) => {
      const other = encodeQuery(1, 'evil.lab', TYPE_A) ?? new Uint8Array();
      return [
        { bytes: answerTo(q, [{ type: TYPE_A, ttl: 60, data: A('6.6.6.6') }], { id: (q[0] ?? 0) * 256 + (q[1] ?? 0) + 1 }) },
        { bytes: answerTo(q, [{ type: TYPE_A, ttl: 60, data: A('6.6.6.6') }]), fromPort: 5353 },
        { bytes: answerTo(q, [{ type: TYPE_A, ttl: 60, data: A('6.6.6.6') }]), from: S2 },
        { bytes: answerTo(Uint8Array.from([q[0] ?? 0, q[1] ?? 0, ...other.subarray(2)]), [{ type: TYPE_A, ttl: 60, data: A('6.6.6.6') }]) },
        { bytes: new Uint8Array([1, 2, 3]) },
        { bytes: answerTo(q, [{ type: TYPE_A, ttl: 60, data: A('192.168.77.1') }]) },
      ];
    });
    expect(await run(timers, r.lookup('peer.lab', 4))).toEqual([parseIpv4('192.168.77.1')]);
    expect(r.stats.ignored).toBe(5);
  });

  it('asks again over TCP when the UDP answer is truncated', async () => {
    const { timers, t, r } = setup((_s, q, via) => [{ bytes: via === 'udp' ? answerTo(q, [], { tc: true }) : answerTo(q, [{ type: TYPE_A, ttl: 60, data: A('192.168.77.9') }]) }]);
    expect(await run(timers, r.lookup('big.lab', 4))).toEqual([parseIpv4('192.168.77.9')]);
    expect(t.asked).toEqual(['udp 192.168.77.2', 'tcp 192.168.77.2']);
    expect(r.stats.tcpRetries).toBe(1);
  });

  it('a silent server: the next one after the timeout; all silent: ETIMEOUT after every attempt', async () => {
    const { timers, t, r } = setup((s, q) => (s === S1 ? undefined : [{ bytes: answerTo(q, [{ type: TYPE_A, ttl: 60, data: A('192.168.77.1') }]) }]), [S1, S2]);
    const t0 = timers.now();
    expect(await run(timers, r.lookup('peer.lab', 4))).toEqual([parseIpv4('192.168.77.1')]);
    expect(timers.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(t.asked).toEqual(['udp 192.168.77.2', 'udp 192.168.77.3']);
    const silent = setup(() => undefined, [S1, S2]);
    const e2 = await run(silent.timers, silent.r.lookup('nobody.lab', 4).catch((e: unknown) => e));
    expect(e2).toBeInstanceOf(DnsError);
    expect((e2 as DnsError).code).toBe('ETIMEOUT');
    expect(silent.t.asked.filter((a) => a.startsWith('udp')).length).toBeGreaterThanOrEqual(4); // 2 servers × 2 attempts
  });

  it('no such name: ENOTFOUND, remembered for negativeTtlS; no servers: ENOSERVERS; a bad name: EBADNAME', async () => {
    const { timers, t, r } = setup((_s, q) => [{ bytes: answerTo(q, [], { rcode: 3 }) }], [S1], { negativeTtlS: 30 });
    const code = async (p: Promise<unknown>): Promise<string> => run(timers, p.then(() => 'ok', (e: unknown) => (e instanceof DnsError ? e.code : String(e))));
    expect(await code(r.lookup('gone.lab', 4))).toBe('ENOTFOUND');
    expect(await code(r.lookup('gone.lab', 4))).toBe('ENOTFOUND');
    expect(t.asked).toHaveLength(1);
    expect(await code(new Resolver(() => [], t, timers, seededRandom(1)).lookup('peer.lab'))).toBe('ENOSERVERS');
    expect(await code(r.lookup('not a name'))).toBe('EBADNAME');
  });

  it('the cache holds at most cacheEntries names: the oldest goes first', async () => {
    const { timers, t, r } = setup((_s, q) => [{ bytes: answerTo(q, [{ type: TYPE_A, ttl: 600, data: A('192.168.77.1') }]) }], [S1], { cacheEntries: 2 });
    for (const n of ['a.lab', 'b.lab', 'c.lab', 'a.lab']) await run(timers, r.lookup(n, 4));
    expect(t.asked).toHaveLength(4); // a.lab was evicted by c.lab and asked again
    await run(timers, r.lookup('c.lab', 4));
    expect(t.asked).toHaveLength(4);
  });
});
