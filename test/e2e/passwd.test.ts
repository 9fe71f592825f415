// `npm run passwd`, driven for real: through a pipe, and through a pseudo-terminal (util-linux `script`).

import { spawn, execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCredential, verifyScrypt } from '../../src/app/password-hash.ts';
import { repoRoot } from './service-process.ts';

const PHC_DEFAULT = /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}\n$/;
const TIMEOUT_MS = 20_000;

let tmp = '';
let n = 0;

beforeAll(() => {
  execFileSync('script', ['--version']); // util-linux script: a missing one fails the suite rather than skipping it
  tmp = mkdtempSync(path.join(os.tmpdir(), 'passwd-e2e-'));
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function freshDir(): string {
  const d = path.join(tmp, `data${n++}`);
  mkdirSync(d);
  return d;
}

interface Run {
  code: number | null;
  output: string;
}

/** `npm run passwd -- ARGS` with `input` written to its stdin (a pipe), then closed. */
function runPiped(args: string[], input: string | Buffer): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', 'passwd', '--', ...args], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], timeout: TIMEOUT_MS, killSignal: 'SIGKILL' });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * `npm run passwd -- ARGS` on a pseudo-terminal: `script` gives it one and relays our pipe to it. Each step waits
 * for `prompt` in the terminal's output, then types `keys`. Returns everything the terminal showed.
 */
function runOnTerminal(args: string[], steps: Array<{ prompt: RegExp; keys: string }>): Promise<Run> {
  const command = ['npm', 'run', 'passwd', '--', ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'], timeout: TIMEOUT_MS, killSignal: 'SIGKILL' });
    let output = '';
    let step = 0;
    let seen = 0;
    const onData = (d: Buffer): void => {
      output += d.toString();
      const next = steps[step];
      if (next === undefined) return;
      const m = next.prompt.exec(output.slice(seen));
      if (m === null) return;
      seen += m.index + m[0].length;
      step++;
      child.stdin.write(next.keys);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.stdin.on('error', () => {});
    child.on('close', (code) => resolve({ code, output }));
  });
}

async function expectHashFile(file: string, password: string): Promise<void> {
  const st = statSync(file);
  expect(st.isFile()).toBe(true);
  expect(st.mode & 0o777).toBe(0o640);
  expect(st.gid).toBe(statSync(path.dirname(file)).gid);
  const content = readFileSync(file, 'utf8');
  expect(content).toMatch(PHC_DEFAULT);
  const cred = parseCredential(Buffer.from(content));
  expect(cred.kind).toBe('scrypt');
  if (cred.kind !== 'scrypt') return;
  expect(await verifyScrypt(password, cred.hash)).toBe(true);
  expect(await verifyScrypt(`${password}x`, cred.hash)).toBe(false);
}

/** Nothing but `names` in `dir`: no temp file left behind. */
function expectOnly(dir: string, names: string[]): void {
  expect(readdirSync(dir).sort()).toEqual([...names].sort());
}

describe('npm run passwd through a pipe', () => {
  it('writes a 0640 scrypt record that verifies, and says which file, never the password', async () => {
    const dir = freshDir();
    const r = await runPiped(['john', '--data', dir], 'correct horse battery\n');
    expect(r.code, r.output).toBe(0);
    const file = path.join(dir, 'john');
    expect(r.output).toContain(`wrote ${file} (scrypt ln=15,r=8,p=1, mode 0640)\n`);
    expect(r.output.match(/^wrote /gm)).toHaveLength(1);
    expect(r.output).not.toContain('correct horse');
    await expectHashFile(file, 'correct horse battery');
    expectOnly(dir, ['john']);
  });

  it('reads one line only: CR LF ends it, the rest of the input is ignored, inner spaces kept', async () => {
    const dir = freshDir();
    const r = await runPiped(['ann', '--data', dir], '  two  spaces \r\nsecond line\n');
    expect(r.code, r.output).toBe(0);
    await expectHashFile(path.join(dir, 'ann'), '  two  spaces ');
  });

  it('takes a last line without a newline', async () => {
    const dir = freshDir();
    const r = await runPiped(['bea', '--data', dir], 'no-newline');
    expect(r.code, r.output).toBe(0);
    await expectHashFile(path.join(dir, 'bea'), 'no-newline');
  });

  it('replaces an existing plain file atomically with a 0640 record', async () => {
    const dir = freshDir();
    const file = path.join(dir, 'carl');
    writeFileSync(file, 'old-plain\n', { mode: 0o644 });
    const r = await runPiped(['carl', '--data', dir], 'new-secret\n');
    expect(r.code, r.output).toBe(0);
    await expectHashFile(file, 'new-secret');
    expectOnly(dir, ['carl']);
  });

  it('replaces a symbolic link by a file, leaving the link’s target alone', async () => {
    const dir = freshDir();
    const outside = path.join(tmp, `outside${n}`);
    writeFileSync(outside, 'untouched\n');
    symlinkSync(outside, path.join(dir, 'dan'));
    const r = await runPiped(['dan', '--data', dir], 'pw\n');
    expect(r.code, r.output).toBe(0);
    expect(lstatSync(path.join(dir, 'dan')).isSymbolicLink()).toBe(false);
    await expectHashFile(path.join(dir, 'dan'), 'pw');
    expect(readFileSync(outside, 'utf8')).toBe('untouched\n');
  });

  it.each([
    ['an empty line', '\n'],
    ['a blank line', '  \t \n'],
    ['no input at all', ''],
  ])('refuses %s: exit 1, nothing written', async (_label, input) => {
    const dir = freshDir();
    const r = await runPiped(['eve', '--data', dir], input);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/error: empty password refused; nothing written/);
    expectOnly(dir, []);
  });

  it('refuses input that is not UTF-8: exit 1', async () => {
    const dir = freshDir();
    const r = await runPiped(['eve', '--data', dir], Buffer.from([0x70, 0xff, 0x77, 0x0a]));
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/not valid UTF-8/);
    expectOnly(dir, []);
  });

  it.each([
    ['a path', '../x'],
    ['a hidden name', '.x'],
    ['an empty name', ''],
    ['a name with a slash', 'a/b'],
  ])('refuses %s as USER: exit 2, nothing written', async (_label, user) => {
    const dir = freshDir();
    const r = await runPiped([user, '--data', dir], 'pw\n');
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/cannot be a user name/);
    expectOnly(dir, []);
    expect(readdirSync(tmp).filter((f) => f === 'x')).toEqual([]);
  });

  it('refuses a missing data directory and a missing USER: exit 2', async () => {
    const gone = await runPiped(['john', '--data', path.join(tmp, 'nope')], 'pw\n');
    expect(gone.code).toBe(2);
    expect(gone.output).toMatch(/error: data directory .*nope does not exist/);
    const none = await runPiped(['--data', freshDir()], 'pw\n');
    expect(none.code).toBe(2);
    expect(none.output).toMatch(/give exactly one USER/);
  });
});

describe('npm run passwd on a terminal', () => {
  const FIRST = /New password for \w+: /;
  const AGAIN = /Retype it: /;

  it('asks twice without echo; backspace edits; the record verifies the edited password', async () => {
    const dir = freshDir();
    // Typed: "s3creX", backspace, "t!" then Enter; the second time straight.
    const r = await runOnTerminal(['fay', '--data', dir], [
      { prompt: FIRST, keys: 's3creX\x7ft!\r' },
      { prompt: AGAIN, keys: 's3cret!\r' },
    ]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`wrote ${path.join(dir, 'fay')}`);
    // (Not 'X' alone: the temporary directory's random name in the "wrote" line may hold one.)
    for (const typed of ['s3cre', 's3creX', 's3cret!']) expect(r.output).not.toContain(typed);
    await expectHashFile(path.join(dir, 'fay'), 's3cret!');
    expectOnly(dir, ['fay']);
  });

  it('keeps non-ASCII characters and deletes them whole with backspace', async () => {
    const dir = freshDir();
    const r = await runOnTerminal(['gus', '--data', dir], [
      { prompt: FIRST, keys: 'pässwörd€😀\x7f\x7f😀\r' },
      { prompt: AGAIN, keys: 'pässwörd😀\r' },
    ]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).not.toContain('pässw');
    await expectHashFile(path.join(dir, 'gus'), 'pässwörd😀');
  });

  it('refuses entries that do not match: exit 1, nothing written, nothing echoed', async () => {
    const dir = freshDir();
    const r = await runOnTerminal(['hal', '--data', dir], [
      { prompt: FIRST, keys: 'first-try\r' },
      { prompt: AGAIN, keys: 'second-try\r' },
    ]);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/error: the two passwords do not match; nothing written/);
    expect(r.output).not.toContain('first-try');
    expect(r.output).not.toContain('second-try');
    expectOnly(dir, []);
  });

  it('refuses an empty password: exit 1, nothing written', async () => {
    const dir = freshDir();
    const r = await runOnTerminal(['ida', '--data', dir], [
      { prompt: FIRST, keys: '\r' },
      { prompt: AGAIN, keys: '\r' },
    ]);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/error: empty password refused; nothing written/);
    expectOnly(dir, []);
  });

  it('Ctrl-C aborts with exit 130, nothing written, nothing echoed', async () => {
    const dir = freshDir();
    const r = await runOnTerminal(['jon', '--data', dir], [{ prompt: FIRST, keys: 'half-typed\x03' }]);
    expect(r.code).toBe(130);
    expect(r.output).toMatch(/error: aborted; nothing written/);
    expect(r.output).not.toContain('half-typed');
    expectOnly(dir, []);
  });

  it('Ctrl-C at the second prompt aborts too', async () => {
    const dir = freshDir();
    const r = await runOnTerminal(['kim', '--data', dir], [
      { prompt: FIRST, keys: 'whole-one\r' },
      { prompt: AGAIN, keys: 'who\x03' },
    ]);
    expect(r.code).toBe(130);
    expect(r.output).not.toContain('whole-one');
    expectOnly(dir, []);
  });
});
