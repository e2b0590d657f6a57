/** node.status conventions of the IDDPM nodes: green dot = ready/done, blue ring = working, red ring = error. */
import type { DoneFn, Node, NodeMessage } from './red';

/** Status texts stay short: Node-RED draws them under the node on the canvas. */
function short(text: string): string {
  return text.length > 60 ? text.slice(0, 59) + '…' : text;
}

export function showReady(node: Node, text: string): void {
  node.status({ fill: 'green', shape: 'dot', text: short(text) });
}
export function showBusy(node: Node, text: string): void {
  node.status({ fill: 'blue', shape: 'ring', text: short(text) });
}
export function showWarning(node: Node, text: string): void {
  node.status({ fill: 'yellow', shape: 'ring', text: short(text) });
}
export function showError(node: Node, text: string): void {
  node.status({ fill: 'red', shape: 'ring', text: short(text) });
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Reports a failed message: red status with the reason, and done(err) so Node-RED logs it and Catch nodes get
 * the message. Without `done` (events after the input finished) it goes through node.error(err, msg).
 */
export function fail(node: Node, err: unknown, msg: NodeMessage, done?: DoneFn): void {
  const text = messageOf(err);
  showError(node, text);
  // The text, not the Error: Node-RED would prefix "Error: " to what Catch nodes and the debug sidebar show.
  if (done) done(text);
  else node.error(text, msg);
}
