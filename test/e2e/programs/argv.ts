// What the helper programs in this directory share: their positional arguments, by name. Each program runs as
// `node --import tsx test/e2e/programs/PROGRAM ARGS…` (see nodeProgram in ../lab.ts), usually in one of the
// lab's namespaces, and prints what it found as JSON on stdout for the test to read.

/**
 * The program's positional arguments (process.argv after the script) under `names`, in order. Too few: the usage
 * line on stderr and exit 64, so that a test calling it wrongly fails naming the program rather than on NaN.
 */
export function positional<const N extends readonly string[]>(program: string, names: N): Record<N[number], string> {
  const given = process.argv.slice(2);
  if (given.length < names.length) {
    process.stderr.write(`usage: ${program} ${names.map((n) => n.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()).join(' ')} (got ${given.length} arguments)\n`);
    process.exit(64);
  }
  const out: Partial<Record<N[number], string>> = {};
  names.forEach((n: N[number], i) => {
    out[n] = given[i] ?? '';
  });
  return out as Record<N[number], string>;
}

/** `text` as a number, or exit 64 naming `what`: a program's numeric argument. */
export function numeric(what: string, text: string): number {
  const n = Number(text);
  if (text === '' || !Number.isFinite(n)) {
    process.stderr.write(`${what} wants a number, not ${JSON.stringify(text)}\n`);
    process.exit(64);
  }
  return n;
}

/** A socket error as the programs report it: its code (ECONNRESET and the like), else its message. */
export const errorCode = (e: NodeJS.ErrnoException): string => e.code ?? e.message;
