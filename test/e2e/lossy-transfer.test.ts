// 10 MB transfers over a lossy link, both roles of our stack, in one lab of this file's own
// (scripts/setup-bridge.sh --netns mlossy-XXXX: br0 + dnsmasq in NAME, the kernel peer 192.168.77.1 in NAME-peer):
//   a. our stack as server (npm start --echo-port 7 --fault …): the peer sends 10 MB to echo and reads 10 MB back;
//   b. our stack as client (npm run get --fault …) fetching a 10 MB file from a kernel HTTP server in the peer;
//   c. a and b again without --fault, the loss now on the kernel's side (nftables in the peer drops ~2% of TCP
//      packets in and out).
// Asserted: sha256 equal, get's exit status 0, each transfer done within 120 s. Speed is printed, never asserted.
// In CI (CI=true) nothing skips: without root, ip, dnsmasq, nft or tshark the suite fails.

import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DHCP_BOUND, exitWithin, Lab, lastJsonLine, needing, nodeProgram, prerequisites, waitForStack, type KnownPid, tempWithJohn,
} from './lab.ts';
import type { EchoReport } from './programs/echo-roundtrip.ts';
import { runCommand, sha256File, stopTree, waitForOutput, type Started } from './service-process.ts';

const PREREQUISITES = await prerequisites(['ip', 'dnsmasq', 'nft', 'tshark', 'sha256sum']);

const lab = new Lab('mlossy');
const PEER_ADDR = '192.168.77.1';
const ECHO_PORT = 7;
const MB = 10;
const SIZE = MB * 1024 * 1024;
/** The completion bound of each transfer. */
const TRANSFER_LIMIT_MS = 120_000;
/** Hard limits on the processes, whatever happens to the tests. */
const STACK_LIFETIME_MS = 200_000;
const GET_LIFETIME_MS = TRANSFER_LIMIT_MS + 30_000;
const SERVER_LIFETIME_MS = 900_000;
const TEST_TIMEOUT_MS = TRANSFER_LIMIT_MS + 90_000;
const SERVER_FAULT = 'drop=0.02,dup=0.01,reorder=0.02,corrupt=0.01,delay=1ms,seed=7';
const CLIENT_FAULT = 'drop=0.02,reorder=0.02,seed=3';
const KERNEL_LOSS = 'nft in the peer: 2% of TCP in and out';

const need = needing('step');

// --- the results table ------------------------------------------------------------------------------------------

interface Row {
  direction: string;
  faults: string;
  seconds: number | undefined;
  retrans: string;
  result: string;
}

const rows: Row[] = [];

function printTable(): void {
  const head = ['direction', 'faults', 'MB', 'seconds', 'Mbit/s', 'retransmissions', 'result'];
  const body = rows.map((r) => [
    r.direction,
    r.faults,
    String(MB),
    r.seconds === undefined ? '-' : r.seconds.toFixed(2),
    r.seconds === undefined || r.seconds === 0 ? '-' : ((SIZE * 8) / r.seconds / 1e6).toFixed(1),
    r.retrans,
    r.result,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log(
    [`lossy transfers (${MB} MB each; for echo, ${MB} MB each way and Mbit/s of one direction):`, line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join(
      '\n',
    ),
  );
}

// --- pieces of the lab -----------------------------------------------------------------------------------------

/** The kernel peer's retransmitted segments so far (nstat, absolute; the history file is left alone). */
async function kernelRetransmits(): Promise<number | undefined> {
  const r = await lab.inPeer(['nstat', '-asz', 'TcpRetransSegs'], 10_000);
  const n = /^TcpRetransSegs\s+(\d+)/m.exec(r.stdout)?.[1];
  return n === undefined ? undefined : Number(n);
}

const delta = (before: number | undefined, after: number | undefined): string =>
  before === undefined || after === undefined ? '?' : String(after - before);

/** Segments of ours that tshark marks as retransmissions in the stack's pcap. */
async function ourRetransmitsInPcap(pcap: string, addr: string): Promise<string> {
  const r = await runCommand('tshark', ['-r', pcap, '-n', '-Y', `ip.src == ${addr} && tcp.analysis.retransmission`, '-T', 'fields', '-e', 'frame.number'], 120_000);
  return r.code === 0 ? String(r.stdout.split('\n').filter((l) => l !== '').length) : '?';
}

/** The last segments of the echo conversation, for a failure message: where and how it stalled. */
async function pcapTail(pcap: string, port: number, n = 16): Promise<string> {
  const r = await runCommand(
    'tshark',
    ['-r', pcap, '-n', '-Y', `tcp.port == ${port}`, '-o', 'tcp.relative_sequence_numbers:TRUE', '-T', 'fields', '-E', 'separator=/t',
      '-e', 'frame.time_relative', '-e', 'ip.src', '-e', 'tcp.seq', '-e', 'tcp.ack', '-e', 'tcp.len', '-e', 'tcp.window_size', '-e', '_ws.expert.message'],
    120_000,
  );
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  return ['time\tsrc\tseq\tack\tlen\twindow\texpert', ...lines.slice(-n)].join('\n');
}

interface Stack {
  s: Started;
  addr: string;
  pcap: string;
  known: KnownPid[];
}

/** SIGTERM by pid, bounded; then whatever is left of it and its descendants, by pid. */
async function stopStack(st: Stack): Promise<number | null | 'still running'> {
  const pid = st.s.child.pid;
  if (pid !== undefined && st.s.child.exitCode === null) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone already
    }
  }
  const code = await exitWithin(st.s, 15_000);
  await stopTree(st.s, 1000, st.known);
  return code;
}

async function nftLossyTable(): Promise<boolean> {
  const r = await lab.inPeer(['nft', 'list', 'tables'], 10_000);
  return /^table inet lossy$/m.test(r.stdout);
}

/** Packets the two nft rules dropped so far. */
async function nftDropped(): Promise<number> {
  const r = await lab.inPeer(['nft', 'list', 'table', 'inet', 'lossy'], 10_000);
  return [...r.stdout.matchAll(/counter packets (\d+) bytes \d+ drop/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

// -----------------------------------------------------------------------------------------------------------------

describe.skipIf(PREREQUISITES.skip)('10 MB over a lossy link, our stack as server and as client (root, namespaces, dnsmasq, nft)', () => {
  let tmp = '';
  let file = '';
  let fileSha = '';
  let data = '';
  let server: Started | undefined;
  let serverPort: number | undefined;
  const stacks: Stack[] = [];
  const gets: Started[] = [];

  beforeAll(async () => {
    PREREQUISITES.demand();
    const made = tempWithJohn('lossy-e2e-');
    tmp = made.tmp;
    data = made.data;
    const content = randomBytes(SIZE);
    file = path.join(tmp, 'file');
    writeFileSync(file, content);
    fileSha = createHash('sha256').update(content).digest('hex');

    await lab.up();

    // The kernel's HTTP server in the peer, for b and c.
    const srv = lab.spawnInPeer(nodeProgram('http-file-server.ts', [file, PEER_ADDR, String(SERVER_LIFETIME_MS)]), SERVER_LIFETIME_MS + 5000);
    server = srv;
    const m = await waitForOutput(srv, /listening on (\d+)/, 15_000);
    serverPort = Number(m[1]);
  });

  afterAll(async () => {
    if (rows.length > 0) printTable();
    // Our processes first (by pid, with whatever they started), then the lab, then check nothing is left.
    for (const g of gets) await stopTree(g, 2000);
    for (const st of stacks) await stopTree(st.s, 2000, st.known);
    if (server !== undefined) await stopTree(server, 2000);
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    await lab.down();
  });

  /** The DHCP lease file of a MAC, in our temporary directory (never the host's /var/lib). */
  const dhcpState = (mac: string): string => path.join(tmp, `dhcp-${mac.replaceAll(':', '')}.json`);

  /** Starts `npm start` in the lab with echo on port 7 (and `fault`), recording a pcap; resolves once it has an address. */
  async function startStack(mac: string, fault: string | undefined): Promise<Stack> {
    const pcap = path.join(tmp, `stack-${stacks.length}.pcap`);
    const args = ['--bridge', 'br0', '--mac', mac, '--data', data, '--echo-port', String(ECHO_PORT), '--pcap', pcap, '--dhcp-state', dhcpState(mac)];
    if (fault !== undefined) args.push('--fault', fault);
    const s = lab.startStack(args, STACK_LIFETIME_MS);
    const st: Stack = { s, addr: '', pcap, known: [] };
    stacks.push(st);
    const m = await waitForStack(s, DHCP_BOUND, 20_000, st.known);
    st.addr = need(m[1], 'the address');
    await waitForOutput(s, new RegExp(`^echo service on TCP port ${ECHO_PORT}$`, 'm'), 5000);
    return st;
  }

  /** The peer sends 10 MB to our echo service and reads it back; one row of the table, then the assertions. */
  async function echoRun(direction: string, faults: string, mac: string, fault: string | undefined): Promise<void> {
    const st = await startStack(mac, fault);
    const kBefore = await kernelRetransmits();
    const r = await lab.programInPeer('echo-roundtrip.ts', [st.addr, String(ECHO_PORT), String(SIZE), String(TRANSFER_LIMIT_MS)], TRANSFER_LIMIT_MS + 15_000);
    const kAfter = await kernelRetransmits();
    const code = await stopStack(st);
    const res = lastJsonLine<EchoReport>(r);
    const good = res.how === 'end' && res.received === SIZE && res.receivedSha === res.sentSha;
    const ours = await ourRetransmitsInPcap(st.pcap, st.addr);
    const stall = good ? '' : `\nthe last segments on port ${ECHO_PORT} (stack's pcap, our side of the fault injector):\n${await pcapTail(st.pcap, ECHO_PORT)}`;
    rows.push({
      direction,
      faults,
      seconds: good ? res.ms / 1000 : undefined,
      retrans: `ours ${ours} (pcap), kernel ${delta(kBefore, kAfter)}`,
      result: good ? 'ok' : `FAILED: ${res.how}, ${res.received} of ${SIZE} bytes back`,
    });
    console.log(`${direction} [${faults}]: ${good ? `${(res.ms / 1000).toFixed(2)} s` : 'failed'}; ${JSON.stringify({ ...res, sentSha: undefined, receivedSha: undefined })}`);
    const report = `${JSON.stringify(res)}${stall}\nstack output (tail):\n${st.s.output().slice(-2000)}`;
    expect(res.error, report).toBeNull();
    expect(res.how, report).toBe('end');
    expect(res.received, report).toBe(SIZE);
    expect(res.receivedSha, report).toBe(res.sentSha);
    expect(res.ms, report).toBeLessThan(TRANSFER_LIMIT_MS);
    expect(code, `the stack's exit after SIGTERM\n${st.s.output().slice(-2000)}`).toBe(0);
  }

  /** `npm run get` in the lab fetches the peer's 10 MB file; one row of the table, then the assertions. */
  async function getRun(direction: string, faults: string, mac: string, fault: string | undefined): Promise<void> {
    const out = path.join(tmp, `out-${gets.length}`);
    const url = `http://${PEER_ADDR}:${need(serverPort, 'the HTTP server port')}/file`;
    const args = [url, '-o', out, '--bridge', 'br0', '--mac', mac, '--dhcp-state', dhcpState(mac), '--timeout', String(TRANSFER_LIMIT_MS / 1000)];
    if (fault !== undefined) args.push('--fault', fault);
    const kBefore = await kernelRetransmits();
    const g = lab.spawnInLab(['npm', 'run', 'get', '--', ...args], GET_LIFETIME_MS, 'SIGKILL');
    gets.push(g);
    const code = await g.exited;
    const kAfter = await kernelRetransmits();
    const summary = /^get: (\d{3}) .*, (\d+) bytes in ([0-9.]+) s \(([0-9.]+) Mbit\/s\), retransmissions (\d+)(?:, frames in \d+ .*)?$/m.exec(g.output());
    const sha = code === 0 ? await sha256File(out) : '';
    const good = code === 0 && sha === fileSha;
    rows.push({
      direction,
      faults,
      seconds: summary === null ? undefined : Number(summary[3]),
      retrans: `ours ${summary?.[5] ?? '?'}, kernel ${delta(kBefore, kAfter)}`,
      result: good ? 'ok' : `FAILED: exit ${code}, ${(/^get: .*$/m.exec(g.output()) ?? ['no summary'])[0]}`,
    });
    console.log(`${direction} [${faults}]: ${(/^get: .*$/m.exec(g.output()) ?? ['no summary line'])[0]}`);
    const report = `npm run get -- ${args.join(' ')}\n${g.output().slice(-3000)}`;
    expect(code, report).toBe(0);
    expect(summary?.[1], report).toBe('200');
    expect(Number(summary?.[2]), report).toBe(SIZE);
    expect(sha, report).toBe(fileSha);
    expect(Number(summary?.[3]) * 1000, report).toBeLessThan(TRANSFER_LIMIT_MS);
  }

  describe('faults injected in our stack (--fault)', () => {
    it(`a. server: the peer echoes ${MB} MB through our stack with ${SERVER_FAULT}`, { timeout: TEST_TIMEOUT_MS }, async () => {
      await echoRun('peer -> our echo server -> peer', `ours: ${SERVER_FAULT}`, '02:00:5e:00:07:01', SERVER_FAULT);
    });

    it(`b. client: npm run get fetches ${MB} MB from the kernel's HTTP server with ${CLIENT_FAULT}`, { timeout: TEST_TIMEOUT_MS }, async () => {
      await getRun('kernel HTTP server -> our get', `ours: ${CLIENT_FAULT}`, '02:00:5e:00:07:02', CLIENT_FAULT);
    });
  });

  describe("loss on the kernel's side (nftables in the peer drops ~2% of TCP packets both ways)", () => {
    let added = false;

    it('adds the nftables table inet lossy in the peer', async () => {
      expect(await nftLossyTable()).toBe(false);
      added = true;
      await lab.mustInPeer(['nft', 'add', 'table', 'inet', 'lossy']);
      for (const [chain, hook] of [['in', 'input'], ['out', 'output']] as const) {
        await lab.mustInPeer(['nft', 'add', 'chain', 'inet', 'lossy', chain, `{ type filter hook ${hook} priority 0; }`]);
        await lab.mustInPeer(['nft', 'add', 'rule', 'inet', 'lossy', chain, 'meta', 'l4proto', 'tcp', 'numgen', 'random', 'mod', '100', '<', '2', 'counter', 'drop']);
      }
      expect(await nftLossyTable()).toBe(true);
    });

    it(`c. server: the peer echoes ${MB} MB through our stack, no --fault`, { timeout: TEST_TIMEOUT_MS }, async () => {
      if (!added) throw new Error('the nftables table was not added: an earlier test failed');
      await echoRun('peer -> our echo server -> peer', KERNEL_LOSS, '02:00:5e:00:07:03', undefined);
    });

    it(`c. client: npm run get fetches ${MB} MB from the kernel's HTTP server, no --fault`, { timeout: TEST_TIMEOUT_MS }, async () => {
      if (!added) throw new Error('the nftables table was not added: an earlier test failed');
      await getRun('kernel HTTP server -> our get', KERNEL_LOSS, '02:00:5e:00:07:04', undefined);
    });

    it('deletes the table again (it did drop packets)', async () => {
      if (!added) throw new Error('the nftables table was not added: an earlier test failed');
      const dropped = await nftDropped();
      console.log(`nftables in the peer dropped ${dropped} TCP packets`);
      await lab.mustInPeer(['nft', 'delete', 'table', 'inet', 'lossy']);
      expect(await nftLossyTable()).toBe(false);
      expect(dropped).toBeGreaterThan(0);
    });
  });
});
