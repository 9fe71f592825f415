// The application's log: one line per event; where lines go and in what form is the caller's choice.
//
// `--log-format text` (the default) writes each line as it is, info and debug on stdout, warnings and errors on
// stderr: the boot lines read exactly as they always have. `--log-format json` writes one JSON object per line to
// stdout with pino: {"level":"info","time":"…Z","pid":N,"msg":"the same line"}. `--log-level` drops what is below it.
// pino is loaded only for JSON (it costs ~9 MB of RSS that a text run need not pay).

import type { DestinationStream } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** What the application logs through. `debug` and `error` are optional so that any two-method logger still fits. */
export interface Logger {
  info(line: string): void;
  warn(line: string): void;
  debug?(line: string): void;
  error?(line: string): void;
}

/** The process's logger: every level, and `report` for what an operator asked for explicitly. */
export interface AppLogger extends Logger {
  readonly level: LogLevel;
  readonly format: LogFormat;
  debug(line: string): void;
  error(line: string): void;
  /**
   * A line an operator asked for (SIGUSR1's status): written at info whatever `--log-level` says, since nobody
   * sends a signal to have its answer filtered away. In JSON its record carries `"report":true`.
   */
  report(line: string): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Text: where info and debug lines go (stdout). */
  out?: (text: string) => void;
  /** Text: where warnings and errors go (stderr). */
  err?: (text: string) => void;
  /** JSON: where the records go (stdout, written synchronously so that nothing is lost at exit). */
  destination?: DestinationStream;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

export function isLogFormat(s: string): s is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(s);
}

/** The logger for `options`; JSON loads pino first. */
export async function createLogger(options: LoggerOptions = {}): Promise<AppLogger> {
  if ((options.format ?? 'text') === 'text') return textLogger(options);
  const { pino } = await import('pino');
  const level = options.level ?? 'info';
  const destination = options.destination ?? pino.destination({ dest: 1, sync: true });
  const p = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  const reports = p.child({ report: true }, { level: 'info' });
  return {
    level,
    format: 'json',
    debug: (line) => p.debug(line),
    info: (line) => p.info(line),
    warn: (line) => p.warn(line),
    error: (line) => p.error(line),
    report: (line) => reports.info(line),
  };
}

/**
 * `write`, called once per turn of the event loop with what was written during it (or at once past 64 KiB).
 * A busy service logs a line per request, and a write(2) per line costs about what the request does. What is
 * waiting is written at exit, so a normal or an error exit loses nothing.
 */
export function batchedWriter(write: (text: string) => void, maxPending = 64 * 1024): (text: string) => void {
  let parts: string[] = [];
  let size = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (parts.length === 0) return;
    const text = parts.join('');
    parts = [];
    size = 0;
    write(text);
  };
  process.on('exit', flush);
  return (text) => {
    parts.push(text);
    size += text.length;
    if (size >= maxPending) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

/** The text logger: each line as it is, info and debug to `out`, warnings and errors to `err`. */
export function textLogger(options: Omit<LoggerOptions, 'format' | 'destination'> = {}): AppLogger {
  const level = options.level ?? 'info';
  const format = 'text';
  const out = options.out ?? batchedWriter((text) => void process.stdout.write(text));
  const err = options.err ?? ((text) => void process.stderr.write(text));
  const on = (l: LogLevel): boolean => RANK[l] >= RANK[level];
  return {
    level,
    format,
    debug: (line) => {
      if (on('debug')) out(`${line}\n`);
    },
    info: (line) => {
      if (on('info')) out(`${line}\n`);
    },
    warn: (line) => {
      if (on('warn')) err(`${line}\n`);
    },
    error: (line) => {
      if (on('error')) err(`${line}\n`);
    },
    report: (line) => out(`${line}\n`),
  };
}

/** A logger that keeps its lines, for tests: `lines` the info lines (one per request), `warnings` the warnings. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  readonly warnings: string[] = [];
  readonly debugLines: string[] = [];
  readonly errors: string[] = [];
  info(line: string): void {
    this.lines.push(line);
  }
  warn(line: string): void {
    this.warnings.push(line);
  }
  debug(line: string): void {
    this.debugLines.push(line);
  }
  error(line: string): void {
    this.errors.push(line);
  }
}
