// The IPv6 twin of replay-linux.test.ts: a conversation recorded on the bridge (scripts/record-tcp-fixture.sh
// --ipv6) between curl on the Linux kernel (fd77::1) and our stack, IPv6 only, at the static fd77::10: the kernel's
// neighbour solicitation and our advertisement, its SYN (MSS 1440, SACK-permitted, timestamps, window scale),
// curl's GET, the FINs. The peer's frames are replayed into a fresh stack serving the real auth service at the
// recorded times (after its own duplicate address detection); what it answers must be, frame for frame, what the
// live stack answered. As over IPv4, the peer's ACK numbers are moved by (our ISN − recorded ISN) and its TSecr by
// (our SYN-ACK's TSval − the recorded one), the TCP checksum recomputed over the IPv6 pseudo-header.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualTimers } from '../../../src/clock.ts';
import { MemoryLogger } from '../../../src/log.ts';
import { parseIpv6 as parseIpv6Text, readIpv6, type Ipv6Addr } from '../../../src/net/addr.ts';
import { finish, sumBytes } from '../../../src/net/checksum.ts';
import { ETH_HEADER_LEN } from '../../../src/net/ethernet.ts';
import { ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION } from '../../../src/net/icmpv6-wire.ts';
import { IPV6_HEADER_LEN, NH_ICMPV6, ipv6Pseudo, parseIpv6 } from '../../../src/net/ipv6-wire.ts';
import { readPcap } from '../../../src/net/pcap.ts';
import { seqDiff } from '../../../src/net/tcp/seq.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { ACK, SYN, flagsToString, parseTcp, type TcpSegment } from '../../../src/net/tcp/tcp-wire.ts';
import { seededRandom } from '../../../src/random.ts';
import { createAuthService } from '../../../src/service.ts';
import { Stack } from '../../../src/stack/stack.ts';
import { OUR_MAC } from '../frames.ts';
import { pollUntil, settle, shiftPeerNumbers } from './replay-shift.ts';

const PORT = 8088;
const NH_TCP = 6;
const v6 = (s: string): Ipv6Addr => parseIpv6Text(s) ?? 0n;
const OURS = v6('fd77::10');
const PEER = v6('fd77::1');
/** The replay starts this long after the stack, so that its static address has passed DAD as the live one had. */
const START_MS = 5000;
const records = readPcap(new Uint8Array(readFileSync(new URL('../../fixtures/linux-curl-http6.pcap', import.meta.url))));
const t0 = records[0]?.timeMs ?? 0;
const macOf = (f: Uint8Array): number => ((f[6] ?? 0) * 2 ** 40) + ((f[7] ?? 0) * 2 ** 32) + (((f[8] ?? 0) << 24) >>> 0) + ((f[9] ?? 0) << 16) + ((f[10] ?? 0) << 8) + (f[11] ?? 0);
const fromUs = (f: Uint8Array): boolean => macOf(f) === OUR_MAC;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Decoded6 {
  src: Ipv6Addr;
  dst: Ipv6Addr;
  protocol: number;
  payload: Uint8Array;
}

function ip6(frame: Uint8Array): Decoded6 | undefined {
  if (frame[12] !== 0x86 || frame[13] !== 0xdd) return undefined;
  const p = parseIpv6(frame.subarray(ETH_HEADER_LEN));
  return p.ok ? { src: p.header.src, dst: p.header.dst, protocol: p.protocol, payload: p.payload } : undefined;
}

function tcpOf(frame: Uint8Array): TcpSegment | undefined {
  const d = ip6(frame);
  if (d === undefined || d.protocol !== NH_TCP) return undefined;
  const p = parseTcp(d.payload, ipv6Pseudo(d.src, d.dst, NH_TCP));
  if (!p.ok) throw new Error(`malformed TCP: ${p.reason}`);
  return p.segment;
}

/** What the fixture's capture filter keeps: ND and TCP to or from the peer. */
function kept(frame: Uint8Array): boolean {
  const d = ip6(frame);
  if (d === undefined || (d.src !== PEER && d.dst !== PEER)) return false;
  const icmpType = d.protocol === NH_ICMPV6 ? d.payload[0] : undefined;
  return d.protocol === NH_TCP || icmpType === ICMPV6_NEIGHBOR_SOLICITATION || icmpType === ICMPV6_NEIGHBOR_ADVERTISEMENT;
}

/** One line per frame we sent: ND (type, flags, target, destination) or TCP relative to the connection's numbers. */
function summary(frame: Uint8Array, iss: number, irs: number): string {
  const d = ip6(frame);
  if (d === undefined) return 'not IPv6';
  if (d.protocol === NH_ICMPV6) {
    const flags = (d.payload[4] ?? 0) >>> 5;
    return `nd type=${d.payload[0]} flags=${flags} target=${readIpv6(d.payload, 8).toString(16)} dst=${d.dst.toString(16)}`;
  }
  const s = tcpOf(frame);
  if (s === undefined) return `proto ${d.protocol}`;
  const ack = s.flags & ACK ? seqDiff(s.ack, irs) : '-';
  const o = s.options;
  return `tcp [${flagsToString(s.flags)}] seq=+${seqDiff(s.seq, iss)} ack=+${ack} win=${s.window} mss=${o.mss ?? '-'} ws=${o.windowScale ?? '-'} sackOk=${o.sackPermitted === true} ts=${o.timestamp !== undefined} len=${s.payload.length}`;
}

/** A peer frame with its ACK number moved by `seqDelta`, its TSecr by `tsDelta`, and the TCP checksum recomputed. */
function translate(frame: Uint8Array, seqDelta: number, tsDelta: number): Uint8Array {
  const out = frame.slice();
  const d = ip6(out);
  const seg = tcpOf(out);
  if (d === undefined || seg === undefined || !(seg.flags & ACK)) return out;
  const off = ETH_HEADER_LEN + IPV6_HEADER_LEN; // Linux sends its TCP without extension headers
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  shiftPeerNumbers(v, off, seqDelta, tsDelta);
  const tcpLen = d.payload.length;
  v.setUint16(off + 16, 0);
  v.setUint16(off + 16, finish(sumBytes(out, off, tcpLen, ipv6Pseudo(d.src, d.dst, NH_TCP) + tcpLen)));
  return out;
}

/**
 * The summaries without a pure ACK that the very next segment (data, same sequence and acknowledgment numbers)
 * makes redundant: the window update (§3.8.6.2.2: the edge moves past the SYN-ACK's unscaled 65535 once the
 * application reads) goes out alone when the event loop turns between the application's read and its write, and
 * rides on the answer when it does not. Which happens is the event loop's timing, not the stack's behaviour.
 */
function withoutEarlyWindowUpdate(lines: string[]): string[] {
  const key = (l: string): string | undefined => /seq=(\S+) ack=(\S+)/.exec(l)?.slice(1).join(' ');
  return lines.filter((l, i) => {
    const next = lines[i + 1];
    return !(l.startsWith('tcp [.]') && l.endsWith('len=0') && next !== undefined && /^tcp \[P?\.\]/.test(next) && !next.endsWith('len=0') && key(l) === key(next));
  });
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'replay-linux6-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ours = records.filter((r) => fromUs(r.frame));
const peers = records.filter((r) => !fromUs(r.frame));
const recordedSynAck = ours.map((r) => tcpOf(r.frame)).find((s) => s !== undefined && (s.flags & SYN) !== 0);
const recordedSyn = peers.map((r) => tcpOf(r.frame)).find((s) => s !== undefined && (s.flags & SYN) !== 0);
const recordedResponse = ours.map((r) => tcpOf(r.frame)).find((s) => (s?.payload.length ?? 0) > 0);

describe('replay of a recorded Linux/curl HTTP conversation over IPv6', () => {
  it('the fixture holds the real peer: its neighbour solicitation, the SYN with Linux options, the GET, FIN', () => {
    const first = ip6(peers[0]?.frame ?? new Uint8Array(0));
    expect(first?.protocol).toBe(NH_ICMPV6);
    expect(first?.payload[0]).toBe(ICMPV6_NEIGHBOR_SOLICITATION);
    expect(first?.src).toBe(PEER);
    expect(recordedSyn?.options).toMatchObject({ mss: 1440, sackPermitted: true, windowScale: 10 }); // 1500 − 40 − 20
    expect(recordedSyn?.options.timestamp?.echo).toBe(0);
    const get = peers.map((r) => tcpOf(r.frame)).find((s) => (s?.payload.length ?? 0) > 0);
    expect(text(get?.payload ?? new Uint8Array())).toMatch(/^GET \/\?user=john&password=password HTTP\/1\.1\r\nHost: \[fd77::10\]:8088\r\n/);
    expect(text(recordedResponse?.payload ?? new Uint8Array())).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello john!\n$/);
  });

  it('answers exactly as the live stack did, serving the real auth service', async () => {
    if (recordedSynAck === undefined || recordedResponse === undefined) throw new Error('the fixture has no SYN-ACK or response of ours');
    const dataDir = path.join(tmp, 'data');
    mkdirSync(dataDir);
    writeFileSync(path.join(dataDir, 'john'), 'password\n');
    const recordedDate = /\r\ndate: ([^\r]+)\r\n/.exec(text(recordedResponse.payload))?.[1];
    expect(recordedDate).toBeDefined();
    const timers = new ManualTimers(0);
    const service = await createAuthService(dataDir, timers, new MemoryLogger(), { date: () => recordedDate ?? '' });

    let now = 0;
    let wakeQueued = false;
    const wake = (): void => {
      if (wakeQueued) return;
      wakeQueued = true;
      setImmediate(() => {
        wakeQueued = false;
        stack.poll(now);
        take();
      });
    };
    const stack = new Stack({
      mac: OUR_MAC, mtu: 1500, random: seededRandom(1), log: () => {}, ipv4: 'off', wake,
      ipv6: { secret: new Uint8Array(16), static: { address: OURS, prefixLength: 64 }, ndp: { addresses: { iid: 'eui64' } } },
    });
    const served: Promise<void>[] = [];
    stack.tcp.listen(PORT, (conn) => served.push(service.http.serve(new TcpSocket(conn))));
    const out: Uint8Array[] = [];
    const take = (): void => {
      for (const f of stack.takeFrames()) if (kept(f)) out.push(f);
    };
    const clock = { get: (): number => now, set: (t: number): void => { now = t; } };
    const runUntil = (t: number): Promise<void> => pollUntil(t, stack, timers, clock, take);
    const caughtUp = async (want: number, t: number): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (out.length < want && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1));
        stack.poll(t);
        take();
      }
    };

    stack.start(0);
    take();
    await runUntil(START_MS);
    expect(stack.ndp?.isAssigned(OURS)).toBe(true);
    expect(out).toEqual([]); // nothing kept yet: DAD, MLD and router solicitations are not to the peer
    let seqDelta: number | undefined;
    let tsDelta: number | undefined;
    let oursSoFar = 0;
    for (const r of records) {
      const t = START_MS + r.timeMs - t0;
      await runUntil(t);
      if (fromUs(r.frame)) {
        await caughtUp(++oursSoFar, t);
        continue;
      }
      await caughtUp(oursSoFar, t);
      const seg = tcpOf(r.frame);
      if (seg !== undefined && seg.flags & ACK && seqDelta === undefined) throw new Error('a peer ACK before our SYN-ACK was seen');
      stack.receive(translate(r.frame, seqDelta ?? 0, tsDelta ?? 0), t);
      take();
      await settle();
      stack.poll(t);
      take();
      // A request: the live service answered within the recorded milliseconds; here its file read takes real time,
      // so the clock waits for the answer (within reason) rather than letting the delayed-ACK timer run first.
      if ((seg?.payload.length ?? 0) > 0) {
        const deadline = Date.now() + 5000;
        while (!out.some((f) => (tcpOf(f)?.payload.length ?? 0) > 0) && Date.now() < deadline) {
          await new Promise((res) => setTimeout(res, 1));
          stack.poll(t);
          take();
        }
      }
      if (seqDelta === undefined) {
        const synAck = out.map((f) => tcpOf(f)).find((s) => s !== undefined && (s.flags & SYN) !== 0);
        if (synAck !== undefined) {
          seqDelta = seqDiff(synAck.seq, recordedSynAck.seq);
          tsDelta = seqDiff(synAck.options.timestamp?.value ?? 0, recordedSynAck.options.timestamp?.value ?? 0);
        }
      }
    }
    await runUntil(START_MS + (records[records.length - 1]?.timeMs ?? t0) - t0 + 1000);
    await Promise.race([Promise.all(served), new Promise((r) => setTimeout(r, 5000).unref())]);

    const irs = recordedSyn?.seq ?? 0;
    const replayedSynAck = out.map((f) => tcpOf(f)).find((s) => s !== undefined && (s.flags & SYN) !== 0);
    const want = withoutEarlyWindowUpdate(ours.map((r) => summary(r.frame, recordedSynAck.seq, irs)));
    const got = withoutEarlyWindowUpdate(out.map((f) => summary(f, replayedSynAck?.seq ?? 0, irs)));
    expect(got).toEqual(want);
    expect(want.length).toBeGreaterThan(4);
    const response = out.map((f) => tcpOf(f)).find((s) => (s?.payload.length ?? 0) > 0);
    expect(text(response?.payload ?? new Uint8Array())).toBe(text(recordedResponse.payload));
    expect([...stack.tcp.connections()].map((c) => c.state).filter((s) => s !== 'TIME_WAIT' && s !== 'CLOSED')).toEqual([]);
  });
});
