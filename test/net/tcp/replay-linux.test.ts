// A TCP conversation recorded on the bridge with a real peer (scripts/record-tcp-fixture.sh): the Linux kernel's
// ARP request and SYN (MSS, SACK-permitted, timestamps, window scale), curl's GET, the kernel's ACKs and its FIN,
// and what the live stack answered. The peer's frames are replayed into a fresh stack serving the real auth
// service at the recorded times; what it answers must be, frame for frame, what the live stack answered.
//
// Our ISN differs from the recorded one (RFC 6528: clock plus a keyed hash), so each peer segment's ACK number
// and SACK blocks are moved by (our ISN − recorded ISN) before delivery, the TCP checksum recomputed; every
// other byte is delivered as recorded (the kernel's option layout included).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualTimers } from '../../../src/clock.ts';
import { MemoryLogger } from '../../../src/log.ts';
import { ipv4ToString } from '../../../src/net/addr.ts';
import { finish, pseudoHeaderSum, sumBytes } from '../../../src/net/checksum.ts';
import { ETH_HEADER_LEN } from '../../../src/net/ethernet.ts';
import { PROTO_TCP } from '../../../src/net/ipv4-wire.ts';
import { readPcap } from '../../../src/net/pcap.ts';
import { Stack } from '../../../src/net/stack.ts';
import { seqAdd, seqDiff } from '../../../src/net/tcp/seq.ts';
import type { TcpConnection, TcpState } from '../../../src/net/tcp/tcp-connection.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { ACK, FIN, PSH, RST, SYN, flagsToString, parseTcp, type TcpSegment } from '../../../src/net/tcp/tcp-wire.ts';
import { seededRandom } from '../../../src/random.ts';
import { createAuthService } from '../../../src/service.ts';
import { GW_IP, OUR_IP, OUR_MAC, PEER_IP, decode, type Decoded } from '../frames.ts';

const PORT = 8088;
const records = readPcap(new Uint8Array(readFileSync(new URL('../../fixtures/linux-curl-http.pcap', import.meta.url))));
const t0 = records[0]?.timeMs ?? 0;
const fromUs = (f: Uint8Array): boolean => decode(f).src === OUR_MAC;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

interface Tcp {
  d: Decoded;
  seg: TcpSegment;
}

/** The TCP segment in a frame (checksum verified against the IP addresses), or undefined for anything else. */
function tcpOf(frame: Uint8Array): Tcp | undefined {
  const d = decode(frame);
  if (d.ip === undefined || d.ip.protocol !== PROTO_TCP) return undefined;
  const p = parseTcp(d.payload, d.ip.src, d.ip.dst);
  if (!p.ok) throw new Error(`malformed TCP: ${p.reason}`);
  return { d, seg: p.segment };
}

function mustTcp(frame: Uint8Array | undefined, what: string): TcpSegment {
  const t = frame === undefined ? undefined : tcpOf(frame);
  if (t === undefined) throw new Error(`${what}: not a TCP frame`);
  return t.seg;
}

/** The recorded frames: the stack's and the peer's, TCP parsed where there is TCP. */
const ours = records.filter((r) => fromUs(r.frame));
const peers = records.filter((r) => !fromUs(r.frame));
const recordedSyn = mustTcp(peers.find((r) => (tcpOf(r.frame)?.seg.flags ?? 0) & SYN)?.frame, 'the recorded SYN');
const recordedSynAck = mustTcp(ours.find((r) => (tcpOf(r.frame)?.seg.flags ?? 0) & SYN)?.frame, 'the recorded SYN-ACK');
const recordedResponse = mustTcp(ours.find((r) => (tcpOf(r.frame)?.seg.payload.length ?? 0) > 0)?.frame, 'the recorded response');

/**
 * One line per frame we sent: ARP, or TCP flags, sequence and acknowledgment numbers relative to the
 * connection's initial ones, window, options and payload length.
 */
function summary(frame: Uint8Array, iss: number, irs: number): string {
  const d = decode(frame);
  if (d.arp) return `arp op=${d.arp.op} ${ipv4ToString(d.arp.spa)}->${ipv4ToString(d.arp.tpa)}`;
  const t = tcpOf(frame);
  if (t === undefined) return `ip proto=${d.ip?.protocol}`;
  const s = t.seg;
  const opts = Object.keys(s.options).sort().join(',');
  const ack = s.flags & ACK ? seqDiff(s.ack, irs) : '-';
  return `tcp ${s.srcPort}->${s.dstPort} [${flagsToString(s.flags)}] seq=+${seqDiff(s.seq, iss)} ack=+${ack} win=${s.window} opts=${opts} len=${s.payload.length}`;
}

/** What the capture filter of record-tcp-fixture.sh kept of our ARP: only the exchange with the peer. */
function keptByFixtureFilter(frame: Uint8Array): boolean {
  const d = decode(frame);
  if (d.arp === undefined) return true;
  return (d.arp.spa === OUR_IP && d.arp.tpa === PEER_IP) || (d.arp.spa === PEER_IP && d.arp.tpa === OUR_IP);
}

/**
 * A peer frame with its ACK number and SACK blocks moved by `delta` and the TCP checksum recomputed, every other
 * byte as recorded. Non-TCP frames and segments without ACK come back unchanged (a copy).
 */
function translateAck(frame: Uint8Array, delta: number): Uint8Array {
  const out = frame.slice();
  const t = tcpOf(out);
  if (t === undefined || t.d.ip === undefined || !(t.seg.flags & ACK)) return out;
  const off = ETH_HEADER_LEN + t.d.ip.headerLength;
  const tcpLen = t.d.ip.totalLength - t.d.ip.headerLength;
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const move = (at: number): void => v.setUint32(at, seqAdd(v.getUint32(at), delta));
  move(off + 8);
  // SACK blocks (kind 5) hold sequence numbers of ours too.
  const end = off + ((v.getUint8(off + 12) >>> 4) * 4);
  for (let i = off + 20; i < end;) {
    const kind = v.getUint8(i);
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = v.getUint8(i + 1);
    if (kind === 5) for (let j = i + 2; j + 8 <= i + len; j += 4) move(j);
    i += len;
  }
  v.setUint16(off + 16, 0);
  v.setUint16(off + 16, finish(sumBytes(out, off, tcpLen, pseudoHeaderSum(t.d.ip.src, t.d.ip.dst, PROTO_TCP, tcpLen))));
  return out;
}

/** Lets promise continuations and I/O callbacks (the store's file reads) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'replay-linux-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('replay of a recorded Linux/curl HTTP conversation', () => {
  it('the fixture holds the real peer: ARP request, SYN with Linux options, ACKs, the GET, FIN', () => {
    const kinds = peers.map((r) => {
      const d = decode(r.frame);
      if (d.arp) return `arp op=${d.arp.op}`;
      const s = mustTcp(r.frame, 'a peer frame');
      return `[${flagsToString(s.flags)}] len=${s.payload.length}`;
    });
    expect(kinds[0]).toBe('arp op=1');
    expect(kinds.filter((k) => k.startsWith('[S]'))).toHaveLength(1);
    expect(kinds.filter((k) => /^\[P?\.\] len=[1-9]/.test(k))).toHaveLength(1);
    expect(kinds.filter((k) => k.startsWith('[F.]'))).toHaveLength(1);

    // (a) The kernel's SYN, exactly as Linux sends it: MSS 1460, SACK-permitted, timestamps, window scale.
    expect(recordedSyn.dstPort).toBe(PORT);
    expect(recordedSyn.flags).toBe(SYN);
    expect(recordedSyn.options.mss).toBe(1460);
    expect(recordedSyn.options.sackPermitted).toBe(true);
    expect(recordedSyn.options.timestamp?.value).toBeGreaterThan(0);
    expect(recordedSyn.options.timestamp?.echo).toBe(0);
    expect(recordedSyn.options.windowScale).toBe(10);
    expect(recordedSyn.window).toBe(64240);
    // Linux's layout: MSS, SACK-permitted + timestamps (paired, no NOPs), NOP, window scale: 20 bytes.
    const syn = peers.find((r) => (tcpOf(r.frame)?.seg.flags ?? 0) & SYN);
    const synTcp = syn === undefined ? undefined : decode(syn.frame).payload;
    expect(Array.from(synTcp?.subarray(20, 24) ?? [])).toEqual([2, 4, 0x05, 0xb4]);
    expect(Array.from(synTcp?.subarray(24, 28) ?? [])).toEqual([4, 2, 8, 10]);
    expect(Array.from(synTcp?.subarray(36, 40) ?? [])).toEqual([1, 3, 3, 10]);

    const get = peers.map((r) => tcpOf(r.frame)?.seg).find((s) => (s?.payload.length ?? 0) > 0);
    expect(text(get?.payload ?? new Uint8Array())).toMatch(/^GET \/\?user=john&password=password HTTP\/1\.1\r\nHost: 192\.168\.77\.10:8088\r\nUser-Agent: curl\//);
  });

  it('answers exactly as the live stack did, serving the real auth service', async () => {
    const dataDir = path.join(tmp, 'data');
    mkdirSync(dataDir);
    writeFileSync(path.join(dataDir, 'john'), 'password\n');

    // The recorded response's Date, so the response bytes can be compared whole.
    const recordedDate = /\r\ndate: ([^\r]+)\r\n/.exec(text(recordedResponse.payload))?.[1];
    expect(recordedDate).toBeDefined();
    const timers = new ManualTimers(0);
    const httpLog = new MemoryLogger();
    const service = await createAuthService(dataDir, timers, httpLog, { date: () => recordedDate ?? '' });
    expect(service.users).toBe(1);

    const logs: string[] = [];
    const stack = new Stack({
      mac: OUR_MAC, mtu: 1500, random: seededRandom(1), log: (l) => logs.push(l),
      ipv4: { address: OUR_IP, prefix: 24, gateway: GW_IP },
    });
    const accepted: TcpConnection[] = [];
    const served: Promise<void>[] = [];
    stack.tcp.listen(PORT, (conn) => {
      accepted.push(conn);
      served.push(service.http.serve(new TcpSocket(conn, stack.tcp)));
    });

    const out: Uint8Array[] = [];
    let now = 0;
    const take = (): void => {
      out.push(...stack.takeFrames());
    };
    /** Polls every deadline up to `t`, the HTTP server's clock moving along. */
    const runUntil = async (t: number): Promise<void> => {
      let rounds = 0;
      for (let d = stack.nextDeadline(); d !== undefined && d <= t; d = stack.nextDeadline()) {
        if (++rounds > 1000) throw new Error(`the stack never went quiet before ${t} ms`);
        now = Math.max(now, d);
        timers.advance(now - timers.now());
        stack.poll(now);
        take();
        await settle();
        stack.poll(now);
        take();
      }
      now = t;
      timers.advance(now - timers.now());
    };
    const connection = (): TcpConnection | undefined => stack.tcp.connections().next().value;

    stack.start(0);
    take();
    let delta: number | undefined;
    /** The connection's state after each peer segment: at once, and after the application ran. */
    const states: Array<{ segment: string; atOnce: TcpState | 'none'; after: TcpState | 'none' }> = [];
    /**
     * Before a peer frame goes in, the stack must have sent what the live stack had sent before it (the peer was
     * answering that): the application may still be reading its store (file I/O), so wait for it, within reason.
     */
    const caughtUp = async (i: number, t: number): Promise<void> => {
      const want = records.slice(0, i).filter((r) => fromUs(r.frame)).length;
      const deadline = Date.now() + 5000;
      while (out.filter(keptByFixtureFilter).length < want && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1));
        stack.poll(t);
        take();
      }
    };
    for (const [i, r] of records.entries()) {
      if (fromUs(r.frame)) continue;
      const t = r.timeMs - t0;
      await runUntil(t);
      await caughtUp(i, t);
      const seg = tcpOf(r.frame)?.seg;
      if (seg !== undefined && seg.flags & ACK && delta === undefined) throw new Error('a peer ACK before our SYN-ACK was seen');
      const frame = translateAck(r.frame, delta ?? 0);
      if (seg !== undefined) {
        // The translated segment is still valid TCP and acknowledges what we sent, not what the live stack sent.
        const moved = mustTcp(frame, 'a translated peer segment');
        expect(moved.ack).toBe(seg.flags & ACK ? seqAdd(seg.ack, delta ?? 0) : seg.ack);
        expect(moved.payload).toEqual(seg.payload);
      }
      stack.receive(frame, t);
      take();
      const atOnce = connection()?.state ?? accepted[0]?.state ?? 'none';
      await settle();
      stack.poll(t);
      take();
      if (seg !== undefined) states.push({ segment: flagsToString(seg.flags), atOnce, after: accepted[0]?.state ?? connection()?.state ?? 'none' });
      if (delta === undefined) {
        const synAck = out.map((f) => tcpOf(f)?.seg).find((s) => s !== undefined && s.flags & SYN);
        if (synAck !== undefined) delta = seqDiff(synAck.seq, recordedSynAck.seq);
      }
    }
    const end = (records[records.length - 1]?.timeMs ?? t0) - t0 + 1000;
    await runUntil(end);
    const finished = await Promise.race([
      Promise.all(served).then(() => 'finished' as const),
      new Promise<'still serving'>((r) => setTimeout(() => r('still serving'), 5000).unref()),
    ]);
    expect(finished, 'the HTTP server is still serving the connection').toBe('finished');

    // Every frame the stack emitted decodes cleanly (Ethernet, ARP or IPv4 with its checksum, TCP with its checksum).
    for (const f of out) {
      const d = decode(f);
      expect(d.src).toBe(OUR_MAC);
      if (d.arp === undefined) expect(() => mustTcp(f, 'a frame we sent')).not.toThrow();
    }
    // Left out of the comparison, as the fixture's capture filter left them out: only our gratuitous announcements.
    const announcements = out.filter((f) => !keptByFixtureFilter(f)).map((f) => decode(f).arp);
    expect(announcements.length).toBeGreaterThan(0);
    expect(announcements.filter((a) => a === undefined || a.spa !== OUR_IP || a.tpa !== OUR_IP)).toEqual([]);
    const sent = out.filter(keptByFixtureFilter);
    const tcpSent = sent.map((f) => tcpOf(f)?.seg).filter((s): s is TcpSegment => s !== undefined);
    const synAck = tcpSent[0];
    if (synAck === undefined) throw new Error('no SYN-ACK sent');
    const iss = synAck.seq;
    const irs = recordedSyn.seq;

    // (b) The SYN-ACK: acknowledges SYN+1, MSS 1460 and window scale (Linux offered it), no SACK, no timestamps.
    expect(synAck.flags).toBe(SYN | ACK);
    expect(synAck.ack).toBe(seqAdd(recordedSyn.seq, 1));
    expect(synAck.options.mss).toBe(1460);
    expect(synAck.options.windowScale).toBeDefined();
    expect(synAck.options).toEqual({ mss: 1460, windowScale: recordedSynAck.options.windowScale });
    expect(synAck.options.sackPermitted).toBeUndefined();
    expect(synAck.options.timestamp).toBeUndefined();
    // Not one segment of ours echoes the peer's timestamps (RFC 7323 is not implemented, and was not negotiated).
    expect(tcpSent.filter((s) => s.options.timestamp !== undefined || s.options.sack !== undefined)).toEqual([]);

    // (c) The answer: HTTP/1.1 200 with `hello john!\n`, in sequence right after our SYN, byte for byte the live one.
    const response = tcpSent.find((s) => s.payload.length > 0);
    if (response === undefined) throw new Error('no response sent');
    const body = text(response.payload);
    expect(body).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(body).toContain('\r\ncontent-length: 12\r\n');
    expect(body.endsWith('\r\n\r\nhello john!\n')).toBe(true);
    expect(response.seq).toBe(seqAdd(iss, 1));
    expect(response.flags).toBe(ACK | PSH);
    expect(text(response.payload)).toBe(text(recordedResponse.payload));
    expect(httpLog.lines).toEqual([expect.stringMatching(/^GET "\/" user="john" 200 /)]);

    // (d) The recorded client closed first (curl's FIN after our answer): we are the passive closer, so
    // ESTABLISHED → CLOSE_WAIT on its FIN, LAST_ACK once the server closed, CLOSED when our FIN is acknowledged
    // (RFC 9293 §3.6; no TIME_WAIT on this side).
    const peerFinAt = records.findIndex((r) => !fromUs(r.frame) && (tcpOf(r.frame)?.seg.flags ?? 0) & FIN);
    const ourFinAt = records.findIndex((r) => fromUs(r.frame) && (tcpOf(r.frame)?.seg.flags ?? 0) & FIN);
    expect(peerFinAt).toBeGreaterThan(-1);
    expect(ourFinAt).toBeGreaterThan(peerFinAt);
    expect(states).toEqual([
      { segment: 'S', atOnce: 'SYN_RECEIVED', after: 'SYN_RECEIVED' },
      { segment: '.', atOnce: 'ESTABLISHED', after: 'ESTABLISHED' },
      { segment: 'P.', atOnce: 'ESTABLISHED', after: 'ESTABLISHED' },
      { segment: '.', atOnce: 'ESTABLISHED', after: 'ESTABLISHED' },
      { segment: 'F.', atOnce: 'CLOSE_WAIT', after: 'LAST_ACK' },
      { segment: '.', atOnce: 'CLOSED', after: 'CLOSED' },
    ]);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]?.error).toBeUndefined();
    expect(stack.tcp.connectionCount).toBe(0);
    expect(stack.counters.get('tcp.tx_reset')).toBe(0);
    expect(tcpSent.filter((s) => s.flags & RST)).toEqual([]);

    // (e) Frame for frame what the live stack sent: the ARP reply, then the TCP conversation (seq/ack relative).
    const recordedIss = recordedSynAck.seq;
    expect(sent.map((f) => summary(f, iss, irs))).toEqual(ours.map((r) => summary(r.frame, recordedIss, irs)));
    expect(logs).toContain('IPv4: static 192.168.77.10/24 gw 192.168.77.2');
  });
});
