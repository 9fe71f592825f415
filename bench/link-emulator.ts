// A link emulator between two bridges (this kernel has no netem): one TAP in each, every frame from one side
// forwarded to the other through a LinkDirection (link-model.ts) of its own, so that delay, jitter, rate, loss and
// bursts, duplication and reordering act on whatever crosses, our stack's TCP and Linux's alike.
//
//   node --import tsx bench/link-emulator.ts --a BRIDGE --b BRIDGE [--both SPEC | --ab SPEC --ba SPEC] [--seed N] [--lifetime MS]
//
// SPEC is link-model.ts's `delay=10,rate=100,loss=0.02,…`. Prints `link: ready` once both TAPs forward, and on
// SIGTERM (or after --lifetime, a bound) one JSON line of counters per direction, then exits.

import { parseArgs } from 'node:util';
import { Counters } from '../src/net/counters.ts';
import { TapDevice } from '../src/net/tap-device.ts';
import { randomLocalMac } from '../src/net/addr.ts';
import { seededRandom } from '../src/random.ts';
import { LinkDirection, parseLinkSpec, type LinkSpec } from './link-model.ts';

function fail(message: string): never {
  process.stderr.write(`link-emulator: ${message}\n`);
  process.exit(2);
}

const { values: v } = parseArgs({
  options: {
    a: { type: 'string' }, b: { type: 'string' }, both: { type: 'string' }, ab: { type: 'string' }, ba: { type: 'string' },
    seed: { type: 'string', default: '1' }, lifetime: { type: 'string', default: '600000' },
  },
});
if (v.a === undefined || v.b === undefined) fail('--a BRIDGE and --b BRIDGE are needed');
const spec = (text: string | undefined): LinkSpec => {
  const s = parseLinkSpec(text ?? v.both ?? '');
  if (typeof s === 'string') fail(s);
  return s;
};
const seed = Number(v.seed);
if (!Number.isInteger(seed)) fail(`--seed must be an integer, not '${v.seed}'`);
const random = seededRandom(seed);
const ab = new LinkDirection(spec(v.ab), random);
const ba = new LinkDirection(spec(v.ba), random);
const counters = new Counters();
const tapA = TapDevice.open({ bridge: v.a, mac: randomLocalMac(random), offloads: false, binding: 'native' }, counters);
const tapB = TapDevice.open({ bridge: v.b, mac: randomLocalMac(random), offloads: false, binding: 'native' }, counters);
const t0 = performance.now();
const now = (): number => performance.now() - t0;
let timer: NodeJS.Timeout | undefined;

/** Sends what is due each way and sleeps until the next frame is. */
function pump(): void {
  timer = undefined;
  const t = now();
  for (const f of ab.due(t)) tapB.send(f);
  for (const f of ba.due(t)) tapA.send(f);
  const next = Math.min(ab.nextDeadline() ?? Infinity, ba.nextDeadline() ?? Infinity);
  if (Number.isFinite(next)) timer = setTimeout(pump, Math.max(0, next - now()));
}

tapA.onFrame((frame) => {
  ab.push(frame, now());
  if (timer === undefined) pump();
});
tapB.onFrame((frame) => {
  ba.push(frame, now());
  if (timer === undefined) pump();
});
process.stdout.write(`link: ready (${v.a} ⇄ ${v.b}, seed ${seed})\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (timer !== undefined) clearTimeout(timer);
  process.stdout.write(`${JSON.stringify({ ab: ab.counters, ba: ba.counters })}\n`);
  await Promise.all([tapA.close(), tapB.close()]);
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
setTimeout(() => void stop(), Number(v.lifetime)).unref();
