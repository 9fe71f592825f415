// One direction of an emulated link, sans I/O (this kernel has no netem): frames go in with the time, come out
// when due. In order: random loss and Gilbert-Elliott bursts, duplication, then the rate limit (serialization at
// `rateMbit`, a bounded queue that drops at its tail), then the propagation delay with jitter (order kept), and
// reordering (a frame held back by `reorderMs` more, so that later ones overtake it). Seeded, deterministic.

import type { Random } from '../src/random.ts';

export interface LinkSpec {
  /** One-way propagation delay, and jitter added to it (uniform in [0, jitterMs]), ms. */
  delayMs: number;
  jitterMs: number;
  /** Serialization rate; 0: no limit. */
  rateMbit: number;
  /** Frames the rate limiter may hold; past it, tail drop. */
  queueFrames: number;
  /** Random loss probability per frame (in the good state of the burst model). */
  loss: number;
  /** Gilbert-Elliott bursts: the chance per frame to go good → bad, bad → good, and the loss in the bad state. */
  burst: { toBad: number; toGood: number; lossBad: number } | undefined;
  /** Probability that a frame is duplicated; that one is held back `reorderMs` more. */
  duplicate: number;
  reorder: number;
  reorderMs: number;
}

export const cleanLink: LinkSpec = { delayMs: 0, jitterMs: 0, rateMbit: 0, queueFrames: 1000, loss: 0, burst: undefined, duplicate: 0, reorder: 0, reorderMs: 0 };

export interface LinkCounters {
  in: number;
  out: number;
  lost: number;
  queueDrops: number;
  duplicated: number;
  reordered: number;
}

export class LinkDirection {
  readonly counters: LinkCounters = { in: 0, out: 0, lost: 0, queueDrops: 0, duplicated: 0, reordered: 0 };
  /** Frames on their way, ordered by release time. */
  private readonly inFlight: { at: number; frame: Uint8Array }[] = [];
  /** When the rate limiter's line is free again, and the release times of what it holds (for the queue bound). */
  private lineFreeAt = 0;
  private readonly serializing: number[] = [];
  /** The last release time of an in-order frame: jitter never reorders. */
  private lastRelease = 0;
  private bad = false;

  constructor(
    readonly spec: LinkSpec,
    private readonly random: Random,
  ) {}

  /** A frame enters the link at `now` (copied: the caller's buffer may be reused). */
  push(frame: Uint8Array, now: number): void {
    const s = this.spec;
    this.counters.in++;
    if (s.burst !== undefined) this.bad = this.bad ? this.random() >= s.burst.toGood : this.random() < s.burst.toBad;
    const loss = this.bad && s.burst !== undefined ? s.burst.lossBad : s.loss;
    if (loss > 0 && this.random() < loss) {
      this.counters.lost++;
      return;
    }
    const copies = s.duplicate > 0 && this.random() < s.duplicate ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    for (let c = 0; c < copies; c++) this.enqueue(frame.slice(), now);
  }

  private enqueue(frame: Uint8Array, now: number): void {
    const s = this.spec;
    let leaves = now;
    if (s.rateMbit > 0) {
      while (this.serializing.length > 0 && (this.serializing[0] ?? 0) <= now) this.serializing.shift();
      if (this.serializing.length >= s.queueFrames) {
        this.counters.queueDrops++;
        return;
      }
      leaves = Math.max(now, this.lineFreeAt) + (frame.length * 8) / (s.rateMbit * 1000);
      this.lineFreeAt = leaves;
      this.serializing.push(leaves);
    }
    let at = leaves + s.delayMs + (s.jitterMs > 0 ? this.random() * s.jitterMs : 0);
    at = Math.max(at, this.lastRelease);
    this.lastRelease = at;
    if (s.reorder > 0 && this.random() < s.reorder) {
      this.counters.reordered++;
      at += s.reorderMs;
    }
    // Insert keeping the list sorted by release time (almost always at the end).
    let i = this.inFlight.length;
    while (i > 0 && (this.inFlight[i - 1]?.at ?? 0) > at) i--;
    this.inFlight.splice(i, 0, { at, frame });
  }

  /** The frames due by `now`, in order. */
  due(now: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (this.inFlight.length > 0 && (this.inFlight[0]?.at ?? Infinity) <= now) {
      const f = this.inFlight.shift();
      if (f !== undefined) out.push(f.frame);
    }
    this.counters.out += out.length;
    return out;
  }

  nextDeadline(): number | undefined {
    return this.inFlight[0]?.at;
  }

  /** Frames held now (in the rate limiter or on the way). */
  get held(): number {
    return this.inFlight.length;
  }
}

/**
 * A link spec from `key=value,…` text: delay=10 jitter=1 rate=100 queue=1000 loss=0.02 dup=0 reorder=0
 * reorder-ms=5 burst=TOBAD/TOGOOD/LOSSBAD (for example burst=0.01/0.3/0.5). A reason for anything else.
 */
export function parseLinkSpec(text: string): LinkSpec | string {
  const spec: LinkSpec = { ...cleanLink };
  if (text.trim() === '') return spec;
  for (const part of text.split(',')) {
    const [k, v = ''] = part.split('=');
    const n = Number(v);
    const prob = (name: string): string | undefined => (Number.isFinite(n) && n >= 0 && n <= 1 ? undefined : `${name} must be a probability, not '${v}'`);
    const nonNeg = (name: string): string | undefined => (Number.isFinite(n) && n >= 0 ? undefined : `${name} must be a number ≥ 0, not '${v}'`);
    let bad: string | undefined;
    switch (k?.trim()) {
      case 'delay': bad = nonNeg('delay'); spec.delayMs = n; break;
      case 'jitter': bad = nonNeg('jitter'); spec.jitterMs = n; break;
      case 'rate': bad = nonNeg('rate'); spec.rateMbit = n; break;
      case 'queue': bad = nonNeg('queue'); spec.queueFrames = Math.floor(n); break;
      case 'loss': bad = prob('loss'); spec.loss = n; break;
      case 'dup': bad = prob('dup'); spec.duplicate = n; break;
      case 'reorder': bad = prob('reorder'); spec.reorder = n; break;
      case 'reorder-ms': bad = nonNeg('reorder-ms'); spec.reorderMs = n; break;
      case 'burst': {
        const [a, b, c] = v.split('/').map(Number);
        if (![a, b, c].every((x) => x !== undefined && Number.isFinite(x) && x >= 0 && x <= 1)) bad = `burst must be TOBAD/TOGOOD/LOSSBAD probabilities, not '${v}'`;
        else spec.burst = { toBad: a ?? 0, toGood: b ?? 0, lossBad: c ?? 0 };
        break;
      }
      default:
        bad = `unknown link setting '${k ?? ''}'`;
    }
    if (bad !== undefined) return bad;
  }
  return spec;
}
