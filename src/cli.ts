// Command-line flags: parsed and checked here, so that main.ts only starts things.

import { isIP } from 'node:net';
import { parseArgs } from 'node:util';

export type StackKind = 'socket' | 'direct';

export interface Config {
  stack: StackKind;
  port: number;
  listen: string;
  data: string;
}

export type CliResult = { kind: 'help' } | { kind: 'run'; config: Config } | { kind: 'error'; message: string };

export const USAGE = `Usage: npm start -- [options]

The authentication service: GET /?user=NAME&password=SECRET answers
200 "hello NAME!" when the password matches the file data/NAME.

Options:
  --stack socket|direct  which TCP/IP stack serves it (default: socket)
                           socket: the kernel's sockets (Mirage's --unix mode)
                           direct: this project's own stack over a TAP (not built yet)
  --port N               TCP port to serve on (default: 8088)
  --listen ADDR          address to listen on, socket stack only (default: 0.0.0.0)
  --data DIR             directory of user files (default: ./data)
  -h, --help             this text
`;

export function parseCli(argv: readonly string[]): CliResult {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        stack: { type: 'string', default: 'socket' },
        port: { type: 'string', default: '8088' },
        listen: { type: 'string', default: '0.0.0.0' },
        data: { type: 'string', default: './data' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return { kind: 'error', message: err instanceof Error ? err.message.split('\n')[0] ?? 'bad flag' : 'bad flag' };
  }
  const v = parsed.values;
  if (v.help) return { kind: 'help' };
  const stack = v.stack;
  if (stack !== 'socket' && stack !== 'direct') return { kind: 'error', message: `--stack must be socket or direct, not '${stack}'` };
  if (stack === 'direct') return { kind: 'error', message: '--stack direct is not available yet; use --stack socket' };
  const port = Number(v.port);
  if (!/^[0-9]+$/.test(v.port) || !Number.isInteger(port) || port < 1 || port > 65535) {
    return { kind: 'error', message: `--port must be a whole number from 1 to 65535, not '${v.port}'` };
  }
  if (isIP(v.listen) === 0) return { kind: 'error', message: `--listen must be an IP address, not '${v.listen}'` };
  if (v.data === '') return { kind: 'error', message: '--data must name a directory' };
  return { kind: 'run', config: { stack, port, listen: v.listen, data: v.data } };
}
