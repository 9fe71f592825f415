// Any ByteStream as a Node stream.Duplex, so Node libraries (node:http's server among them) run over
// our stack unchanged: `server.emit('connection', byteStreamToDuplex(stream))`.

import { Duplex } from 'node:stream';
import type { ByteStream } from './byte-stream.ts';

export interface HalfClosable {
  shutdownWrite(): void;
}

function canHalfClose(s: ByteStream): s is ByteStream & HalfClosable {
  return 'shutdownWrite' in s && typeof s.shutdownWrite === 'function';
}

export class ByteStreamDuplex extends Duplex {
  private reading = false;

  constructor(readonly stream: ByteStream) {
    super({ allowHalfOpen: true });
  }

  // The parts of net.Socket that node:http touches.
  get remoteAddress(): string {
    return this.stream.remote.address;
  }

  get remotePort(): number {
    return this.stream.remote.port;
  }

  get remoteFamily(): string {
    return 'IPv4';
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setTimeout(_ms: number, cb?: () => void): this {
    if (cb) this.once('timeout', cb);
    return this;
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    void this.stream.read().then(
      (chunk) => {
        this.reading = false;
        if (chunk === null) this.push(null);
        else if (this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))) this._read();
      },
      (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
    );
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.stream.write(chunk).then(() => cb(), (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))));
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (canHalfClose(this.stream)) {
      this.stream.shutdownWrite();
      cb();
    } else {
      this.stream.close().then(() => cb(), (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))));
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (err) this.stream.abort();
    else void this.stream.close();
    cb(err);
  }
}

export function byteStreamToDuplex(stream: ByteStream): ByteStreamDuplex {
  return new ByteStreamDuplex(stream);
}
