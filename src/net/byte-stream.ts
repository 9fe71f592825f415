// The one interface between a transport and the applications above it (Mirage's FLOW).
// `src/http` and `src/app` see only this; a TCP connection of our stack and a `node:net`
// socket (src/socket-adapter.ts) both provide it.

export interface RemoteEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface ByteStream {
  readonly remote: RemoteEndpoint;
  /**
   * Resolves with the next bytes received, or `null` once the peer has finished sending
   * (or the stream was closed or aborted). One read at a time; a pending read always settles.
   */
  read(): Promise<Uint8Array | null>;
  /** Queues bytes for sending; resolves when the transport has taken them. Rejects once the stream is closed. */
  write(data: Uint8Array): Promise<void>;
  /** Graceful close: sends what is queued, then a FIN. Further reads return `null`. */
  close(): Promise<void>;
  /** Immediate close with a reset; releases everything held for the stream. */
  abort(): void;
}
