import { describe, expect, it } from 'vitest';
import { defaultLimits, type HttpLimits } from '../../src/http/limits.ts';
import type { RequestHead } from '../../src/http/request-parser.ts';
import { enc, outcome, parse, parseChunks } from './parse-helpers.ts';

function head(input: string): RequestHead {
  const ev = parse(input).find((e) => e.kind === 'head');
  if (ev?.kind !== 'head') throw new Error(`no head in ${JSON.stringify(parse(input))}`);
  return ev.head;
}

describe('request line and fields', () => {
  it('parses a simple GET', () => {
    const h = head('GET /?user=john&password=password HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n');
    expect(h.method).toBe('GET');
    expect(h.target).toBe('/?user=john&password=password');
    expect(h.version).toBe('1.1');
    expect(h.headers).toEqual([['Host', 'example'], ['Accept', '*/*']]);
    expect(h.keepAlive).toBe(true);
    expect(h.body).toEqual({ kind: 'none' });
  });

  it('trims optional whitespace around values and keeps inner whitespace', () => {
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nX-A: \t one  two \t\r\n\r\n').headers[1]).toEqual(['X-A', 'one  two']);
  });

  it('keeps obs-text bytes in values as latin1', () => {
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nX: \xe9\xff\r\n\r\n').headers[1]).toEqual(['X', '\xe9\xff']);
  });

  it('ignores empty lines before the request line (RFC 9112 §2.2)', () => {
    expect(outcome(parse('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n'))).toBe('ok');
  });

  it('HTTP/1.0 does not keep alive; Connection: close ends 1.1', () => {
    expect(head('GET / HTTP/1.0\r\n\r\n').keepAlive).toBe(false);
    expect(head('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').keepAlive).toBe(false);
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n').keepAlive).toBe(false);
  });

  it('accepts absolute-form and OPTIONS *', () => {
    expect(head('GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n').target).toBe('http://h/p?q');
    expect(head('OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n').target).toBe('*');
  });

  const bad: Array<[string, string, number]> = [
    ['lowercase method', 'get / HTTP/1.1\r\nHost: a\r\n\r\n', 501],
    ['unknown method', 'FOO / HTTP/1.1\r\nHost: a\r\n\r\n', 501],
    ['CONNECT', 'CONNECT a:80 HTTP/1.1\r\nHost: a\r\n\r\n', 501],
    ['non-token method', 'G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['bare LF', 'GET / HTTP/1.1\nHost: a\n\n', 400],
    ['bare LF in fields', 'GET / HTTP/1.1\r\nHost: a\n\r\n', 400],
    ['bare CR', 'GET / HTTP/1.1\rHost: a\r\n\r\n', 400],
    ['CR inside a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n', 400],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 505],
    ['lowercase version', 'GET / http/1.1\r\nHost: a\r\n\r\n', 400],
    ['HTTP/0.9 simple request', 'GET /\r\n\r\n', 400],
    ['method alone', 'GET\r\n\r\n', 400],
    ['double space', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['trailing space', 'GET / HTTP/1.1 \r\nHost: a\r\n\r\n', 400],
    ['space in target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['tab in target', 'GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['DEL in target', 'GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['8-bit target', 'GET /a\xff HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['relative target', 'GET foo HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['asterisk with GET', 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['no Host in 1.1', 'GET / HTTP/1.1\r\n\r\n', 400],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', 400],
    ['invalid Host', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400],
    ['whitespace after start line', 'GET / HTTP/1.1\r\n Host: a\r\n\r\n', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n', 400],
    ['no colon', 'GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n', 400],
    ['empty name', 'GET / HTTP/1.1\r\nHost: a\r\n:b\r\n\r\n', 400],
    ['non-token name', 'GET / HTTP/1.1\r\nHost: a\r\nX{: b\r\n\r\n', 400],
    ['control in value', 'GET / HTTP/1.1\r\nHost: a\r\nX: b\x01c\r\n\r\n', 400],
    ['NUL in value', 'GET / HTTP/1.1\r\nHost: a\r\nX: b\x00c\r\n\r\n', 400],
    ['DEL in value', 'GET / HTTP/1.1\r\nHost: a\r\nX: b\x7fc\r\n\r\n', 400],
    ['repeated Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx', 400],
    ['Content-Length list', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx', 400],
    ['signed Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx', 400],
    ['TE with CL', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n', 400],
    ['TE not ending in chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
    ['chunked twice', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', 400],
    ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['unknown expectation', 'GET / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n', 417],
    ['chunk size not hex', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nx\r\nhello\r\n0\r\n\r\n', 400],
    ['chunk size 0x prefix', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n', 400],
    ['space after chunk size', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n', 400],
    ['chunk data too long', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n', 400],
  ];
  it.each(bad)('refuses %s', (_name, input, status) => {
    expect(outcome(parse(input))).toBe(status);
  });

  it('stays failed after an error, whatever comes next', () => {
    const events = parseChunks([enc('BAD\r\n'), enc('GET / HTTP/1.1\r\nHost: a\r\n\r\n')]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'error', status: 400 });
  });
});

describe('bodies', () => {
  it('reads and discards a Content-Length body, then parses the next request', () => {
    const events = parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(events.map((e) => e.kind)).toEqual(['head', 'end', 'head', 'end']);
    expect(events[2]).toMatchObject({ head: { target: '/2' } });
  });

  it('decodes chunked bodies with extensions and trailers', () => {
    const events = parse(
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n5;a=b\r\nhello\r\nA ; x\r\n0123456789\r\n0\r\nT: x\r\n\r\nGET /n HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    expect(events.map((e) => e.kind)).toEqual(['head', 'end', 'head', 'end']);
    expect(events[0]).toMatchObject({ head: { body: { kind: 'chunked' } } });
  });

  it('waits for the rest of a body', () => {
    expect(outcome(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello'))).toBe('incomplete');
  });

  it('marks 100-continue only when a body is coming', () => {
    expect(head('POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n').expectContinue).toBe(true);
    expect(head('GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n').expectContinue).toBe(false);
  });
});

describe('bounds, at and one past each limit', () => {
  const small: HttpLimits = { maxRequestLineBytes: 64, maxHeaderBytes: 128, maxHeaderCount: 4, maxBodyBytes: 100, maxChunkLineBytes: 16 };

  const requestLine = (n: number): string => {
    const fixed = 'GET /'.length + ' HTTP/1.1'.length;
    return `GET /${'a'.repeat(n - fixed)} HTTP/1.1`;
  };

  it.each([
    ['default', defaultLimits],
    ['small', small],
  ])('request line (%s limits): 414 one past the limit', (_n, limits) => {
    const at = requestLine(limits.maxRequestLineBytes);
    expect(at.length).toBe(limits.maxRequestLineBytes);
    expect(outcome(parse(`${at}\r\nHost: a\r\n\r\n`, limits))).toBe('ok');
    expect(outcome(parse(`${requestLine(limits.maxRequestLineBytes + 1)}\r\nHost: a\r\n\r\n`, limits))).toBe(414);
  });

  it('request line: 414 as soon as the bytes without CRLF exceed the limit', () => {
    const line = requestLine(small.maxRequestLineBytes);
    expect(outcome(parse(line, small))).toBe('incomplete');
    expect(outcome(parse(`${line}\r`, small))).toBe('incomplete');
    expect(outcome(parse(`${line}x`, small))).toBe(414);
  });

  /** Host plus filler fields whose lines (with CRLF) add up to exactly `total` bytes. */
  const fields = (total: number, count: number): string => {
    let out = 'Host: a\r\n';
    for (let i = 1; i < count; i++) {
      const left = total - out.length;
      const size = i === count - 1 ? left : Math.floor(left / (count - i));
      out += `X${i}: ${'v'.repeat(size - `X${i}: `.length - 2)}\r\n`;
    }
    return out;
  };

  it.each([
    ['default', defaultLimits],
    ['small', small],
  ])('header block (%s limits): 431 one past the byte limit', (_n, limits) => {
    const at = fields(limits.maxHeaderBytes, 3);
    expect(at.length).toBe(limits.maxHeaderBytes);
    expect(outcome(parse(`GET / HTTP/1.1\r\n${at}\r\n`, limits))).toBe('ok');
    const past = fields(limits.maxHeaderBytes + 1, 3);
    expect(outcome(parse(`GET / HTTP/1.1\r\n${past}\r\n`, limits))).toBe(431);
  });

  it.each([
    ['default', defaultLimits],
    ['small', small],
  ])('header count (%s limits): 431 one past the field limit', (_n, limits) => {
    const many = (n: number): string => `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: n - 1 }, (_, i) => `X${i}: 1\r\n`).join('')}\r\n`;
    expect(outcome(parse(many(limits.maxHeaderCount), limits))).toBe('ok');
    expect(outcome(parse(many(limits.maxHeaderCount + 1), limits))).toBe(431);
  });

  it.each([
    ['default', defaultLimits],
    ['small', small],
  ])('Content-Length body (%s limits): 413 one past the limit', (_n, limits) => {
    const req = (n: number): string => `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${n}\r\n\r\n${'b'.repeat(n)}`;
    expect(outcome(parse(req(limits.maxBodyBytes), limits))).toBe('ok');
    expect(outcome(parse(req(limits.maxBodyBytes + 1), limits))).toBe(413);
  });

  it('an absurd Content-Length is 413, not a number overflow', () => {
    expect(outcome(parse(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${'9'.repeat(40)}\r\n\r\n`))).toBe(413);
    expect(outcome(parse(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 000000000000000000000005\r\n\r\nhello`))).toBe('ok');
  });

  it('chunked body: 413 one past the limit, counted across chunks', () => {
    const req = (sizes: number[]): string =>
      `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${sizes.map((n) => `${n.toString(16)}\r\n${'c'.repeat(n)}\r\n`).join('')}0\r\n\r\n`;
    expect(outcome(parse(req([60, 40]), small))).toBe('ok');
    expect(outcome(parse(req([60, 41]), small))).toBe(413);
    expect(outcome(parse(req([101]), small))).toBe(413);
    expect(outcome(parse(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${'f'.repeat(30)}\r\n`))).toBe(413);
  });

  it('chunk-size line: 400 one past its limit', () => {
    const req = (ext: string): string => `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1${ext}\r\nx\r\n0\r\n\r\n`;
    const at = `;${'e'.repeat(small.maxChunkLineBytes - 2)}`;
    expect(outcome(parse(req(at), small))).toBe('ok');
    expect(outcome(parse(req(`${at}e`), small))).toBe(400);
  });

  it('trailers have their own field bounds', () => {
    const trailers = Array.from({ length: small.maxHeaderCount + 1 }, (_, i) => `T${i}: 1\r\n`).join('');
    expect(outcome(parse(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${trailers}\r\n`, small))).toBe(431);
  });
});

describe('split at every byte boundary', () => {
  const inputs = [
    'GET /?user=john&password=password HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n',
    '\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /2 HTTP/1.0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nT: x\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n',
    'GET / HTTP/1.1\nHost: a\r\n\r\n',
    `GET /${'a'.repeat(70)} HTTP/1.1\r\n\r\n`,
  ];
  const small: HttpLimits = { ...defaultLimits, maxRequestLineBytes: 64 };
  it.each(inputs.map((s) => [JSON.stringify(s).slice(0, 50), s] as const))('%s', (_n, input) => {
    const bytes = enc(input);
    const whole = parseChunks([bytes], small);
    for (let k = 0; k <= bytes.length; k++) {
      expect(parseChunks([bytes.subarray(0, k), bytes.subarray(k)], small)).toEqual(whole);
    }
    // And one byte at a time.
    expect(parseChunks(Array.from(bytes, (b) => Uint8Array.of(b)), small)).toEqual(whole);
  });
});
