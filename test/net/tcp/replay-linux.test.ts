// A TCP conversation recorded on the bridge with a real peer (scripts/record-tcp-fixture.sh): the Linux kernel's
// ARP request and SYN (MSS, SACK-permitted, timestamps, window scale), curl's GET, the kernel's ACKs and its FIN,
// and what the live stack answered (MSS, SACK-permitted, timestamps and window scale, as offered; a timestamp on
// every later segment). The peer's frames are replayed into a fresh stack serving the real auth service at the
// recorded times; what it answers must be, frame for frame, what the live stack answered.
//
// Two of our numbers differ from the recorded ones: our ISN (RFC 6528: clock plus a keyed hash) and our TSval
// clock (RFC 7323 §3: the stack's clock plus a random per-connection offset). So each peer segment's ACK number
// and SACK blocks are moved by (our ISN − recorded ISN), its TSecr by (our SYN-ACK's TSval − the recorded
// SYN-ACK's TSval), the TCP checksum recomputed; every other byte is delivered as recorded (the kernel's option
// layout and TSvals included, so what we echo can be compared with what the live stack echoed).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualTimers } from '../../../src/clock.ts';
import { MemoryLogger } from '../../../src/log.ts';
import { ipv4ToString } from '../../../src/net/addr.ts';
import { finish, ipv4Pseudo, pseudoHeaderSum, sumBytes } from '../../../src/net/checksum.ts';
import { ETH_HEADER_LEN } from '../../../src/net/ethernet.ts';
import { PROTO_TCP } from '../../../src/net/ipv4-wire.ts';
import { readPcap } from '../../../src/net/pcap.ts';
import { Stack } from '../../../src/stack/stack.ts';
import { seqAdd, seqDiff, seqLe } from '../../../src/net/tcp/seq.ts';
import type { TcpConnection, TcpState } from '../../../src/net/tcp/tcp-connection.ts';
import { TcpSocket } from '../../../src/net/tcp/tcp-socket.ts';
import { ACK, FIN, PSH, RST, SYN, flagsToString, parseTcp, type TcpSegment } from '../../../src/net/tcp/tcp-wire.ts';
import { seededRandom } from '../../../src/random.ts';
import { createAuthService } from '../../../src/service.ts';
import { GW_IP, OUR_IP, OUR_MAC, PEER_IP, decode, type Decoded } from '../frames.ts';
import { pollUntil, settle, shiftPeerNumbers } from './replay-shift.ts';

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
  const p = parseTcp(d.payload, ipv4Pseudo(d.ip.src, d.ip.dst, PROTO_TCP));
  if (!p.ok) throw new Error(`malformed TCP: ${p.reason}`);
  return { d, seg: p.segment };
}

function mustTcp(frame: Uint8Array | undefined, what: string): TcpSegment {
  const t = frame === undefined ? undefined : tcpOf(frame);
  if (t === undefined) throw new Error(`${what}: not a TCP frame`);
  return t.seg;
}

/** The option kinds of a TCP frame as they lie in the header, NOPs included (its layout). */
function optionKinds(frame: Uint8Array): number[] {
  const tcp = decode(frame).payload;
  const end = ((tcp[12] ?? 0) >>> 4) * 4;
  const kinds: number[] = [];
  for (let i = 20; i < end;) {
    const kind = tcp[i] ?? 0;
    kinds.push(kind);
    if (kind === 0) break;
    i += kind === 1 ? 1 : Math.max(2, tcp[i + 1] ?? 0);
  }
  return kinds;
}

/** The recorded frames: the stack's and the peer's, TCP parsed where there is TCP. */
const ours = records.filter((r) => fromUs(r.frame));
const peers = records.filter((r) => !fromUs(r.frame));
const recordedSyn = mustTcp(peers.find((r) => (tcpOf(r.frame)?.seg.flags ?? 0) & SYN)?.frame, 'the recorded SYN');
const recordedSynAck = mustTcp(ours.find((r) => (tcpOf(r.frame)?.seg.flags ?? 0) & SYN)?.frame, 'the recorded SYN-ACK');
const recordedResponse = mustTcp(ours.find((r) => (tcpOf(r.frame)?.seg.payload.length ?? 0) > 0)?.frame, 'the recorded response');
const peerTsval0 = recordedSyn.options.timestamp?.value ?? 0;

/**
 * One line per frame we sent: ARP, or TCP flags, sequence and acknowledgment numbers relative to the
 * connection's initial ones, window, option layout (kinds in header order, NOPs included), the TSecr relative to
 * the kernel SYN's TSval (the peer's TSvals are delivered as recorded, so this is the same in both), payload length.
 */
function summary(frame: Uint8Array, iss: number, irs: number): string {
  const d = decode(frame);
  if (d.arp) return `arp op=${d.arp.op} ${ipv4ToString(d.arp.spa)}->${ipv4ToString(d.arp.tpa)}`;
  const t = tcpOf(frame);
  if (t === undefined) return `ip proto=${d.ip?.protocol}`;
  const s = t.seg;
  const ack = s.flags & ACK ? seqDiff(s.ack, irs) : '-';
  const ts = s.options.timestamp;
  const ecr = ts === undefined ? '-' : `+${seqDiff(ts.echo, peerTsval0)}`;
  return `tcp ${s.srcPort}->${s.dstPort} [${flagsToString(s.flags)}] seq=+${seqDiff(s.seq, iss)} ack=+${ack} win=${s.window} opts=${optionKinds(frame).join(',')} ecr=${ecr} len=${s.payload.length}`;
}

/** What the capture filter of record-tcp-fixture.sh kept of our ARP: only the exchange with the peer. */
function keptByFixtureFilter(frame: Uint8Array): boolean {
  const d = decode(frame);
  if (d.arp === undefined) return true;
  return (d.arp.spa === OUR_IP && d.arp.tpa === PEER_IP) || (d.arp.spa === PEER_IP && d.arp.tpa === OUR_IP);
}

/**
 * A peer frame with its ACK number and SACK blocks moved by `seqDelta`, its TSecr by `tsDelta`, and the TCP
 * checksum recomputed, every other byte as recorded. Non-TCP frames and segments without ACK (whose TSecr is not
 * an echo, RFC 7323 §3.2) come back unchanged (a copy).
 */
function translate(frame: Uint8Array, seqDelta: number, tsDelta: number): Uint8Array {
  const out = frame.slice();
  const t = tcpOf(out);
  if (t === undefined || t.d.ip === undefined || !(t.seg.flags & ACK)) return out;
  const off = ETH_HEADER_LEN + t.d.ip.headerLength;
  const tcpLen = t.d.ip.totalLength - t.d.ip.headerLength;
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  shiftPeerNumbers(v, off, seqDelta, tsDelta);
  v.setUint16(off + 16, 0);
  v.setUint16(off + 16, finish(sumBytes(out, off, tcpLen, pseudoHeaderSum(t.d.ip.src, t.d.ip.dst, PROTO_TCP, tcpLen))));
  return out;
}

/**
 * RFC 7323 §3.2, §4.3 on one side's view of a conversation (its segments and the peer's, in the order they went
 * out and came in): what each of our segments must echo. TS.Recent is the SYN's TSval, then the TSval of the
 * latest peer segment with SEG.SEQ ≤ Last.ACK.sent (the ACK number of our latest segment so far).
 */
function expectedEchoes(timeline: Array<{ fromUs: boolean; seg: TcpSegment }>): Array<number | undefined> {
  let tsRecent: number | undefined;
  let lastAckSent: number | undefined;
  const echoes: Array<number | undefined> = [];
  for (const { fromUs: us, seg } of timeline) {
    if (us) {
      echoes.push(tsRecent);
      if (seg.flags & ACK) lastAckSent = seg.ack;
      continue;
    }
    const ts = seg.options.timestamp;
    if (ts === undefined) continue;
    if (seg.flags & SYN || (lastAckSent !== undefined && seqLe(seg.seq, lastAckSent))) tsRecent = ts.value;
  }
  return echoes;
}

type StateNow = TcpState | 'none';

/**
 * RFC 9293 §3.3.2 / §3.10.7 applied to the recording, independent of the stack: the state of our end after each
 * peer segment (at once) and after what we sent before the peer's next segment (our FIN, the application's close).
 */
function recordedStates(): Array<{ segment: string; atOnce: StateNow; after: StateNow }> {
  let state: StateNow = 'none';
  let finAckedBy: number | undefined;
  const iss = recordedSynAck.seq;
  const out: Array<{ segment: string; atOnce: StateNow; after: StateNow }> = [];
  for (const r of records) {
    const seg = tcpOf(r.frame)?.seg;
    if (seg === undefined) continue;
    if (fromUs(r.frame)) {
      if (seg.flags & FIN) {
        finAckedBy = seqAdd(seg.seq, seg.payload.length + 1);
        if (state === 'ESTABLISHED' || state === 'SYN_RECEIVED') state = 'FIN_WAIT_1';
        else if (state === 'CLOSE_WAIT') state = 'LAST_ACK';
      }
      const last = out[out.length - 1];
      if (last !== undefined) last.after = state;
      continue;
    }
    if (seg.flags & SYN) state = 'SYN_RECEIVED';
    if (seg.flags & ACK) {
      if (state === 'SYN_RECEIVED' && seg.ack === seqAdd(iss, 1)) state = 'ESTABLISHED';
      if (finAckedBy !== undefined && seg.ack === finAckedBy) {
        if (state === 'FIN_WAIT_1') state = 'FIN_WAIT_2';
        else if (state === 'CLOSING') state = 'TIME_WAIT';
        else if (state === 'LAST_ACK') state = 'CLOSED';
      }
    }
    if (seg.flags & FIN) {
      if (state === 'ESTABLISHED') state = 'CLOSE_WAIT';
      else if (state === 'FIN_WAIT_1') state = 'CLOSING';
      else if (state === 'FIN_WAIT_2') state = 'TIME_WAIT';
    }
    out.push({ segment: flagsToString(seg.flags), atOnce: state, after: state });
  }
  return out;
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
    // In the order the live stack saw and sent them, which is the order the replay follows.
    expect(records.every((r, i) => i === 0 || r.timeMs >= (records[i - 1]?.timeMs ?? 0))).toBe(true);
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
    expect(synTcp?.length).toBe(40);
    expect(Array.from(synTcp?.subarray(20, 24) ?? [])).toEqual([2, 4, 0x05, 0xb4]);
    expect(Array.from(synTcp?.subarray(24, 28) ?? [])).toEqual([4, 2, 8, 10]);
    expect(Array.from(synTcp?.subarray(36, 40) ?? [])).toEqual([1, 3, 3, 10]);

    // Timestamps were agreed (the live SYN-ACK answered them), so every later kernel segment carries one (NOP NOP
    // TS, as Linux lays it out), echoing a TSval the live stack had sent, and its TSvals never go back.
    expect(recordedSynAck.options.timestamp?.echo).toBe(peerTsval0);
    const ourTsvals = ours.map((r) => tcpOf(r.frame)?.seg.options.timestamp?.value).filter((v): v is number => v !== undefined);
    const later = peers.map((r) => tcpOf(r.frame)).filter((t): t is Tcp => t !== undefined && !(t.seg.flags & SYN));
    expect(later.length).toBeGreaterThan(0);
    let lastTsval = peerTsval0;
    for (const { seg } of later) {
      const ts = seg.options.timestamp;
      expect(ts).toBeDefined();
      expect(seg.options.sack).toBeUndefined(); // nothing was lost or reordered on the bridge
      expect(ourTsvals).toContain(ts?.echo);
      expect(seqDiff(ts?.value ?? 0, lastTsval)).toBeGreaterThanOrEqual(0);
      lastTsval = ts?.value ?? 0;
    }
    expect(peers.filter((r) => tcpOf(r.frame) !== undefined && !((tcpOf(r.frame)?.seg.flags ?? 0) & SYN)).map((r) => optionKinds(r.frame).join(',')))
      .toEqual(later.map(() => '1,1,8'));

    const get = peers.map((r) => tcpOf(r.frame)?.seg).find((s) => (s?.payload.length ?? 0) > 0);
    expect(text(get?.payload ?? new Uint8Array())).toMatch(/^GET \/\?user=john&password=password HTTP\/1\.1\r\nHost: 192\.168\.77\.10:8088\r\nUser-Agent: curl\//);
  });

  it('the live stack echoed the kernel\'s timestamps as RFC 7323 §4.3 says', () => {
    const timeline = records.map((r) => ({ fromUs: fromUs(r.frame), seg: tcpOf(r.frame)?.seg }))
      .filter((e): e is { fromUs: boolean; seg: TcpSegment } => e.seg !== undefined);
    const echoes = expectedEchoes(timeline);
    const ourSegs = timeline.filter((e) => e.fromUs).map((e) => e.seg);
    expect(ourSegs.length).toBeGreaterThan(0);
    expect(ourSegs.map((s) => s.options.timestamp?.echo)).toEqual(echoes);
    // Our TSval clock never goes back.
    const tsvals = ourSegs.map((s) => s.options.timestamp?.value ?? 0);
    for (let i = 1; i < tsvals.length; i++) expect(seqDiff(tsvals[i] ?? 0, tsvals[i - 1] ?? 0)).toBeGreaterThanOrEqual(0);
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
    // As StackDriver does: when the application gives a socket work (a read that opens the window, a write),
    // the stack is polled as soon as the current turn of the event loop ends.
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
      mac: OUR_MAC, mtu: 1500, random: seededRandom(1), log: (l) => logs.push(l),
      ipv4: { address: OUR_IP, prefix: 24, gateway: GW_IP }, wake,
    });
    const accepted: TcpConnection[] = [];
    const served: Promise<void>[] = [];
    stack.tcp.listen(PORT, (conn) => {
      accepted.push(conn);
      served.push(service.http.serve(new TcpSocket(conn)));
    });

    /** Every frame the stack sent, with the time it went out. */
    const out: Array<{ frame: Uint8Array; at: number }> = [];
    /** Our TCP segments and the peer's, in the order they went out and came in. */
    const timeline: Array<{ fromUs: boolean; seg: TcpSegment }> = [];
    let now = 0;
    const take = (): void => {
      for (const frame of stack.takeFrames()) {
        out.push({ frame, at: now });
        const seg = keptByFixtureFilter(frame) ? tcpOf(frame)?.seg : undefined;
        if (seg !== undefined) timeline.push({ fromUs: true, seg });
      }
    };
    const sentCount = (): number => out.filter((o) => keptByFixtureFilter(o.frame)).length;
    const clock = { get: (): number => now, set: (t: number): void => { now = t; } };
    const runUntil = (t: number): Promise<void> => pollUntil(t, stack, timers, clock, take);
    const connection = (): TcpConnection | undefined => stack.tcp.connections().next().value;
    const stateNow = (): StateNow => connection()?.state ?? accepted[0]?.state ?? 'none';

    stack.start(0);
    take();
    let seqDelta: number | undefined;
    let tsDelta: number | undefined;
    /** The connection's state after each peer segment: at once, and once the application and the stack answered. */
    const states: Array<{ segment: string; atOnce: StateNow; after: StateNow }> = [];
    /**
     * By the time the live stack had sent its n-th frame, the replay must have sent n frames too, and before a peer
     * frame goes in, all that the live stack had sent before it (the peer was answering that): the application may
     * still be reading its store (file I/O), so wait for it, within reason, the replay's clock standing still.
     */
    const caughtUp = async (want: number, t: number): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (sentCount() < want && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1));
        stack.poll(t);
        take();
      }
    };
    let oursSoFar = 0;
    for (const r of records) {
      const t = r.timeMs - t0;
      await runUntil(t);
      if (fromUs(r.frame)) {
        // The live stack sent this at t: so must we (an answer of the application's, or a timer's, such as a
        // delayed ACK, polled up to t above), before the clock moves on and other timers fire.
        await caughtUp(++oursSoFar, t);
        continue;
      }
      await caughtUp(oursSoFar, t);
      const last = states[states.length - 1];
      if (last !== undefined) last.after = stateNow();
      const seg = tcpOf(r.frame)?.seg;
      if (seg !== undefined && seg.flags & ACK && (seqDelta === undefined || tsDelta === undefined)) {
        throw new Error('a peer ACK before our SYN-ACK was seen');
      }
      const frame = translate(r.frame, seqDelta ?? 0, tsDelta ?? 0);
      if (seg !== undefined) {
        // The translated segment is still valid TCP and acknowledges (and echoes) what we sent, not what the live
        // stack sent; the rest, the peer's own TSval included, is as recorded.
        const moved = mustTcp(frame, 'a translated peer segment');
        const acked = (seg.flags & ACK) !== 0;
        expect(moved.ack).toBe(acked ? seqAdd(seg.ack, seqDelta ?? 0) : seg.ack);
        expect(moved.seq).toBe(seg.seq);
        expect(moved.window).toBe(seg.window);
        expect(moved.payload).toEqual(seg.payload);
        expect(moved.options.timestamp?.value).toBe(seg.options.timestamp?.value);
        const echo = seg.options.timestamp?.echo;
        expect(moved.options.timestamp?.echo).toBe(echo === undefined || !acked ? echo : seqAdd(echo, tsDelta ?? 0));
        expect(moved.options.sack).toEqual(seg.options.sack?.map(([a, b]) => [seqAdd(a, seqDelta ?? 0), seqAdd(b, seqDelta ?? 0)]));
        timeline.push({ fromUs: false, seg: moved });
      }
      stack.receive(frame, t);
      take();
      const atOnce = stateNow();
      await settle();
      stack.poll(t);
      take();
      if (seg !== undefined) states.push({ segment: flagsToString(seg.flags), atOnce, after: stateNow() });
      if (seqDelta === undefined) {
        const synAck = out.map((o) => tcpOf(o.frame)?.seg).find((s) => s !== undefined && s.flags & SYN);
        if (synAck !== undefined) {
          seqDelta = seqDiff(synAck.seq, recordedSynAck.seq);
          tsDelta = seqDiff(synAck.options.timestamp?.value ?? 0, recordedSynAck.options.timestamp?.value ?? 0);
        }
      }
    }
    const end = (records[records.length - 1]?.timeMs ?? t0) - t0 + 1000;
    await runUntil(end);
    const lastState = states[states.length - 1];
    if (lastState !== undefined) lastState.after = stateNow();
    const finished = await Promise.race([
      Promise.all(served).then(() => 'finished' as const),
      new Promise<'still serving'>((r) => setTimeout(() => r('still serving'), 5000).unref()),
    ]);
    expect(finished, 'the HTTP server is still serving the connection').toBe('finished');

    // Every frame the stack emitted decodes cleanly (Ethernet, ARP or IPv4 with its checksum, TCP with its checksum).
    for (const { frame } of out) {
      const d = decode(frame);
      expect(d.src).toBe(OUR_MAC);
      if (d.arp === undefined) expect(() => mustTcp(frame, 'a frame we sent')).not.toThrow();
    }
    // Left out of the comparison, as the fixture's capture filter left them out: only our gratuitous announcements.
    const announcements = out.filter((o) => !keptByFixtureFilter(o.frame)).map((o) => decode(o.frame).arp);
    expect(announcements.length).toBeGreaterThan(0);
    expect(announcements.filter((a) => a === undefined || a.spa !== OUR_IP || a.tpa !== OUR_IP)).toEqual([]);
    const sentOut = out.filter((o) => keptByFixtureFilter(o.frame));
    const sent = sentOut.map((o) => o.frame);
    const tcpOut = sentOut.map((o) => ({ seg: tcpOf(o.frame)?.seg, at: o.at })).filter((o): o is { seg: TcpSegment; at: number } => o.seg !== undefined);
    const tcpSent = tcpOut.map((o) => o.seg);
    const synAck = tcpSent[0];
    if (synAck === undefined) throw new Error('no SYN-ACK sent');
    const iss = synAck.seq;
    const irs = recordedSyn.seq;

    // (b) The SYN-ACK acknowledges SYN+1 and answers exactly what Linux offered (RFC 7323 §2.2, §3.2; RFC 2018
    // §2): MSS 1460, SACK-permitted, timestamps echoing the SYN's TSval, our window scale (the live one's).
    expect(synAck.flags).toBe(SYN | ACK);
    expect(synAck.ack).toBe(seqAdd(recordedSyn.seq, 1));
    expect(recordedSynAck.options.windowScale).toBeDefined();
    expect(synAck.options).toEqual({
      mss: 1460,
      sackPermitted: true,
      timestamp: { value: expect.any(Number), echo: recordedSyn.options.timestamp?.value },
      windowScale: recordedSynAck.options.windowScale,
    });
    expect(recordedSynAck.options).toEqual({ ...synAck.options, timestamp: { value: expect.any(Number), echo: synAck.options.timestamp?.echo } });
    // The SYN-ACK is where the TSecr translation comes from: the kernel's ACK of it echoes exactly its TSval.
    const handshakeAck = timeline.find((e) => !e.fromUs && !(e.seg.flags & SYN));
    expect(handshakeAck?.seg.options.timestamp?.echo).toBe(synAck.options.timestamp?.value);
    // Every later segment carries a timestamp (RFC 7323 §3.2: all but RSTs, once agreed) and nothing else (no
    // SACK blocks: nothing arrived out of order), echoing TS.Recent as §4.3 says.
    const later = tcpSent.slice(1);
    expect(later.length).toBeGreaterThan(0);
    expect(later.map((s) => Object.keys(s.options))).toEqual(later.map(() => ['timestamp']));
    expect(tcpSent.map((s) => s.options.timestamp?.echo)).toEqual(expectedEchoes(timeline));
    // Our TSval is the stack's clock in ms plus one offset for the connection: it follows the clock, never back.
    const offsets = tcpOut.map(({ seg, at }) => seqDiff(seg.options.timestamp?.value ?? 0, Math.floor(at)));
    expect(new Set(offsets).size).toBe(1);

    // (c) The answer: HTTP/1.1 200 with `hello john!\n`, in sequence right after our SYN, byte for byte the live one.
    const response = tcpSent.find((s) => s.payload.length > 0);
    if (response === undefined) throw new Error('no response sent');
    const body = text(response.payload);
    expect(body).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(body).toContain('\r\ncontent-length: 12\r\n');
    expect(body.endsWith('\r\n\r\nhello john!\n')).toBe(true);
    expect(response.seq).toBe(seqAdd(iss, 1));
    expect(recordedResponse.seq).toBe(seqAdd(recordedSynAck.seq, 1));
    expect(response.flags).toBe(ACK | PSH);
    expect(text(response.payload)).toBe(text(recordedResponse.payload));
    expect(tcpSent.filter((s) => s.payload.length > 0)).toHaveLength(1);
    expect(httpLog.lines).toEqual([expect.stringMatching(/^GET "\/" user="john" 200 /)]);

    // (d) The states, as RFC 9293 has them for the recorded conversation. Whoever closed first in the recording:
    // the client first (curl's FIN after our answer) makes us the passive closer, ESTABLISHED → CLOSE_WAIT on its
    // FIN, LAST_ACK once the server closed, CLOSED when our FIN is acknowledged (no TIME_WAIT on this side); the
    // server first makes us the active closer, FIN_WAIT_1 → FIN_WAIT_2 (or CLOSING) → TIME_WAIT, which outlives
    // the replay (2×MSL).
    const peerFinAt = records.findIndex((r) => !fromUs(r.frame) && (tcpOf(r.frame)?.seg.flags ?? 0) & FIN);
    const ourFinAt = records.findIndex((r) => fromUs(r.frame) && (tcpOf(r.frame)?.seg.flags ?? 0) & FIN);
    expect(peerFinAt).toBeGreaterThan(-1);
    expect(ourFinAt).toBeGreaterThan(-1);
    const expectedStates = recordedStates();
    expect(states).toEqual(expectedStates);
    const visited = expectedStates.flatMap((s) => [s.atOnce, s.after]);
    expect(expectedStates.slice(0, 2)).toEqual([
      { segment: 'S', atOnce: 'SYN_RECEIVED', after: 'SYN_RECEIVED' },
      { segment: '.', atOnce: 'ESTABLISHED', after: 'ESTABLISHED' },
    ]);
    if (peerFinAt < ourFinAt) {
      expect(expectedStates).toEqual([
        { segment: 'S', atOnce: 'SYN_RECEIVED', after: 'SYN_RECEIVED' },
        { segment: '.', atOnce: 'ESTABLISHED', after: 'ESTABLISHED' },
        { segment: 'P.', atOnce: 'ESTABLISHED', after: 'ESTABLISHED' },
        { segment: '.', atOnce: 'ESTABLISHED', after: 'ESTABLISHED' },
        { segment: 'F.', atOnce: 'CLOSE_WAIT', after: 'LAST_ACK' },
        { segment: '.', atOnce: 'CLOSED', after: 'CLOSED' },
      ]);
      expect(visited).not.toContain('TIME_WAIT');
      expect(stack.tcp.connectionCount).toBe(0);
    } else {
      expect(visited).toContain('FIN_WAIT_1');
      expect(expectedStates[expectedStates.length - 1]?.after).toBe('TIME_WAIT');
      expect(stack.tcp.connectionCount).toBe(1);
    }
    expect(accepted).toHaveLength(1);
    expect(accepted[0]?.error).toBeUndefined();
    expect(stack.counters.get('tcp.tx_reset')).toBe(0);
    expect(tcpSent.filter((s) => s.flags & RST)).toEqual([]);

    // (e) Frame for frame what the live stack sent: the ARP reply, then the TCP conversation (seq/ack relative,
    // the option layout, what the timestamps echo).
    const recordedIss = recordedSynAck.seq;
    expect(sent.map((f) => summary(f, iss, irs))).toEqual(ours.map((r) => summary(r.frame, recordedIss, irs)));
    expect(logs).toContain('IPv4: static 192.168.77.10/24 gw 192.168.77.2');
  });
});
