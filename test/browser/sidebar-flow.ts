/** The sidebar test's flow: train (inject → the five components → Trainer) and sample (inject → Sampler) an 8×8 model. */
export const MODEL = 'sidebar-model';
export const TAB = 'sidebar-tab';

export function flow(): unknown[] {
  const z = TAB;
  return [
    { id: TAB, type: 'tab', label: 'IDDPM sidebar test' },
    { id: 'train', type: 'inject', z, name: 'train', props: [{ p: 'payload' }], payload: '', payloadType: 'date', repeat: '', once: false, x: 110, y: 80, wires: [['sch']] },
    { id: 'sch', type: 'iddpm-schedule', z, kind: 'cosine', steps: 100, cosineS: 0.008, maxBeta: 0.999, x: 270, y: 80, wires: [['noi']] },
    { id: 'noi', type: 'iddpm-noiser', z, modelMeanType: 'epsilon', rescaleTimesteps: true, x: 420, y: 80, wires: [['unet']] },
    {
      id: 'unet', type: 'iddpm-unet', z, model: MODEL, preset: 'custom', modelVarType: 'learned_range', imageSize: 8, inChannels: '1', modelChannels: 32,
      channelMult: '1,2', numResBlocks: 1, attentionResolutions: '4', numHeads: 2, dropout: 0, classConditional: false, numClasses: 10, x: 590, y: 80, wires: [['loss']],
    },
    { id: 'loss', type: 'iddpm-hybrid-loss', z, kind: 'hybrid', lambda: 0.001, x: 270, y: 140, wires: [['ts']] },
    { id: 'ts', type: 'iddpm-importance-sampler', z, kind: 'importance', history: 2, uniformProb: 0.001, x: 450, y: 140, wires: [['trainer']] },
    {
      id: 'trainer', type: 'iddpm-trainer', z, dataset: 'mnist', folder: '', limit: 64, batchSize: 4, microbatch: 0, lr: 0.001, emaRate: 0.99, gradClip: 1,
      maxSteps: 2000, logEvery: 1, sampleEvery: 5, sampleCount: 4, checkpointEvery: 2, seed: 1, resume: false, x: 640, y: 140, wires: [[]],
    },
    { id: 'sample', type: 'inject', z, name: 'sample', props: [{ p: 'payload' }], payload: '', payloadType: 'date', repeat: '', once: false, x: 110, y: 220, wires: [['sampler']] },
    {
      id: 'sampler', type: 'iddpm-sampler', z, name: '', mode: 'generate', model: MODEL, count: 16, steps: '100', method: 'ancestral', eta: 0, class: '', seed: '',
      format: 'grid', columns: 0, dataset: 'mnist', split: 'test', perTimestep: false, x: 300, y: 220, wires: [[]],
    },
  ];
}

