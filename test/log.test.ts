// The process's logger: text lines exactly as given (info/debug on stdout, warn/error on stderr), JSON records
// through pino, the level filter, and reports (SIGUSR1's status) that the level never hides.

import { describe, expect, it } from 'vitest';
import { createLogger, type LogFormat, type LogLevel } from '../src/log.ts';

async function capture(level: LogLevel, format: LogFormat) {
  const out: string[] = [];
  const err: string[] = [];
  const json: string[] = [];
  const log = await createLogger({
    level, format,
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    destination: { write: (t: string) => void json.push(t) },
  });
  const all = (): void => {
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    log.report('r');
  };
  return { log, out, err, json, all };
}

describe('text logger', () => {
  it('writes each line as it is, info and debug to stdout, warnings and errors to stderr', async () => {
    const c = await capture('debug', 'text');
    c.all();
    expect(c.out).toEqual(['d\n', 'i\n', 'r\n']);
    expect(c.err).toEqual(['w\n', 'e\n']);
    expect(c.json).toEqual([]);
  });

  it.each([
    ['info', ['i\n', 'r\n'], ['w\n', 'e\n']],
    ['warn', ['r\n'], ['w\n', 'e\n']],
    ['error', ['r\n'], ['e\n']],
  ] as const)('at %s drops what is below it, never a report', async (level, out, err) => {
    const c = await capture(level, 'text');
    c.all();
    expect(c.out).toEqual(out);
    expect(c.err).toEqual(err);
  });

  it('keeps the boot lines byte for byte', async () => {
    const c = await capture('info', 'text');
    c.log.info('DHCP offer received and bound to 192.168.77.57 nm 255.255.255.0 gw [192.168.77.2]');
    expect(c.out).toEqual(['DHCP offer received and bound to 192.168.77.57 nm 255.255.255.0 gw [192.168.77.2]\n']);
  });
});

describe('JSON logger', () => {
  it('writes one JSON object per line: level, ISO time, pid, msg', async () => {
    const c = await capture('debug', 'json');
    c.all();
    c.log.info('GET "/" user="john" 200 1.2ms');
    expect(c.out).toEqual([]);
    expect(c.err).toEqual([]);
    expect(c.json.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const records = c.json.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => [r.level, r.msg])).toEqual([
      ['debug', 'd'], ['info', 'i'], ['warn', 'w'], ['error', 'e'], ['info', 'r'], ['info', 'GET "/" user="john" 200 1.2ms'],
    ]);
    for (const r of records) {
      expect(r.pid).toBe(process.pid);
      expect(typeof r.time === 'string' && !Number.isNaN(Date.parse(r.time))).toBe(true);
    }
    expect(records[4]?.report).toBe(true);
    expect(records[1]?.report).toBeUndefined();
  });

  it('filters by level, reports excepted', async () => {
    const c = await capture('error', 'json');
    c.all();
    expect(c.json.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['e', 'r']);
  });
});

describe('batchedWriter', () => {
  it('writes once per turn of the event loop, in order, and at once past its bound', async () => {
    const { batchedWriter } = await import('../src/log.ts');
    const writes: string[] = [];
    const w = batchedWriter((t) => writes.push(t), 100);
    w('a\n');
    w('b\n');
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(['a\nb\n']);
    w('x'.repeat(60));
    w('y'.repeat(60)); // past 100 bytes pending: written now, not a turn later
    expect(writes).toEqual(['a\nb\n', 'x'.repeat(60) + 'y'.repeat(60)]);
    await new Promise((r) => setImmediate(r));
    expect(writes.length).toBe(2);
  });
});
