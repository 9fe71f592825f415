// The namespace lab the benchmarks run in (scripts/setup-bridge.sh --netns NAME: br0 192.168.77.2 with dnsmasq
// in NAME, the peer 192.168.77.1 in NAME-peer) and the processes run in it: each with a hard time limit, its
// output lines time-stamped as they arrive, ended by PID (with its descendants) and nothing else.

import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import {
  findDescendant, memoryKiB, repoRoot, runCommand, stopTree, type CommandResult, type Started,
} from '../test/e2e/service-process.ts';

export const BRIDGE_ADDR = '192.168.77.2';
/** br0's IPv6 address (scripts/setup-bridge.sh): where the socket stack answers over IPv6. */
export const BRIDGE_ADDR6 = 'fd77::2';
export const PEER_ADDR = '192.168.77.1';
const SETUP = path.join(repoRoot, 'scripts/setup-bridge.sh');
/** Runs a command with its file limit raised to the hard limit (10 000 connections need more than the usual 1024). */
const NOFILE = ['bash', '-c', 'ulimit -n "$(ulimit -Hn)" && exec "$@"', '--'];

/** A process of ours: its output as time-stamped lines (the first ones only; the rest are counted). */
export interface Proc extends Started {
  /** performance.now() just before the spawn. */
  readonly t0: number;
  readonly lines: { at: number; text: string }[];
  /** Resolves with the first line matching `re` (and when it arrived), rejects on exit or after `timeoutMs`. */
  waitLine(re: RegExp, timeoutMs: number): Promise<{ at: number; match: RegExpExecArray }>;
  /** Writes a line to its stdin. */
  send(line: string): void;
  stop(): Promise<void>;
}

const KEEP_LINES = 500;

export function spawnProc(cmd: string, args: string[], timeoutMs: number): Proc {
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
  const lines: { at: number; text: string }[] = [];
  const waiters = new Set<() => void>();
  const partial = { stdout: '', stderr: '' };
  const onData = (which: 'stdout' | 'stderr') => (d: Buffer): void => {
    if (lines.length >= KEEP_LINES) return; // a service logs a line per request: keep the boot, drop the rest
    const at = performance.now();
    const parts = (partial[which] + d.toString()).split('\n');
    partial[which] = parts.pop() ?? '';
    for (const text of parts) lines.push({ at, text });
    for (const w of waiters) w();
  };
  child.stdout.on('data', onData('stdout'));
  child.stderr.on('data', onData('stderr'));
  child.stdin.on('error', () => {});
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', () => resolve(null));
  });
  const proc: Proc = {
    child,
    t0,
    lines,
    exited,
    output: () => lines.map((l) => l.text).join('\n'),
    send: (line) => void (child.stdin.writable && child.stdin.write(`${line}\n`)),
    stop: () => stopTree(proc, 6000),
    waitLine: (re, waitMs) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          for (const l of lines) {
            const m = re.exec(l.text);
            if (m !== null) {
              done();
              resolve({ at: l.at, match: m });
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${re} not seen within ${waitMs} ms:\n${proc.output()}`));
        }, waitMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        void exited.then((code) => {
          if (!waiters.has(check)) return;
          done();
          reject(new Error(`exited (${code}) before ${re}:\n${proc.output()}`));
        });
        check();
      }),
  };
  return proc;
}

export interface LinkCounters {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
}

export class Lab {
  readonly peer: string;
  private constructor(readonly name: string) {
    this.peer = `${name}-peer`;
  }

  /** Builds the lab (removing whatever part of it was made if that fails). */
  static async up(name: string): Promise<Lab> {
    const lab = new Lab(name);
    const r = await runCommand(SETUP, ['up', '--netns', name], 60_000);
    if (r.code !== 0) {
      await lab.down();
      throw new Error(`setup-bridge.sh up failed:\n${r.stdout}${r.stderr}`);
    }
    // The peer opens 10 000 connections to one address and port: it needs that many ephemeral ports.
    await lab.inPeer(['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=10000 65000'], 5000);
    return lab;
  }

  async down(): Promise<void> {
    await runCommand(SETUP, ['down', '--netns', this.name], 60_000);
  }

  inLab(args: string[], timeoutMs: number): Promise<CommandResult> {
    return runCommand('ip', ['netns', 'exec', this.name, ...args], timeoutMs);
  }

  inPeer(args: string[], timeoutMs: number): Promise<CommandResult> {
    return runCommand('ip', ['netns', 'exec', this.peer, ...args], timeoutMs);
  }

  /** A long-running process in the lab namespace, with a raised file limit. */
  spawnInLab(args: string[], timeoutMs: number): Proc {
    return spawnProc('ip', ['netns', 'exec', this.name, ...NOFILE, ...args], timeoutMs);
  }

  spawnInPeer(args: string[], timeoutMs: number): Proc {
    return spawnProc('ip', ['netns', 'exec', this.peer, ...NOFILE, ...args], timeoutMs);
  }

  /** An interface's packet and byte counters in the lab namespace. */
  async counters(dev: string): Promise<LinkCounters> {
    const r = await runCommand('ip', ['-n', this.name, '-s', '-j', 'link', 'show', 'dev', dev], 5000);
    const parsed: unknown = JSON.parse(r.code === 0 ? r.stdout : '[]');
    const s: unknown = Array.isArray(parsed) ? (parsed[0] as { stats64?: unknown } | undefined)?.stats64 : undefined;
    const get = (dir: 'rx' | 'tx', k: 'packets' | 'bytes'): number => {
      const v = (s as Record<string, Record<string, unknown> | undefined> | undefined)?.[dir]?.[k];
      if (typeof v !== 'number') throw new Error(`no counters for ${dev} in ${this.name}`);
      return v;
    };
    return { rxPackets: get('rx', 'packets'), txPackets: get('tx', 'packets'), rxBytes: get('rx', 'bytes'), txBytes: get('tx', 'bytes') };
  }
}

/** Frames in and out per second between two readings taken `seconds` apart. */
export function framesPerSecond(before: LinkCounters, after: LinkCounters, seconds: number): number {
  return (after.rxPackets - before.rxPackets + after.txPackets - before.txPackets) / seconds;
}

// --- The service under test, on either stack -----------------------------------------------------------------------

export type StackKind = 'direct' | 'socket';

export interface Service {
  kind: StackKind;
  proc: Proc;
  /** The node process (npm start execs it), whose memory is measured. */
  pid: number;
  address: string;
  /** Its IPv6 address: the direct stack's SLAAC one, the socket stack's br0 one (it listens on both families). */
  address6: string;
  /** The TAP's name (direct stack only). */
  tap: string | undefined;
  /** DHCP (direct stack only): spawn → bound, and `DHCP: start discovery` (or `reboot`) → bound, in ms. */
  boundMs: number | undefined;
  discoverToBoundMs: number | undefined;
  rssKiB(): number;
}

export const DIRECT_MAC = '02:00:5e:00:00:42';
export const HTTP_PORT = 8088;
export const ECHO_PORT = 7;
/** HTTPS (the default --tls-port), served beside HTTP when startService is given a certificate. */
export const TLS_PORT = 8443;

/**
 * Starts the service on `kind`. The direct stack gets DHCP with the lease remembered in `dhcpState` (a file of the
 * run's own, so nothing is written to /var/lib; a new path makes a full discovery, an existing one INIT-REBOOT).
 */
export async function startService(
  lab: Lab, kind: StackKind, dataDir: string, dhcpState: string, lifetimeMs: number, tls?: { cert: string; key: string },
): Promise<Service> {
  const common = ['--port', String(HTTP_PORT), '--data', dataDir, '--echo-port', String(ECHO_PORT), ...(tls === undefined ? [] : ['--tls-cert', tls.cert, '--tls-key', tls.key])];
  const args = kind === 'direct'
    ? ['--bridge', 'br0', '--mac', DIRECT_MAC, '--dhcp-state', dhcpState, ...common]
    : ['--stack', 'socket', '--listen', '::', ...common];
  // The built service (npm run build: one esbuild bundle, plain node), as `npm run serve` runs it: no
  // TypeScript loader in the measured process's start-up time or memory.
  const proc = lab.spawnInLab(['node', 'dist/main.js', ...args], lifetimeMs);
  try {
    let address = BRIDGE_ADDR;
    let address6 = BRIDGE_ADDR6;
    let tap: string | undefined;
    let boundMs: number | undefined;
    let discoverToBoundMs: number | undefined;
    if (kind === 'direct') {
      const discover = await proc.waitLine(/^DHCP: (start discovery|reboot)/, 30_000);
      const bound = await proc.waitLine(/^DHCP offer received and bound to ([0-9.]+) /, 30_000);
      address = bound.match[1] ?? '';
      boundMs = bound.at - proc.t0;
      discoverToBoundMs = bound.at - discover.at;
      tap = (await proc.waitLine(/^Netif: plugging (\S+) into/, 1000)).match[1];
      await proc.waitLine(/^IPv4: ready on/, 10_000);
      address6 = (await proc.waitLine(/^IPv6: (fd77:\S+) ready \(slaac\)/, 15_000)).match[1] ?? '';
    }
    await proc.waitLine(/^echo service on TCP port/, 30_000);
    // `ip netns exec` (and prlimit) exec into node, so the process we started may be node itself.
    const started = proc.child.pid ?? -1;
    const pid = findDescendant(started, /dist\/main\.js/) ?? (isProcess(started, /dist\/main\.js/) ? started : undefined);
    if (pid === undefined) throw new Error('no node process running dist/main.js');
    return {
      kind, proc, pid, address, address6, tap, boundMs, discoverToBoundMs,
      rssKiB: () => memoryKiB(pid)?.rss ?? NaN,
    };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

/** RSS of a process that only waits (`node -e "setInterval(…)"`), started the same way; with `tsx`, as npm start runs ours. */
export async function bareNodeRssKiB(lab: Lab, withTsx: boolean): Promise<number> {
  const script = 'setInterval(() => {}, 1000); console.log("ready")';
  const proc = lab.spawnInLab([process.execPath, ...(withTsx ? ['--import', 'tsx'] : []), '-e', script], 30_000);
  try {
    await proc.waitLine(/^ready$/, 20_000);
    await new Promise((r) => setTimeout(r, 2000));
    const pid = findDescendant(proc.child.pid ?? -1, /setInterval/) ?? proc.child.pid ?? -1;
    return memoryKiB(pid)?.rss ?? NaN;
  } finally {
    await proc.stop();
  }
}

/** True when process `pid`'s command line matches. */
function isProcess(pid: number, pattern: RegExp): boolean {
  try {
    return pattern.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
  } catch {
    return false;
  }
}
