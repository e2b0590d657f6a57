/**
 * What the five component nodes (Schedule, Noiser, UNet, HybridLoss, ImportanceSampler) share: reading a
 * setting with its msg override through the shared rules, and putting their part into msg.iddpm (design.md,
 * "Pipeline assembly"): a part already present is replaced, never merged, and the status says so.
 */
import type { ErrorCode, PipelineSpec } from '../../engine/spec';
import type { EngineClient } from '../../engine/host/client';
import { checkField, shown, type FieldValue, type NodeType, FIELDS } from './rules';
import { describeIssue, sharedT, translator, type Translate } from './i18n';
import { engineFor } from './engine';
import { fail, messageOf, showError, showReady, showWarning } from './status';
import type { Node, NodeDef, NodeMessage, Red } from './red';

/**
 * An error whose message tells a person what to change; shown as is. Its code reaches Catch nodes as
 * msg.error.code: BAD_REQUEST for the nodes' own checks, or the engine's code when it refused.
 */
export class UserError extends Error {
  constructor(message: string, readonly code: ErrorCode = 'BAD_REQUEST') {
    super(message);
  }
}

type FieldOf<N extends NodeType> = keyof (typeof FIELDS)[N] & string;

/** `v` checked by the rule of `type`.`field`; `what` names it in the error (`msg.steps`, `steps`). */
export function valueOf<N extends NodeType, F extends FieldOf<N>>(type: N, field: F, v: unknown, what: string = field): FieldValue<N, F> {
  const r = checkField(type, field, v);
  if (!r.ok) throw new UserError(describeIssue(what, r.issue));
  return r.value;
}

/** The node's setting `field`, or msg[prop] when the message carries it (a msg override). */
export function setting<N extends NodeType, F extends FieldOf<N>>(
  type: N, field: F, config: NodeDef, msg?: NodeMessage, prop: string = field,
): FieldValue<N, F> {
  if (msg && msg[prop] !== undefined) return valueOf(type, field, msg[prop], `msg.${prop}`);
  return valueOf(type, field, config[field], field);
}

/** msg.iddpm as a pipeline (empty when absent); anything else there is refused. */
export function pipelineOf(msg: NodeMessage): PipelineSpec {
  const p = msg.iddpm as unknown;
  if (p === undefined || p === null) return {};
  if (typeof p !== 'object' || Array.isArray(p)) throw new UserError(sharedT('pipeline.notObject', { got: shown(p) }));
  return p as PipelineSpec;
}

/** Puts one part into msg.iddpm, replacing what was there; true when something was replaced. */
export function putPart<K extends keyof PipelineSpec>(msg: NodeMessage, part: K, spec: PipelineSpec[K]): boolean {
  const pipeline = pipelineOf(msg);
  const replaced = pipeline[part] !== undefined && pipeline[part] !== null;
  msg.iddpm = { ...pipeline, [part]: spec };
  return replaced;
}

export interface ComponentContext<S> {
  node: Node;
  msg: NodeMessage;
  spec: S;
  config: NodeDef;
  t: Translate;
  engine: () => EngineClient;
}

export interface Component<K extends keyof PipelineSpec> {
  type: NodeType;
  part: K;
  /** The node set's English catalog (fallback of RED._). */
  catalog: Record<string, unknown>;
  /** The part from the settings and the message's overrides; throws UserError on a bad value. */
  build(config: NodeDef, msg: NodeMessage | undefined): NonNullable<PipelineSpec[K]>;
  /** One line for node.status. */
  summary(spec: NonNullable<PipelineSpec[K]>, t: Translate): string;
  /** A standalone use (Schedule tables, Noiser images): the message to send, or undefined to pass the pipeline on. */
  standalone?(ctx: ComponentContext<NonNullable<PipelineSpec[K]>>): Promise<NodeMessage> | undefined;
}

/** Registers a component node: checks its settings at deploy, then merges its part into every message. */
export function registerComponent<K extends keyof PipelineSpec>(RED: Red, def: Component<K>): void {
  const t = translator(RED, def.catalog as Parameters<typeof translator>[1]);
  RED.nodes.registerType(def.type, function (this: Node, config: NodeDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    try {
      showReady(node, def.summary(def.build(config, undefined), t));
    } catch (err) {
      showError(node, messageOf(err));
    }
    node.on('input', async (msg, send, done) => {
      try {
        const spec = def.build(config, msg);
        const standalone = def.standalone?.({ node, msg, spec, config, t, engine: () => engineFor(RED) });
        if (standalone) {
          send(await standalone);
          done();
          return;
        }
        const replaced = putPart(msg, def.part, spec);
        const text = def.summary(spec, t);
        if (replaced) showWarning(node, `${sharedT('pipeline.replaced', { part: def.part })}: ${text}`);
        else showReady(node, text);
        send(msg);
        done();
      } catch (err) {
        fail(node, err, msg, done);
      }
    });
  });
}
