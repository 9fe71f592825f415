// A DNS stub resolver (RFC 1035 §7, RFC 1123 §6.1.3): A and AAAA for a name, asked of the servers the stack
// learned (DHCP option 6, DHCPv6, router advertisements' RDNSS) over UDP, again over TCP when the answer is
// truncated (RFC 7766 §5). An answer counts only if it comes from the server asked, to the random port and with
// the random id of the query, for the very question asked (RFC 5452 §4, §9.1); anything else is ignored and
// counted. CNAMEs in the answer are followed (at most MAX_CNAMES). Answers are cached for their TTL (at most
// maxTtlS), a name that does not exist for negativeTtlS, in a cache of at most cacheEntries names.

import type { Timers } from '../clock.ts';
import { readIpv6, type IpAddr } from '../net/addr.ts';
import type { Random } from '../random.ts';
import { encodeQuery, nameLabels, parseAnswer, RCODE_NOERROR, RCODE_NXDOMAIN, TYPE_A, TYPE_AAAA, TYPE_CNAME, type DnsAnswer } from './dns-wire.ts';

/** How the resolver reaches a server: a datagram from a port of its choosing, and a TCP exchange. */
export interface DnsTransport {
  /**
   * Sends `query` to `server` port 53 from `sourcePort`, and hands every datagram that comes back to that port to
   * `onReply` until the returned close() is called.
   */
  udp(server: IpAddr, sourcePort: number, query: Uint8Array, onReply: (reply: Uint8Array, from: { address: IpAddr; port: number }) => void): { close(): void };
  /** One query over TCP to `server` port 53 (two-byte length framing, RFC 1035 §4.2.2): the answer, or a rejection. */
  tcp(server: IpAddr, query: Uint8Array): Promise<Uint8Array>;
}

export interface ResolverOptions {
  /** How long one attempt at one server waits for its answer. */
  timeoutMs: number;
  /** Rounds over all the servers before giving up. */
  attempts: number;
  cacheEntries: number;
  /** The longest an answer is kept, whatever its TTL says. */
  maxTtlS: number;
  /** How long "no such name" is kept. */
  negativeTtlS: number;
}

export const defaultResolverOptions: ResolverOptions = { timeoutMs: 2000, attempts: 2, cacheEntries: 512, maxTtlS: 3600, negativeTtlS: 30 };
/** CNAMEs followed in one answer. */
const MAX_CNAMES = 8;
/** The source ports queries come from (RFC 6056: random among the ephemeral ones). */
const PORTS = [49152, 65535] as const;

export type DnsErrorCode = 'ENOTFOUND' | 'ENODATA' | 'ETIMEOUT' | 'ESERVFAIL' | 'ENOSERVERS' | 'EBADNAME';

export class DnsError extends Error {
  constructor(readonly code: DnsErrorCode, name: string, why: string) {
    super(`${code} ${name}: ${why}`);
  }
}

interface CacheEntry {
  addrs: IpAddr[];
  expiresAt: number;
}

/** What the resolver counts. */
export interface ResolverStats {
  queries: number;
  cacheHits: number;
  /** Datagrams that did not answer the question asked (wrong source, id or question). */
  ignored: number;
  tcpRetries: number;
}

export class Resolver {
  readonly stats: ResolverStats = { queries: 0, cacheHits: 0, ignored: 0, tcpRetries: 0 };
  private readonly cache = new Map<string, CacheEntry>();
  private readonly options: ResolverOptions;

  constructor(
    private readonly servers: () => IpAddr[],
    private readonly transport: DnsTransport,
    private readonly timers: Timers,
    private readonly random: Random,
    options: Partial<ResolverOptions> = {},
  ) {
    this.options = { ...defaultResolverOptions, ...options };
  }

  /** The addresses of `name`: IPv4 (family 4), IPv6 (6), or both, IPv4 first (0). */
  async lookup(name: string, family: 0 | 4 | 6 = 0): Promise<IpAddr[]> {
    if (nameLabels(name) === undefined) throw new DnsError('EBADNAME', name, 'not a domain name');
    const types = family === 4 ? [TYPE_A] : family === 6 ? [TYPE_AAAA] : [TYPE_A, TYPE_AAAA];
    const results = await Promise.allSettled(types.map((t) => this.query(name, t)));
    const addrs = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    if (addrs.length > 0) return addrs;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    throw new DnsError('ENODATA', name, 'no address records');
  }

  private async query(name: string, type: number): Promise<IpAddr[]> {
    const key = `${type} ${name.toLowerCase().replace(/\.$/, '')}`;
    const now = this.timers.now();
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.expiresAt > now) {
      this.stats.cacheHits++;
      if (hit.addrs.length === 0) throw new DnsError('ENOTFOUND', name, 'no such name (cached)');
      return hit.addrs;
    }
    const servers = this.servers();
    if (servers.length === 0) throw new DnsError('ENOSERVERS', name, 'no DNS server known (none from DHCP, DHCPv6 or router advertisements)');
    let last: DnsError = new DnsError('ETIMEOUT', name, 'no answer');
    for (let round = 0; round < this.options.attempts; round++) {
      for (const server of servers) {
        this.stats.queries++;
        const answer = await this.ask(server, name, type);
        if (answer === undefined) {
          last = new DnsError('ETIMEOUT', name, `no answer within ${this.options.timeoutMs} ms`);
          continue;
        }
        if (answer.rcode === RCODE_NXDOMAIN) {
          this.remember(key, [], this.options.negativeTtlS);
          throw new DnsError('ENOTFOUND', name, 'no such name');
        }
        if (answer.rcode !== RCODE_NOERROR) {
          last = new DnsError('ESERVFAIL', name, `the server answered rcode ${answer.rcode}`);
          continue;
        }
        const { addrs, ttl } = addressesOf(answer, name, type);
        if (addrs.length === 0) throw new DnsError('ENODATA', name, `no ${type === TYPE_A ? 'A' : 'AAAA'} records`);
        this.remember(key, addrs, ttl);
        return addrs;
      }
    }
    throw last;
  }

  /** One query to one server: the matching answer (over TCP if the UDP one was truncated), or undefined. */
  private ask(server: IpAddr, name: string, type: number): Promise<DnsAnswer | undefined> {
    const id = Math.floor(this.random() * 0x10000) & 0xffff;
    const port = PORTS[0] + Math.floor(this.random() * (PORTS[1] - PORTS[0] + 1));
    const query = encodeQuery(id, name, type);
    if (query === undefined) return Promise.resolve(undefined);
    const matches = (m: DnsAnswer): boolean =>
      m.response && m.id === id && m.question !== undefined && m.question.type === type && m.question.name.toLowerCase() === name.toLowerCase().replace(/\.$/, '');
    return new Promise((resolve) => {
      let done = false;
      const finish = (a: DnsAnswer | undefined): void => {
        if (done) return;
        done = true;
        timer.cancel();
        channel.close();
        resolve(a);
      };
      const timer = this.timers.setTimer(this.options.timeoutMs, () => finish(undefined));
      const channel = this.transport.udp(server, port, query, (reply, from) => {
        const p = parseAnswer(reply);
        if (!p.ok || from.address !== server || from.port !== 53 || !matches(p.message)) {
          this.stats.ignored++;
          return;
        }
        if (!p.message.truncated) {
          finish(p.message);
          return;
        }
        // RFC 7766 §5: truncated over UDP, so the same question again over TCP.
        this.stats.tcpRetries++;
        timer.cancel();
        this.transport.tcp(server, query).then(
          (bytes) => {
            const t = parseAnswer(bytes);
            finish(t.ok && matches(t.message) ? t.message : undefined);
          },
          () => finish(undefined),
        );
      });
    });
  }

  private remember(key: string, addrs: IpAddr[], ttlS: number): void {
    this.cache.delete(key);
    while (this.cache.size >= this.options.cacheEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(key, { addrs, expiresAt: this.timers.now() + Math.min(ttlS, this.options.maxTtlS) * 1000 });
  }
}

/** The addresses the answer gives for `name` (through its CNAMEs), and the smallest TTL on the way. */
function addressesOf(m: DnsAnswer, name: string, type: number): { addrs: IpAddr[]; ttl: number } {
  let target = name.toLowerCase().replace(/\.$/, '');
  let ttl = Infinity;
  for (let i = 0; i < MAX_CNAMES; i++) {
    const cname = m.answers.find((r) => r.type === TYPE_CNAME && r.name.toLowerCase() === target);
    if (cname?.target === undefined) break;
    ttl = Math.min(ttl, cname.ttl);
    target = cname.target.toLowerCase();
  }
  const addrs: IpAddr[] = [];
  for (const r of m.answers) {
    if (r.type !== type || r.name.toLowerCase() !== target) continue;
    if (type === TYPE_A && r.data.length === 4) addrs.push((((r.data[0] ?? 0) << 24) | ((r.data[1] ?? 0) << 16) | ((r.data[2] ?? 0) << 8) | (r.data[3] ?? 0)) >>> 0);
    else if (type === TYPE_AAAA && r.data.length === 16) addrs.push(readIpv6(r.data, 0));
    else continue;
    ttl = Math.min(ttl, r.ttl);
  }
  return { addrs, ttl: Number.isFinite(ttl) ? ttl : 0 };
}

