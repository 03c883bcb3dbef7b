#!/usr/bin/env bash
# One call on a lent GPU machine (issue 24): train the wound-bed network with the other-clinic
# augmentations (pale margins, a second lesion, another camera's light) and the tissue network,
# and bring back their weights and logs. Export, score and decide here, on the CPU, afterwards.
#
# Here, once (writes the ignored folder .device/, 34 MiB; the working tree adds about 23):
#   python -m training.pack --data ../shared/data/fuseg-train --out .device
# Then the device tool's run, with carry [".device"] and timeout_s 600:
#   bash training/device_run.sh
# It uses only what the GPU machine's image holds (torch, opencv, scikit-image, scipy, pillow).
# Time: the machine's start (1-2 min, outside the command), the wound bed BED_MINUTES (default
# 5.5: the shipped recipe took 5.3 min on an H200), the tissue network TISSUE_MINUTES (default
# 2.5), about a minute of loading and validation: under the 10 minutes a command may run, within
# the 15 minutes of device time a session has. The files come back under $OUT (8 at most):
#   bed_weights_fp16.pt bed_log.jsonl bed_recipe.json
#   tissue_weights_fp16.pt tissue_log.jsonl tissue_recipe.json  run.log
# SMOKE=1 runs the same steps for seconds on a CPU (a check that the script works at all).
set -euo pipefail
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
# import woundtrack needs two packages the image lacks: the wheels training.pack downloaded
if ! python3 -c "import pillow_heif, simplejpeg" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .device/wheels/*.whl
  export PYTHONPATH="$PWD:/tmp/site"
fi
OUT="${OUT:?the device tool sets OUT}"
DATA=.device/fuseg-train
IMAGENET=.device/lite0_encoder_fp16.pt
RUNS=$(mktemp -d)
BED_MINUTES="${BED_MINUTES:-5.5}"
TISSUE_MINUTES="${TISSUE_MINUTES:-2.5}"
WORKERS="${WORKERS:-14}"
if [[ "${SMOKE:-0}" == 1 ]]; then
  BED=(--epochs 1 --size 64 --batch 4 --limit 8 --decoder light --device cpu)
  TISSUE=(--epochs 1 --size 64 --batch 4 --tissue-repeats 1 --bed-photos 4 --device cpu)
  WORKERS=0
else
  BED=(--epochs 150 --size 384 --batch 16)
  TISSUE=(--epochs 300 --size 320 --batch 16 --freeze-blocks 0)
fi
{
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  # The shipped recipe (training/runs/2026-11-26-a) with the three augmentations of issue 24.
  python3 -m training.train --data "$DATA" --out "$RUNS/bed" --imagenet "$IMAGENET" "${BED[@]}" \
    --workers "$WORKERS" --synthesis-p 0.5 --pale-rim-p 0.25 --copied-lesion-p 0.15 \
    --camera-p 0.4 --max-minutes "$BED_MINUTES" --seed 1
  # The shipped tissue recipe (training/runs/2026-12-06-tissue), every block trained, batch 16,
  # another camera's light on 40 % of the samples.
  python3 -m training.tissue --data "$DATA" --out "$RUNS/tissue" --imagenet "$IMAGENET" \
    "${TISSUE[@]}" --workers "$WORKERS" --max-minutes "$TISSUE_MINUTES" --camera-p 0.4 --seed 1
} 2>&1 | tee "$OUT/run.log"
for run in bed tissue; do
  for f in weights_fp16.pt log.jsonl recipe.json; do
    cp "$RUNS/$run/$f" "$OUT/${run}_$f"
  done
done
ls -l "$OUT"
