/**
 * Manual check (not CI: it needs torch): what engine/interop writes loads in real PyTorch, and what PyTorch writes
 * reads here. Uses the Debian torch at /usr/bin/python3 (override with PYTHON) and, when IDDPM_REF_CODE points at an
 * openai/improved-diffusion checkout, its UNetModel; otherwise the check stops after the generic part.
 *
 *   node --import tsx scripts/check-torch-interop.ts
 *
 * 1. torch writes: a reference-style model/EMA checkpoint (nn.Parameters, as train_util.save writes them), the
 *    AdamW state after two steps, a state_dict() with _metadata, fp16/bf16/int tensors, a transposed view, legacy
 *    format. 2. We read them all, move the AdamW state through our Adam (setState/getState) and write model and
 *    optimizer back. 3. torch loads ours: load_state_dict (strict) on the UNet and AdamW, one more step from ours
 *    and from the original must give bit-identical parameters.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../engine/backend';
import { Adam } from '../engine/optim/adam';
import { fromReferenceConfig } from '../engine/unet/config';
import { UNet } from '../engine/unet/model';
import { adamStateToTorch, readAdamState, readTorchCheckpoint, readTorchStateDict, writeTorchCheckpoint, writeTorchStateDict } from '../engine/interop';
import type { SafeTensor } from '../engine/safetensors';

const python = process.env.PYTHON ?? '/usr/bin/python3';
const refCode = process.env.IDDPM_REF_CODE ?? '/tmp/iddpm-ref';
const refDir = process.env.IDDPM_REFERENCE_DIR ?? join(__dirname, '..', '..', 'shared', 'reference');
const dir = mkdtempSync(join(tmpdir(), 'pt-interop-'));

function py(code: string): string {
  const r = spawnSync(python, ['-c', code], { cwd: dir, encoding: 'utf8', env: { ...process.env, PYTHONPATH: refCode } });
  if (r.status !== 0) throw new Error(`python failed:\n${r.stderr}`);
  return r.stdout.trim();
}

const SETUP = `
import json, torch, copy
from improved_diffusion.unet import UNetModel
ref = json.load(open(${JSON.stringify(join(refDir, 'unet_small.json'))}))
cfg = dict(ref['config']); cfg.pop('image_size', None)
cfg['attention_resolutions'] = tuple(cfg['attention_resolutions']); cfg['channel_mult'] = tuple(cfg['channel_mult'])
torch.manual_seed(0)
model = UNetModel(**cfg)
model.load_state_dict(torch.load(${JSON.stringify(join(refDir, 'unet_small.pt'))}))
x = torch.randn(2, 3, 16, 16); t = torch.tensor([10.0, 623.5])
def step(opt):
    opt.zero_grad(); model(x, t).pow(2).mean().backward(); opt.step()
`;

async function main(): Promise<void> {
  console.log('torch', py('import torch; print(torch.__version__)'), 'in', dir);
  // Generic values, written by torch.
  py(`
import torch, collections
m = torch.nn.Linear(3, 2)
torch.save({'sd': m.state_dict(), 'h': torch.arange(6, dtype=torch.float16).reshape(2, 3), 'bf': torch.tensor([1.5, -2.0], dtype=torch.bfloat16),
            'i': torch.tensor([1, -2], dtype=torch.int64), 'b': torch.tensor([True, False]), 'tt': torch.arange(6.).reshape(2, 3).t(),
            'p': torch.nn.Parameter(torch.ones(2)), 3: (1, 2.5, None)}, 'generic.pt')
torch.save(m.state_dict(), 'legacy.pt', _use_new_zipfile_serialization=False)`);
  const generic = readTorchCheckpoint(readFileSync(join(dir, 'generic.pt'))) as Map<unknown, unknown>;
  const tt = generic.get('tt') as SafeTensor;
  console.log('generic: keys', [...generic.keys()].join(','), '| transposed', [...tt.data].join(','), '| f16', [...(generic.get('h') as SafeTensor).data].join(','),
    '| bf16', [...(generic.get('bf') as SafeTensor).data].join(','), '| metadata kept:', (generic.get('sd') as { attributes: Map<string, unknown> }).attributes.has('_metadata'));
  console.log('legacy state dict:', [...readTorchStateDict(readFileSync(join(dir, 'legacy.pt'))).keys()].join(','));
  writeFileSync(join(dir, 'generic_ours.pt'), writeTorchCheckpoint(generic as never));
  console.log('torch reads our copy of it:', py(`
import torch
a = torch.load('generic.pt'); b = torch.load('generic_ours.pt')
print(all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in ['h', 'bf', 'i', 'b', 'tt', 'p']), a[3] == b[3], list(a['sd']) == list(b['sd']))`));

  // The reference model and AdamW, as train_util writes them.
  try {
    py(`import improved_diffusion`);
  } catch {
    console.log(`no improved-diffusion code at ${refCode}: skipping the UNet / AdamW part`);
    return;
  }
  py(`${SETUP}
params = list(model.parameters())
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
step(opt); step(opt)
sd = model.state_dict()
for i, (name, _v) in enumerate(model.named_parameters()): sd[name] = params[i]   # _master_params_to_state_dict
torch.save(sd, 'model000002.pt'); torch.save(opt.state_dict(), 'opt000002.pt')`);
  await initBackend('cpu');
  const ref = JSON.parse(readFileSync(join(refDir, 'unet_small.json'), 'utf8'));
  const config = fromReferenceConfig(ref.config, ref.config.image_size ?? 16);
  const unet = UNet.fromStateDict(config, readTorchStateDict(readFileSync(join(dir, 'model000002.pt'))));
  const adamState = readAdamState(readTorchCheckpoint(readFileSync(join(dir, 'opt000002.pt'))), unet.parameters);
  console.log('read opt000002.pt: step', adamState.step, adamState.hyperparameters);
  const adam = new Adam(unet.trainableVariables(), { lr: adamState.hyperparameters.lr });
  adam.setState(adamState);
  writeFileSync(join(dir, 'model_ours.pt'), writeTorchStateDict(unet.stateDict(), { archiveName: 'model000002' }));
  writeFileSync(join(dir, 'opt_ours.pt'), writeTorchCheckpoint(adamStateToTorch(adam.getState(), unet.parameters, { lr: adam.lr })));
  console.log('torch loads ours and continues identically:', py(`${SETUP}
model.load_state_dict(torch.load('model_ours.pt'), strict=True)
same_weights = all(torch.equal(a, b) for a, b in zip(torch.load('model_ours.pt').values(), torch.load('model000002.pt').values()))
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0); opt.load_state_dict(torch.load('opt_ours.pt'))
o2 = torch.load('opt000002.pt'); o1 = torch.load('opt_ours.pt')
same_state = o1['param_groups'] == o2['param_groups'] and all(torch.equal(o1['state'][i][k], o2['state'][i][k]) for i in o2['state'] for k in o2['state'][i])
step(opt); ours = [p.detach().clone() for p in model.parameters()]
model.load_state_dict(torch.load('model000002.pt'))
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0); opt.load_state_dict(torch.load('opt000002.pt'))
step(opt)
print('weights equal:', same_weights, '| optimizer state equal:', same_state, '| next step bit-identical:', all(torch.equal(a, b) for a, b in zip(ours, model.parameters())))`));
  adam.dispose();
  unet.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
