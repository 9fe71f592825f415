// Every bound of the HTTP server, each an option with the default the issue names.

export interface HttpLimits {
  /** Longest request line, CRLF excluded (RFC 9112 §3: 414 past it). */
  maxRequestLineBytes: number;
  /** Largest header block: field lines with their CRLFs, request line and final CRLF excluded (431 past it). */
  maxHeaderBytes: number;
  /** Most header (or trailer) field lines (431 past it). */
  maxHeaderCount: number;
  /** Largest request body, after chunked decoding (413 past it). */
  maxBodyBytes: number;
  /** Longest chunk-size line with its extensions, CRLF excluded (400 past it). */
  maxChunkLineBytes: number;
}

export interface HttpTimeouts {
  /** From connection open, or the first byte of a later request, until its header block is complete (408). */
  headerTimeoutMs: number;
  /** Idle time between requests on a kept-alive connection before it is closed. */
  keepAliveTimeoutMs: number;
  /** Time allowed to receive a request body once its headers are in (408). */
  bodyTimeoutMs: number;
  /** Time a response write may wait for the peer to take it before the connection is aborted. */
  writeTimeoutMs: number;
}

export const defaultLimits: HttpLimits = {
  maxRequestLineBytes: 8 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  maxBodyBytes: 1024 * 1024,
  maxChunkLineBytes: 1024,
};

export const defaultTimeouts: HttpTimeouts = {
  headerTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  bodyTimeoutMs: 30_000,
  writeTimeoutMs: 30_000,
};
