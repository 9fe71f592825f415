// DNS messages (RFC 1035 §4): a query for one name and type, and the parse of an answer, every length checked,
// compression pointers followed at most MAX_POINTERS times and only backwards (RFC 1035 §4.1.4), names held to 255
// bytes and labels to 63 (§2.3.4). A malformed message is reported, never thrown.

export const TYPE_A = 1;
export const TYPE_CNAME = 5;
export const TYPE_AAAA = 28;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;

/** The most compression pointers one name may follow. */
const MAX_POINTERS = 16;
/** The most resource records read from one answer (the rest are ignored). */
export const MAX_RECORDS = 64;
const HEADER = 12;

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  /** Seconds. */
  ttl: number;
  data: Uint8Array;
  /** For CNAME: the name it points to. */
  target?: string;
}

export interface DnsAnswer {
  id: number;
  response: boolean;
  truncated: boolean;
  rcode: number;
  question: { name: string; type: number; class: number } | undefined;
  answers: DnsRecord[];
}

export type DnsParse = { ok: true; message: DnsAnswer } | { ok: false; reason: 'short' | 'bad_name' | 'bad_record' | 'no_question' };

/** The labels of `name` (a trailing dot allowed), or undefined when it is no valid domain name. */
export function nameLabels(name: string): string[] | undefined {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n === '' || n.length > 253) return undefined;
  const labels = n.split('.');
  for (const l of labels) if (l.length === 0 || l.length > 63 || !/^[A-Za-z0-9_-]+$/.test(l)) return undefined;
  return labels;
}

/** A recursive query (RD) for `name` and `type`, id `id`; undefined when the name is not valid. */
export function encodeQuery(id: number, name: string, type: number): Uint8Array | undefined {
  const labels = nameLabels(name);
  if (labels === undefined) return undefined;
  const qname = labels.reduce((n, l) => n + 1 + l.length, 1);
  const b = new Uint8Array(HEADER + qname + 4);
  const v = new DataView(b.buffer);
  v.setUint16(0, id & 0xffff);
  v.setUint16(2, 0x0100); // RD
  v.setUint16(4, 1);
  let off = HEADER;
  for (const l of labels) {
    b[off++] = l.length;
    for (let i = 0; i < l.length; i++) b[off++] = l.charCodeAt(i);
  }
  b[off++] = 0;
  v.setUint16(off, type);
  v.setUint16(off + 2, CLASS_IN);
  return b;
}

/** Reads a (possibly compressed) name at `off`: the name and where the bytes after it start. */
function readName(b: Uint8Array, start: number): { name: string; next: number } | undefined {
  const labels: string[] = [];
  let off = start;
  let next: number | undefined;
  let pointers = 0;
  let length = 0;
  for (;;) {
    if (off >= b.length) return undefined;
    const len = b[off] ?? 0;
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= b.length || ++pointers > MAX_POINTERS) return undefined;
      const target = ((len & 0x3f) << 8) | (b[off + 1] ?? 0);
      if (target >= off) return undefined; // only backwards: no loops
      next ??= off + 2;
      off = target;
      continue;
    }
    if ((len & 0xc0) !== 0) return undefined;
    if (len === 0) break;
    if (off + 1 + len > b.length) return undefined;
    length += len + 1;
    if (length > 255) return undefined;
    labels.push(String.fromCharCode(...b.subarray(off + 1, off + 1 + len)));
    off += 1 + len;
  }
  return { name: labels.join('.'), next: next ?? off + 1 };
}

export function parseAnswer(b: Uint8Array): DnsParse {
  if (b.length < HEADER) return { ok: false, reason: 'short' };
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  const id = v.getUint16(0);
  const flags = v.getUint16(2);
  const qd = v.getUint16(4);
  const an = v.getUint16(6);
  let off = HEADER;
  let question: DnsAnswer['question'];
  for (let i = 0; i < qd; i++) {
    const n = readName(b, off);
    if (n === undefined || n.next + 4 > b.length) return { ok: false, reason: 'bad_name' };
    if (i === 0) question = { name: n.name, type: v.getUint16(n.next), class: v.getUint16(n.next + 2) };
    off = n.next + 4;
  }
  const answers: DnsRecord[] = [];
  for (let i = 0; i < an && i < MAX_RECORDS; i++) {
    const n = readName(b, off);
    if (n === undefined || n.next + 10 > b.length) return { ok: false, reason: 'bad_record' };
    const type = v.getUint16(n.next);
    const rdlen = v.getUint16(n.next + 8);
    const dataAt = n.next + 10;
    if (dataAt + rdlen > b.length) return { ok: false, reason: 'bad_record' };
    const rec: DnsRecord = { name: n.name, type, class: v.getUint16(n.next + 2), ttl: v.getUint32(n.next + 4), data: b.subarray(dataAt, dataAt + rdlen) };
    if (type === TYPE_CNAME) {
      const t = readName(b, dataAt);
      if (t === undefined || t.next > dataAt + rdlen) return { ok: false, reason: 'bad_record' };
      rec.target = t.name;
    }
    answers.push(rec);
    off = dataAt + rdlen;
  }
  return { ok: true, message: { id, response: (flags & 0x8000) !== 0, truncated: (flags & 0x0200) !== 0, rcode: flags & 0xf, question, answers } };
}
