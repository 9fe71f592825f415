import { defaultLimits, type HttpLimits } from '../../src/http/limits.ts';
import { RequestParser, type ParseEvent } from '../../src/http/request-parser.ts';

export const enc = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

/** Feeds `chunks` one after another, collecting every event up to each `more`; stops at the first error. */
export function parseChunks(chunks: readonly Uint8Array[], limits: HttpLimits = defaultLimits): ParseEvent[] {
  const p = new RequestParser(limits);
  const out: ParseEvent[] = [];
  for (const c of chunks) {
    p.push(c);
    for (;;) {
      const ev = p.next();
      if (ev.kind === 'more') break;
      out.push(ev);
      if (ev.kind === 'error') return out;
    }
  }
  return out;
}

export function parse(input: string | Uint8Array, limits: HttpLimits = defaultLimits): ParseEvent[] {
  return parseChunks([typeof input === 'string' ? enc(input) : input], limits);
}

/** The final outcome: the status of an error, or 'ok' when at least one request ended cleanly, else 'incomplete'. */
export function outcome(events: ParseEvent[]): number | 'ok' | 'incomplete' {
  const last = events[events.length - 1];
  if (last?.kind === 'error') return last.status;
  return events.some((e) => e.kind === 'end') ? 'ok' : 'incomplete';
}
