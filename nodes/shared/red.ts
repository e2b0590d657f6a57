/**
 * The small part of Node-RED's runtime API the IDDPM nodes use, typed here because Node-RED ships no types.
 * Names follow Node-RED's own (RED.nodes.createNode, node.status, the (msg, send, done) input handler).
 */
import type { PipelineSpec } from '../../engine/spec';

export interface NodeMessage {
  _msgid?: string;
  topic?: string;
  payload?: unknown;
  iddpm?: PipelineSpec;
  [key: string]: unknown;
}

export interface NodeStatus {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
}

export type SendFn = (msg: NodeMessage | Array<NodeMessage | null> | null) => void;
export type DoneFn = (err?: Error | string) => void;

export interface Node {
  id: string;
  name?: string;
  status(s: NodeStatus): void;
  send(msg: NodeMessage | Array<NodeMessage | null> | null): void;
  error(err: unknown, msg?: NodeMessage): void;
  warn(text: unknown): void;
  on(event: 'input', handler: (msg: NodeMessage, send: SendFn, done: DoneFn) => void | Promise<void>): void;
  on(event: 'close', handler: (removed: boolean, done: () => void) => void | Promise<void>): void;
}

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  [key: string]: unknown;
}

export interface Red {
  nodes: {
    createNode(node: object, def: NodeDef): void;
    registerType(type: string, ctor: (this: Node, def: NodeDef) => void): void;
    /** Every node of the deployed flows (their configs). */
    eachNode?(fn: (def: NodeDef) => void): void;
    getNode?(id: string): unknown;
  };
  settings: Record<string, unknown>;
  /** Translates a key of the calling node set's message catalog (locales/en-US/<set>.json). */
  _: (key: string, params?: Record<string, unknown>) => string;
  httpAdmin?: {
    get(path: string, ...handlers: HttpHandler[]): void;
    post(path: string, ...handlers: HttpHandler[]): void;
    delete(path: string, ...handlers: HttpHandler[]): void;
  };
  /** Node-RED's admin permission checks (`RED.auth.needsPermission('iddpm.read')`), as its own routes use. */
  auth?: { needsPermission(permission: string): HttpHandler };
  /** Messages to the editors over the comms websocket (`RED.comms.subscribe` there). */
  comms?: { publish(topic: string, data: unknown, retain?: boolean): void };
  plugins?: { registerPlugin(id: string, definition: Record<string, unknown>): void };
  version?: () => string;
  /** Runtime events, e.g. `flows:started` after every deploy. */
  events?: { once(event: string, fn: () => void): void };
}

export type HttpHandler = (req: HttpRequest, res: HttpResponse, next: () => void) => void;

export interface HttpRequest {
  params: Record<string, string>;
  query: Record<string, unknown>;
}

export interface HttpResponse {
  type(t: string): HttpResponse;
  send(body: string): void;
  json(body: unknown): void;
  status(code: number): HttpResponse;
}
