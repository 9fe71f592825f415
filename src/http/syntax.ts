// Character classes and small grammar pieces of RFC 9110 §5.6 and RFC 9112, over bytes.

const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

export const SP = 0x20;
export const HTAB = 0x09;
export const CR = 0x0d;
export const LF = 0x0a;

/** token = 1*tchar (RFC 9110 §5.6.2). */
export function isToken(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) if (TCHAR[bytes[i] ?? 0] !== 1) return false;
  return true;
}

export function isTokenString(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}

/** field-vchar / SP / HTAB (RFC 9110 §5.5): visible ASCII, obs-text, and blanks; never CTLs or DEL. */
export function isFieldValueByte(b: number): boolean {
  return b === HTAB || b === SP || (b >= 0x21 && b <= 0x7e) || b >= 0x80;
}

/** Bytes allowed in a request-target: visible ASCII (what llhttp and RFC 3986's delimiters allow on the wire). */
export function isTargetByte(b: number): boolean {
  return b >= 0x21 && b <= 0x7e;
}

/** Bytes to a string, one char per byte (how HTTP field values are carried, RFC 9110 §5.5 obs-text). */
export function latin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let out = '';
  for (let i = start; i < end; i += 4096) {
    out += String.fromCharCode(...bytes.subarray(i, Math.min(end, i + 4096)));
  }
  return out;
}

/** Splits a list-based field value (RFC 9110 §5.6.1) into trimmed, lower-cased elements; empty ones dropped. */
export function listElements(value: string): string[] {
  return value
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e.length > 0);
}

/** Methods this server recognises: the registered ones Node's parser knows too; others get 501 (RFC 9110 §9.1). */
export const KNOWN_METHODS: ReadonlySet<string> = new Set([
  'ACL', 'BIND', 'CHECKOUT', 'CONNECT', 'COPY', 'DELETE', 'GET', 'HEAD', 'LINK', 'LOCK', 'M-SEARCH', 'MERGE',
  'MKACTIVITY', 'MKCALENDAR', 'MKCOL', 'MOVE', 'NOTIFY', 'OPTIONS', 'PATCH', 'POST', 'PROPFIND', 'PROPPATCH',
  'PURGE', 'PUT', 'QUERY', 'REBIND', 'REPORT', 'SEARCH', 'SOURCE', 'SUBSCRIBE', 'TRACE', 'UNBIND', 'UNLINK',
  'UNLOCK', 'UNSUBSCRIBE',
]);

/**
 * Host = uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2): a reg-name or IPv4 address, or an
 * IP-literal in brackets; empty is allowed (a target without authority).
 */
export function isValidHost(value: string): boolean {
  return /^(?:\[[0-9A-Za-z:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/.test(value);
}
