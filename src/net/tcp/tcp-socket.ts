// A TCP connection of our stack as the ByteStream that src/http serves (Mirage's FLOW over TCP).
// Reads take from the receive buffer (opening the window), writes wait for send-buffer space. The socket
// holds only its connection: the connection tells its layer itself when it has work to send.

import { ipToString } from '../addr.ts';
import type { ByteStream, RemoteEndpoint } from '../byte-stream.ts';
import type { TcpConnection } from './tcp-connection.ts';

/** Most bytes one read returns. */
const READ_CHUNK = 64 * 1024;

export class TcpSocket implements ByteStream {
  readonly remote: RemoteEndpoint;
  private waiters: Array<() => void> = [];

  constructor(readonly conn: TcpConnection) {
    this.remote = { address: ipToString(conn.remote.address), port: conn.remote.port };
    conn.notify = () => {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    };
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves once the handshake completes; rejects if the connection failed. */
  async established(): Promise<void> {
    while (!this.conn.established) {
      if (this.conn.state === 'CLOSED') throw new Error(`connection ${this.conn.errorText ?? 'closed'}`);
      await this.changed();
    }
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.conn.readable > 0) return this.conn.read(READ_CHUNK);
      if (this.conn.atEof) return null;
      await this.changed();
    }
  }

  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      if (!this.conn.canSend) throw new Error(`connection ${this.conn.errorText ?? this.conn.state.toLowerCase()}`);
      off += this.conn.write(off === 0 ? data : data.subarray(off));
      if (off < data.length) await this.changed();
    }
  }

  /** Waits until everything written has been acknowledged (or the connection is gone). */
  async drained(): Promise<void> {
    while (this.conn.unacknowledged > 0 && this.conn.state !== 'CLOSED') await this.changed();
  }

  close(): Promise<void> {
    this.conn.close();
    return Promise.resolve();
  }

  /** Half-close: FIN after the data; reading goes on. */
  shutdownWrite(): void {
    this.conn.shutdownWrite();
  }

  abort(): void {
    this.conn.abort();
  }
}
