// A minimal line logger: the application writes one line per event; where lines go is the caller's choice.

export interface Logger {
  info(line: string): void;
  warn(line: string): void;
}

export const consoleLogger: Logger = {
  info: (line) => process.stdout.write(`${line}\n`),
  warn: (line) => process.stderr.write(`${line}\n`),
};

/** A logger that keeps its lines, for tests: `lines` the info lines (one per request), `warnings` the warnings. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  readonly warnings: string[] = [];
  info(line: string): void {
    this.lines.push(line);
  }
  warn(line: string): void {
    this.warnings.push(line);
  }
}
