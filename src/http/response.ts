// Response serialisation (RFC 9112 §4 status line, §6 framing): always Content-Length, never chunked.

export interface HttpResponse {
  status: number;
  body: string | Uint8Array;
  /** Extra fields; content-length, date and connection are set by the server, content-type too unless given here. */
  headers?: ReadonlyArray<readonly [string, string]>;
}

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: 'Continue',
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  417: 'Expectation Failed',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

export function reasonPhrase(status: number): string {
  return STATUS_TEXT[status] ?? 'Unknown';
}

/** A plain-text response whose body is the reason phrase, for errors the HTTP layer answers itself. */
export function errorResponse(status: number): HttpResponse {
  return { status, body: `${reasonPhrase(status)}\n` };
}

const encoder = new TextEncoder();

export const CONTINUE_100 = encoder.encode('HTTP/1.1 100 Continue\r\n\r\n');

export interface SerializeOptions {
  /** HEAD: the same fields as GET, no body (RFC 9110 §9.3.2). */
  omitBody: boolean;
  close: boolean;
  date: string;
}

export function serializeResponse(res: HttpResponse, opts: SerializeOptions): Uint8Array {
  const body = typeof res.body === 'string' ? encoder.encode(res.body) : res.body;
  let head = `HTTP/1.1 ${res.status} ${reasonPhrase(res.status)}\r\n`;
  const headers = res.headers ?? [];
  if (!headers.some(([name]) => name.toLowerCase() === 'content-type')) head += 'content-type: text/plain\r\n';
  head += `content-length: ${body.length}\r\n`;
  head += `date: ${opts.date}\r\n`;
  for (const [name, value] of headers) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) continue;
    head += `${name}: ${value}\r\n`;
  }
  if (opts.close) head += 'connection: close\r\n';
  head += '\r\n';
  const headBytes = encoder.encode(head);
  if (opts.omitBody || body.length === 0) return headBytes;
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes, 0);
  out.set(body, headBytes.length);
  return out;
}
