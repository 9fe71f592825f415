// What the end-to-end tests that run in a namespace lab share: the lab itself (scripts/setup-bridge.sh --netns NAME:
// br0 + dnsmasq 192.168.77.2 in NAME, the host-only peer 192.168.77.1 on veth0 in NAME-peer), commands run in its
// namespaces, the prerequisites (root and tools: in CI a missing one fails the suite, elsewhere the suite skips),
// starting the stack in the lab, the helper programs of test/e2e/programs/ (nodeProgram), small helpers (need,
// sleep, eventually, escapeRegExp), and reading the stack's pcap with tshark and judging its frames. Processes,
// their time limits and their ending live in service-process.ts (the benchmarks use those too); this file builds
// on them and imports vitest.

import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { DEFAULT_USER, lookupUser } from '../../src/privileges.ts';
import path from 'node:path';
import { expect } from 'vitest';
import { readPcap } from '../../src/net/pcap.ts';
import {
  descendantPids, haveTool, repoRoot, runCommand, spawnProcess, waitForOutput, type CommandResult, type Started,
} from './service-process.ts';

// --- small helpers ----------------------------------------------------------------------------------------------

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `s` with every character that is special in a regular expression escaped, to build a RegExp from a value. */
export const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Makes a `need`: it returns a value an earlier test (or step) should have set, or throws "WHAT is unknown: an
 * earlier test failed" (or "step") so that a later test fails with the reason rather than on `undefined`.
 */
export function needing(earlier: 'test' | 'step'): <T>(v: T | undefined, what: string) => T {
  return <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} is unknown: an earlier ${earlier} failed`);
    return v;
  };
}

/** `v`, or throws "WHAT is unknown: an earlier test failed". */
export const need = needing('test');

/**
 * Polls `get` (every 100 ms) until `pred` holds or `ms` pass; returns the last value either way, for the caller to
 * assert on. The way to wait for something to happen: the pause is between looks, the bound is `ms`.
 */
export async function eventually<T>(get: () => T | Promise<T>, pred: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (pred(v) || Date.now() >= end) return v;
    await sleep(100);
  }
}

/** Runs a command (see runCommand) and returns its stdout; throws with its output unless it exits 0. */
export async function mustRun(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  const r = await runCommand(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The JSON object a script printed as its last line, or an error naming `who` and showing what it printed instead. */
export function lastJsonLine<T>(r: CommandResult, who = 'the peer script'): T {
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`${who} printed no report (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

// --- prerequisites ----------------------------------------------------------------------------------------------

export interface Prerequisites {
  /** What is missing: 'root', the tools not found, then whatever else the test file found missing. */
  readonly missing: readonly string[];
  /** True when the suite should skip: something is missing and this is not CI (CI=true never skips). */
  readonly skip: boolean;
  /** Throws naming what is missing; the first thing a suite's beforeAll does (so that in CI it fails). */
  demand(): void;
}

/** Checks for root and for `tools` (see haveTool); `otherMissing` names prerequisites the caller found missing. */
export async function prerequisites(tools: readonly string[], otherMissing: readonly string[] = []): Promise<Prerequisites> {
  const isRoot = process.getuid?.() === 0;
  const absent = (await Promise.all(tools.map(async (t) => ((await haveTool(t)) ? '' : t)))).filter((t) => t !== '');
  const missing = [...(isRoot ? [] : ['root']), ...absent, ...otherMissing];
  return {
    missing,
    skip: missing.length > 0 && process.env.CI !== 'true',
    demand: () => {
      if (missing.length > 0) {
        throw new Error(`missing prerequisites: ${missing.join(', ')} (CI runs as root with all of them; this environment is broken)`);
      }
    },
  };
}

// --- namespaces ---------------------------------------------------------------------------------------------------

/** The names `ip netns list` shows; throws when ip fails. */
async function netnsNames(): Promise<string[]> {
  const r = await runCommand('ip', ['netns', 'list'], 10_000);
  if (r.code !== 0) throw new Error(`ip netns list exited ${r.code}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** `ip` arguments that run `args` in namespace `ns`. */
export const netnsExec = (ns: string, args: string[]): string[] => ['netns', 'exec', ns, ...args];

const SETUP_SCRIPT = path.join(repoRoot, 'scripts/setup-bridge.sh');

// --- the helper programs ------------------------------------------------------------------------------------------

/** The directory of the helper programs the tests run in the lab's namespaces (clients, servers, a DHCP client). */
export const PROGRAMS_DIR = path.join(repoRoot, 'test/e2e/programs');

/** The TypeScript helper programs of PROGRAMS_DIR (type-checked with the rest: tsconfig includes test/). */
export type Program =
  | 'dhcp-client.ts'
  | 'echo-client.ts'
  | 'echo-roundtrip.ts'
  | 'hold-connections.ts'
  | 'http-file-server.ts'
  | 'http-load.ts'
  | 'http-pipeline.ts'
  | 'paced-requests.ts'
  | 'udp-ping.ts'
  | 'ipv6-hostile-frames.ts'
  | 'udp-closed-port.ts';

/**
 * The command that runs `program` with `args`: `node --import tsx test/e2e/programs/PROGRAM ARGS`, to be run from
 * the repo root (where `tsx` resolves; runCommand and spawnProcess start there), usually through netnsExec.
 */
export const nodeProgram = (program: Program, args: readonly string[]): string[] => [
  process.execPath, '--import', 'tsx', path.join(PROGRAMS_DIR, program), ...args,
];

/**
 * A lab of one test file's own, under a random name PREFIX-XXXXXX: `up()` in beforeAll, `down()` in afterAll (once
 * the file's processes are stopped). Everything it runs runs in its namespaces and nothing touches the host's own
 * interfaces.
 */
export class Lab {
  /** The lab's namespace: br0, dnsmasq on 192.168.77.2, the stack's TAP. */
  readonly name: string;
  /** The host-only peer's namespace: 192.168.77.1 on veth0. */
  readonly peer: string;
  private readonly extras: string[] = [];

  /** `dhcpv6`: dnsmasq leases IPv6 addresses by stateful DHCPv6 (setup-bridge.sh --dhcpv6) instead of SLAAC. */
  constructor(prefix: string, private readonly options: { dhcpv6?: boolean } = {}) {
    this.name = `${prefix}-${randomBytes(3).toString('hex')}`;
    this.peer = `${this.name}-peer`;
  }

  /** Names a further namespace NAME-SUFFIX that the test makes itself; `down()` removes it first and checks it is gone. */
  extraNamespace(suffix: string): string {
    const ns = `${this.name}-${suffix}`;
    this.extras.push(ns);
    return ns;
  }

  /** Every namespace of the lab: NAME, NAME-peer and the extra ones. */
  get namespaces(): string[] {
    return [this.name, this.peer, ...this.extras];
  }

  /** Asserts that none of `mustBeAbsent` (by default the lab's name) exists yet, then runs setup-bridge.sh up. */
  async up(mustBeAbsent: readonly string[] = [this.name]): Promise<void> {
    const before = await netnsNames();
    for (const ns of mustBeAbsent) expect(before).not.toContain(ns);
    const up = await runCommand('bash', [SETUP_SCRIPT, 'up', '--netns', this.name, ...(this.options.dhcpv6 === true ? ['--dhcpv6'] : [])], 60_000);
    if (up.code !== 0) throw new Error(`setup-bridge.sh up --netns ${this.name} failed (${up.code}):\n${up.stdout}\n${up.stderr}`);
  }

  /**
   * Removes the lab: the extra namespaces, then setup-bridge.sh down, then whatever of NAME and NAME-peer is still
   * there; then asserts that none of the lab's namespaces is left.
   */
  async down(): Promise<void> {
    for (const ns of this.extras) await this.deleteIfPresent(ns);
    const down = await runCommand('bash', [SETUP_SCRIPT, 'down', '--netns', this.name], 60_000);
    if (down.code !== 0) console.error(`setup-bridge down failed:\n${down.stdout}\n${down.stderr}`);
    for (const ns of [this.peer, this.name]) await this.deleteIfPresent(ns);
    const left = await netnsNames();
    for (const ns of this.namespaces) expect(left).not.toContain(ns);
  }

  private async deleteIfPresent(ns: string): Promise<void> {
    if ((await netnsNames()).includes(ns)) await runCommand('ip', ['netns', 'del', ns], 10_000);
  }

  /** Runs `args` in the lab's namespace (next to br0), to completion or `timeoutMs`. */
  inLab(args: string[], timeoutMs = 20_000): Promise<CommandResult> {
    return runCommand('ip', netnsExec(this.name, args), timeoutMs);
  }

  /** Runs `args` in the peer's namespace, to completion or `timeoutMs`. */
  inPeer(args: string[], timeoutMs = 20_000): Promise<CommandResult> {
    return runCommand('ip', netnsExec(this.peer, args), timeoutMs);
  }

  /** Runs `args` in the lab's namespace and returns its stdout; throws with its output unless it exits 0. */
  mustInLab(args: string[], timeoutMs = 30_000): Promise<string> {
    return mustRun('ip', netnsExec(this.name, args), timeoutMs);
  }

  /** Runs `args` in the peer's namespace and returns its stdout; throws with its output unless it exits 0. */
  mustInPeer(args: string[], timeoutMs = 30_000): Promise<string> {
    return mustRun('ip', netnsExec(this.peer, args), timeoutMs);
  }

  /** curl from the peer namespace; `--max-time` keeps it within `timeoutMs`. */
  curlInPeer(args: string[], timeoutMs = 15_000): Promise<CommandResult> {
    return this.inPeer(['curl', '--max-time', String(Math.floor(timeoutMs / 1000) - 2), ...args], timeoutMs);
  }

  /** A helper program (see nodeProgram) in the peer namespace; it bounds itself too, `timeoutMs` is the hard limit. */
  programInPeer(program: Program, args: string[], timeoutMs: number): Promise<CommandResult> {
    return this.inPeer(nodeProgram(program, args), timeoutMs);
  }

  /** Starts `args` in the lab's namespace without waiting (see spawnProcess): `killSignal` after `lifetimeMs`. */
  spawnInLab(args: string[], lifetimeMs: number, killSignal: NodeJS.Signals = 'SIGTERM'): Started {
    return spawnProcess('ip', netnsExec(this.name, args), lifetimeMs, killSignal);
  }

  /** Starts `args` in the peer's namespace without waiting (see spawnProcess): `killSignal` after `lifetimeMs`. */
  spawnInPeer(args: string[], lifetimeMs: number, killSignal: NodeJS.Signals = 'SIGTERM'): Started {
    return spawnProcess('ip', netnsExec(this.peer, args), lifetimeMs, killSignal);
  }

  /** `ip netns exec NAME npm start -- ARGS`: the stack next to br0, SIGTERMed after `lifetimeMs` whatever happens. */
  startStack(args: string[], lifetimeMs: number): Started {
    return this.spawnInLab(['npm', 'start', '--', ...args], lifetimeMs, 'SIGTERM');
  }

  /** The TAP devices in the lab's namespace, one `ip -o link` line each ('' when there are none). */
  async taps(): Promise<string> {
    return (await mustRun('ip', ['-n', this.name, '-o', 'link', 'show', 'type', 'tun'], 10_000)).trim();
  }

  /** The lab's dnsmasq log so far ('' when there is none yet). */
  dnsmasqLog(): string {
    try {
      return readFileSync(`/run/mirage-lab/${this.name}/dnsmasq.log`, 'utf8');
    } catch {
      return '';
    }
  }
}

// --- the stack process ----------------------------------------------------------------------------------------------

/** A pid and its start time, as descendantPids gives them and stopTree takes them. */
export type KnownPid = { pid: number; start: string };

/** The line the stack writes once it has a DHCP lease in the lab; group 1 is the address. */
export const DHCP_BOUND = /DHCP offer received and bound to (192\.168\.77\.\d+) nm 255\.255\.255\.0 gw \[192\.168\.77\.2\]/;

/**
 * Waits for `pattern` in the stack's output (see waitForOutput), then adds the stack's descendants (npm's node, tsx's
 * helpers) to `known`, so that stopTree still finds them should they be orphaned later.
 */
export async function waitForStack(s: Started, pattern: RegExp, timeoutMs: number, known: KnownPid[]): Promise<RegExpExecArray> {
  const m = await waitForOutput(s, pattern, timeoutMs);
  known.push(...descendantPids(need(s.child.pid, 'the stack pid')));
  return m;
}

/** The exit code once the process has exited, or 'still running' after `ms`. */
export function exitWithin(s: Started, ms: number): Promise<number | null | 'still running'> {
  return Promise.race([s.exited, sleep(ms).then(() => 'still running' as const)]);
}

/** SIGTERM to the process (by pid), then its exit code, or 'still running' after `ms`. */
export function sigterm(s: Started, ms = 15_000): Promise<number | null | 'still running'> {
  process.kill(need(s.child.pid, 'the stack pid'), 'SIGTERM');
  return exitWithin(s, ms);
}

// --- the stack's pcap, through tshark -------------------------------------------------------------------------------

/** Wireshark's PI_ERROR: expert infos at this severity or above mean a broken frame. */
const EXPERT_ERROR = 0x00800000;
/** proto_checksum_enum_e: 0 is "Bad", 1 "Good" (2 unverified, 3 not present). */
const CHECKSUM_BAD = '0';
const CHECKSUM_GOOD = '1';

/** One frame as tshark shows it: every field's values (none when the frame lacks the field). */
type TsharkFrame<F extends string> = Record<F, string[]>;

/** The fields OurFrames always reads first, to judge a frame (with the checksum statuses). */
const JUDGED_FIELDS = ['frame.number', '_ws.malformed', '_ws.expert.message', '_ws.expert.severity'] as const;
type JudgedField = (typeof JUDGED_FIELDS)[number];

/** A frame as OurFrames reads it: the judged fields and the test's own. */
export type OurFrame<F extends string> = TsharkFrame<JudgedField | F>;

/** tshark preferences that verify the checksums of `protocols` (ip, tcp, udp). */
export const checksumChecks = (protocols: readonly string[]): string[] => protocols.flatMap((p) => ['-o', `${p}.check_checksum:TRUE`]);

/** Asserts that tshark knows every field of `fields` (`tshark -G fields`), before they are read. */
async function expectTsharkFields(fields: readonly string[]): Promise<void> {
  const known = await mustRun('tshark', ['-G', 'fields'], 30_000);
  for (const f of fields) expect(known, `tshark has no field ${f}`).toMatch(new RegExp(`\\t${escapeRegExp(f)}(\\t|$)`, 'm'));
}

/**
 * The frames of `file` that match the display `filter`, as tshark (with `options`, e.g. checksumChecks or `-d`)
 * dissects them: every field of `fields` with all its occurrences.
 */
async function tsharkFrames<F extends string>(
  file: string, fields: readonly F[], filter: string, options: string[], timeoutMs: number,
): Promise<TsharkFrame<F>[]> {
  const args = ['-r', file, '-n', ...options, '-Y', filter, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const f of fields) args.push('-e', f);
  const out = await mustRun('tshark', args, timeoutMs);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const cols = line.split('\t');
      const frame = {} as TsharkFrame<F>;
      fields.forEach((f, i) => {
        const v = cols[i] ?? '';
        frame[f] = v === '' ? [] : v.split(',');
      });
      return frame;
    });
}

/** Frames in the file whose Ethernet source is `mac`, counted by readPcap (our own reader), not tshark. */
function framesFromMac(file: string, mac: string): number {
  const bytes = Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));
  return readPcap(readFileSync(file)).filter(({ frame }) => bytes.every((b, i) => frame[6 + i] === b)).length;
}

/**
 * The frames the stack sent (Ethernet source `mac`) in its pcap, read by tshark and judged: malformed, a bad checksum
 * (among `checksums`) or an expert error makes a frame broken.
 */
export class OurFrames<F extends string> {
  /** Every field read, the judged ones first; all must exist in tshark (checked by expectWellFormed). */
  readonly fields: readonly (JudgedField | F)[];
  private readonly mac: string;
  private readonly checksums: readonly F[];
  private readonly options: string[];
  private readonly timeoutMs: number;

  constructor(o: {
    /** Our MAC: the frames read are those with eth.src == mac. */
    mac: string;
    /** The test's own fields, read after the judged ones. */
    fields: readonly F[];
    /** The checksum status fields (among `fields`) that judge a frame. */
    checksums: readonly NoInfer<F>[];
    /** tshark options (checksumChecks, `-d` and the like). */
    options: string[];
    timeoutMs: number;
  }) {
    this.mac = o.mac;
    this.fields = [...JUDGED_FIELDS, ...o.fields];
    this.checksums = o.checksums;
    this.options = o.options;
    this.timeoutMs = o.timeoutMs;
  }

  /** Our frames in `file`, as tshark dissects them. */
  read(file: string): Promise<OurFrame<F>[]> {
    return tsharkFrames(file, this.fields, `eth.src == ${this.mac}`, this.options, this.timeoutMs);
  }

  /** Why a frame is broken, or undefined when it is not. */
  readonly problem = (f: OurFrame<F>): string | undefined => {
    const why: string[] = [];
    if (f['_ws.malformed'].length > 0) why.push('malformed');
    for (const k of this.checksums) {
      if (f[k].includes(CHECKSUM_BAD)) why.push(`bad ${k.split('.')[0]} checksum`);
    }
    if (f['_ws.expert.severity'].some((s) => Number(s) >= EXPERT_ERROR)) why.push('expert error');
    return why.length === 0 ? undefined : `frame ${f['frame.number'].join('')}: ${why.join(', ')} [${f['_ws.expert.message'].join(' | ')}]`;
  };

  /**
   * Asserts that tshark knows every field, that `file` holds frames of ours, that tshark and readPcap agree on how
   * many, and that none is broken; returns them.
   */
  async expectWellFormed(file: string): Promise<OurFrame<F>[]> {
    await expectTsharkFields(this.fields);
    const frames = await this.read(file);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.length, 'tshark and readPcap disagree on how many frames are ours').toBe(framesFromMac(file, this.mac));
    expect(frames.map(this.problem).filter((p) => p !== undefined)).toEqual([]);
    return frames;
  }
}

/** The frame numbers of `frames` whose checksum status `field` is not Good in every occurrence. */
export function notAllGood<F extends string>(frames: readonly OurFrame<F>[], field: F): string[][] {
  return frames.filter((f) => !f[field].every((v) => v === CHECKSUM_GOOD)).map((f) => f['frame.number']);
}

/** Whether a boolean tshark field is set (tshark writes 1 or True). */
export const tsharkTrue = (v: string[]): boolean => v.includes('1') || v.includes('True');

/**
 * A fresh temporary directory for a service started as root, which drops to nobody: traversable by everyone and
 * owned by nobody, so that the state files the service writes there after the drop can be written (the caller
 * removes it). As a user of `--dhcp-state DIR/FILE` would prepare DIR.
 */
export function serviceTemp(prefix: string): string {
  const tmp = mkdtempSync(path.join(os.tmpdir(), prefix));
  const nobody = lookupUser(DEFAULT_USER);
  if (nobody !== undefined && process.getuid?.() === 0) chownSync(tmp, nobody.uid, nobody.gid);
  chmodSync(tmp, 0o755);
  return tmp;
}

/** Writes a user file as `npm run passwd` leaves one: mode 0640, group the one the service drops to (nogroup). */
export function writeUserFile(file: string, content: string): void {
  writeFileSync(file, content);
  chmodSync(file, 0o640);
  const nobody = lookupUser(DEFAULT_USER);
  if (nobody !== undefined && process.getuid?.() === 0) chownSync(file, 0, nobody.gid);
}

/** A fresh temporary directory (`tmp`, the caller removes it) holding `data/` with the user john, password "password". */
export function tempWithJohn(prefix: string): { tmp: string; data: string } {
  const tmp = serviceTemp(prefix);
  const data = path.join(tmp, 'data');
  mkdirSync(data);
  writeFileSync(path.join(data, 'john'), 'password\n');
  return { tmp, data };
}
