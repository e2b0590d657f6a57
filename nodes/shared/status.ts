/** node.status conventions of the IDDPM nodes: green dot = ready/done, blue ring = working, red ring = error. */
import { codeOf as engineCodeOf, type ErrorCode } from '../../engine/spec';
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
 * Why `err` happened, as the engine's codes: an EngineError's or UserError's own code, else INTERNAL (a bug, not
 * something the sender can fix). Flows map it to a reply, e.g. HTTP 400 / 404 / 503 / 500.
 */
export const codeOf: (err: unknown) => ErrorCode = engineCodeOf;

/**
 * The error a Catch node should see: msg.error.message is the text alone and msg.error.code the reason's code.
 * Node-RED sets msg.error.message to String(err), "name: message", so the name is emptied; it copies an own `code`
 * (and `stack`, left out: it would only point here).
 */
export function nodeError(text: string, code: ErrorCode): Error & { code: ErrorCode } {
  const e = Object.assign(new Error(text), { code });
  e.name = '';
  delete e.stack;
  return e;
}

/**
 * Reports a failed message: red status with the reason, and done(err) so Node-RED logs it and Catch nodes get
 * the message with msg.error.code. Without `done` (events after the input finished) it goes through
 * node.error(err, msg). `code` overrides the code read from `err` (e.g. a failure reported as text).
 */
export function fail(node: Node, err: unknown, msg: NodeMessage, done?: DoneFn, code: ErrorCode = codeOf(err)): void {
  const text = messageOf(err);
  showError(node, text);
  const error = nodeError(text, code);
  if (done) done(error);
  else node.error(error, msg);
}
