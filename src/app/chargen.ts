// The character generator service (RFC 864): on a TCP connection, data is sent until the client closes it; what
// the client sends is read and thrown away. The data is RFC 864's rotating pattern of 72-character lines. A bulk
// source for throughput measurements, as echo (RFC 862) is a round trip.

import type { ByteStream } from '../net/byte-stream.ts';

/**
 * RFC 864 lines: 72 printable characters, starting one further each line, and CRLF. After 95 lines the pattern
 * repeats, so a block of whole cycles (nine: 63 270 bytes) sent again and again is the continuous pattern.
 */
const BLOCK: Uint8Array = (() => {
  const lines = 95 * 9;
  const out = new Uint8Array(lines * 74);
  let off = 0;
  for (let line = 0; line < lines; line++) {
    for (let c = 0; c < 72; c++) out[off++] = 32 + ((line + c) % 95);
    out[off++] = 13;
    out[off++] = 10;
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
