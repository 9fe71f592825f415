// The character generator service (RFC 864): on a TCP connection, data is sent until the client closes it; what
// the client sends is read and thrown away. The data is RFC 864's rotating pattern of 72-character lines. A bulk
// source for throughput measurements, as echo (RFC 862) is a round trip.

import type { ByteStream } from '../net/byte-stream.ts';

/** 64 KiB of RFC 864 lines: 72 printable characters (starting one further each line) and CRLF. */
const BLOCK: Uint8Array = (() => {
  const printable = Array.from({ length: 95 }, (_, i) => 32 + i);
  const out = new Uint8Array(64 * 1024);
  let off = 0;
  for (let line = 0; off < out.length; line++) {
    for (let c = 0; c < 72 && off < out.length; c++) out[off++] = printable[(line + c) % 95] ?? 32;
    if (off < out.length) out[off++] = 13;
    if (off < out.length) out[off++] = 10;
  }
  return out;
})();

export async function serveChargen(stream: ByteStream): Promise<void> {
  let peerDone = false;
  const drain = (async () => {
    try {
      while ((await stream.read()) !== null);
    } catch {
      // the connection failed: the writer sees it too
    }
    peerDone = true;
  })();
  try {
    while (!peerDone) await stream.write(BLOCK);
    await stream.close();
  } catch {
    stream.abort();
  }
  await drain;
}
