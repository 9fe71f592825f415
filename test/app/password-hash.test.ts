import { scrypt as realScrypt, timingSafeEqual } from 'node:crypto';
import fc from 'fast-check';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_SCRYPT_PARAMS,
  SCRYPT_BOUNDS,
  formatScryptHash,
  hashPassword,
  nodeScrypt,
  parseCredential,
  parseScryptHash,
  scryptMaxmem,
  scryptParamsProblem,
  verifyScrypt,
  type ScryptFn,
  type ScryptHash,
} from '../../src/app/password-hash.ts';

// The comparison must go through timingSafeEqual: wrap the real one in a spy.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const encoder = new TextEncoder();
/** Cheap parameters for tests that do not care about cost: N = 1024, 1 MiB. */
const FAST = { ln: 10, r: 8, p: 1 };
const PHC = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function b64(n: number, fill = 0x5a): string {
  return Buffer.alloc(n, fill).toString('base64').replace(/=+$/, '');
}

function record(params: string, saltBytes = 16, hashBytes = 32): string {
  return `$scrypt$${params}$${b64(saltBytes)}$${b64(hashBytes, 0xa5)}`;
}

beforeEach(() => {
  vi.mocked(timingSafeEqual).mockClear();
});

describe('hash format', () => {
  it('round-trips: hash, parse, format, verify', async () => {
    const s = await hashPassword('pässwörd 😀', FAST);
    const m = PHC.exec(s);
    expect(m).not.toBeNull();
    expect(m?.slice(1, 4)).toEqual(['10', '8', '1']);
    expect(m?.[4]).toHaveLength(22); // 16 bytes, no padding
    expect(m?.[5]).toHaveLength(43); // 32 bytes, no padding
    const parsed = parseScryptHash(s);
    expect(parsed).toBeDefined();
    if (parsed === undefined) return;
    expect(parsed.salt).toHaveLength(16);
    expect(parsed.hash).toHaveLength(32);
    expect(formatScryptHash(parsed)).toBe(s);
    expect(await verifyScrypt('pässwörd 😀', parsed)).toBe(true);
  });

  it('refuses a wrong password, a prefix, an extension, another normalisation', async () => {
    const parsed = parseScryptHash(await hashPassword('password', FAST));
    if (parsed === undefined) throw new Error('no record');
    for (const wrong of ['wrong', 'passwor', 'password!', 'Password', '', ' password']) {
      expect(await verifyScrypt(wrong, parsed), wrong).toBe(false);
    }
    const uni = parseScryptHash(await hashPassword('é', FAST));
    if (uni === undefined) throw new Error('no record');
    expect(await verifyScrypt('e\u0301', uni)).toBe(false);
  });

  it('salts: the same password hashes differently each time, and each verifies', async () => {
    const a = await hashPassword('same', FAST);
    const b = await hashPassword('same', FAST);
    expect(a).not.toBe(b);
    for (const s of [a, b]) {
      const r = parseScryptHash(s);
      expect(r && (await verifyScrypt('same', r))).toBe(true);
    }
  });

  it('maps ln to N = 2^ln: RFC 7914 §12 test vector (N=1024, r=8, p=16)', async () => {
    const key = await nodeScrypt(encoder.encode('password'), encoder.encode('NaCl'), 64, { ln: 10, r: 8, p: 16 });
    expect(key.toString('hex')).toBe(
      'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640',
    );
    const rec: ScryptHash = { ln: 10, r: 8, p: 16, salt: Buffer.from('NaCl'), hash: key };
    expect(await verifyScrypt('password', rec)).toBe(true);
  });

  it('the default parameters (ln=15, r=8, p=1) work with the maxmem we pass, where node’s default maxmem fails', async () => {
    expect(DEFAULT_SCRYPT_PARAMS).toEqual({ ln: 15, r: 8, p: 1 });
    const s = await hashPassword('default cost');
    expect(s).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$/);
    const r = parseScryptHash(s);
    expect(r && (await verifyScrypt('default cost', r))).toBe(true);
    expect(scryptMaxmem(DEFAULT_SCRYPT_PARAMS)).toBeGreaterThan(32 * 1024 * 1024);
    // Why maxmem is passed: node's default (32 MiB) is just too small for N = 2^15, r = 8.
    // (node checks the parameters before queueing the job, so the error is thrown, not passed to the callback.)
    expect(() => realScrypt('x', 'salt', 32, { N: 2 ** 15, r: 8, p: 1 }, () => {})).toThrow(/memory limit/);
    expect(() => realScrypt('x', 'salt', 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 128 * 2 ** 15 * 8 }, () => {})).toThrow(/memory limit/);
  });

  it('hashes off the event loop: other callbacks run while a hash is computed', async () => {
    let ticked = false;
    setImmediate(() => {
      ticked = true;
    });
    await hashPassword('x', DEFAULT_SCRYPT_PARAMS);
    expect(ticked).toBe(true);
  });
});

describe('constant-time comparison', () => {
  it('verification compares with timingSafeEqual, equal lengths, right and wrong alike', async () => {
    const r = parseScryptHash(await hashPassword('secret', FAST));
    if (r === undefined) throw new Error('no record');
    const spy = vi.mocked(timingSafeEqual);
    spy.mockClear();
    expect(await verifyScrypt('secret', r)).toBe(true);
    expect(await verifyScrypt('other', r)).toBe(false);
    expect(spy).toHaveBeenCalledTimes(2);
    for (const [a, b] of spy.mock.calls) {
      expect((a as Uint8Array).length).toBe(32);
      expect((b as Uint8Array).length).toBe(32);
    }
    expect(spy.mock.results.map((x) => x.value)).toEqual([true, false]);
  });

  it('asks the scrypt function for exactly the stored hash length with the stored parameters', async () => {
    const calls: Array<{ keyLength: number; ln: number; r: number; p: number; salt: string }> = [];
    const fake: ScryptFn = (_pw, salt, keyLength, { ln, r, p }) => {
      calls.push({ keyLength, ln, r, p, salt: Buffer.from(salt).toString('hex') });
      return Promise.resolve(Buffer.alloc(keyLength, 7));
    };
    const rec: ScryptHash = { ln: 12, r: 4, p: 2, salt: Buffer.alloc(8, 1), hash: Buffer.alloc(20, 7) };
    expect(await verifyScrypt('whatever', rec, fake)).toBe(true);
    expect(calls).toEqual([{ keyLength: 20, ln: 12, r: 4, p: 2, salt: '0101010101010101' }]);
    expect(vi.mocked(timingSafeEqual)).toHaveBeenCalledTimes(1);
  });

  it('a scrypt function returning the wrong length is a mismatch, not an exception', async () => {
    const short: ScryptFn = () => Promise.resolve(Buffer.alloc(16, 7));
    const rec: ScryptHash = { ln: 10, r: 8, p: 1, salt: Buffer.alloc(8), hash: Buffer.alloc(32, 7) };
    expect(await verifyScrypt('x', rec, short)).toBe(false);
  });
});

describe('parameter bounds', () => {
  it('publishes its bounds', () => {
    expect(SCRYPT_BOUNDS.ln).toEqual({ min: 1, max: 20 });
    expect(SCRYPT_BOUNDS.maxMemoryBytes).toBe(2 ** 30);
  });

  it.each([
    ['ln=1,r=8,p=1', true],
    ['ln=20,r=8,p=1', true],
    ['ln=0,r=8,p=1', false],
    ['ln=21,r=8,p=1', false],
    ['ln=20,r=9,p=1', false], // 128·2^20·9 > 1 GiB
    ['ln=15,r=32,p=1', true],
    ['ln=15,r=33,p=1', false],
    ['ln=15,r=0,p=1', false],
    ['ln=15,r=8,p=16', true],
    ['ln=15,r=8,p=17', false],
    ['ln=15,r=8,p=0', false],
    ['ln=64,r=8,p=1', false],
    ['ln=999,r=8,p=1', false],
  ])('%s within bounds: %s', (params, ok) => {
    expect(parseScryptHash(record(params)) !== undefined).toBe(ok);
    expect(parseCredential(encoder.encode(record(params))).kind).toBe(ok ? 'scrypt' : 'malformed');
  });

  it.each([
    [7, false],
    [8, true],
    [64, true],
    [65, false],
  ])('salt of %i bytes accepted: %s', (n, ok) => {
    expect(parseScryptHash(record('ln=10,r=8,p=1', n)) !== undefined).toBe(ok);
  });

  it.each([
    [15, false],
    [16, true],
    [64, true],
    [65, false],
  ])('hash of %i bytes accepted: %s', (n, ok) => {
    expect(parseScryptHash(record('ln=10,r=8,p=1', 16, n)) !== undefined).toBe(ok);
  });

  it('hashPassword refuses parameters out of bounds instead of spending the memory', async () => {
    await expect(hashPassword('x', { ln: 21, r: 8, p: 1 })).rejects.toThrow(RangeError);
    await expect(hashPassword('x', { ln: 20, r: 16, p: 1 })).rejects.toThrow(/1 GiB/);
    await expect(hashPassword('x', { ln: 10, r: 8, p: 0 })).rejects.toThrow(RangeError);
    await expect(hashPassword('x', { ln: 10.5, r: 8, p: 1 })).rejects.toThrow(RangeError);
    await expect(hashPassword('x', FAST, nodeScrypt, Buffer.alloc(4))).rejects.toThrow(/salt/);
    expect(scryptParamsProblem({ ln: 20, r: 8, p: 1 })).toBeUndefined();
  });
});

describe('stored credentials', () => {
  it('plain files keep their meaning: trimmed content is the password', () => {
    expect(parseCredential(encoder.encode('  password\r\n'))).toEqual({ kind: 'plain', password: 'password' });
    expect(parseCredential(encoder.encode('$notscrypt$x'))).toEqual({ kind: 'plain', password: '$notscrypt$x' });
    expect(parseCredential(encoder.encode('$2b$10$abc'))).toEqual({ kind: 'plain', password: '$2b$10$abc' });
    expect(parseCredential(encoder.encode('scrypt$ln=15'))).toEqual({ kind: 'plain', password: 'scrypt$ln=15' });
  });

  it('blank files disable the user', () => {
    for (const s of ['', ' ', '\n', '\t \r\n']) expect(parseCredential(encoder.encode(s)).kind).toBe('disabled');
  });

  it('a hash record with surrounding whitespace (a trailing newline) is a hash', async () => {
    const s = await hashPassword('pw', FAST);
    const c = parseCredential(encoder.encode(`\n  ${s}\n\n`));
    expect(c.kind).toBe('scrypt');
    if (c.kind === 'scrypt') expect(await verifyScrypt('pw', c.hash)).toBe(true);
  });

  const valid = record('ln=10,r=8,p=1');
  it.each([
    ['the prefix alone', '$scrypt$'],
    ['no fields', '$scrypt$$$'],
    ['parameters only', '$scrypt$ln=10,r=8,p=1'],
    ['no hash', '$scrypt$ln=10,r=8,p=1$' + b64(16)],
    ['empty hash', '$scrypt$ln=10,r=8,p=1$' + b64(16) + '$'],
    ['empty salt', '$scrypt$ln=10,r=8,p=1$$' + b64(32)],
    ['an extra field', `${valid}$extra`],
    ['a version field', `$scrypt$v=1$ln=10,r=8,p=1$${b64(16)}$${b64(32)}`],
    ['parameters reordered', record('r=8,ln=10,p=1')],
    ['a parameter missing', record('ln=10,r=8')],
    ['a parameter repeated', record('ln=10,ln=10,r=8,p=1')],
    ['an unknown parameter', record('ln=10,r=8,p=1,x=1')],
    ['N instead of ln', record('N=1024,r=8,p=1')],
    ['a leading zero', record('ln=010,r=8,p=1')],
    ['a negative number', record('ln=-10,r=8,p=1')],
    ['a plus sign', record('ln=+10,r=8,p=1')],
    ['a fraction', record('ln=10.0,r=8,p=1')],
    ['an exponent', record('ln=1e1,r=8,p=1')],
    ['hex', record('ln=0xa,r=8,p=1')],
    ['a huge number', record('ln=99999999999999999999,r=8,p=1')],
    ['an empty value', record('ln=,r=8,p=1')],
    ['spaces in parameters', record('ln=10, r=8, p=1')],
    ['padding in the salt', `$scrypt$ln=10,r=8,p=1$${b64(16)}==$${b64(32)}`],
    ['url-safe base64', `$scrypt$ln=10,r=8,p=1$${b64(16).replace(/./, '-')}$${b64(32)}`],
    ['a non-canonical last character', `$scrypt$ln=10,r=8,p=1$${b64(16).slice(0, -1)}B$${b64(32)}`],
    ['an impossible base64 length', `$scrypt$ln=10,r=8,p=1$${b64(15)}A$${b64(32)}`],
    ['non-ASCII in the hash', `$scrypt$ln=10,r=8,p=1$${b64(16)}$${b64(31)}é`],
    ['a NUL byte', `$scrypt$ln=10,r=8,p=1$${b64(16)}\0$${b64(32)}`],
    ['a space inside', `$scrypt$ln=10,r=8,p=1$${b64(16)} $${b64(32)}`],
    ['a newline inside', `$scrypt$ln=10,r=8,p=1$${b64(16)}\n$${b64(32)}`],
    ['upper-case scheme followed by garbage', '$scrypt$LN=10,R=8,P=1$x$y'],
    ['a memory bomb', record('ln=20,r=32,p=16')],
    ['binary garbage', `$scrypt$${String.fromCharCode(...Array.from({ length: 64 }, (_, i) => (i * 37) % 256))}`],
  ])('malformed: %s', (_label, content) => {
    expect(() => parseCredential(encoder.encode(content))).not.toThrow();
    expect(parseCredential(encoder.encode(content))).toEqual({ kind: 'malformed' });
    expect(parseScryptHash(content.trim())).toBeUndefined();
  });

  it('invalid UTF-8 after the prefix is malformed, not an exception', () => {
    const bytes = Buffer.concat([Buffer.from('$scrypt$ln=10,r=8,p=1$'), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from(`$${b64(32)}`)]);
    expect(parseCredential(bytes)).toEqual({ kind: 'malformed' });
  });

  it('property: any text after the prefix parses without throwing, and what parses formats back to itself', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (tail) => {
        const s = `$scrypt$${tail}`;
        const r = parseScryptHash(s);
        if (r !== undefined) expect(formatScryptHash(r)).toBe(s);
        expect(['scrypt', 'malformed']).toContain(parseCredential(encoder.encode(s)).kind);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: one changed character of a real record never verifies the password', async () => {
    const s = await hashPassword('right', FAST);
    const alphabet = 'ABCabc019+/$=,lnrp ';
    const cases = fc.sample(fc.tuple(fc.nat(s.length - 1), fc.constantFrom(...alphabet)), { numRuns: 200, seed: 42 });
    let parsedSome = 0;
    for (const [at, ch] of cases) {
      if (s[at] === ch) continue;
      const mutated = s.slice(0, at) + ch + s.slice(at + 1);
      const c = parseCredential(encoder.encode(mutated));
      if (c.kind !== 'scrypt') {
        expect(c.kind === 'malformed' || c.kind === 'plain').toBe(true);
        continue;
      }
      parsedSome++;
      // A changed salt, hash or cost must not verify (the cheap ones only: ln and r stay small here).
      if (scryptParamsProblem(c.hash) === undefined && c.hash.ln <= 12 && c.hash.r <= 8) {
        expect(await verifyScrypt('right', c.hash), mutated).toBe(false);
      }
    }
    expect(parsedSome).toBeGreaterThan(10);
  });
});
