import { describe, expect, it } from 'vitest';
import { USAGE, parseCli, type CliResult } from '../src/cli.ts';

function errorOf(r: CliResult): string {
  if (r.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r.message;
}

describe('parseCli', () => {
  it('has defaults', () => {
    expect(parseCli([])).toEqual({
      kind: 'run',
      config: { stack: 'socket', port: 8088, listen: '0.0.0.0', data: './data' },
    });
  });

  it.each([['--help'], ['-h']])('%s asks for help', (flag) => {
    expect(parseCli([flag])).toEqual({ kind: 'help' });
  });

  it('help wins over other valid flags', () => {
    expect(parseCli(['--port', '9000', '-h'])).toEqual({ kind: 'help' });
  });

  it('takes every flag', () => {
    expect(parseCli(['--stack', 'socket', '--port', '9000', '--listen', '127.0.0.1', '--data', '/srv/users'])).toEqual({
      kind: 'run',
      config: { stack: 'socket', port: 9000, listen: '127.0.0.1', data: '/srv/users' },
    });
  });

  it('takes --flag=value', () => {
    expect(parseCli(['--port=8443', '--data=x'])).toEqual({
      kind: 'run',
      config: { stack: 'socket', port: 8443, listen: '0.0.0.0', data: 'x' },
    });
  });

  it.each([
    ['unknown flag', ['--nope'], '--nope'],
    ['port 0', ['--port', '0'], '--port'],
    ['port 65536', ['--port', '65536'], '--port'],
    ['port abc', ['--port', 'abc'], '--port'],
    ['port 80.5', ['--port', '80.5'], '--port'],
    ['port -1', ['--port=-1'], '--port'],
    ['port empty', ['--port='], '--port'],
    ['port 1e3', ['--port', '1e3'], '--port'],
    ['port 0x50', ['--port', '0x50'], '--port'],
    ['port with space', ['--port', ' 80'], '--port'],
    ['port without value', ['--port'], '--port'],
    ['listen not-an-ip', ['--listen', 'not-an-ip'], '--listen'],
    ['listen host name', ['--listen', 'localhost'], '--listen'],
    ['stack foo', ['--stack', 'foo'], '--stack'],
    ['stack direct', ['--stack', 'direct'], '--stack'],
    ['empty data', ['--data='], '--data'],
  ])('%s is an error naming the flag', (_label, argv, flag) => {
    expect(errorOf(parseCli(argv))).toContain(flag);
  });

  it('names the bad value in the error', () => {
    expect(errorOf(parseCli(['--port', 'abc']))).toContain('abc');
    expect(errorOf(parseCli(['--listen', 'not-an-ip']))).toContain('not-an-ip');
    expect(errorOf(parseCli(['--stack', 'foo']))).toContain('foo');
  });

  it('says --stack direct is not available yet', () => {
    expect(errorOf(parseCli(['--stack', 'direct']))).toContain('not available');
  });

  it('refuses a positional argument, naming it', () => {
    expect(errorOf(parseCli(['stray']))).toContain('stray');
    expect(errorOf(parseCli(['--port', '80', 'stray']))).toContain('stray');
  });

  it('error messages are one line', () => {
    for (const argv of [['--nope'], ['stray'], ['--port'], ['--port', 'x']]) {
      expect(errorOf(parseCli(argv))).not.toContain('\n');
    }
  });

  it.each([
    ['65535', 65535],
    ['1', 1],
    ['80', 80],
  ])('accepts --port %s', (value, port) => {
    const r = parseCli(['--port', value]);
    expect(r.kind).toBe('run');
    if (r.kind === 'run') expect(r.config.port).toBe(port);
  });

  it.each(['::1', '::', '127.0.0.1', '192.0.2.1', 'fe80::1'])('accepts --listen %s', (addr) => {
    const r = parseCli(['--listen', addr]);
    expect(r.kind).toBe('run');
    if (r.kind === 'run') expect(r.config.listen).toBe(addr);
  });

  it('USAGE documents every flag', () => {
    for (const flag of ['--stack', '--port', '--listen', '--data', '--help', '-h']) expect(USAGE).toContain(flag);
  });
});
