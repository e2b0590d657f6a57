/**
 * Writes an engine dataset as a folder of PNGs for the reference's training (engine/interop/dataset-export.ts).
 *
 *   node --import tsx scripts/reference/export-dataset.ts --kind mnist --split train --size 32 --channels 1 --out DIR
 *
 * Flags: --kind mnist|fashion-mnist|folder, --split train|test, --path (folder), --size, --channels 1|3, --limit.
 */
import { parseArgs } from 'util';
import { createDataset } from '../../engine/data';
import type { DatasetKind, DatasetSplit } from '../../engine/spec';
import { exportDatasetToFolder } from '../../engine/interop/dataset-export';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kind: { type: 'string', default: 'mnist' },
      split: { type: 'string', default: 'train' },
      path: { type: 'string' },
      size: { type: 'string', default: '32' },
      channels: { type: 'string', default: '1' },
      limit: { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (!values.out) throw new Error('--out DIR is required');
  const dataset = await createDataset({
    kind: values.kind as DatasetKind,
    split: values.split as DatasetSplit,
    path: values.path,
    limit: values.limit === undefined ? undefined : Number(values.limit),
  }, {
    imageSize: Number(values.size),
    channels: Number(values.channels) as 1 | 3,
    classFromFilename: values.kind === 'folder' ? true : undefined,
  });
  const started = Date.now();
  const result = await exportDatasetToFolder(dataset, values.out, {
    chunkSize: 1000,
    onProgress: (n, total) => process.stdout.write(`\r${n}/${total}`),
  });
  const classes = result.numClasses === null ? 'unlabelled' : `${result.numClasses} classes`;
  console.log(`\n${result.files.length} PNGs (${classes}) in ${values.out}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
