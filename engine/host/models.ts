/**
 * Models loaded for sampling and evaluation, cached by checkpoint: a request for a model that has a newer
 * checkpoint on disk (it is training) loads the new weights and frees the old ones.
 */
import { EngineError, type ModelSpec, type UNetConfig } from '../spec';
import type { ModelStore } from '../train';
import { UNet } from '../unet/model';
import { fromReferenceConfig } from '../unet/config';
import type { SamplingModel } from '../sample/generate';

/** A loaded model and the spec of the checkpoint its weights are from. */
export interface LoadedModel extends SamplingModel {
  spec: ModelSpec;
}

interface Entry {
  key: string;
  unet: UNet;
  model: LoadedModel;
}

/** How many loaded models stay in memory (a `mnist` model is ~25 MB of weights). */
const CACHE_SIZE = 4;

export class ModelCache {
  private entries: Entry[] = [];

  constructor(private readonly store: ModelStore) {}

  /** The model `name` with its EMA weights (default) or its raw weights. */
  load(name: string, ema = true): LoadedModel {
    let ckpt;
    try {
      ckpt = this.store.loadCheckpoint(name);
    } catch (err) {
      // The names of the others are not said: anonymous HTTP/MQTT callers get this reply (the editor lists models).
      if (!this.store.hasCheckpoint(name)) throw new EngineError(`No trained model named "${name}"`, 'NOT_FOUND');
      throw new EngineError(`Model "${name}" could not be loaded: ${(err as Error).message}`, 'INTERNAL');
    }
    const key = `${name}\0${ckpt.path}\0${ema}`;
    const hit = this.entries.find((e) => e.key === key);
    if (hit) {
      this.entries = [hit, ...this.entries.filter((e) => e !== hit)];
      return hit.model;
    }
    const config = toConfig(ckpt.spec.unetConfig);
    const unet = UNet.fromStateDict(config, ema ? ckpt.ema : ckpt.weights);
    const model: LoadedModel = {
      spec: ckpt.spec,
      unet,
      pipeline: ckpt.spec.pipeline,
      imageSize: config.imageSize,
      channels: config.inChannels,
      numClasses: config.numClasses,
    };
    // An older checkpoint of the same model is stale: free it now rather than when it falls off the end.
    const stale = this.entries.filter((e) => e.key.startsWith(`${name}\0`) && e.key.endsWith(`\0${ema}`));
    this.entries = [{ key, unet, model }, ...this.entries.filter((e) => !stale.includes(e))];
    for (const e of [...stale, ...this.entries.splice(CACHE_SIZE)]) e.unet.dispose();
    return model;
  }

  /** Frees every loaded copy of `name` (its folder was replaced). */
  forget(name: string): void {
    const gone = this.entries.filter((e) => e.key.startsWith(`${name}\0`));
    this.entries = this.entries.filter((e) => !gone.includes(e));
    for (const e of gone) e.unet.dispose();
  }

  clear(): void {
    for (const e of this.entries) e.unet.dispose();
    this.entries = [];
  }
}

/** model.json stores the resolved engine config; older or reference-style configs are converted. */
function toConfig(stored: UNetConfig | Record<string, unknown>): UNetConfig {
  if ('model_channels' in stored) return fromReferenceConfig(stored as never);
  return stored as UNetConfig;
}
