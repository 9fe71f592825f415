// The chargen service (RFC 864) over our own TCP: the client gets RFC 864's rotating lines for as long as it
// reads, and when it closes, the service stops and the connection ends on both sides.

import { describe, expect, it } from 'vitest';
import { serveChargen } from '../../src/app/chargen.ts';
import { TcpSocket } from '../../src/net/tcp/tcp-socket.ts';
import { Net, OUR_IP } from '../net/tcp/harness.ts';

describe('chargen (RFC 864)', () => {
  it('sends 72-character lines, each starting one character further, until the client closes', async () => {
    const net = new Net();
    let served: Promise<void> | undefined;
    net.a.tcp.listen(19, (c) => {
      served = serveChargen(new TcpSocket(c));
    });
    const client = new TcpSocket(net.b.tcp.connect(OUR_IP, 19));
    net.run();
    await client.established();
    const parts: Uint8Array[] = [];
    let got = 0;
    for (let i = 0; i < 2000 && got < 200_000; i++) {
      net.advance(1);
      await new Promise<void>((r) => setImmediate(r));
      const c = client.conn.read();
      parts.push(c);
      got += c.length;
    }
    expect(got).toBeGreaterThanOrEqual(200_000);
    const text = Buffer.concat(parts).toString('latin1');
    const lines = text.split('\r\n');
    expect(lines[0]).toBe(Array.from({ length: 72 }, (_, i) => String.fromCharCode(32 + i)).join(''));
    expect(lines[1]).toBe(Array.from({ length: 72 }, (_, i) => String.fromCharCode(32 + ((1 + i) % 95))).join(''));
    expect(lines.slice(1, -1).every((l) => l.length === 72)).toBe(true);
    client.conn.close();
    for (let i = 0; i < 2000 && [...net.a.tcp.connections()].some((c) => c.state !== 'TIME_WAIT'); i++) {
      net.advance(1);
      await new Promise<void>((r) => setImmediate(r));
      client.conn.read();
    }
    await served;
    expect([...net.a.tcp.connections()].every((c) => c.state === 'TIME_WAIT' || c.state === 'CLOSED')).toBe(true);
  });
});
