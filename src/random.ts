// Randomness, injected like the clock: production draws from the OS, tests from a seed.

import { randomBytes } from 'node:crypto';

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** Cryptographically strong randomness from the OS, buffered. */
export function systemRandom(): Random {
  let pool = randomBytes(0);
  let at = 0;
  return () => {
    if (at + 4 > pool.length) {
      pool = randomBytes(4096);
      at = 0;
    }
    const v = pool.readUInt32BE(at);
    at += 4;
    return v / 2 ** 32;
  };
}

/** A deterministic generator (splitmix32) for tests and simulations. */
export function seededRandom(seed: number): Random {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 2 ** 32;
  };
}

/** A uniform 32-bit unsigned integer. */
export function randomU32(random: Random): number {
  return Math.floor(random() * 2 ** 32) >>> 0;
}
