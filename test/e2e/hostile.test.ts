// Hostile input at the direct stack, for real, as root: one lab of this file's own (scripts/setup-bridge.sh --netns,
// br0 in NAME, the host-only peer 192.168.77.1 in NAME-peer) and one stack (static 192.168.77.10, auth on 8088, echo
// on 7, a pcap of every frame in and out). From the peer, test/e2e/hostile-sender.ts sends, with the project's own
// encoders, malformed frames at every layer (Ethernet and ARP, IPv4, ICMP and UDP, TCP), hostile fragments, a flood
// of 10 000 SYNs from absent lab addresses, and RSTs, SYNs and data with random sequence numbers into a live echo
// connection. After each attack: curl still gets `200 hello john!`, the live echo connection still echoes, and the
// stack process's resident memory (VmRSS) stays below RSS_BOUND_MIB. What the stack answered an attack with is read
// from its pcap only once a ping sent after the attack has been answered there (see marker): no fixed pause, so a
// late answer to a frame it should have dropped cannot slip past. Frames reach the stack unaltered: the lab's
// bridge has br_netfilter's checks switched off in its own namespace (they would drop bad headers first).
// Everything stays inside the namespaces this file makes (only 192.168.77.0/24 addresses) and is removed afterwards.
// In CI (CI=true) nothing skips: a missing prerequisite fails the suite.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipv4ToString, isMulticastMac, macToString, parseMac, readIpv4, readMac, type MacAddr } from '../../src/net/addr.ts';
import { parseEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../../src/net/ethernet.ts';
import { parseIpv4, PROTO_ICMP, PROTO_TCP } from '../../src/net/ipv4-wire.ts';
import { PCAP_HEADER_LEN, PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAP_RECORD_HEADER_LEN, readPcap, type PcapFrame } from '../../src/net/pcap.ts';
import type { Report } from './hostile-sender.ts';
import {
  eventually, Lab, lastJsonLine, mustRun, needing, netnsExec, nodeProgram, prerequisites, sigterm, sleep, waitForStack, type KnownPid, tempWithJohn,
} from './lab.ts';
import {
  findDescendant, memoryKiB, repoRoot, runCommand, spawnInteractive, stopTree, waitForOutput, type CommandResult, type Interactive, type Started,
} from './service-process.ts';

const lab = new Lab('mhostile');
const MAC = '02:00:5e:00:00:42';
const ADDR = '192.168.77.10';
const HTTP_PORT = 8088;
const ECHO_PORT = 7;
const CLOSED_PORT = 9;
const SENDER = path.join(repoRoot, 'test/e2e/hostile-sender.ts');
const RAW_SOCKET_ADDON = path.join(repoRoot, 'node_modules/raw-socket/build/Release/raw.node');
const URL = `http://${ADDR}:${HTTP_PORT}/?user=john&password=password`;
/** The bound on the stack process's resident memory after every attack (it idles near 100 MiB). */
const RSS_BOUND_MIB = 200;
/** How long curl may take to get its 200 after an attack ("within a few seconds"). */
const CURL_WITHIN_MS = 10_000;
/** Hard limits on the processes this file starts, whatever happens to the tests. */
const STACK_LIFETIME_MS = 600_000;
const CLIENT_LIFETIME_MS = 600_000;
const SYN_FLOOD = 10_000;
const METRICS_PORT = 9100;
/**
 * The longest the event loop may stall while a flood arrives: 30 ms for up to 10 000 frames, and as much again for
 * each 10 000 more (Node's own measure, nodejs_eventloop_lag_max_seconds, since the scrape before the attack). The
 * stack's own turns are cut at MAX_TURN_MS (5 ms); what comes on top under the SYN flood (12–17 ms in all) is
 * mostly the garbage collector's pauses. Before the bound per turn, the tiny-fragment flood stalled it for seconds
 * and the SYN flood for 112 ms.
 */
const STALL_MS_PER_10K_FRAMES = 30;
/** prom-client's event-loop monitor resolution (eventLoopMonitoringPrecision): its timer's period. */
const EVENT_LOOP_MONITOR_MS = 10;
/**
 * Bounds on the waits for the capture to catch up after an attack (each ends as soon as what it waits for is there):
 * for the attack's frames to be in it, for the stack to answer the marker ping sent after them (a flood can leave
 * it a few seconds behind), and for that answer to be in the capture (it is written as it is sent).
 */
const CATCH_UP_MS = 15_000;
const MARKER_ANSWER_S = 10;
const MARKER_IN_CAPTURE_MS = 5000;

const PREREQUISITES = await prerequisites(
  ['ip', 'dnsmasq', 'curl', 'ping', 'tshark', 'python3'],
  existsSync(RAW_SOCKET_ADDON) ? [] : ['raw-socket (its addon is not built: npm ci)'],
);

const need = needing('step');

// --- the sender ---------------------------------------------------------------------------------------------------

type Expect = 'drop' | 'reply' | 'any';

/** hostile-sender.ts's report, with the fields its attacks add. */
interface SenderReport extends Report {
  error?: string;
  echoCases?: Array<{ id: number; expect: Expect; what: string }>;
  badChecksumPorts?: number[];
  ratePerSecond?: number;
  learned?: { sndNxt: number; rcvNxt: number; window: number };
  answers?: { total: number; acks: number; withData: number; rst: number; ackMoved: number };
}

/** Runs hostile-sender.ts ATTACK in the peer namespace and returns its report (it bounds itself to `limitMs`). */
async function send(attack: string, args: string[] = [], limitMs = 30_000): Promise<SenderReport> {
  const r = await lab.inPeer(
    [process.execPath, '--import', 'tsx', SENDER, attack, '--dst', ADDR, '--dst-mac', MAC, '--iface', 'veth0', '--http-port', String(HTTP_PORT),
      '--echo-port', String(ECHO_PORT), '--closed-port', String(CLOSED_PORT), '--limit-ms', String(limitMs), ...args],
    limitMs + 20_000,
  );
  const rep = lastJsonLine<SenderReport>(r, `hostile-sender ${attack}`);
  const shown = { ...rep, echoCases: rep.echoCases?.length };
  console.log(`[${attack}${rep.phase !== undefined ? ` ${rep.phase}` : ''}] sent ${rep.total} in ${rep.ms} ms: ${JSON.stringify(shown)}`);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(rep.errors, JSON.stringify(rep)).toBe(0);
  expect(rep.how).toBe('done');
  return rep;
}

// --- the stack's pcap, read with our own reader -------------------------------------------------------------------

interface Ip4 {
  src: number;
  dst: number;
  protocol: number;
  fragmentOffset: number;
  payload: Uint8Array;
}

function ip4(frame: Uint8Array): Ip4 | undefined {
  const e = parseEthernet(frame);
  if (e === undefined || e.ethertype !== ETHERTYPE_IPV4) return undefined;
  const p = parseIpv4(frame.subarray(14));
  if (!p.ok) return undefined;
  return { src: p.header.src, dst: p.header.dst, protocol: p.header.protocol, fragmentOffset: p.header.fragmentOffset, payload: p.payload };
}

/** The MAC at `off` of a frame (0 the destination, 6 the source); -1 when the frame has no Ethernet header. */
const macOf = (f: Uint8Array, off: number): MacAddr => (f.length >= 14 ? readMac(f, off) : -1);

// -----------------------------------------------------------------------------------------------------------------

describe.skipIf(PREREQUISITES.skip)('hostile input from the host-only namespace (root, real namespaces, raw sockets)', () => {
  let tmp = '';
  let pcap = '';
  let stack: Started | undefined;
  const knownPids: KnownPid[] = [];
  let nodePid: number | undefined;
  let peerMac: MacAddr | undefined;
  const ourMac = parseMac(MAC) ?? 0;
  let client: Interactive | undefined;
  let clientPort: number | undefined;
  const clients: Interactive[] = [];
  let checks = 0;
  const memory: Array<{ after: string; rssMiB: number; peakMiB: number }> = [];
  /** The longest event-loop stall measured after each attack, for the log. */
  const stalls: string[] = [];

  const stackLog = (): string => stack?.output().split('\n').slice(-40).join('\n') ?? '(no stack)';

  /**
   * Every frame the stack has seen or sent so far. The stack writes its capture synchronously, a record at a time,
   * so only the last record may be incomplete (mid-write): it is left for the next read rather than retried.
   */
  function frames(): PcapFrame[] {
    return readPcap(completeRecords(readFileSync(pcap)));
  }

  /** `bytes` of a classic pcap file up to the end of its last complete record (all of it when too short to tell). */
  function completeRecords(bytes: Buffer): Buffer {
    if (bytes.length < PCAP_HEADER_LEN) return bytes; // readPcap names the problem
    const magic = bytes.readUInt32LE(0);
    const little = magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS;
    let end = PCAP_HEADER_LEN;
    while (bytes.length - end >= PCAP_RECORD_HEADER_LEN) {
      const caplen = little ? bytes.readUInt32LE(end + 8) : bytes.readUInt32BE(end + 8);
      if (bytes.length - end - PCAP_RECORD_HEADER_LEN < caplen) break;
      end += PCAP_RECORD_HEADER_LEN + caplen;
    }
    return bytes.subarray(0, end);
  }

  /** The payload patterns of the marker pings sent so far (see marker): their frames are no attack's. */
  const markerPatterns: Buffer[] = [];

  /** Whether `f` is ICMP whose payload holds one of `patterns`: a marker ping or its reply. */
  function isMarker(f: Uint8Array, patterns: readonly Buffer[] = markerPatterns): boolean {
    const p = ip4(f);
    if (p === undefined || p.protocol !== PROTO_ICMP) return false;
    const payload = Buffer.from(p.payload.buffer, p.payload.byteOffset, p.payload.byteLength);
    return patterns.some((m) => payload.includes(m));
  }

  /** Frames after index `from`, split into what the peer sent the stack and what the stack sent (markers left out). */
  function split(from: number): { all: PcapFrame[]; fromPeer: Uint8Array[]; fromUs: Uint8Array[] } {
    const all = frames().slice(from);
    const attack = all.map((f) => f.frame).filter((f) => !isMarker(f));
    return {
      all,
      fromPeer: attack.filter((f) => macOf(f, 6) === peerMac),
      fromUs: attack.filter((f) => macOf(f, 6) === ourMac),
    };
  }

  /**
   * Proves that the capture has caught up with everything the peer sent before: a ping from the peer, sent only
   * now, with a payload pattern of its own (`ping -p`), whose echo reply must come (within MARKER_ANSWER_S) and be
   * in the capture.
   * The stack reads its frames in order, answers each before it reads the next and writes every frame to the
   * capture as it passes, so whatever it answered to the earlier frames is in the capture before this reply: from
   * then on, an answer that is not there was never sent. Fails the test when the reply does not come.
   */
  async function marker(): Promise<void> {
    const pattern = randomBytes(8);
    markerPatterns.push(pattern);
    const hex = pattern.toString('hex');
    const ping = await lab.inPeer(['ping', '-n', '-c', '1', '-W', String(MARKER_ANSWER_S), '-p', hex, ADDR], MARKER_ANSWER_S * 1000 + 5000);
    expect(ping.stdout, `the marker ping (pattern ${hex}) got no answer:\n${ping.stdout}\n${ping.stderr}\n${stackLog()}`).toMatch(/\b1 received\b/);
    const isReply = (f: Uint8Array): boolean => macOf(f, 6) === ourMac && isMarker(f, [pattern]) && ip4(f)?.payload[0] === 0;
    const inCapture = await eventually(() => frames().some((f) => isReply(f.frame)), (found) => found, MARKER_IN_CAPTURE_MS);
    expect(inCapture, `the reply to the marker ping (pattern ${hex}) is not in the capture ${pcap}`).toBe(true);
  }

  /**
   * Frames after index `from` once the stack has dealt with all of them: first, until the peer's frames number at
   * least `fromPeerAtLeast` (what the attack sent that can reach the stack; at most CATCH_UP_MS, after which the
   * test's own assertion on that number fails), then a marker ping sent after them (see marker).
   */
  async function since(from: number, fromPeerAtLeast: number): Promise<{ all: PcapFrame[]; fromPeer: Uint8Array[]; fromUs: Uint8Array[] }> {
    await eventually(() => split(from).fromPeer.length, (n) => n >= fromPeerAtLeast, CATCH_UP_MS);
    await marker();
    return split(from);
  }

  /** The ids of the ICMP echo replies the stack sent among `fromUs`. */
  function echoReplyIds(fromUs: Uint8Array[]): Set<number> {
    const ids = new Set<number>();
    for (const f of fromUs) {
      const p = ip4(f);
      if (p === undefined || p.protocol !== PROTO_ICMP || p.fragmentOffset !== 0 || p.payload[0] !== 0) continue;
      ids.add(((p.payload[4] ?? 0) << 8) | (p.payload[5] ?? 0));
    }
    return ids;
  }

  /** Checks each echo request of the report against the replies: 'drop' got none, 'reply' got one. */
  function checkEchoCases(rep: SenderReport, fromUs: Uint8Array[]): void {
    const replied = echoReplyIds(fromUs);
    const cases = need(rep.echoCases, 'the echo cases');
    const answeredAnyway = cases.filter((c) => c.expect === 'any' && replied.has(c.id)).map((c) => c.what);
    console.log(`[${rep.attack}] answered (allowed either way): ${answeredAnyway.join('; ') || 'none'}`);
    expect(cases.filter((c) => c.expect === 'drop' && replied.has(c.id)).map((c) => c.what), 'answered though malformed').toEqual([]);
    expect(cases.filter((c) => c.expect === 'reply' && !replied.has(c.id)).map((c) => c.what), 'well-formed but not answered').toEqual([]);
  }

  /** Tap drops: frames the kernel could not hand the stack because it did not read them in time. */
  async function tapStats(): Promise<Record<string, { rxPackets: number; txPackets: number; txDropped: number }>> {
    const r = await runCommand('ip', ['-n', lab.name, '-j', '-s', 'link', 'show', 'master', 'br0'], 10_000);
    const out: Record<string, { rxPackets: number; txPackets: number; txDropped: number }> = {};
    try {
      const links = JSON.parse(r.stdout) as Array<{ ifname: string; stats64?: { rx: { packets: number }; tx: { packets: number; dropped: number } } }>;
      for (const l of links) {
        if (l.ifname.startsWith('tap') && l.stats64 !== undefined) out[l.ifname] = { rxPackets: l.stats64.rx.packets, txPackets: l.stats64.tx.packets, txDropped: l.stats64.tx.dropped };
      }
    } catch {
      // reported as empty
    }
    return out;
  }

  /** Opens a live connection to the echo port from the peer, driven over stdin, and learns its local port. */
  async function openClient(): Promise<void> {
    const c = spawnInteractive('ip', netnsExec(lab.peer, nodeProgram('echo-client.ts', [ADDR, String(ECHO_PORT), String(CLIENT_LIFETIME_MS)])), CLIENT_LIFETIME_MS + 10_000);
    clients.push(c);
    const m = await waitForOutput(c, /"ev":"connected","port":(\d+)/, 10_000);
    client = c;
    clientPort = Number(m[1]);
    console.log(`live echo connection: 192.168.77.1:${clientPort} -> ${ADDR}:${ECHO_PORT}`);
  }

  /** Sends a line on the live connection and waits for it to come back (5 s), nothing else arriving. */
  async function echoes(tag: string): Promise<number> {
    const c = need(client, 'the live echo client');
    const before = c.output().length;
    expect(c.send(`send ${tag}`), 'the echo client has exited').toBe(true);
    const m = await waitForOutput(c, new RegExp(`"ev":"echoed","tag":"${tag}","ms":(\\d+)`), 5000).catch((err: unknown) => {
      throw new Error(`the live echo connection did not echo ${tag}: ${err instanceof Error ? err.message : String(err)}`);
    });
    const later = c.output().slice(before);
    expect(later, 'the live echo connection saw something else').not.toMatch(/"ev":"(unexpected|error|closed)"/);
    return Number(m[1]);
  }

  /** The longest event-loop stall since the last call (prom-client's histogram restarts at each scrape), in ms. */
  async function stallMs(): Promise<{ stall: number; turn: string }> {
    const r = await lab.inPeer(['curl', '-s', '--max-time', '5', `http://${ADDR}:${METRICS_PORT}/metrics`], 10_000);
    const field = (name: string): number => Number(need(new RegExp(`^${name} (\\S+)$`, 'm').exec(r.stdout)?.[1], `${name} in the metrics:\n${r.stdout.slice(0, 400)}${r.stderr}`));
    // The monitor's timer fires every 10 ms (prom-client's precision) and records the time between firings:
    // what is past those 10 ms is the stall.
    const stall = Math.max(0, field('nodejs_eventloop_lag_max_seconds') * 1000 - EVENT_LOOP_MONITOR_MS);
    return { stall, turn: `${(field('direct_stack_longest_turn_seconds') * 1000).toFixed(1)} ms for ${field('direct_stack_longest_turn_frames')} frames` };
  }

  /**
   * The checks after every attack: the event loop never stalled past its bound for the `frames` the attack sent,
   * curl's 200, the live echo connection, memory below the bound.
   */
  async function stillServes(after: string, frames = 0): Promise<void> {
    const s = need(stack, 'the stack');
    expect(s.child.exitCode, `the stack exited:\n${stackLog()}`).toBeNull();
    const { stall, turn } = await stallMs();
    const stallBound = STALL_MS_PER_10K_FRAMES * Math.max(1, frames / 10_000);
    stalls.push(`${after} ${stall.toFixed(1)} ms (${frames} frames; the stack's longest turn ${turn})`);
    expect(stall, `the longest event-loop stall during ${after} (${frames} frames)`).toBeLessThan(stallBound);
    const t0 = performance.now();
    let r: CommandResult | undefined;
    let tries = 0;
    while (performance.now() - t0 < CURL_WITHIN_MS) {
      tries++;
      const left = Math.max(2, Math.floor((CURL_WITHIN_MS - (performance.now() - t0)) / 1000));
      r = await lab.inPeer(['curl', '-s', '--max-time', String(Math.min(5, left)), '-w', '\n%{http_code}', URL], 10_000);
      if (r.stdout === 'hello john!\n\n200') break;
      await sleep(250); // the pause between tries of a poll for curl's 200 (bounded by CURL_WITHIN_MS), not a wait
    }
    const curlMs = Math.round(performance.now() - t0);
    expect(r?.stdout, `curl after ${after}: ${tries} tries in ${curlMs} ms\n${r?.stderr ?? ''}\n${stackLog()}`).toBe('hello john!\n\n200');
    const echoMs = await echoes(`${after.replace(/[^A-Za-z0-9]+/g, '-')}-${++checks}`);
    const pid = need(nodePid, 'the stack node pid');
    const m = need(memoryKiB(pid), `the memory of pid ${pid}`);
    const rssMiB = Math.round((m.rss / 1024) * 10) / 10;
    const peakMiB = Math.round((m.peak / 1024) * 10) / 10;
    memory.push({ after, rssMiB, peakMiB });
    console.log(`after ${after}: event loop stalled at most ${stall.toFixed(1)} ms (bound ${stallBound} ms for ${frames} frames), curl 200 in ${curlMs} ms (${tries} tries), echo in ${echoMs} ms, VmRSS ${rssMiB} MiB (peak ${peakMiB} MiB, bound ${RSS_BOUND_MIB} MiB)`);
    expect(rssMiB, `VmRSS after ${after}`).toBeLessThan(RSS_BOUND_MIB);
    await stallMs(); // the next attack's stall is measured from here
  }

  beforeAll(async () => {
    PREREQUISITES.demand();
    const made = tempWithJohn('hostile-e2e-');
    tmp = made.tmp;
    const data = made.data;
    pcap = path.join(tmp, 'hostile.pcap');

    await lab.up();
    // br_netfilter (when loaded) validates the IPv4, IPv6 and ARP headers of bridged frames in namespaces whose
    // bridge-nf-call-* are 1 (the default) and drops bad ones before they reach the TAP: switch that off in the lab's
    // own namespace so that the stack itself gets the malformed frames. This changes nothing outside the lab.
    const sysctls = ['iptables', 'ip6tables', 'arptables'].map((t) => `net.bridge.bridge-nf-call-${t}=0`);
    await lab.mustInLab(['sh', '-c', `if [ -d /proc/sys/net/bridge ]; then sysctl -q -w ${sysctls.join(' ')}; fi`], 10_000);
    peerMac = parseMac((await lab.mustInPeer(['cat', '/sys/class/net/veth0/address'], 10_000)).trim());

    const args = ['--bridge', 'br0', '--mac', MAC, '--ipv4', `${ADDR}/24`, '--gateway', '192.168.77.2', '--port', String(HTTP_PORT), '--data', data,
      '--echo-port', String(ECHO_PORT), '--pcap', pcap, '--metrics-port', String(METRICS_PORT)];
    const s = lab.startStack(args, STACK_LIFETIME_MS);
    stack = s;
    await waitForStack(s, new RegExp(`^echo service on TCP port ${ECHO_PORT}$`, 'm'), 30_000, knownPids);
    nodePid = findDescendant(need(s.child.pid, 'the stack pid'), /src\/main\.ts/);
    expect(nodePid, 'the node process under npm start').toBeDefined();
    const m = need(memoryKiB(need(nodePid, 'the node pid')), 'the stack memory');
    console.log(`stack: node pid ${nodePid}, VmRSS ${Math.round(m.rss / 1024)} MiB at start; lab ${lab.name}; pcap ${pcap}`);
    await openClient();
    await stillServes('start');
  }, 90_000);

  afterAll(async () => {
    // The echo clients and the stack first (by pid, with whatever they started), then the lab, then check.
    for (const c of clients) {
      c.endInput();
      await stopTree(c, 2000);
    }
    if (stack !== undefined) await stopTree(stack, 5000, knownPids);
    if (memory.length > 0) console.log(`VmRSS of the stack (MiB) after each step: ${memory.map((x) => `${x.after} ${x.rssMiB}`).join(', ')}`);
    if (stalls.length > 0) console.log(`the longest event-loop stall during each step: ${stalls.join(', ')}`);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  }, 90_000);

  it('malformed Ethernet and ARP frames: header-only, unknown types, VLAN, other and bad MACs, broken ARP', { timeout: 60_000 }, async () => {
    const mark = frames().length;
    const rep = await send('ethernet');
    // Frames from a multicast source MAC are dropped by the bridge, VLAN headers without a tag by the kernel's VLAN
    // code; all the others reach the stack.
    const reachable = rep.total - (rep.sent['bad-src-mac'] ?? 0) - (rep.sent['vlan-header-only'] ?? 0);
    const got = await since(mark, reachable);
    console.log(`[ethernet] the stack received ${got.fromPeer.length} frames from the peer (${reachable} sent that can pass a bridge)`);
    expect(got.fromPeer.length).toBeGreaterThanOrEqual(reachable);
    // ARP replies: one to the well-formed request (the control, from the absent 192.168.77.250 at the peer's MAC),
    // none to a zero, broadcast or multicast sender MAC; which impossible sender addresses got one is printed.
    const replies = got.fromUs
      .filter((f) => parseEthernet(f)?.ethertype === ETHERTYPE_ARP && f[14 + 7] === 2)
      .map((f) => ({ tha: readMac(f, 14 + 18), tpa: ipv4ToString(readIpv4(f, 14 + 24)) }));
    console.log(`[ethernet] ARP replies: ${replies.map((r) => `${r.tpa} at ${macToString(r.tha)}`).join(', ')}`);
    expect(replies.filter((r) => r.tpa === '192.168.77.250' && r.tha === peerMac).length, 'a reply to the control').toBeGreaterThanOrEqual(1);
    expect(replies.filter((r) => r.tha === 0 || isMulticastMac(r.tha)).map((r) => `${r.tpa} at ${macToString(r.tha)}`), 'replies to impossible MACs').toEqual([]);
    await stillServes('ethernet', got.fromPeer.length);
  });

  it('malformed IPv4: bad version, IHL < 5 and past the packet, total length both ways, bad checksum, bad options', { timeout: 60_000 }, async () => {
    const mark = frames().length;
    const rep = await send('ipv4');
    const got = await since(mark, rep.total);
    console.log(`[ipv4] the stack received ${got.fromPeer.length} frames from the peer (${rep.total} sent)`);
    expect(got.fromPeer.length).toBeGreaterThanOrEqual(rep.total);
    checkEchoCases(rep, got.fromUs);
    await stillServes('ipv4', got.fromPeer.length);
  });

  it('malformed ICMP and UDP: truncated, bad checksums, wrong UDP lengths, every ICMP type, errors quoting the live connection', { timeout: 60_000 }, async () => {
    const mark = frames().length;
    const rep = await send('icmp-udp', ['--client-port', String(need(clientPort, 'the live client port'))]);
    const got = await since(mark, rep.total);
    console.log(`[icmp-udp] the stack received ${got.fromPeer.length} frames from the peer (${rep.total} sent); it sent ${got.fromUs.length}`);
    expect(got.fromPeer.length).toBeGreaterThanOrEqual(rep.total);
    checkEchoCases(rep, got.fromUs);
    await stillServes('icmp-udp', got.fromPeer.length);
  });

  it('malformed TCP: data offsets, option lengths 0 and past the header, bad checksums, all 64 flag combinations to 8088 and a closed port', { timeout: 60_000 }, async () => {
    const mark = frames().length;
    const rep = await send('tcp');
    const got = await since(mark, rep.total);
    const ourTcp = got.fromUs.map(ip4).filter((p): p is Ip4 => p !== undefined && p.protocol === PROTO_TCP);
    const port = (p: Ip4, at: number): number => ((p.payload[at] ?? 0) << 8) | (p.payload[at + 1] ?? 0);
    const flags = (p: Ip4): number => (p.payload[13] ?? 0) & 0x3f;
    console.log(
      `[tcp] the stack received ${got.fromPeer.length} frames from the peer (${rep.total} sent); it answered ` +
        `${ourTcp.filter((p) => flags(p) === 0x12).length} SYN-ACKs and ${ourTcp.filter((p) => (flags(p) & 0x04) !== 0).length} RSTs`,
    );
    expect(got.fromPeer.length).toBeGreaterThanOrEqual(rep.total);
    const bad = new Set(need(rep.badChecksumPorts, 'the bad-checksum ports'));
    expect(ourTcp.filter((p) => port(p, 0) === HTTP_PORT && bad.has(port(p, 2))).length, 'answers to SYNs with bad checksums').toBe(0);
    await stillServes('tcp', got.fromPeer.length);
  });

  it('fragments: overlapping with different data, teardrop, 2000 that never complete, offsets past 65535, ping of death', { timeout: 90_000 }, async () => {
    const mark = frames().length;
    const rep = await send('fragments');
    const got = await since(mark, rep.total);
    console.log(`[fragments] the stack received ${got.fromPeer.length} frames from the peer (${rep.total} sent)`);
    expect(got.fromPeer.length).toBeGreaterThanOrEqual(rep.total);
    checkEchoCases(rep, got.fromUs);
    // Reassembly still works: a 3000-byte ping (three fragments each way) is answered.
    const ping = await lab.inPeer(['ping', '-c', '2', '-i', '0.2', '-W', '3', '-s', '3000', ADDR], 15_000);
    expect(ping.stdout, ping.stderr).toMatch(/2 received/);
    await stillServes('fragments', got.fromPeer.length);
  });

  it(`${SYN_FLOOD} SYNs to ${HTTP_PORT} from absent addresses (192.168.77.201-254), then curl within a few seconds`, { timeout: 120_000 }, async () => {
    const mark = frames().length;
    const tapBefore = await tapStats();
    const rep = await send('synflood', ['--count', String(SYN_FLOOD), '--from', '201', '--to', '254'], 60_000);
    expect(rep.sent['syn']).toBe(SYN_FLOOD);
    // Not every SYN need reach the stack (the TAP's queue may overflow: tapStats shows it), so no count to wait for.
    const got = await since(mark, 0);
    const tapAfter = await tapStats();
    const synsIn = got.fromPeer.map(ip4).filter((p) => p !== undefined && p.protocol === PROTO_TCP && ((p.payload[13] ?? 0) & 0x3f) === 0x02).length;
    const ourFrames = got.fromUs.map((f) => parseEthernet(f)?.ethertype);
    console.log(
      `[synflood] ${rep.total} SYNs in ${rep.ms} ms (${rep.ratePerSecond}/s); the stack read ${synsIn} of them; ` +
        `it sent ${ourFrames.filter((t) => t === ETHERTYPE_ARP).length} ARP frames and ${ourFrames.filter((t) => t === ETHERTYPE_IPV4).length} IPv4 frames; ` +
        `tap before ${JSON.stringify(tapBefore)} after ${JSON.stringify(tapAfter)}`,
    );
    await stillServes('synflood', got.fromPeer.length);
  });

  describe('into the live echo connection', () => {
    const port = (): string => String(need(clientPort, 'the live client port'));

    it('1000 RSTs with random sequence numbers and 100 in the window but not exact: it survives', { timeout: 60_000 }, async () => {
      const rep = await send('inject', ['--phase', 'rst', '--client-port', port()]);
      expect(rep.error).toBeUndefined();
      console.log(`[inject rst] learned ${JSON.stringify(rep.learned)}; answers ${JSON.stringify(rep.answers)}`);
      expect(need(rep.answers, 'answers').rst).toBe(0);
      expect(need(rep.answers, 'answers').ackMoved).toBe(0);
      await stillServes('inject-rst');
    });

    it('1000 SYNs with random sequence numbers, 50 SYN-ACKs, 20 SYNs in the window: it survives', { timeout: 60_000 }, async () => {
      const rep = await send('inject', ['--phase', 'syn', '--client-port', port()]);
      expect(rep.error).toBeUndefined();
      console.log(`[inject syn] learned ${JSON.stringify(rep.learned)}; answers ${JSON.stringify(rep.answers)}`);
      expect(need(rep.answers, 'answers').rst).toBe(0);
      expect(need(rep.answers, 'answers').ackMoved).toBe(0);
      await stillServes('inject-syn');
    });

    it('data outside the window, and in it with an unacceptable ACK or none: none of it reaches the application', { timeout: 60_000 }, async () => {
      const rep = await send('inject', ['--phase', 'data', '--client-port', port()]);
      expect(rep.error).toBeUndefined();
      console.log(`[inject data] learned ${JSON.stringify(rep.learned)}; answers ${JSON.stringify(rep.answers)}`);
      expect(need(rep.answers, 'answers').rst).toBe(0);
      expect(need(rep.answers, 'answers').withData, 'the stack echoed injected bytes').toBe(0);
      expect(need(rep.answers, 'answers').ackMoved, 'the stack accepted injected bytes').toBe(0);
      await stillServes('inject-data');
    });

    it('one RST at exactly RCV.NXT resets it; a new connection then works', { timeout: 60_000 }, async () => {
      const rep = await send('inject', ['--phase', 'exact-rst', '--client-port', port()]);
      expect(rep.error).toBeUndefined();
      console.log(`[inject exact-rst] learned ${JSON.stringify(rep.learned)}`);
      // The stack dropped the connection silently; the next byte from the client gets a RST.
      const c = need(client, 'the live echo client');
      const before = c.output().length;
      c.send('send after-exact-rst');
      await waitForOutput(c, /"ev":"(error|closed)"/, 5000);
      const later = c.output().slice(before);
      console.log(`[inject exact-rst] the old client saw: ${later.trim().split('\n').join(' ')}`);
      expect(later).not.toMatch(/"ev":"echoed"/);
      expect(later).toMatch(/"ev":"error","code":"ECONNRESET"|"ev":"closed"/);
      await openClient();
      await stillServes('inject-exact-rst');
    });
  });

  it('after all of it: SIGTERM exits 0, and tshark finds every frame the stack sent well-formed', { timeout: 120_000 }, async () => {
    const s = need(stack, 'the stack');
    console.log('counters: the stack does not expose stack.counters outside its process yet; the pcap stands in for them');
    const code = await sigterm(s);
    expect(code, stackLog()).toBe(0);
    const args = ['-r', pcap, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-Y', `eth.src == ${MAC}`,
      '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=f', '-e', 'frame.number', '-e', '_ws.col.Protocol', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status',
      '-e', 'udp.checksum.status', '-e', 'icmp.type', '-e', '_ws.malformed', '-e', '_ws.col.Info'];
    const out = await mustRun('tshark', args, 100_000);
    const rows = out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    const byProto: Record<string, number> = {};
    for (const r of rows) byProto[r[1] ?? '?'] = (byProto[r[1] ?? '?'] ?? 0) + 1;
    const badChecksum = rows.filter((r) => [r[2], r[3], r[4]].includes('0'));
    // An ICMP error quotes the hostile datagram it answers: tshark may find the quote malformed, not our frame.
    const malformed = rows.filter((r) => (r[6] ?? '') !== '' && !['3', '11', '12'].includes(r[5] ?? ''));
    const all = frames();
    console.log(`pcap: ${all.length} frames in all; ${rows.length} sent by the stack: ${JSON.stringify(byProto)}`);
    expect(badChecksum.map((r) => r.join(' ')).slice(0, 10)).toEqual([]);
    expect(malformed.map((r) => r.join(' ')).slice(0, 10)).toEqual([]);
  });
});
