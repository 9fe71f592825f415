import { EventEmitter } from 'node:events';
import type { FSWatcher } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DirWatch, WATCH_RETRY_MS, type DirWatchOptions } from '../../src/app/dir-watch.ts';

/** A watcher the test drives by hand: nothing touches the file system. Closing it emits 'close' at once. */
class FakeWatcher extends EventEmitter implements FSWatcher {
  closed = 0;
  close(): void {
    this.closed++;
    this.emit('close');
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

const DIR = '/srv/data';

/** A DirWatch over fake watchers and a clock that moves only when told, with what it told its owner. */
function setup(opts: Partial<DirWatchOptions> = {}): {
  watch: DirWatch;
  watchers: FakeWatcher[];
  changed: string[];
  lost: () => number;
  advance: (ms: number) => void;
  failNext: (n: number) => void;
} {
  let now = 1_000_000;
  let fails = 0;
  let losses = 0;
  const watchers: FakeWatcher[] = [];
  const changed: string[] = [];
  const watch = new DirWatch(DIR, {
    clock: () => now,
    watchDir: (dir) => {
      expect(dir).toBe(DIR);
      if (fails > 0) {
        fails--;
        throw Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
      }
      const w = new FakeWatcher();
      watchers.push(w);
      return w;
    },
    onChange: (name) => changed.push(name),
    onLost: () => losses++,
    ...opts,
  });
  return {
    watch,
    watchers,
    changed,
    lost: () => losses,
    advance: (ms) => (now += ms),
    failNext: (n) => (fails = n),
  };
}

describe('DirWatch', () => {
  it('watches from the first startIfDue on, once, and vouches only for what was checked under the current count', () => {
    const { watch, watchers } = setup();
    expect(watch.watching).toBe(false);
    const before = watch.events;
    expect(watch.vouchesFor(before)).toBe(false); // not watching yet
    watch.startIfDue();
    expect(watch.watching).toBe(true);
    expect(watchers.length).toBe(1);
    expect(watch.events).toBe(before + 1); // the start counts: what was checked before needs checking under it
    expect(watch.vouchesFor(before)).toBe(false);
    expect(watch.vouchesFor(watch.events)).toBe(true);
    watch.startIfDue();
    expect(watchers.length).toBe(1);
  });

  it('hands each named event to onChange, and any event at all ends what it vouched for', () => {
    const { watch, watchers, changed, lost } = setup();
    watch.startIfDue();
    const checked = watch.events;
    watchers[0]?.emit('change', 'rename', 'john');
    expect(changed).toEqual(['john']);
    expect(watch.vouchesFor(checked)).toBe(false);
    const again = watch.events;
    watchers[0]?.emit('change', 'change', 'other');
    expect(changed).toEqual(['john', 'other']);
    expect(watch.vouchesFor(again)).toBe(false);
    expect(watch.watching).toBe(true);
    expect(lost()).toBe(0);
  });

  it.each([
    ['no name', null],
    ["the directory's own name", 'data'],
    ['a Buffer for a name', Buffer.from('john')],
  ])('an event with %s is a loss, and the watch starts again at once', (_what, filename) => {
    const { watch, watchers, changed, lost } = setup();
    watch.startIfDue();
    watchers[0]?.emit('change', 'rename', filename);
    expect(changed).toEqual([]);
    expect(lost()).toBe(1);
    expect(watchers[0]?.closed).toBe(1); // its own 'close' found it let go already: one loss, not two
    expect(watchers.length).toBe(2);
    expect(watch.watching).toBe(true);
    watchers[0]?.emit('change', 'rename', 'john'); // the old watcher is no longer listened to
    expect(changed).toEqual([]);
  });

  it('after an error is lost until retryMs later; a clock stepped back retries at once', () => {
    const { watch, watchers, lost, advance } = setup();
    watch.startIfDue();
    watchers[0]?.emit('error', new Error('simulated'));
    expect(lost()).toBe(1);
    expect(watch.watching).toBe(false);
    advance(WATCH_RETRY_MS - 1);
    watch.startIfDue();
    expect(watchers.length).toBe(1);
    advance(1);
    watch.startIfDue();
    expect(watchers.length).toBe(2);
    expect(watch.watching).toBe(true);

    watchers[1]?.emit('error', new Error('simulated'));
    advance(-1);
    watch.startIfDue();
    expect(watchers.length).toBe(3);
  });

  it('a watcher closed under it is lost too', () => {
    const { watch, watchers, lost } = setup();
    watch.startIfDue();
    watchers[0]?.close();
    expect(lost()).toBe(1);
    expect(watch.watching).toBe(false);
    watch.startIfDue();
    expect(watchers.length).toBe(1);
  });

  it('a watch that could not be made is tried again retryMs later, with no loss to report', () => {
    const { watch, watchers, lost, advance, failNext } = setup({ retryMs: 250 });
    failNext(1);
    const before = watch.events;
    watch.startIfDue();
    expect(watch.watching).toBe(false);
    expect(watch.vouchesFor(watch.events)).toBe(false);
    expect(watch.events).toBeGreaterThan(before);
    expect(lost()).toBe(0);
    advance(249);
    watch.startIfDue();
    expect(watchers.length).toBe(0);
    advance(1);
    watch.startIfDue();
    expect(watchers.length).toBe(1);
    expect(watch.watching).toBe(true);
  });

  it('close() ends it for good, without a loss: nothing is vouched for, nothing restarts, later events are ignored', () => {
    const { watch, watchers, changed, lost, advance } = setup();
    watch.startIfDue();
    const checked = watch.events;
    watch.close();
    expect(watch.watching).toBe(false);
    expect(watch.vouchesFor(checked)).toBe(false);
    expect(watchers[0]?.closed).toBe(1);
    expect(lost()).toBe(0);
    watchers[0]?.emit('change', 'rename', 'john');
    expect(changed).toEqual([]);
    advance(WATCH_RETRY_MS * 10);
    watch.startIfDue();
    expect(watchers.length).toBe(1);
    watch.close(); // idempotent
    expect(watchers[0]?.closed).toBe(1);
  });

  it('close() before any watch leaves startIfDue with nothing to do', () => {
    const { watch, watchers } = setup();
    watch.close();
    watch.startIfDue();
    expect(watchers.length).toBe(0);
  });

  it('refuses a retryMs that is not a non-negative integer', () => {
    expect(() => setup({ retryMs: -1 })).toThrow(RangeError);
    expect(() => setup({ retryMs: 0.5 })).toThrow(RangeError);
    expect(setup({ retryMs: 0 }).watch.watching).toBe(false);
  });
});
