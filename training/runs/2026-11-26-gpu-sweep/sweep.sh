#!/bin/bash
# The 2-core CPU recipe and four variants, trained side by side on one GPU only to rank them
# quickly (2026-11-26, one H200, 16 cores: 3-6 minutes each instead of ~2 hours each on 2 cores).
# Each variant gets the number of epochs that 2 CPU cores fit into ~120 minutes with its
# step cost (training/runs/README.md): 45 for the light decoder with blocks 0-2 frozen, 39
# unfrozen, 26 with the full decoder.
#
#   bash training/runs/2026-11-26-gpu-sweep/sweep.sh OUTDIR cuda DATA IMAGENET_WEIGHTS
#
# The GPU machine's Python lacks pillow_heif (woundtrack.io imports it), so a stand-in that
# registers nothing is put first on PYTHONPATH; training reads no HEIC files.
OUTD=$1; DEV=$2; DATA=$3; IMAGENET=$4
STUB=$(mktemp -d); printf 'def register_heif_opener(*a, **k):\n    pass\n' > "$STUB/pillow_heif.py"
python3 -c "import pillow_heif" 2>/dev/null && STUB=
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 PYTHONPATH=$STUB${STUB:+:}$PYTHONPATH
common="--data $DATA --imagenet $IMAGENET --device $DEV --size 256 --workers 3 --batch 8 \
  --validate-every 15 --val-long-side 320"
run() { name=$1; shift; mkdir -p "$OUTD/$name"
  timeout 450 python3 -m training.train $common --out "$OUTD/$name" "$@" > "$OUTD/$name/stdout.log" 2>&1
  echo "$name rc=$?" >> "$OUTD/rc.txt"; }
run s50     --decoder light --freeze-blocks 3 --synthesis-p 0.5  --epochs 45 &
run s25     --decoder light --freeze-blocks 3 --synthesis-p 0.25 --epochs 45 &
run s10     --decoder light --freeze-blocks 3 --synthesis-p 0.1  --epochs 45 &
run s25f0   --decoder light --freeze-blocks 0 --synthesis-p 0.25 --epochs 39 &
run s25full --decoder full  --freeze-blocks 3 --synthesis-p 0.25 --epochs 26 &
wait
cat "$OUTD/rc.txt"
