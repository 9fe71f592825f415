// `npm run passwd -- USER [--data DIR]`: sets USER's password as an scrypt hash in DIR/USER (mode 0640,
// group the directory's: the service, once it has dropped root, reads it through that group).
// On a terminal it asks twice without echo (raw mode: backspace and Ctrl-U edit, Ctrl-C aborts with 130);
// otherwise it reads one line from stdin. The file is replaced atomically (a temp file in the same directory,
// fsync, rename). Exit status: 0 written, 1 refused (empty or mismatching password, unreadable input, write
// failure), 2 bad usage, 130 aborted.

import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import { DirectoryKv, isPlainKey } from './app/kv-store.ts';
import { DEFAULT_SCRYPT_PARAMS, hashPassword } from './app/password-hash.ts';

const USAGE = `Usage: npm run passwd -- USER [--data DIR]

Sets USER's password: writes its scrypt hash to DIR/USER (default DIR: ./data), mode 0640 with DIR's group,
replacing the file atomically. On a terminal the password is asked for twice, without echo;
otherwise one line is read from stdin.

  --data DIR     the service's data directory (default: ./data)
  -h, --help     this text
`;

/** Longest password accepted, in bytes (a request line is 8 KiB at most anyway). */
const MAX_PASSWORD_BYTES = 4096;

class Exit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function parse(argv: string[]): { user: string; data: string } | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { data: { type: 'string', default: './data' }, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (err) {
    throw new Exit(2, `${err instanceof Error ? (err.message.split('\n')[0] ?? 'bad flag') : 'bad flag'} (see --help)`);
  }
  if (parsed.values.help) return 'help';
  if (parsed.positionals.length !== 1) throw new Exit(2, 'give exactly one USER (see --help)');
  const user = parsed.positionals[0] ?? '';
  if (!isPlainKey(user)) {
    throw new Exit(2, `${JSON.stringify(user)} cannot be a user name: it must be a plain file name (not empty, no '/', '\\' or NUL, not starting with '.', at most 255 bytes)`);
  }
  if (parsed.values.data === '') throw new Exit(2, '--data must name a directory');
  return { user, data: parsed.values.data };
}

// --- Reading the password. ---

/** One line from a pipe or file: up to the first newline (a CR before it dropped) or the end of input. */
async function readPipedLine(input: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const line = await new Promise<Buffer>((resolve, reject) => {
    const done = (): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      input.pause();
    };
    const onData = (chunk: Buffer): void => {
      const nl = chunk.indexOf(0x0a);
      chunks.push(nl < 0 ? chunk : chunk.subarray(0, nl));
      size += nl < 0 ? chunk.length : nl;
      if (size > MAX_PASSWORD_BYTES + 1) {
        done();
        reject(new Exit(1, `the password is longer than ${MAX_PASSWORD_BYTES} bytes; nothing written`));
      } else if (nl >= 0) {
        done();
        resolve(Buffer.concat(chunks));
      }
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error): void => {
      done();
      reject(new Exit(1, `cannot read the password from stdin: ${err.message}`));
    };
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
    input.resume();
  });
  const bytes = line.at(-1) === 0x0d ? line.subarray(0, -1) : line;
  if (bytes.length > MAX_PASSWORD_BYTES) throw new Exit(1, `the password is longer than ${MAX_PASSWORD_BYTES} bytes; nothing written`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Exit(1, 'the password is not valid UTF-8; nothing written');
  }
}

type KeyEvent = { kind: 'line'; text: string } | { kind: 'abort' } | { kind: 'eof' };

/**
 * Turns raw-mode keystrokes into lines: printable characters are kept (never echoed), Backspace/DEL removes
 * the last character, Ctrl-U the whole line, Enter ends it (CR LF counts once), Ctrl-C aborts, Ctrl-D on an
 * empty line is the end of input; escape sequences (arrows, function keys, bracketed paste marks) and other
 * control characters are ignored.
 */
class RawLineEditor {
  private line: string[] = [];
  private escape: 'none' | 'start' | 'csi' | 'ss3' = 'none';
  private afterCr = false;
  private readonly decoder = new StringDecoder('utf8');

  feed(chunk: Buffer): KeyEvent[] {
    const events: KeyEvent[] = [];
    for (const ch of this.decoder.write(chunk)) {
      const ev = this.key(ch);
      if (ev !== undefined) events.push(ev);
    }
    return events;
  }

  private key(ch: string): KeyEvent | undefined {
    const code = ch.codePointAt(0) ?? 0;
    const afterCr = this.afterCr;
    this.afterCr = false;
    if (this.escape === 'start') {
      this.escape = ch === '[' ? 'csi' : ch === 'O' ? 'ss3' : 'none';
      return undefined;
    }
    if (this.escape === 'csi') {
      if (code >= 0x40 && code <= 0x7e) this.escape = 'none';
      return undefined;
    }
    if (this.escape === 'ss3') {
      this.escape = 'none';
      return undefined;
    }
    switch (ch) {
      case '\x1b':
        this.escape = 'start';
        return undefined;
      case '\x03':
        return { kind: 'abort' };
      case '\x04':
        return this.line.length === 0 ? { kind: 'eof' } : undefined;
      case '\x7f':
      case '\b':
        this.line.pop();
        return undefined;
      case '\x15':
        this.line = [];
        return undefined;
      case '\r':
      case '\n': {
        if (ch === '\n' && afterCr) return undefined;
        this.afterCr = ch === '\r';
        const text = this.line.join('');
        this.line = [];
        return { kind: 'line', text };
      }
      default:
        if ((code < 0x20 && ch !== '\t') || (code >= 0x80 && code < 0xa0)) return undefined;
        this.line.push(ch);
        return undefined;
    }
  }
}

/** Asks each prompt in turn on the terminal, in raw mode (no echo), and returns the lines typed. */
async function askOnTerminal(input: NodeJS.ReadStream, prompts: string[]): Promise<string[]> {
  const editor = new RawLineEditor();
  const answers: string[] = [];
  input.setRawMode(true);
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const finish = (err: Exit | undefined): void => {
        input.off('data', onData);
        input.off('end', onEnd);
        input.pause();
        if (err !== undefined) reject(err);
        else resolve(answers);
      };
      const onData = (chunk: Buffer): void => {
        for (const ev of editor.feed(chunk)) {
          if (answers.length === prompts.length) return;
          if (ev.kind === 'abort') {
            process.stderr.write('\n');
            finish(new Exit(130, 'aborted; nothing written'));
            return;
          }
          if (ev.kind === 'eof') {
            process.stderr.write('\n');
            finish(new Exit(1, 'no password given (end of input); nothing written'));
            return;
          }
          process.stderr.write('\n');
          answers.push(ev.text);
          const next = prompts[answers.length];
          if (next === undefined) {
            finish(undefined);
            return;
          }
          process.stderr.write(next);
        }
      };
      const onEnd = (): void => finish(new Exit(1, 'no password given (end of input); nothing written'));
      input.on('data', onData);
      input.on('end', onEnd);
      process.stderr.write(prompts[0] ?? '');
      input.resume();
    });
  } finally {
    input.setRawMode(false);
  }
}

async function readPassword(user: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) return readPipedLine(input);
  const [first, second] = await askOnTerminal(input, [`New password for ${user}: `, 'Retype it: ']);
  if (first === undefined || second === undefined) throw new Exit(1, 'no password given; nothing written');
  if (first !== second) throw new Exit(1, 'the two passwords do not match; nothing written');
  if (Buffer.byteLength(first, 'utf8') > MAX_PASSWORD_BYTES) throw new Exit(1, `the password is longer than ${MAX_PASSWORD_BYTES} bytes; nothing written`);
  return first;
}

// --- Writing the file. ---

/**
 * Replaces `dir/name` with `content` atomically: temp file in `dir` (0600 while written; then 0640 and the
 * directory's group, so that the service can read it as the user it drops to), fsync, rename, fsync of `dir`.
 */
async function writeFileAtomic(dir: string, name: string, content: string): Promise<string> {
  const target = path.join(dir, name);
  // A dot name: never a user of the store, even if we die before the rename.
  const temp = path.join(dir, `.passwd-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      await fh.chmod(0o600); // whatever the umask
      await fh.writeFile(content);
      // Readable by the directory's group (e.g. nogroup, for a service running as nobody), never by others; and
      // by no group at all unless the file really has the directory's group (not the writer's own, say users).
      const dirGid = (await fs.stat(dir)).gid;
      if (process.getuid?.() === 0) await fh.chown(-1, dirGid);
      if ((await fh.stat()).gid === dirGid) await fh.chmod(0o640);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(temp, target);
  } catch (err) {
    await fs.rm(temp, { force: true }).catch(() => {});
    throw err;
  }
  const dh = await fs.open(dir, constants.O_RDONLY).catch(() => undefined);
  if (dh !== undefined) {
    await dh.sync().catch(() => {}); // the rename itself durable; not every file system allows it
    await dh.close();
  }
  return target;
}

function describe(err: unknown): string {
  if (err instanceof Error && 'code' in err) {
    const code = String(err.code);
    if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
    if (code === 'EISDIR') return 'it is a directory';
    if (code === 'EROFS') return 'read-only file system';
    if (code === 'ENOSPC') return 'no space left on device';
    return code;
  }
  return err instanceof Error ? err.message : String(err);
}

async function main(argv: string[]): Promise<void> {
  const args = parse(argv);
  if (args === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  let store: DirectoryKv;
  try {
    store = await DirectoryKv.open(args.data);
  } catch (err) {
    throw new Exit(2, err instanceof Error ? err.message : String(err));
  }
  const password = await readPassword(args.user);
  if (password.trim() === '') throw new Exit(1, 'empty password refused; nothing written');
  const record = await hashPassword(password, DEFAULT_SCRYPT_PARAMS);
  let written: string;
  try {
    written = await writeFileAtomic(store.dir, args.user, `${record}\n`);
  } catch (err) {
    throw new Exit(1, `cannot write ${path.join(store.dir, args.user)}: ${describe(err)}`);
  }
  const { ln, r, p } = DEFAULT_SCRYPT_PARAMS;
  process.stdout.write(`wrote ${written} (scrypt ln=${ln},r=${r},p=${p}, mode ${((await fs.stat(written)).mode & 0o777).toString(8).padStart(4, '0')})\n`);
}

main(process.argv.slice(2)).then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    if (err instanceof Exit) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = err.code;
    } else {
      process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
