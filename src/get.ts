// `npm run get -- URL [-o FILE]`: one HTTP GET over our own stack (the active side of TCP), body to FILE or
// stdout, one summary line on stderr. The stack comes up on a TAP exactly as for `npm start` (DHCP unless --ipv4)
// and goes down (DHCP release) before exit. Exit status: 0 on a 2xx, 1 on any other status or a failure
// (no address, no connection, timeout, malformed response), 2 on bad flags.

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { systemTimers } from './clock.ts';
import { parseCli, type Config } from './cli.ts';
import { startDirectStack, type DirectStack } from './stack/direct-stack.ts';
import type { Logger } from './log.ts';
import { ipToString, ipv6ToString, isIpv6, parseIpv4, parseIpv6, type IpAddr, type Ipv6Addr } from './net/addr.ts';
import { nameLabels } from './dns/dns-wire.ts';
import { stackResolver } from './lib/dns-transport.ts';
import { DeviceSetupError } from './net/tap-device.ts';
import { TcpSocket } from './net/tcp/tcp-socket.ts';
import { systemRandom } from './random.ts';

const USAGE = `Usage: npm run get -- URL [-o FILE] [--timeout S] [direct-stack options]

GETs http://HOST[:PORT]/PATH over this project's own TCP/IP stack (on a TAP in a bridge), HOST an IPv4 address,
a bracketed IPv6 one, or a name asked of the DNS servers DHCP (or DHCPv6, or the routers) named, over the stack
and writes the body to FILE (default: stdout). Exit status: 0 on a 2xx, 1 otherwise, 2 on bad flags.

  -o, --output FILE      where the body goes ('-', the default, is stdout: then run npm run -s get,
                           or npm's own banner comes first on stdout)
  --timeout S            give up after S seconds in all (default: 120)
  --bridge NAME, --mac MAC, --ipv4 ADDR/PREFIX, --gateway ADDR, --pcap FILE, --fault SPEC,
  --dhcp-state FILE, --hostname NAME, --acd fast|rfc|off, --tap-binding auto|native|tuntap2, --no-offloads,
  --ipv6 auto|off|A/P, --ipv6-iid stable|eui64, --gateway6 ADDR, --tcp-cc cubic|newreno,
  --tcp-ecn off|passive|on
                         as for npm start (see npm start -- --help); DHCP unless --ipv4
  -h, --help             this text
`;

const ADDRESS_WAIT_MS = 20_000;
const CONNECT_TIMEOUT_MS = 10_000;
const CLOSE_WAIT_MS = 2_000;
const MAX_HEAD = 64 * 1024;
const DIRECT_FLAGS = ['bridge', 'mac', 'ipv4', 'gateway', 'pcap', 'fault', 'dhcp-state', 'hostname', 'acd', 'tap-binding', 'ipv6', 'ipv6-iid', 'gateway6', 'tcp-cc', 'tcp-ecn'] as const;

/** Everything the stack says goes to stderr: stdout may carry the body. */
const log: Logger = { info: (l) => process.stderr.write(`${l}\n`), warn: (l) => process.stderr.write(`${l}\n`) };

interface Options {
  /** An address, or a name to be resolved by the stack's resolver once it has its address (and DNS servers). */
  host: IpAddr | { name: string };
  port: number;
  hostHeader: string;
  path: string;
  output: string;
  timeoutMs: number;
  config: Config;
}

function usage(message: string): never {
  process.stderr.write(`get: error: ${message} (see --help)\n`);
  process.exit(2);
}

function parseOptions(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: 'string', short: 'o', default: '-' },
        timeout: { type: 'string', default: '120' },
        help: { type: 'boolean', short: 'h', default: false },
        bridge: { type: 'string' },
        mac: { type: 'string' },
        ipv4: { type: 'string' },
        gateway: { type: 'string' },
        pcap: { type: 'string' },
        fault: { type: 'string' },
        'dhcp-state': { type: 'string' },
        hostname: { type: 'string' },
        acd: { type: 'string' },
        'tap-binding': { type: 'string' },
        'no-offloads': { type: 'boolean' },
        ipv6: { type: 'string' },
        'ipv6-iid': { type: 'string' },
        gateway6: { type: 'string' },
        'tcp-cc': { type: 'string' },
        'tcp-ecn': { type: 'string' },
      },
    });
  } catch (err) {
    usage(err instanceof Error ? (err.message.split('\n')[0] ?? 'bad flag') : 'bad flag');
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (parsed.positionals.length !== 1) usage('give exactly one URL');
  const timeout = v.timeout;
  const timeoutS = Number(timeout);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(timeout) || timeoutS <= 0 || timeoutS > 86_400) usage(`--timeout must be seconds (0 < S <= 86400), not '${timeout}'`);
  const output = v.output;
  if (output === '') usage('-o must name a file (or - for stdout)');

  // The direct-stack flags are checked exactly as npm start checks them.
  const direct: string[] = ['--stack', 'direct'];
  for (const f of DIRECT_FLAGS) {
    const val = v[f];
    if (val !== undefined) direct.push(`--${f}`, val);
  }
  if (v['no-offloads'] === true) direct.push('--no-offloads');
  const cli = parseCli(direct);
  if (cli.kind !== 'run') usage(cli.kind === 'error' ? cli.message : 'bad flags');

  const raw = parsed.positionals[0] ?? '';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    usage(`'${raw}' is not a URL such as http://192.168.77.1:8000/file`);
  }
  if (url.protocol !== 'http:') usage(`only http:// URLs are supported, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '') usage('credentials in the URL are not supported');
  const name = url.hostname;
  const literal = name.startsWith('[') && name.endsWith(']') ? parseIpv6(name.slice(1, -1)) : parseIpv4(name);
  if (literal === undefined && nameLabels(name) === undefined) usage(`'${name}' is neither an IP address nor a host name`);
  const host = literal ?? { name };
  if (literal !== undefined && isIpv6(literal) && cli.config.ipv6 === undefined) usage(`${name} is an IPv6 address, but --ipv6 is off`);
  if (literal !== undefined && !isIpv6(literal) && cli.config.ipv4 === 'off') usage(`${name} is an IPv4 address, but --ipv4 is off`);
  return {
    host,
    port: url.port === '' ? 80 : Number(url.port),
    hostHeader: url.host,
    path: `${url.pathname}${url.search}`,
    output,
    timeoutMs: timeoutS * 1000,
    config: cli.config,
  };
}

// --- reading the response ---------------------------------------------------------------------------------------

/** Bytes from the socket with a put-back buffer: lines for the head and chunk sizes, counted runs for bodies. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly sock: TcpSocket) {}

  private async fill(what: string): Promise<void> {
    const d = await this.sock.read();
    if (d === null) throw new Error(`the connection ${closedHow(this.sock)} in the middle of ${what}`);
    this.buf = this.buf.length === 0 ? Buffer.from(d) : Buffer.concat([this.buf, d]);
  }

  /** Up to and without `delim`; at most `max` bytes. */
  async until(delim: string, max: number, what: string): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf(delim, 0, 'latin1');
      if (i >= 0) {
        const s = this.buf.subarray(0, i).toString('latin1');
        this.buf = this.buf.subarray(i + delim.length);
        return s;
      }
      if (this.buf.length > max) throw new Error(`${what} is longer than ${max} bytes`);
      await this.fill(what);
    }
  }

  /** Gives `n` bytes to `sink` (all that comes until the peer closes when `n` is undefined). */
  async copy(n: number | undefined, sink: (b: Buffer) => Promise<void>): Promise<void> {
    let left = n ?? Infinity;
    while (left > 0) {
      if (this.buf.length === 0) {
        const d = await this.sock.read();
        if (d === null) {
          if (n === undefined && this.sock.conn.error === undefined) return;
          throw new Error(`the connection ${closedHow(this.sock)} with ${left} body bytes still to come`);
        }
        this.buf = Buffer.from(d);
      }
      const take = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(take.length);
      left -= take.length;
      await sink(take);
    }
  }
}

function closedHow(sock: TcpSocket): string {
  const e = sock.conn.errorText;
  return e === undefined ? 'closed' : `failed (${e})`;
}

interface Head {
  status: number;
  reason: string;
  headers: Map<string, string[]>;
}

async function readHead(r: Reader): Promise<Head> {
  const text = await r.until('\r\n\r\n', MAX_HEAD, 'the response head');
  const [statusLine = '', ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: (.*))?$/.exec(statusLine);
  if (m === null) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(statusLine.slice(0, 200))}`);
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`a malformed header line: ${JSON.stringify(line.slice(0, 200))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers };
}

/** RFC 9112 §6.3: how the body is delimited. */
function framing(h: Head): { kind: 'none' } | { kind: 'chunked' } | { kind: 'length'; n: number } | { kind: 'close' } {
  if (h.status === 204 || h.status === 304) return { kind: 'none' };
  const te = h.headers.get('transfer-encoding');
  if (te !== undefined) {
    const last = te.join(',').split(',').pop()?.trim().toLowerCase();
    return last === 'chunked' ? { kind: 'chunked' } : { kind: 'close' };
  }
  const cl = h.headers.get('content-length');
  if (cl === undefined) return { kind: 'close' };
  const values = new Set(cl.join(',').split(',').map((s) => s.trim()));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^[0-9]{1,15}$/.test(only)) throw new Error(`a bad Content-Length: ${cl.join(', ')}`);
  return { kind: 'length', n: Number(only) };
}

async function readChunked(r: Reader, sink: (b: Buffer) => Promise<void>): Promise<void> {
  for (;;) {
    const line = await r.until('\r\n', 1024, 'a chunk-size line');
    const size = /^([0-9A-Fa-f]{1,12})[ \t]*(;.*)?$/.exec(line)?.[1];
    if (size === undefined) throw new Error(`a bad chunk-size line: ${JSON.stringify(line.slice(0, 100))}`);
    const n = parseInt(size, 16);
    if (n === 0) break;
    await r.copy(n, sink);
    if ((await r.until('\r\n', 2, 'a chunk')) !== '') throw new Error('a chunk not followed by CRLF');
  }
  // Trailer fields, ignored, up to the empty line.
  for (let i = 0; (await r.until('\r\n', MAX_HEAD, 'the trailer')) !== ''; i++) {
    if (i > 100) throw new Error('more than 100 trailer fields');
  }
}

// --- the run ----------------------------------------------------------------------------------------------------

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** An IPv6 source for `host` appears once DAD (and SLAAC, for a global one) has passed: polled, as nothing announces it. */
async function waitForIpv6Source(direct: DirectStack, host: Ipv6Addr): Promise<void> {
  const until = performance.now() + ADDRESS_WAIT_MS;
  while (direct.stack.ipv6?.sourceFor(host) === undefined) {
    if (performance.now() > until) throw new Error(`no IPv6 address to reach ${ipv6ToString(host)} from within ${ADDRESS_WAIT_MS / 1000} s: is a router advertising a prefix on the bridge?`);
    await delay(50);
  }
}

async function waitForAddress(direct: DirectStack, host: IpAddr): Promise<void> {
  if (isIpv6(host)) return waitForIpv6Source(direct, host);
  if (direct.stack.ipv4.config !== undefined) return;
  const result = await Promise.race([direct.addressed().then(() => 'ok' as const), delay(ADDRESS_WAIT_MS).then(() => 'timeout' as const)]);
  if (result === 'timeout') {
    throw new Error(`no IPv4 address within ${ADDRESS_WAIT_MS / 1000} s: is a DHCP server on the bridge? (or give --ipv4 ADDR/PREFIX)`);
  }
}

async function openOutput(name: string): Promise<{ out: Writable; finish: () => Promise<void> }> {
  if (name === '-') {
    return { out: process.stdout, finish: () => new Promise((r) => process.stdout.write('', () => r())) };
  }
  const out = createWriteStream(name);
  await Promise.race([once(out, 'open'), once(out, 'error').then(([e]) => Promise.reject(e instanceof Error ? e : new Error(String(e))))]);
  return {
    out,
    finish: async () => {
      out.end();
      await once(out, 'finish');
    },
  };
}

interface Outcome {
  status: number;
  reason: string;
  bytes: number;
  seconds: number;
}

/** The address to connect to: `o.host` itself, or the first address the stack's resolver finds for its name. */
async function resolveHost(o: Options, direct: DirectStack): Promise<IpAddr> {
  if (typeof o.host !== 'object') return o.host;
  // The DNS servers come with the address (DHCP option 6, DHCPv6, RDNSS): wait for IPv4 first unless it is off.
  if (o.config.ipv4 !== 'off') await waitForAddress(direct, 0);
  const family = o.config.ipv4 === 'off' ? 6 : o.config.ipv6 === undefined ? 4 : 0;
  const found = await stackResolver(direct.driver, systemTimers, systemRandom()).lookup(o.host.name, family);
  const first = found[0];
  if (first === undefined) throw new Error(`${o.host.name}: no address`);
  log.info(`get: ${o.host.name} is ${found.map(ipToString).join(', ')}`);
  return first;
}

async function fetchOnce(o: Options, direct: DirectStack, setSocket: (s: TcpSocket) => void): Promise<Outcome> {
  const host = await resolveHost(o, direct);
  await waitForAddress(direct, host);
  const t0 = performance.now();
  const sock = new TcpSocket(direct.stack.tcp.connect(host, o.port));
  setSocket(sock);
  const established = sock.established().then(
    () => 'ok' as const,
    (err: unknown) => err,
  );
  const connected = await Promise.race([established, delay(CONNECT_TIMEOUT_MS).then(() => 'timeout' as const)]);
  if (connected === 'timeout') throw new Error(`no connection to ${o.hostHeader} within ${CONNECT_TIMEOUT_MS / 1000} s`);
  if (connected !== 'ok') throw new Error(`no connection to ${o.hostHeader}: ${connected instanceof Error ? connected.message : String(connected)}`);

  const request = `GET ${o.path} HTTP/1.1\r\nHost: ${o.hostHeader}\r\nUser-Agent: mirage-direct-ts-get\r\nAccept: */*\r\nConnection: close\r\n\r\n`;
  await sock.write(Buffer.from(request, 'latin1'));

  const reader = new Reader(sock);
  let head = await readHead(reader);
  while (head.status >= 100 && head.status < 200) head = await readHead(reader); // 100 Continue and the like
  const body = framing(head);

  const { out, finish } = await openOutput(o.output);
  let outError: Error | undefined;
  out.on('error', (e) => (outError = e));
  let bytes = 0;
  const sink = async (b: Buffer): Promise<void> => {
    if (outError !== undefined) throw new Error(`writing ${o.output}: ${outError.message}`);
    bytes += b.length;
    if (out.write(b)) return;
    // Wait for drain or error, and take both listeners off again (once() per wait would pile them up).
    await new Promise<void>((resolve) => {
      const done = (): void => {
        out.off('drain', done);
        out.off('error', done);
        resolve();
      };
      out.on('drain', done);
      out.on('error', done);
    });
  };
  if (body.kind === 'chunked') await readChunked(reader, sink);
  else if (body.kind === 'length') await reader.copy(body.n, sink);
  else if (body.kind === 'close') await reader.copy(undefined, sink);
  const seconds = (performance.now() - t0) / 1000;
  await finish();
  if (outError !== undefined) throw new Error(`writing ${o.output}: ${outError.message}`);

  // Our FIN, and a moment for the exchange of FINs to finish before the device goes away.
  await sock.close();
  for (let waited = 0; waited < CLOSE_WAIT_MS && sock.conn.state !== 'CLOSED' && sock.conn.state !== 'TIME_WAIT'; waited += 20) await delay(20);
  return { status: head.status, reason: head.reason, bytes, seconds };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  let direct: DirectStack;
  try {
    direct = startDirectStack(o.config, systemTimers, systemRandom(), log);
  } catch (err) {
    if (err instanceof DeviceSetupError) usage(err.message);
    throw err;
  }
  let sock: TcpSocket | undefined;
  let finished = false;
  /** Stops the stack (DHCP release), prints the summary line, exits; `abort` resets a transfer cut short. */
  const end = async (code: number, line: string, abort = true): Promise<never> => {
    if (!finished) {
      finished = true;
      if (abort && sock !== undefined && sock.conn.state !== 'CLOSED') sock.abort();
      await Promise.race([direct.stop(), delay(3000)]);
      process.stderr.write(`${line}\n`);
      process.exit(code);
    }
    return new Promise<never>(() => {});
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void end(1, `get: ${sig}, gave up`));
  const timeout = delay(o.timeoutMs).then(() => 'timeout' as const);
  try {
    const r = await Promise.race([fetchOnce(o, direct, (s) => (sock = s)), timeout]);
    const retrans = direct.stack.counters.get('tcp.retransmit');
    if (r === 'timeout') await end(1, `get: error: gave up after ${o.timeoutMs / 1000} s (retransmissions ${retrans})`);
    else {
      const mbps = r.seconds > 0 ? (r.bytes * 8) / r.seconds / 1e6 : 0;
      const t = direct.traffic;
      const frames = `frames in ${t.framesIn} (${Math.round(t.bytesIn / Math.max(1, t.framesIn))} bytes each), out ${t.framesOut}`;
      const line = `get: ${r.status} ${r.reason}, ${r.bytes} bytes in ${r.seconds.toFixed(2)} s (${mbps.toFixed(1)} Mbit/s), retransmissions ${retrans}, ${frames}`;
      await end(r.status >= 200 && r.status < 300 ? 0 : 1, line, false);
    }
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    await end(1, `get: error: ${msg} (retransmissions ${direct.stack.counters.get('tcp.retransmit')})`);
  }
}

void main();
