#!/bin/bash
# Four variants of the 2-core recipe, trained side by side on one GPU (2026-11-26, one H200,
# 16 cores) only to rank them, then each exported and run through the phantom tests and
# training.evaluate. Training stops after MAX_MINUTES (the cosine decay squeezed to fit), so a
# variant may get fewer epochs than 2 cores fit into ~115 min (see README.md: 31-42, not ~48).
#
#   bash training/runs/2026-11-26-gpu-sweep2/sweep.sh OUTDIR cuda DATA IMAGENET_WEIGHTS \
#       TRAIN_TIMEOUT_S POST_TIMEOUT_S [MAX_MINUTES]
#
# The run recorded here used 370 / 190 / 5.4. 190 s was too short: every evaluation and three
# of the four phantom runs were cut off (each variant's phantoms_partial.txt).
# The GPU machine's Python lacks pillow_heif (woundtrack.io imports it), so a stand-in that
# registers nothing is put first on PYTHONPATH; training reads no HEIC files.
OUTD=$1; DEV=$2; DATA=$3; IMAGENET=$4; TT=$5; ET=$6; MM=${7:-5.4}
mkdir -p "$OUTD"
STUB=$(mktemp -d); printf 'def register_heif_opener(*a, **k):\n    pass\n' > "$STUB/pillow_heif.py"
python3 -c "import pillow_heif" 2>/dev/null && STUB=
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 PYTHONPATH=$STUB${STUB:+:}$PYTHONPATH
common="--data $DATA --imagenet $IMAGENET --device $DEV --size 256 --workers 3 --batch 8 \
  --validate-every 100 --val-long-side 320 --decoder light --freeze-blocks 3 --max-minutes $MM"
run() { name=$1; shift; mkdir -p "$OUTD/$name"
  timeout "$TT" python3 -m training.train $common --out "$OUTD/$name" "$@" > "$OUTD/$name/stdout.log" 2>&1
  echo "$name train rc=$?" >> "$OUTD/rc.txt"; }
run a25e10 --synthesis-p 0.25 --new-eschar-p 0.1  --epochs 50 &
run b35e10 --synthesis-p 0.35 --new-eschar-p 0.1  --epochs 48 &
run c35    --synthesis-p 0.35                     --epochs 48 &
run d40e15 --synthesis-p 0.4  --new-eschar-p 0.15 --epochs 46 &
wait
post() { name=$1; d=$OUTD/$name
  python3 -m training.export "$d/weights_fp16.pt" "$d/m.onnx" --version "sweep2-$name" \
    --long-side-px 320 > "$d/export.log" 2>&1 || return
  ph=$(mktemp -d); for f in *; do cp -r "$f" "$ph/"; done
  cp "$d/m.onnx" "$ph/woundtrack/weights/wound_bed.onnx"
  ( cd "$ph" && timeout "$ET" env PYTHONPATH="$ph:$PYTHONPATH" python3 -m pytest -q -p no:cacheprovider \
      tests/test_segmentation.py tests/test_learned.py tests/test_accuracy.py tests/test_measure.py \
      tests/test_pipeline.py tests/test_cli.py > "$OUTD/$name.phantoms.txt" 2>&1 ) &
  timeout "$ET" python3 -m training.evaluate --data "$DATA" --model "$d/m.onnx" > "$OUTD/$name.eval.json" &
  wait; }
for n in a25e10 b35e10 c35 d40e15; do post $n & done
wait
cat "$OUTD/rc.txt"
