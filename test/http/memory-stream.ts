import type { ByteStream, RemoteEndpoint } from '../../src/net/byte-stream.ts';

/** A ByteStream whose far end is the test: it sends bytes in and reads what the server wrote. */
export class MemoryStream implements ByteStream {
  readonly remote: RemoteEndpoint = { address: '192.0.2.7', port: 40000 };
  readonly written: Uint8Array[] = [];
  closed = false;
  aborted = false;
  /** While true, writes stay pending, as if the peer stopped reading. */
  blockWrites = false;
  private readonly inbound: Array<Uint8Array | null> = [];
  private waiter: ((c: Uint8Array | null) => void) | undefined;
  private readonly blocked: Array<() => void> = [];

  send(data: string | Uint8Array): void {
    this.push(typeof data === 'string' ? Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff) : data);
  }

  /** The peer finishes sending (FIN). */
  end(): void {
    this.push(null);
  }

  private push(c: Uint8Array | null): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(c);
    } else {
      this.inbound.push(c);
    }
  }

  get text(): string {
    return this.written.map((b) => String.fromCharCode(...b)).join('');
  }

  read(): Promise<Uint8Array | null> {
    if (this.closed || this.aborted) return Promise.resolve(null);
    if (this.inbound.length > 0) return Promise.resolve(this.inbound.shift() ?? null);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  write(data: Uint8Array): Promise<void> {
    if (this.closed || this.aborted) return Promise.reject(new Error('closed'));
    if (this.blockWrites) {
      return new Promise((resolve) => this.blocked.push(() => {
        this.written.push(data.slice());
        resolve();
      }));
    }
    this.written.push(data.slice());
    return Promise.resolve();
  }

  unblock(): void {
    this.blockWrites = false;
    for (const f of this.blocked.splice(0)) f();
  }

  close(): Promise<void> {
    this.closed = true;
    this.wakeReader();
    return Promise.resolve();
  }

  abort(): void {
    this.aborted = true;
    this.wakeReader();
  }

  private wakeReader(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.(null);
  }
}

/** Lets pending promise chains run to their next wait (no time passes). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}
