// The request-target's path and query (RFC 9112 §3.2, RFC 3986 §3.3–3.4) and query decoding.
// Percent-decoding follows RFC 3986 §2.1; as in HTML forms (application/x-www-form-urlencoded), `+` in
// the query means a space, so a literal plus must be sent as %2B. Decoded bytes must be UTF-8.

export interface SplitTarget {
  /** The path, without the query; for absolute-form targets, without scheme and authority. */
  path: string;
  /** The raw query after the first `?`, without a fragment; empty when there is none. */
  query: string;
}

export function splitTarget(target: string): SplitTarget {
  let rest = target;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const path = q >= 0 ? rest.slice(0, q) : rest;
  return { path: path === '' ? '/' : path, query: q >= 0 ? rest.slice(q + 1) : '' };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one query component; `undefined` for a malformed escape or bytes that are not UTF-8. */
export function decodeComponent(raw: string): string | undefined {
  if (!/[%+\u0080-\uffff]/.test(raw)) return raw;
  const bytes = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hi = hex(raw.charCodeAt(i + 1));
      const lo = hex(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return undefined;
      bytes[n++] = hi * 16 + lo;
      i += 2;
    } else if (c === 0x2b) {
      bytes[n++] = 0x20;
    } else if (c < 0x80) {
      bytes[n++] = c;
    } else {
      return undefined;
    }
  }
  try {
    return utf8.decode(bytes.subarray(0, n));
  } catch {
    return undefined;
  }
}

/**
 * Parses `a=1&b=2` into a map of first values; a name without `=` maps to the empty string.
 * Returns `undefined` when any component is malformed.
 */
export function parseQuery(query: string): Map<string, string> | undefined {
  const out = new Map<string, string>();
  if (query === '') return out;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq >= 0 ? pair.slice(0, eq) : pair);
    const value = decodeComponent(eq >= 0 ? pair.slice(eq + 1) : '');
    if (name === undefined || value === undefined) return undefined;
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}
