// An incremental, strict HTTP/1.1 request parser (RFC 9112), sans I/O: push bytes, ask for the next event.
// It never throws on input; every malformed or oversized request ends in an `error` event with its status.
// Bodies are framed and discarded, never stored: the service has no use for them.

import type { HttpLimits } from './limits.ts';
import {
  CR, HTAB, KNOWN_METHODS, LF, SP, isFieldValueByte, isTargetByte, isToken, isTokenString, isValidHost,
  latin1, listElements,
} from './syntax.ts';

export type HttpVersion = '1.0' | '1.1';

export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

export interface RequestHead {
  method: string;
  target: string;
  version: HttpVersion;
  /** Field lines in order: name as sent, value with surrounding whitespace removed. */
  headers: ReadonlyArray<readonly [string, string]>;
  keepAlive: boolean;
  expectContinue: boolean;
  body: BodyFraming;
}

export type ParseEvent =
  | { kind: 'more' }
  | { kind: 'head'; head: RequestHead }
  | { kind: 'end' }
  | { kind: 'error'; status: number; reason: string };

type State =
  | 'start' | 'fields' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'end' | 'failed';

type Line = { kind: 'line'; start: number; end: number } | { kind: 'more' } | { kind: 'too-long' } | { kind: 'bad' };

const MORE: ParseEvent = { kind: 'more' };

export class RequestParser {
  private buf = new Uint8Array(4096);
  private rd = 0;
  private wr = 0;
  /** Offset from `rd` up to which the current line has been searched for LF. */
  private scanned = 0;
  private state: State = 'start';
  private failure: ParseEvent = MORE;
  private leadingBytes = 0;
  private fieldBytes = 0;
  private fieldCount = 0;
  private method = '';
  private target = '';
  private version: HttpVersion = '1.1';
  private headers: Array<readonly [string, string]> = [];
  private remaining = 0;
  private bodyBytes = 0;

  constructor(private readonly limits: HttpLimits) {}

  /** Where the parser stands: between requests with nothing buffered, in a head, or in a body. */
  get phase(): 'idle' | 'head' | 'body' {
    if (this.state === 'start') return this.rd === this.wr ? 'idle' : 'head';
    if (this.state === 'fields') return 'head';
    return 'body';
  }

  /** Bytes held, waiting to be parsed. */
  get buffered(): number {
    return this.wr - this.rd;
  }

  push(chunk: Uint8Array): void {
    if (this.state === 'failed' || chunk.length === 0) return;
    if (this.rd === this.wr) {
      this.rd = 0;
      this.wr = 0;
    }
    if (this.wr + chunk.length > this.buf.length) {
      const live = this.wr - this.rd;
      const need = live + chunk.length;
      if (need > this.buf.length) {
        const grown = new Uint8Array(Math.max(need, this.buf.length * 2));
        grown.set(this.buf.subarray(this.rd, this.wr), 0);
        this.buf = grown;
      } else {
        this.buf.copyWithin(0, this.rd, this.wr);
      }
      this.rd = 0;
      this.wr = live;
    }
    this.buf.set(chunk, this.wr);
    this.wr += chunk.length;
  }

  next(): ParseEvent {
    for (;;) {
      switch (this.state) {
        case 'failed':
          return this.failure;
        case 'end':
          this.resetMessage();
          return { kind: 'end' };
        case 'start': {
          const r = this.requestLine();
          if (r !== undefined) return r;
          break;
        }
        case 'fields': {
          const r = this.fieldLine(false);
          if (r !== undefined) return r;
          break;
        }
        case 'length': {
          const n = Math.min(this.remaining, this.wr - this.rd);
          this.rd += n;
          this.remaining -= n;
          if (this.remaining > 0) return MORE;
          this.state = 'end';
          break;
        }
        case 'chunk-size': {
          const r = this.chunkSize();
          if (r !== undefined) return r;
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.remaining, this.wr - this.rd);
          this.rd += n;
          this.remaining -= n;
          if (this.remaining > 0) return MORE;
          this.state = 'chunk-crlf';
          break;
        }
        case 'chunk-crlf': {
          if (this.wr - this.rd < 2) {
            if (this.wr - this.rd === 1 && this.buf[this.rd] !== CR) return this.fail(400, 'chunk data not followed by CRLF');
            return MORE;
          }
          if (this.buf[this.rd] !== CR || this.buf[this.rd + 1] !== LF) return this.fail(400, 'chunk data not followed by CRLF');
          this.rd += 2;
          this.state = 'chunk-size';
          break;
        }
        case 'trailers': {
          const r = this.fieldLine(true);
          if (r !== undefined) return r;
          break;
        }
      }
    }
  }

  private resetMessage(): void {
    this.state = 'start';
    this.leadingBytes = 0;
    this.fieldBytes = 0;
    this.fieldCount = 0;
    this.headers = [];
    this.remaining = 0;
    this.bodyBytes = 0;
  }

  private fail(status: number, reason: string): ParseEvent {
    this.state = 'failed';
    this.failure = { kind: 'error', status, reason };
    this.rd = this.wr = 0;
    return this.failure;
  }

  /** Finds the next CRLF-terminated line whose content may hold at most `max` bytes (RFC 9112 §2.2: no bare LF or CR). */
  private takeLine(max: number): Line {
    const from = this.rd + this.scanned;
    const at = this.buf.subarray(from, this.wr).indexOf(LF);
    if (at < 0) {
      const pending = this.wr - this.rd;
      this.scanned = pending;
      if (pending > max + 1 || (pending === max + 1 && this.buf[this.wr - 1] !== CR)) return { kind: 'too-long' };
      return { kind: 'more' };
    }
    const lf = from + at;
    this.scanned = 0;
    if (lf === this.rd || this.buf[lf - 1] !== CR) return { kind: 'bad' };
    const line: Line = { kind: 'line', start: this.rd, end: lf - 1 };
    this.rd = lf + 1;
    if (line.end - line.start > max) return { kind: 'too-long' };
    for (let i = line.start; i < line.end; i++) if (this.buf[i] === CR) return { kind: 'bad' };
    return line;
  }

  // RFC 9112 §3: request-line = method SP request-target SP HTTP-version
  private requestLine(): ParseEvent | undefined {
    const line = this.takeLine(this.limits.maxRequestLineBytes);
    if (line.kind === 'more') return MORE;
    if (line.kind === 'too-long') return this.fail(414, 'request line too long');
    if (line.kind === 'bad') return this.fail(400, 'bad line ending');
    const { start, end } = line;
    if (start === end) {
      // RFC 9112 §2.2: ignore empty lines before the request line, within the same bound.
      this.leadingBytes += 2;
      return this.leadingBytes > this.limits.maxRequestLineBytes ? this.fail(400, 'too many empty lines') : undefined;
    }
    const b = this.buf;
    const sp1 = b.subarray(start, end).indexOf(SP) + start;
    if (sp1 < start) return this.fail(400, 'malformed request line');
    const sp2 = b.subarray(sp1 + 1, end).indexOf(SP) + sp1 + 1;
    if (sp2 <= sp1) return this.fail(400, 'malformed request line');
    if (!isToken(b, start, sp1)) return this.fail(400, 'malformed method');
    if (sp2 === sp1 + 1) return this.fail(400, 'malformed request line');
    for (let i = sp1 + 1; i < sp2; i++) if (!isTargetByte(b[i] ?? 0)) return this.fail(400, 'malformed request target');
    const version = latin1(b, sp2 + 1, end);
    if (version === 'HTTP/1.1' || version === 'HTTP/1.0') this.version = version === 'HTTP/1.1' ? '1.1' : '1.0';
    else if (/^HTTP\/[0-9]\.[0-9]$/.test(version)) return this.fail(505, 'HTTP version not supported');
    else return this.fail(400, 'malformed HTTP version');
    this.method = latin1(b, start, sp1);
    this.target = latin1(b, sp1 + 1, sp2);
    if (!KNOWN_METHODS.has(this.method) || this.method === 'CONNECT') return this.fail(501, 'method not implemented');
    // RFC 9112 §3.2: origin-form, absolute-form, or asterisk-form (OPTIONS only).
    const t = this.target;
    const formOk = t.startsWith('/') || (t === '*' && this.method === 'OPTIONS') || /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(t);
    if (!formOk) return this.fail(400, 'malformed request target');
    this.state = 'fields';
    return undefined;
  }

  // RFC 9112 §5: field-line = field-name ":" OWS field-value OWS; obs-fold and space before ":" are refused.
  private fieldLine(trailer: boolean): ParseEvent | undefined {
    const budget = this.limits.maxHeaderBytes - this.fieldBytes - 2;
    const line = this.takeLine(Math.max(0, budget));
    if (line.kind === 'more') return MORE;
    if (line.kind === 'bad') return this.fail(400, 'bad line ending');
    if (line.kind === 'too-long') return this.fail(431, 'header fields too large');
    const { start, end } = line;
    if (start === end) return trailer ? this.endOfTrailers() : this.endOfHead();
    if (budget < end - start) return this.fail(431, 'header fields too large');
    this.fieldBytes += end - start + 2;
    if (++this.fieldCount > this.limits.maxHeaderCount) return this.fail(431, 'too many header fields');
    const b = this.buf;
    const colon = b.subarray(start, end).indexOf(0x3a) + start;
    if (colon < start || !isToken(b, start, colon)) return this.fail(400, 'malformed header field');
    let vs = colon + 1;
    let ve = end;
    while (vs < ve && (b[vs] === SP || b[vs] === HTAB)) vs++;
    while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HTAB)) ve--;
    for (let i = vs; i < ve; i++) if (!isFieldValueByte(b[i] ?? 0)) return this.fail(400, 'malformed header value');
    if (!trailer) this.headers.push([latin1(b, start, colon), latin1(b, vs, ve)]);
    return undefined;
  }

  private endOfHead(): ParseEvent {
    let host = 0;
    let contentLength: string | undefined;
    const codings: string[] = [];
    let sawTransferEncoding = false;
    let close = this.version === '1.0';
    let expectContinue = false;
    for (const [rawName, value] of this.headers) {
      const name = rawName.toLowerCase();
      if (name === 'host') {
        host++;
        if (!isValidHost(value)) return this.fail(400, 'invalid Host');
      } else if (name === 'content-length') {
        // RFC 9112 §6.3: a list or repeated Content-Length is refused rather than guessed at.
        if (contentLength !== undefined) return this.fail(400, 'repeated Content-Length');
        if (!/^[0-9]+$/.test(value)) return this.fail(400, 'invalid Content-Length');
        contentLength = value;
      } else if (name === 'transfer-encoding') {
        sawTransferEncoding = true;
        codings.push(...listElements(value));
      } else if (name === 'connection') {
        if (listElements(value).includes('close')) close = true;
      } else if (name === 'expect') {
        // RFC 9110 §10.1.1: only 100-continue is defined; anything else is 417.
        if (value.toLowerCase() !== '100-continue') return this.fail(417, 'unsupported expectation');
        expectContinue = this.version === '1.1';
      }
    }
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, never more than one.
    if (host > 1 || (host === 0 && this.version === '1.1')) return this.fail(400, 'missing or repeated Host');
    let body: BodyFraming = { kind: 'none' };
    if (sawTransferEncoding) {
      // RFC 9112 §6.1 and §6.3: Transfer-Encoding with Content-Length, in HTTP/1.0, or not ending in
      // a single chunked is a framing we cannot trust: 400 and close.
      if (contentLength !== undefined) return this.fail(400, 'Transfer-Encoding with Content-Length');
      if (this.version === '1.0') return this.fail(400, 'Transfer-Encoding in HTTP/1.0');
      if (codings.length === 0 || codings[codings.length - 1] !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1) {
        return this.fail(400, 'Transfer-Encoding must end in chunked');
      }
      if (!codings.every(isTokenString)) return this.fail(400, 'invalid transfer coding');
      body = { kind: 'chunked' };
    } else if (contentLength !== undefined) {
      const digits = contentLength.replace(/^0+(?=.)/, '');
      const length = digits.length > 15 ? Infinity : Number(digits);
      if (length > this.limits.maxBodyBytes) return this.fail(413, 'request body too large');
      if (length > 0) body = { kind: 'length', length };
    }
    const head: RequestHead = {
      method: this.method,
      target: this.target,
      version: this.version,
      headers: this.headers,
      keepAlive: !close,
      expectContinue: expectContinue && body.kind !== 'none',
      body,
    };
    if (body.kind === 'length') {
      this.remaining = body.length;
      this.state = 'length';
    } else if (body.kind === 'chunked') {
      this.state = 'chunk-size';
    } else {
      this.state = 'end';
    }
    this.fieldBytes = 0;
    this.fieldCount = 0;
    return { kind: 'head', head };
  }

  // RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF, chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )
  private chunkSize(): ParseEvent | undefined {
    const line = this.takeLine(this.limits.maxChunkLineBytes);
    if (line.kind === 'more') return MORE;
    if (line.kind !== 'line') return this.fail(400, 'malformed chunk size line');
    const b = this.buf;
    let i = line.start;
    let size = 0;
    while (i < line.end && isHexDigit(b[i] ?? 0)) {
      size = size * 16 + hexValue(b[i] ?? 0);
      if (size > this.limits.maxBodyBytes) return this.fail(413, 'request body too large');
      i++;
    }
    if (i === line.start) return this.fail(400, 'malformed chunk size');
    if (i < line.end) {
      let j = i;
      while (j < line.end && (b[j] === SP || b[j] === HTAB)) j++;
      if (b[j] !== 0x3b) return this.fail(400, 'malformed chunk extension');
      for (; j < line.end; j++) if (!isFieldValueByte(b[j] ?? 0)) return this.fail(400, 'malformed chunk extension');
    }
    this.bodyBytes += size;
    if (this.bodyBytes > this.limits.maxBodyBytes) return this.fail(413, 'request body too large');
    if (size === 0) {
      this.state = 'trailers';
    } else {
      this.remaining = size;
      this.state = 'chunk-data';
    }
    return undefined;
  }

  private endOfTrailers(): undefined {
    this.state = 'end';
    return undefined;
  }
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10;
}
