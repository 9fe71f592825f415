// Deadlines as the layers report them: an absolute time in ms, or undefined for "nothing planned".

/** The earliest of the deadlines given, ignoring the undefined ones; undefined when all are. */
export function earliest(...deadlines: Array<number | undefined>): number | undefined {
  let d: number | undefined;
  for (const t of deadlines) if (t !== undefined && (d === undefined || t < d)) d = t;
  return d;
}
