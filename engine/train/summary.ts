/**
 * One line per stored model for the editor's Models list and the dialogs' model pickers: what its pipeline is,
 * how far it was trained, its last logged loss and, when it was evaluated, its bits/dim (engine/train/store.ts).
 */
import { pipelineDigest } from '../digest';
import type { ModelSpec } from '../spec';
import type { ModelStore, StoredEvaluation } from './store';

export interface ModelSummary {
  name: string;
  step: number;
  createdAt: string;
  updatedAt: string;
  /** The stored run's max steps (0 = until stopped), when trained here. */
  maxSteps?: number;
  /** `cosine T=1000 · tiny 32×32×1 · learned_range · hybrid λ=0.001 · importance` */
  summary: string;
  pipelineDigest: string;
  imageSize: number;
  channels: number;
  numClasses: number | null;
  /** The last progress record of its training log. */
  lastLoss?: { step: number; loss: number; mse?: number; vb?: number };
  /** The last bits/dim evaluation, and whether it was of the current weights. */
  evaluation?: StoredEvaluation & { current: boolean };
  /** Where its weights came from when not trained here (an imported checkpoint). */
  source?: string;
}

/** The pipeline in one line. */
export function pipelineSummary(spec: Pick<ModelSpec, 'pipeline' | 'unetConfig'>): string {
  const { schedule, unet, loss, timesteps } = spec.pipeline;
  const c = spec.unetConfig as { imageSize?: number; inChannels?: number };
  const parts = [
    `${schedule.kind} T=${schedule.steps}`,
    `${unet.preset}${c.imageSize ? ` ${c.imageSize}×${c.imageSize}×${c.inChannels}` : ''}`,
    unet.modelVarType,
    loss.kind === 'hybrid' ? `hybrid λ=${loss.lambda}` : loss.kind,
    timesteps.kind,
  ];
  if (unet.numClasses) parts.push(`${unet.numClasses} classes`);
  return parts.join(' · ');
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The summary of model `name` (which has a checkpoint). */
export function modelSummary(store: ModelStore, name: string): ModelSummary {
  const spec = store.readSpec(name);
  const c = spec.unetConfig as { imageSize?: number; inChannels?: number; numClasses?: number | null };
  const out: ModelSummary = {
    name,
    step: spec.step,
    createdAt: spec.createdAt,
    updatedAt: spec.updatedAt,
    summary: pipelineSummary(spec),
    pipelineDigest: pipelineDigest(spec.pipeline),
    imageSize: c.imageSize ?? 0,
    channels: c.inChannels ?? 0,
    numClasses: c.numClasses ?? null,
  };
  if (spec.train) out.maxSteps = spec.train.maxSteps;
  if (spec.source) out.source = String(spec.source.kind ?? spec.source.from ?? 'imported');
  const last = store.lastLogEntry(name);
  const loss = num(last?.loss);
  if (last && loss !== undefined) {
    out.lastLoss = { step: num(last.step) ?? 0, loss };
    const mse = num(last.mse);
    const vb = num(last.vb);
    if (mse !== undefined) out.lastLoss.mse = mse;
    if (vb !== undefined) out.lastLoss.vb = vb;
  }
  const evaluation = store.readEvaluation(name);
  if (evaluation) out.evaluation = { ...evaluation, current: evaluation.step === spec.step };
  return out;
}

/** Every stored model's summary, by name. */
export function modelSummaries(store: ModelStore): ModelSummary[] {
  return store.list().map((name) => modelSummary(store, name));
}
