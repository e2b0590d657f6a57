/**
 * What the IDDPM sidebar shows of each training job, kept in Node-RED's process from the engine's events (the
 * engine is this runtime's child, so every job it runs is seen from its start): the job's status, the history of
 * its progress (seeded from the model's training log for a resumed model), the latest curves over t and the
 * latest preview with its frames. Also the last sampling-queue snapshot. Plain data for JSON and the editor's comms.
 */
import type { JobStatus, ModelSummary, SampleQueueEntry, TimestepCurves, TrainEvent, TrainLogPoint, TrainProgress } from '../../engine/host/protocol';

/** The wire types the editor script uses (type-only: the browser bundle imports nothing of the engine). */
export type { JobStatus, ModelSummary, SampleQueueEntry, TimestepCurves, TrainLogPoint };

/** Points of history kept per job; past it every other point is dropped (the chart keeps its shape). */
export const HISTORY_POINTS = 2000;

export interface PreviewView {
  step: number;
  /** data:image/png;base64,… */
  png: string;
  frames: Array<{ t: number; xt: string; predXstart: string }>;
}

export interface JobView {
  name: string;
  status: JobStatus;
  history: TrainLogPoint[];
  curves?: TimestepCurves;
  preview?: PreviewView;
  /** The last progress record (loss, quartiles, images/s, importance summary). */
  progress?: Omit<TrainProgress, 'curves'>;
}

/** What the sidebar receives on the comms topic `iddpm/jobs` for one event. */
export type JobUpdate =
  | { name: string; kind: 'status'; status: JobStatus }
  | { name: string; kind: 'progress'; status: JobStatus; point: TrainLogPoint; curves?: TimestepCurves; progress: Omit<TrainProgress, 'curves'> }
  | { name: string; kind: 'preview'; status: JobStatus; preview: PreviewView };

const dataUrl = (png: Uint8Array): string => `data:image/png;base64,${Buffer.from(png).toString('base64')}`;

/** A progress record as a point of the loss charts. */
export function pointOf(p: TrainProgress): TrainLogPoint {
  const point: TrainLogPoint = { step: p.step, loss: p.loss, lossQuartiles: p.lossQuartiles, imagesPerSec: p.imagesPerSec };
  if (p.mse !== undefined) point.mse = p.mse;
  if (p.vb !== undefined) point.vb = p.vb;
  return point;
}

/** Appends a point, keeping steps increasing and the history at most HISTORY_POINTS long. */
export function appendPoint(history: TrainLogPoint[], point: TrainLogPoint): TrainLogPoint[] {
  const kept = history.filter((h) => h.step < point.step);
  kept.push(point);
  if (kept.length <= HISTORY_POINTS) return kept;
  // Thin it: every other point, the latest always kept.
  return kept.filter((_, i) => i % 2 === 1 || i === kept.length - 1);
}

export class JobBoard {
  private readonly jobs = new Map<string, JobView>();
  queue: SampleQueueEntry[] = [];

  /** Applies an engine event; returns what to publish to the editors (undefined: nothing to show). */
  apply(ev: TrainEvent): JobUpdate | undefined {
    const view = this.viewOf(ev.name);
    switch (ev.type) {
      case 'status':
        view.status = ev.status;
        return { name: ev.name, kind: 'status', status: view.status };
      case 'progress': {
        const { curves, ...progress } = ev.payload;
        const point = pointOf(ev.payload);
        view.history = appendPoint(view.history, point);
        view.progress = progress;
        if (curves) view.curves = curves;
        view.status = { ...view.status, step: ev.payload.step, lastLoss: ev.payload.loss, imagesPerSec: ev.payload.imagesPerSec, ...etaOf(ev.payload) };
        return { name: ev.name, kind: 'progress', status: view.status, point, curves, progress };
      }
      case 'sample': {
        view.preview = {
          step: ev.step,
          png: dataUrl(ev.png),
          frames: (ev.frames ?? []).map((f) => ({ t: f.t, xt: dataUrl(f.xt), predXstart: dataUrl(f.predXstart) })),
        };
        view.status = { ...view.status, previewStep: ev.step };
        return { name: ev.name, kind: 'preview', status: view.status, preview: view.preview };
      }
      case 'checkpoint':
        return undefined;
      case 'done':
      case 'error':
        view.status = ev.status;
        return { name: ev.name, kind: 'status', status: view.status };
    }
  }

  /** The jobs that are not yet seeded with their model's earlier history. */
  needsHistory(name: string): boolean {
    return this.viewOf(name).history.length === 0;
  }

  /** Puts a model's earlier training log in front of what the job has logged since. */
  seedHistory(name: string, log: TrainLogPoint[]): void {
    const view = this.viewOf(name);
    const first = view.history[0]?.step ?? Infinity;
    let history = log.filter((p) => p.step < first);
    for (const p of view.history) history = appendPoint(history, p);
    view.history = history;
  }

  /** The engine went away: its jobs ended with it. */
  engineExited(reason: string): JobUpdate[] {
    this.queue = [];
    const out: JobUpdate[] = [];
    for (const view of this.jobs.values()) {
      if (['done', 'stopped', 'failed'].includes(view.status.state)) continue;
      view.status = { ...view.status, state: 'failed', phase: 'finished', error: reason };
      out.push({ name: view.name, kind: 'status', status: view.status });
    }
    return out;
  }

  list(): JobView[] {
    return [...this.jobs.values()];
  }

  get(name: string): JobView | undefined {
    return this.jobs.get(name);
  }

  private viewOf(name: string): JobView {
    let view = this.jobs.get(name);
    if (!view) {
      view = { name, status: { name, state: 'starting', step: 0, maxSteps: 0 }, history: [] };
      this.jobs.set(name, view);
    }
    return view;
  }
}

function etaOf(p: TrainProgress): Partial<JobStatus> {
  const out: Partial<JobStatus> = {};
  if (p.maxSteps !== undefined) out.maxSteps = p.maxSteps;
  if (p.etaSeconds !== undefined) out.etaSeconds = p.etaSeconds;
  if (p.stepsPerSec !== undefined) out.stepsPerSec = p.stepsPerSec;
  return out;
}
