// Our parser against Node's own (llhttp, through node:http on loopback): for every request of a corpus,
// both accept or both refuse, and where both accept they read the same method, target and header lines.
// The few places where we are stricter than llhttp are listed with the rule that makes us so.

import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enc, parse } from './parse-helpers.ts';

interface Verdict {
  accepted: boolean;
  method?: string;
  target?: string;
  headers?: string[];
}

let server: http.Server;
let port = 0;
const waiting = new Map<number, (v: Verdict) => void>();

function settleCase(clientPort: number | undefined, v: Verdict): void {
  if (clientPort === undefined) return;
  const f = waiting.get(clientPort);
  if (f === undefined) return;
  waiting.delete(clientPort);
  f(v);
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const p = req.socket.remotePort;
    const v: Verdict = { accepted: true, method: req.method ?? '', target: req.url ?? '', headers: req.rawHeaders };
    req.on('data', () => {});
    req.on('end', () => {
      settleCase(p, v);
      res.end();
    });
    req.on('error', () => settleCase(p, { accepted: false }));
  });
  server.on('clientError', (_err, sock: net.Socket) => {
    settleCase(sock.remotePort, { accepted: false });
    sock.destroy();
  });
  server.on('connection', (sock: net.Socket) => {
    const p = sock.remotePort;
    sock.on('close', () => setImmediate(() => settleCase(p, { accepted: false })));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  port = a.port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

/** Sends the bytes to node:http and reports what it made of them. */
function nodeVerdict(input: string): Promise<Verdict> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => {
      if (c.localPort === undefined) return reject(new Error('no local port'));
      waiting.set(c.localPort, resolve);
      c.end(Buffer.from(enc(input)));
    });
    c.on('error', () => {});
    c.on('data', () => {});
  });
}

function ourVerdict(input: string): Verdict {
  const events = parse(input);
  const head = events.find((e) => e.kind === 'head');
  const ended = events.some((e) => e.kind === 'end');
  if (head?.kind !== 'head' || !ended || events.some((e) => e.kind === 'error')) return { accepted: false };
  return { accepted: true, method: head.head.method, target: head.head.target, headers: head.head.headers.flatMap(([n, v]) => [n, v]) };
}

const H = 'Host: example.org\r\n';
const agreed: string[] = [
  `GET / HTTP/1.1\r\n${H}\r\n`,
  `GET /?user=john&password=password HTTP/1.1\r\n${H}User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n`,
  `GET /a#b HTTP/1.1\r\n${H}\r\n`,
  `GET /a{b}"|\\^\` HTTP/1.1\r\n${H}\r\n`,
  `GET /?user=..%2F..%2Fetc%2Fpasswd&password=x HTTP/1.1\r\n${H}\r\n`,
  `GET http://x/y?z HTTP/1.1\r\n${H}\r\n`,
  `OPTIONS * HTTP/1.1\r\n${H}\r\n`,
  `HEAD / HTTP/1.1\r\n${H}\r\n`,
  `QUERY / HTTP/1.1\r\n${H}\r\n`,
  `DELETE /x HTTP/1.1\r\n${H}\r\n`,
  'GET / HTTP/1.0\r\n\r\n',
  'GET / HTTP/1.0\r\nHost: a\r\n\r\n',
  `\r\nGET / HTTP/1.1\r\n${H}\r\n`,
  `\r\n\r\nGET / HTTP/1.1\r\n${H}\r\n`,
  `GET / HTTP/1.1\r\n${H}X: \xe9\xffc\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: b\tc\t\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X:\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X:    \r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X-Weird_Name!#$%&'*+.^|~: v\r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: \r\n\r\n`,
  `GET / HTTP/1.1\r\nHost: [::1]:8088\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}Connection: keep-alive\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 01\r\n\r\nx`,
  `POST / HTTP/1.1\r\n${H}Content-Length:  1 \r\n\r\nx`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: x\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n`,
  // Refused by both.
  `get / HTTP/1.1\r\n${H}\r\n`,
  `FOO / HTTP/1.1\r\n${H}\r\n`,
  `CONNECT a:80 HTTP/1.1\r\n${H}\r\n`,
  `GET / HTTP/1.1\n${H.replace('\r', '')}\n`,
  `GET / HTTP/1.1\r\nHost: a\n\r\n`,
  `GET / HTTP/1.2\r\n${H}\r\n`,
  `GET / http/1.1\r\n${H}\r\n`,
  `GET / HTTP/1.1\r${H}\r\n`,
  `GET / HTTP/1.10\r\n${H}\r\n`,
  `GET / HTTP/11\r\n${H}\r\n`,
  'GET\r\n\r\n',
  `GET / HTTP/1.1 \r\n${H}\r\n`,
  `GET /a\xff HTTP/1.1\r\n${H}\r\n`,
  `GET /a\x7f HTTP/1.1\r\n${H}\r\n`,
  `GET /a\tb HTTP/1.1\r\n${H}\r\n`,
  `GET foo HTTP/1.1\r\n${H}\r\n`,
  'GET / HTTP/1.1\r\n\r\n',
  `GET / HTTP/1.1\r\nHost : a\r\n\r\n`,
  `GET / HTTP/1.1\r\n ${H}\r\n`,
  `GET / HTTP/1.1\r\n${H}X: b\r\n c\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: b\x01c\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: b\x7fc\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: b\x00c\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: b\rc\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}:b\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X{: b\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}Expect: foo\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\nx`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 1, 1\r\n\r\nx`,
  `POST / HTTP/1.1\r\n${H}Content-Length: +1\r\n\r\nx`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 1 2\r\n\r\nx`,
  `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\nx`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nx\r\nhello\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`,
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
];

// Where llhttp is more lenient than RFC 9112 and we follow the RFC: node accepts, we refuse.
const stricter: Array<[string, string]> = [
  ['RFC 9112 §3: exactly one SP between request-line parts', `GET  / HTTP/1.1\r\n${H}\r\n`],
  ['RFC 9112 §2.3: only HTTP/1.0 and 1.1 are spoken here (505)', `GET / HTTP/2.0\r\n${H}\r\n`],
  ['RFC 9112 §2.3: no HTTP/0.9 version', `GET / HTTP/0.9\r\n${H}\r\n`],
  ['RFC 9112 §3: no HTTP/0.9 simple request', 'GET /\r\n\r\n'],
  ['RFC 9112 §3.2.4: asterisk-form is for OPTIONS only', `GET * HTTP/1.1\r\n${H}\r\n`],
  ['RFC 9112 §3.2: more than one Host is 400', `GET / HTTP/1.1\r\n${H}Host: b\r\n\r\n`],
  ['RFC 9112 §3.2: an invalid Host value is 400', `GET / HTTP/1.1\r\nHost: a b\r\n\r\n`],
  ['RFC 9112 §3.2: an invalid Host value is 400', `GET / HTTP/1.1\r\nHost: a/b\r\n\r\n`],
  ['RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
];

describe('differential against node:http (llhttp)', () => {
  it.each(agreed.map((c) => [JSON.stringify(c).slice(0, 70), c] as const))('%s', async (_name, input) => {
    const theirs = await nodeVerdict(input);
    const ours = ourVerdict(input);
    expect(ours).toEqual(theirs);
  });

  it.each(stricter)('stricter: %s', async (_rule, input) => {
    const theirs = await nodeVerdict(input);
    expect(theirs.accepted).toBe(true);
    expect(ourVerdict(input).accepted).toBe(false);
  });
});
