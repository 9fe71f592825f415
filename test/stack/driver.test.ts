// The driver's one timer: a deadline further away than setTimeout can wait (2^31−1 ms, about 24.8 days) is
// waited for in steps, never handed to setTimeout whole (which would fire after 1 ms, again and again).

import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualTimers, systemTimers, type TimerHandle, type Timers } from '../../src/clock.ts';
import { createMemoryLink, type MemoryLinkEnd } from '../../src/net/memory-link.ts';
import { seededRandom } from '../../src/random.ts';
import { MAX_TIMER_MS, StackDriver } from '../../src/stack/driver.ts';
import { GW_IP, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC, whoHas } from '../net/frames.ts';

const DAY = 24 * 3600 * 1000;
/** An ARP entry that lives 60 days: the stack's next deadline is its expiry, ~60 days away. */
const ARP_TTL = 60 * DAY;

/** Timers that remember every delay asked for. */
class RecordingTimers implements Timers {
  readonly delays: number[] = [];
  constructor(private readonly inner: Timers) {}
  now(): number {
    return this.inner.now();
  }
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    this.delays.push(delayMs);
    return this.inner.setTimer(delayMs, fn);
  }
}

function idleStackWithFarDeadline(timers: Timers): { driver: StackDriver; peer: MemoryLinkEnd } {
  const [ours, peer] = createMemoryLink(timers, OUR_MAC, PEER_MAC);
  const driver = new StackDriver(ours, timers, {
    mac: OUR_MAC, mtu: 1500, random: seededRandom(1), log: () => {}, ipv4: { address: OUR_IP, prefix: 24, gateway: GW_IP },
    arp: { announceCount: 0, cacheTtlMs: ARP_TTL, refreshBeforeMs: 0 },
  });
  driver.start();
  return { driver, peer };
}

describe('the driver waits for a far deadline in steps', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('with a hand-moved clock: no delay past 2^31−1 ms, and the deadline is met on time', async () => {
    const manual = new ManualTimers();
    const timers = new RecordingTimers(manual);
    const { driver, peer } = idleStackWithFarDeadline(timers);
    peer.send(whoHas(OUR_IP, { mac: PEER_MAC, ip: PEER_IP })); // we learn the peer: an entry for 60 days
    manual.advance(1);
    await Promise.resolve(); // the driver flushes (and arms its timer) once the frames of this turn are in
    expect(driver.stack.arp.size).toBe(1);
    expect(driver.stack.nextDeadline()).toBeGreaterThan(MAX_TIMER_MS);
    const poll = vi.spyOn(driver.stack, 'poll');
    manual.advance(ARP_TTL - 10);
    expect(driver.stack.arp.size).toBe(1);
    // Re-armed in steps, polling the stack only when its deadline came: not once before.
    expect(poll).not.toHaveBeenCalled();
    expect(timers.delays.length).toBeGreaterThan(2);
    expect(Math.max(...timers.delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
    manual.advance(20);
    expect(poll).toHaveBeenCalledTimes(1);
    expect(driver.stack.arp.size).toBe(0);
    expect(driver.stack.counters.get('arp.expired')).toBe(1);
  });

  it('with the real timers: an idle stack with a deadline 60 days away sleeps, with no overflow warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    try {
      const { driver, peer } = idleStackWithFarDeadline(systemTimers);
      peer.send(whoHas(OUR_IP, { mac: PEER_MAC, ip: PEER_IP }));
      await new Promise((r) => setTimeout(r, 20));
      expect(driver.stack.arp.size).toBe(1);
      const poll = vi.spyOn(driver.stack, 'poll');
      // A timer given the whole delay would fire after 1 ms, again and again: ~100 polls in this time.
      await new Promise((r) => setTimeout(r, 150));
      expect(poll).not.toHaveBeenCalled();
      expect(warnings).not.toContain('TimeoutOverflowWarning');
      await driver.stop(0);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
