// Window arithmetic shared by the TCP layer and its connections.

/** RFC 7323 §2.3: the largest shift allowed. */
export const MAX_WINDOW_SCALE = 14;

/** The window shift that lets a 16-bit window field cover a receive buffer of this size (RFC 7323 §2.2). */
export function windowShiftFor(receiveBufferSize: number): number {
  let shift = 0;
  while (shift < MAX_WINDOW_SCALE && 65535 * 2 ** shift < receiveBufferSize) shift++;
  return shift;
}
