// The resolver (src/dns/resolver.ts) on our stack: its datagrams over our UDP from the port it chose (another free
// one if that is taken), its TCP retries over our TCP (two-byte length framing, RFC 1035 §4.2.2, an answer at most
// 65535 bytes, within TCP_TIMEOUT_MS), and the DNS servers the stack has learned: DHCP's option 6, DHCPv6's and the
// router advertisements' (RFC 8106), at most MAX_DNS_SERVERS, in that order.

import type { Timers } from '../clock.ts';
import { copyBytes, type IpAddr } from '../net/addr.ts';
import { Resolver, type DnsTransport, type ResolverOptions } from '../dns/resolver.ts';
import type { Random } from '../random.ts';
import type { StackDriver } from '../stack/driver.ts';
import { TcpSocket } from '../net/tcp/tcp-socket.ts';

/** How long one TCP exchange with a server may take. */
export const TCP_TIMEOUT_MS = 5000;
/** DNS servers asked, in order. */
export const MAX_DNS_SERVERS = 8;
const DNS_PORT = 53;
/** Other source ports tried when the one the resolver chose is taken. */
const PORT_TRIES = 16;

/** The DNS servers the stack knows now. */
export function stackDnsServers(driver: StackDriver, now: number): IpAddr[] {
  const s = driver.stack;
  const all: IpAddr[] = [...(s.dhcp?.lease?.dns ?? []), ...(s.dhcp6?.dnsServers ?? []), ...(s.ndp?.dnsServers(now) ?? [])];
  return [...new Set(all)].slice(0, MAX_DNS_SERVERS);
}

export function stackDnsTransport(driver: StackDriver, timers: Timers, random: Random): DnsTransport {
  const udp = driver.stack.udp;
  return {
    udp(server, sourcePort, query, onReply) {
      let unbind: (() => void) | undefined;
      let port = sourcePort;
      for (let i = 0; i < PORT_TRIES && unbind === undefined; i++) {
        try {
          unbind = udp.bind(port, (d) => onReply(copyBytes(d.payload), { address: d.src, port: d.srcPort }));
        } catch {
          port = 49152 + Math.floor(random() * 16384);
        }
      }
      if (unbind !== undefined) {
        udp.send({ srcPort: port, dst: server, dstPort: DNS_PORT, payload: query }, timers.now());
        driver.wake();
      }
      return { close: () => unbind?.() };
    },
    async tcp(server, query) {
      const sock = new TcpSocket(driver.stack.tcp.connect(server, DNS_PORT));
      driver.wake();
      const timer = timers.setTimer(TCP_TIMEOUT_MS, () => sock.abort());
      try {
        await sock.established();
        const framed = new Uint8Array(2 + query.length);
        framed[0] = query.length >> 8;
        framed[1] = query.length & 0xff;
        framed.set(query, 2);
        await sock.write(framed);
        const chunks: Uint8Array[] = [];
        let have = 0;
        let want = Infinity;
        while (have < want) {
          const c = await sock.read();
          if (c === null) throw new Error('the server closed before its whole answer');
          chunks.push(copyBytes(c));
          have += c.length;
          if (want === Infinity && have >= 2) {
            const first = Buffer.concat(chunks);
            want = 2 + (((first[0] ?? 0) << 8) | (first[1] ?? 0));
          }
        }
        return new Uint8Array(Buffer.concat(chunks).subarray(2, want));
      } finally {
        timer.cancel();
        void sock.close();
      }
    },
  };
}


/** A resolver asking the stack's own DNS servers over the stack. */
export function stackResolver(driver: StackDriver, timers: Timers, random: Random, options: Partial<ResolverOptions> = {}): Resolver {
  return new Resolver(() => stackDnsServers(driver, timers.now()), stackDnsTransport(driver, timers, random), timers, random, options);
}
