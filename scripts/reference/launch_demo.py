#!/usr/bin/env python3
"""
Trains one node-red-iddpm pipeline with the reference code (openai/improved-diffusion) on PyTorch.

Pipeline: 32x32 px, 1 channel (grey), 10 classes; UNet tiny preset.
Written by node-red-iddpm (engine/interop/launcher.ts) from the pipeline; the model, the diffusion and the schedule
sampler are fixed here, the training recipe comes from the command line (defaults below).

The reference's scripts/image_train.py cannot express this pipeline (1 input channel: the scripts fix 3 (RGB);
channel_mult (1, 2, 2): at 32 px the scripts fix (1, 2, 2, 2); 10 classes: class_cond means 1000 classes
(NUM_CLASSES)), so this launcher builds the reference's UNetModel and diffusion directly and runs the reference's
own TrainLoop (AdamW, EMA, logging, save_interval, resume_checkpoint) on them.

Usage:
  OPENAI_LOGDIR=<run folder> IDDPM_REF=<folder holding improved_diffusion/> python3 launch.py --data_dir <pngs>
It runs as one process (dist_util.setup_dist() needs no mpiexec) or under `mpiexec -n N`; but on a CPU the
reference does NOT synchronise gradients (TrainLoop wraps the model in DistributedDataParallel only when CUDA is
available and otherwise warns), so N CPU processes train N separate copies, each on its shard of the data, and
only rank 0's is saved. Use one process on a CPU.

Resume: --resume_checkpoint <run folder>/model<step>.pt; the reference loads ema_<rate>_<step>.pt and
opt<step>.pt from beside it.
"""
import argparse
import os
import sys
import types

IDDPM_REF = os.environ.get("IDDPM_REF", "")
if not os.path.isdir(os.path.join(IDDPM_REF, "improved_diffusion")):
    sys.exit(f"IDDPM_REF must name the folder holding the reference's improved_diffusion package (got {IDDPM_REF!r})")
sys.path.insert(0, IDDPM_REF)

# On a shared CPU, OpenMP workers that spin while waiting for each other slow each step 5-10x; passive waiting
# does not (measured here: 8 s vs 0.85 s a step of 32 with 2 threads beside another busy process).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch as th
from PIL import Image

# The whole run is sized for 2 CPU threads (the reference sets none).
th.set_num_threads(2)

# resample.py's LossSecondMomentResampler uses np.int, the alias of the builtin int that NumPy 1.24 removed.
if "int" not in np.__dict__:
    np.int = int


def _local_blobfile():
    """The part of blobfile the reference calls (local paths only), for machines without the package."""
    bf = types.ModuleType("blobfile")
    bf.BlobFile = open
    bf.basename = os.path.basename
    bf.dirname = os.path.dirname
    bf.exists = os.path.exists
    bf.isdir = os.path.isdir
    bf.join = os.path.join
    bf.listdir = os.listdir
    return bf


try:
    import blobfile  # noqa: F401
except ImportError:
    sys.modules["blobfile"] = _local_blobfile()

from improved_diffusion import dist_util, logger
from improved_diffusion.resample import create_named_schedule_sampler
from improved_diffusion.script_util import create_gaussian_diffusion
from improved_diffusion.train_util import TrainLoop
from improved_diffusion.unet import UNetModel

IMAGE_SIZE = 32
IN_CHANNELS = 1
NUM_CLASSES = 10
RECIPE = dict(
    batch_size=32,
    lr=0.0002,
    ema_rate="0.9995",
    save_interval=500,
    log_interval=100,
    microbatch=-1,
    resume_checkpoint="",
)


def create_model():
    """Our UNet config in the reference's terms (attention_resolutions are downsample factors)."""
    return UNetModel(
        in_channels=1,
        model_channels=32,
        out_channels=2,
        num_res_blocks=1,
        attention_resolutions=(4,),
        dropout=0.0,
        channel_mult=(1, 2, 2),
        num_classes=10,
        num_heads=4,
        use_scale_shift_norm=True,
    )


def create_diffusion():
    return create_gaussian_diffusion(
        steps=1000,
        learn_sigma=True,
        sigma_small=False,
        noise_schedule="cosine",
        use_kl=False,
        predict_xstart=False,
        rescale_timesteps=True,
        rescale_learned_sigmas=True,
        timestep_respacing="",
    )


def create_schedule_sampler(diffusion):
    return create_named_schedule_sampler("uniform", diffusion)


def list_images(data_dir):
    """Image files under data_dir, recursively, sorted: as the reference's _list_image_files_recursively."""
    found = []
    for entry in sorted(os.listdir(data_dir)):
        full = os.path.join(data_dir, entry)
        if "." in entry and entry.split(".")[-1].lower() in ("jpg", "jpeg", "png", "gif"):
            found.append(full)
        elif os.path.isdir(full):
            found.extend(list_images(full))
    return found


def read_image(path):
    """One image as a C x H x W float32 array in [-1, 1], resized and centre-cropped as the reference does."""
    with open(path, "rb") as f:
        image = Image.open(f)
        image.load()
    while min(*image.size) >= 2 * IMAGE_SIZE:
        image = image.resize(tuple(x // 2 for x in image.size), resample=Image.BOX)
    scale = IMAGE_SIZE / min(*image.size)
    image = image.resize(tuple(round(x * scale) for x in image.size), resample=Image.BICUBIC)
    arr = np.array(image.convert("L" if IN_CHANNELS == 1 else "RGB"))
    if arr.ndim == 2:
        arr = arr[:, :, None]
    top = (arr.shape[0] - IMAGE_SIZE) // 2
    left = (arr.shape[1] - IMAGE_SIZE) // 2
    arr = arr[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE]
    return np.transpose(arr.astype(np.float32) / 127.5 - 1, [2, 0, 1])


def load_data(data_dir, batch_size):
    """
    Endless (batch, {"y": labels}) pairs from a folder of images, like the reference's load_data (shard per
    MPI rank, shuffle each epoch, drop the last partial batch) but keeping IN_CHANNELS channels (the
    reference converts to RGB) and holding the decoded images in memory. Labels: the file name's prefix
    before the first "_", classes numbered in sorted order of the prefixes.
    """
    from mpi4py import MPI

    files = list_images(data_dir)
    if not files:
        raise ValueError(f"no images in {data_dir}")
    rank, shards = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
    labels = None
    if NUM_CLASSES:
        names = [os.path.basename(f).split("_")[0] for f in files]
        classes = sorted(set(names))
        if len(classes) != NUM_CLASSES:
            raise ValueError(f"{data_dir} has {len(classes)} class prefixes, the model has {NUM_CLASSES} classes")
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[n] for n in names], dtype=np.int64)[rank::shards]
    files = files[rank::shards]
    if len(files) < batch_size:
        raise ValueError(f"{len(files)} images per process, fewer than batch_size {batch_size}")
    logger.log(f"reading {len(files)} images from {data_dir}...")
    images = th.from_numpy(np.stack([read_image(f) for f in files]))
    labels = None if labels is None else th.from_numpy(labels)
    while True:
        order = th.randperm(len(files))
        for start in range(0, len(files) - batch_size + 1, batch_size):
            chosen = order[start : start + batch_size]
            yield images[chosen], ({} if labels is None else {"y": labels[chosen]})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", required=True)
    for key, value in RECIPE.items():
        parser.add_argument(f"--{key}", type=type(value), default=value)
    args = parser.parse_args()

    dist_util.setup_dist()
    logger.configure()
    logger.log(f"args: {vars(args)}")
    model = create_model()
    model.to(dist_util.dev())
    diffusion = create_diffusion()
    logger.log(f"parameters: {sum(p.numel() for p in model.parameters())}")
    TrainLoop(
        model=model,
        diffusion=diffusion,
        data=load_data(args.data_dir, args.batch_size),
        batch_size=args.batch_size,
        microbatch=args.microbatch,
        lr=args.lr,
        ema_rate=args.ema_rate,
        log_interval=args.log_interval,
        save_interval=args.save_interval,
        resume_checkpoint=args.resume_checkpoint,
        schedule_sampler=create_schedule_sampler(diffusion),
    ).run_loop()


if __name__ == "__main__":
    main()
