import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualTimers } from '../../src/clock.ts';
import type { HttpLimits } from '../../src/http/limits.ts';
import { RequestParser, type ParseEvent } from '../../src/http/request-parser.ts';
import { HttpServer } from '../../src/http/server.ts';
import { MemoryStream, settle } from './memory-stream.ts';
import { enc } from './parse-helpers.ts';

const limits: HttpLimits = { maxRequestLineBytes: 256, maxHeaderBytes: 512, maxHeaderCount: 8, maxBodyBytes: 1024, maxChunkLineBytes: 32 };
const maxHeld = Math.max(limits.maxRequestLineBytes, limits.maxHeaderBytes, limits.maxChunkLineBytes) + 1;

const seeds = [
  'GET /?user=john&password=password HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n',
  'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello',
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: x\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'HEAD / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n',
].map(enc);

const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete')), { maxLength: 6 }),
  )
  .map(([seed, edits]) => {
    const out = Array.from(seed);
    for (const [pos, byte, kind] of edits) {
      const i = out.length === 0 ? 0 : pos % out.length;
      if (kind === 'flip') out[i] = byte;
      else if (kind === 'insert') out.splice(i, 0, byte);
      else out.splice(i, 1);
    }
    return Uint8Array.from(out);
  });

const input = fc.oneof(mutated, fc.uint8Array({ maxLength: 2048 }), mutated.map((m) => Uint8Array.from([...m, ...m, ...m])));

/** Splits bytes at the given cut points. */
function chunks(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

describe('parser properties', () => {
  it('never throws, ends every push in a wait or an error, and holds no more than its bounds', () => {
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const p = new RequestParser(limits);
        let last: ParseEvent = { kind: 'more' };
        for (const c of chunks(bytes, cuts)) {
          p.push(c);
          for (let steps = 0; ; steps++) {
            expect(steps).toBeLessThan(10_000);
            last = p.next();
            if (last.kind === 'more' || last.kind === 'error') break;
          }
          if (last.kind === 'error') break;
          expect(p.buffered).toBeLessThanOrEqual(maxHeld);
        }
        if (last.kind === 'error') expect([400, 413, 414, 417, 431, 501, 505]).toContain(last.status);
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the same events however the bytes are split', () => {
    const run = (parts: Uint8Array[]): ParseEvent[] => {
      const p = new RequestParser(limits);
      const out: ParseEvent[] = [];
      for (const c of parts) {
        p.push(c);
        for (let e = p.next(); e.kind !== 'more'; e = p.next()) {
          out.push(e);
          if (e.kind === 'error') return out;
        }
      }
      return out;
    };
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        expect(run(chunks(bytes, cuts))).toEqual(run([bytes]));
      }),
      { numRuns: 2000 },
    );
  });

  it('the server answers or waits, and a finished peer always ends the connection', async () => {
    await fc.assert(
      fc.asyncProperty(input, async (bytes) => {
        const server = new HttpServer(() => ({ status: 200, body: 'ok\n' }), new ManualTimers(), { limits });
        const stream = new MemoryStream();
        const done = server.serve(stream);
        stream.send(bytes);
        stream.end();
        await settle();
        await done;
        expect(server.connections).toBe(0);
        expect(stream.closed || stream.aborted).toBe(true);
        // Whatever was written is a sequence of well-formed responses.
        const text = stream.text;
        if (text !== '') expect(text).toMatch(/^(HTTP\/1\.1 [1-5][0-9]{2} [^\r\n]+\r\n([a-z-]+: [^\r\n]*\r\n)*\r\n[^]*?)+$/);
      }),
      { numRuns: 300 },
    );
  });
});
