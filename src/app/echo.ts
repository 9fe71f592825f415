// The echo service (RFC 862): every byte received is sent back, until the peer closes.

import type { ByteStream } from '../net/byte-stream.ts';

export async function serveEcho(stream: ByteStream): Promise<void> {
  try {
    for (let chunk = await stream.read(); chunk !== null; chunk = await stream.read()) {
      await stream.write(chunk);
    }
    await stream.close();
  } catch {
    stream.abort();
  }
}
