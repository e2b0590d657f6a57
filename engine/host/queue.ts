/**
 * The engine's sampling queue: requests run one at a time (they would only compete for the same threads), in
 * the order they came; the queue is bounded (more are refused with QUEUE_FULL). It can be listed with each
 * request's progress, and a request cancelled by id: a waiting one leaves the queue at once, a running one stops
 * at its next step. Every change is reported (progress at most every `updateMs`).
 */
import { EngineError, respacingText, type CheckedSampleRequest, type Provenance } from '../spec';
import type { SampleResult } from '../sample/result';
import type { SampleProgress, SampleQueueEntry } from './protocol';

export interface QueuedRequest {
  /** The client's request id (0: the queue numbers it). */
  id: number;
  request: CheckedSampleRequest;
  /** Made again from a PNG: its provenance (the new PNGs carry the same record). */
  regenerate?: Provenance;
  onProgress: (p: SampleProgress) => void;
}

interface Entry extends QueuedRequest {
  state: 'queued' | 'running';
  progress?: SampleProgress;
  queuedAt: number;
  startedAt?: number;
  cancelled: boolean;
  resolve: (r: SampleResult) => void;
  reject: (err: unknown) => void;
}

export interface SampleQueueOptions {
  maxQueue: number;
  /** Runs one request; `isCancelled` turns true when it was cancelled. */
  run: (entry: QueuedRequest, isCancelled: () => boolean) => Promise<SampleResult>;
  onChange?: (entries: SampleQueueEntry[]) => void;
  updateMs: number;
}

export class SampleQueue {
  private readonly entries: Entry[] = [];
  private pumping?: Promise<void>;
  private timer?: NodeJS.Timeout;
  /** Ids for requests that came without one (in-process callers): negative, so never a client's. */
  private nextOwnId = -1;

  constructor(private readonly opts: SampleQueueOptions) {}

  /** Queues a request; resolves with its result, rejects with its error (CANCELLED when cancelled). */
  add(req: QueuedRequest): Promise<SampleResult> {
    if (this.entries.length >= this.opts.maxQueue) {
      throw new EngineError(`The sampling queue is full (${this.entries.length} requests waiting); try again shortly`, 'QUEUE_FULL');
    }
    return new Promise<SampleResult>((resolve, reject) => {
      const id = req.id || this.nextOwnId--;
      this.entries.push({ ...req, id, state: 'queued', queuedAt: Date.now(), cancelled: false, resolve, reject });
      this.changed();
      this.pumping ??= this.pump().finally(() => (this.pumping = undefined));
    });
  }

  /** Cancels request `id`: false when it is not (or no longer) in the queue. */
  cancel(id: number): boolean {
    const i = this.entries.findIndex((e) => e.id === id);
    if (i < 0) return false;
    const e = this.entries[i];
    if (e.state === 'queued') {
      this.entries.splice(i, 1);
      e.reject(new EngineError('Sampling was cancelled before it started', 'CANCELLED'));
    } else {
      e.cancelled = true;
    }
    this.changed();
    return true;
  }

  /** Refuses every waiting request (the engine is shutting down); the running one stops by its own check. */
  rejectWaiting(err: EngineError): void {
    for (const e of this.entries.filter((x) => x.state === 'queued')) {
      this.entries.splice(this.entries.indexOf(e), 1);
      e.reject(err);
    }
    this.changed();
  }

  list(): SampleQueueEntry[] {
    return this.entries.map((e) => {
      const out: SampleQueueEntry = { id: e.id, state: e.state, model: e.request.model, count: e.request.count, method: e.request.method, queuedAt: e.queuedAt };
      if (e.request.steps) out.steps = respacingText(e.request.steps);
      if (e.regenerate) out.regenerate = true;
      if (e.progress) out.progress = e.progress;
      if (e.startedAt) out.startedAt = e.startedAt;
      return out;
    });
  }

  get size(): number {
    return this.entries.length;
  }

  /** Resolves once nothing runs. */
  async idle(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  private async pump(): Promise<void> {
    while (this.entries.length) {
      const e = this.entries[0];
      e.state = 'running';
      e.startedAt = Date.now();
      this.changed();
      const onProgress = e.onProgress;
      e.onProgress = (p) => {
        e.progress = p;
        onProgress(p);
        this.changed(false);
      };
      try {
        e.resolve(await this.opts.run(e, () => e.cancelled));
      } catch (err) {
        e.reject(err);
      } finally {
        this.entries.shift();
        this.changed();
      }
    }
  }

  /** Reports the queue: now for a change of its members, at most every updateMs for progress. */
  private changed(now = true): void {
    const report = this.opts.onChange;
    if (!report) return;
    if (now) {
      clearTimeout(this.timer);
      this.timer = undefined;
      report(this.list());
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        report(this.list());
      }, this.opts.updateMs);
      this.timer.unref();
    }
  }
}
