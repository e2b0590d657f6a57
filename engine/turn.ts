/**
 * Yielding between steps: a training or sampling loop awaits `nextTurn()` after each step so the process that
 * hosts it keeps answering (status, cancel, other requests). setImmediate runs after pending I/O callbacks,
 * unlike a resolved promise, which would starve them.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
