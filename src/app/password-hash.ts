// Stored credentials: a user file holds either the password itself (plain, as before) or an scrypt hash in a
// self-describing PHC-style string, `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (ln = log2 N; salt and hash in
// standard base64 without padding). Parsing never throws: anything after `$scrypt$` that is not exactly
// that shape, within the bounds below, is `malformed`, and a malformed record never matches.

import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  ln: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
}

export interface ScryptHash extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

/** What one user file says. */
export type Credential =
  | { kind: 'plain'; password: string }
  | { kind: 'scrypt'; hash: ScryptHash }
  /** Starts with `$scrypt$` but is not a valid record within bounds: the user can never log in. */
  | { kind: 'malformed' }
  /** An empty or blank file: the user is disabled (as before). */
  | { kind: 'disabled' };

export const SCRYPT_PREFIX = '$scrypt$';

/** What `npm run passwd` writes: N = 2^15, r = 8, p = 1 (32 MiB, tens of milliseconds). */
export const DEFAULT_SCRYPT_PARAMS: Readonly<ScryptParams> = { ln: 15, r: 8, p: 1 };
export const DEFAULT_SALT_BYTES = 16;
export const DEFAULT_HASH_BYTES = 32;

/** Bounds a stored record must respect; past them it is malformed (a file cannot make us spend unbounded memory or time). */
export const SCRYPT_BOUNDS = {
  ln: { min: 1, max: 20 },
  r: { min: 1, max: 32 },
  p: { min: 1, max: 16 },
  saltBytes: { min: 8, max: 64 },
  hashBytes: { min: 16, max: 64 },
  /** 128·N·r, the size of scrypt's V array: 1 GiB at most (ln = 20 with r = 8). */
  maxMemoryBytes: 2 ** 30,
} as const;

/** The scrypt function, injectable so tests can slow it down or count calls. */
export type ScryptFn = (password: Uint8Array, salt: Uint8Array, keyLength: number, params: ScryptParams) => Promise<Buffer>;

/**
 * OpenSSL's own accounting (crypto/evp/pbe_scrypt.c): B is 128·r·p bytes and V 128·r·(N+2); `maxmem` must
 * cover both, or the call fails. Node's default of 32 MiB is exactly too small for ln = 15, r = 8.
 */
export function scryptMaxmem({ ln, r, p }: ScryptParams): number {
  return 128 * r * (2 ** ln + 2 + p) + 1024 * 1024;
}

/** node:crypto's scrypt, asynchronous: it runs on libuv's thread pool, never on the event loop. */
export const nodeScrypt: ScryptFn = (password, salt, keyLength, params) =>
  new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, { N: 2 ** params.ln, r: params.r, p: params.p, maxmem: scryptMaxmem(params) }, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });

function inRange(n: number, b: { min: number; max: number }): boolean {
  return Number.isSafeInteger(n) && n >= b.min && n <= b.max;
}

/** Why `params` are out of bounds, or undefined when they are fine. */
export function scryptParamsProblem(params: ScryptParams): string | undefined {
  if (!inRange(params.ln, SCRYPT_BOUNDS.ln)) return `ln must be ${SCRYPT_BOUNDS.ln.min}..${SCRYPT_BOUNDS.ln.max}`;
  if (!inRange(params.r, SCRYPT_BOUNDS.r)) return `r must be ${SCRYPT_BOUNDS.r.min}..${SCRYPT_BOUNDS.r.max}`;
  if (!inRange(params.p, SCRYPT_BOUNDS.p)) return `p must be ${SCRYPT_BOUNDS.p.min}..${SCRYPT_BOUNDS.p.max}`;
  if (128 * 2 ** params.ln * params.r > SCRYPT_BOUNDS.maxMemoryBytes) return 'N·r needs more than 1 GiB';
  return undefined;
}

const B64 = /^[A-Za-z0-9+/]+$/;

/** Standard base64 without padding, canonical only (no stray bits in the last character); undefined otherwise. */
function decodeB64(s: string): Buffer | undefined {
  if (!B64.test(s) || s.length % 4 === 1) return undefined;
  const buf = Buffer.from(s, 'base64');
  return encodeB64(buf) === s ? buf : undefined;
}

function encodeB64(buf: Uint8Array): string {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '');
}

/** A decimal without sign or leading zeros, at most 3 digits. */
const SMALL_INT = /^(0|[1-9][0-9]{0,2})$/;

/** Parses `$scrypt$ln=L,r=R,p=P$SALT$HASH` exactly; undefined for anything else or anything out of bounds. */
export function parseScryptHash(s: string): ScryptHash | undefined {
  if (!s.startsWith(SCRYPT_PREFIX)) return undefined;
  const fields = s.slice(SCRYPT_PREFIX.length).split('$');
  if (fields.length !== 3) return undefined;
  const [paramText, saltText, hashText] = fields as [string, string, string];
  const params = paramText.split(',');
  if (params.length !== 3) return undefined;
  const values: number[] = [];
  for (const [i, name] of ['ln', 'r', 'p'].entries()) {
    const kv = params[i]?.split('=');
    if (kv === undefined || kv.length !== 2 || kv[0] !== name || !SMALL_INT.test(kv[1] ?? '')) return undefined;
    values.push(Number(kv[1]));
  }
  const [ln, r, p] = values as [number, number, number];
  if (scryptParamsProblem({ ln, r, p }) !== undefined) return undefined;
  const salt = decodeB64(saltText);
  const hash = decodeB64(hashText);
  if (salt === undefined || hash === undefined) return undefined;
  if (salt.length < SCRYPT_BOUNDS.saltBytes.min || salt.length > SCRYPT_BOUNDS.saltBytes.max) return undefined;
  if (hash.length < SCRYPT_BOUNDS.hashBytes.min || hash.length > SCRYPT_BOUNDS.hashBytes.max) return undefined;
  return { ln, r, p, salt, hash };
}

export function formatScryptHash(h: ScryptHash): string {
  return `${SCRYPT_PREFIX}ln=${h.ln},r=${h.r},p=${h.p}$${encodeB64(h.salt)}$${encodeB64(h.hash)}`;
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/**
 * What a user file's bytes mean. The content is decoded as UTF-8 and trimmed, exactly as plain files always
 * were; content starting with `$scrypt$` is a hash record (valid or malformed), blank content disables the user,
 * anything else is the password itself.
 */
export function parseCredential(value: Uint8Array): Credential {
  const text = utf8.decode(value).trim();
  if (text === '') return { kind: 'disabled' };
  if (!text.startsWith(SCRYPT_PREFIX)) return { kind: 'plain', password: text };
  const hash = parseScryptHash(text);
  return hash === undefined ? { kind: 'malformed' } : { kind: 'scrypt', hash };
}

/** A new record for `password`: random salt, the given (bounded) parameters. Throws RangeError on bad parameters. */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
  scryptFn: ScryptFn = nodeScrypt,
  salt: Uint8Array = randomBytes(DEFAULT_SALT_BYTES),
): Promise<string> {
  const problem = scryptParamsProblem(params);
  if (problem !== undefined) throw new RangeError(`scrypt parameters: ${problem}`);
  if (salt.length < SCRYPT_BOUNDS.saltBytes.min || salt.length > SCRYPT_BOUNDS.saltBytes.max) throw new RangeError('salt length out of bounds');
  const hash = await scryptFn(encoder.encode(password), salt, DEFAULT_HASH_BYTES, params);
  return formatScryptHash({ ...params, salt: Buffer.from(salt), hash });
}

/**
 * Whether `password` hashes to the record, compared with timingSafeEqual (the time does not depend on where the
 * bytes differ). Rejects only when `scryptFn` does.
 */
export async function verifyScrypt(password: string, record: ScryptHash, scryptFn: ScryptFn = nodeScrypt): Promise<boolean> {
  const derived = await scryptFn(encoder.encode(password), record.salt, record.hash.length, record);
  if (derived.length !== record.hash.length) return false;
  return timingSafeEqual(derived, record.hash);
}
