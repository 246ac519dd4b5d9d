#!/usr/bin/env bash
# Launches `eqinfo train-m2` under torchrun, on one machine or several.
#
#   m2_train/launch.sh [--nproc-per-node N] -- <train-m2 arguments>
#   m2_train/launch.sh --nnodes 4 --nproc-per-node 8 --node-rank R --rdzv-endpoint HOST:29500 -- <train-m2 arguments>
#
# One machine: a standalone rendezvous, N processes (default: one per GPU, else 1).  Several
# machines: run the same command on every one, with its --node-rank (0..nnodes-1) and the
# endpoint of a host all of them reach (node 0, say); torchrun's c10d rendezvous joins them.
#
# Under a cluster scheduler, start one copy per node and take the rank and head node from it.
# Slurm, for example (sbatch script with --nodes=4 --ntasks-per-node=1 --gpus-per-node=8):
#
#   head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
#   srun m2_train/launch.sh --nnodes "$SLURM_NNODES" --nproc-per-node 8 \
#       --node-rank "$SLURM_NODEID" --rdzv-endpoint "$head:29500" --rdzv-id "$SLURM_JOB_ID" -- \
#       --shards gs://BUCKET/shards/eq16 --eval-shards gs://BUCKET/shards/eq16-val --model 113m \
#       --steps 200000 --batch 128 --out gs://BUCKET/runs/m2-eq16
#
# Environment: PYTHON (default python3) runs torchrun; NCCL_SOCKET_IFNAME picks the network
# interface on hosts with several; OMP_NUM_THREADS defaults to 1 per process (torchrun's choice).
set -euo pipefail

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

nnodes=1
nproc=""
node_rank=0
endpoint=""
rdzv_id="eqinfo-m2"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --nnodes) nnodes="$2"; shift 2 ;;
        --nproc-per-node) nproc="$2"; shift 2 ;;
        --node-rank) node_rank="$2"; shift 2 ;;
        --rdzv-endpoint) endpoint="$2"; shift 2 ;;
        --rdzv-id) rdzv_id="$2"; shift 2 ;;
        -h|--help) usage 0 ;;
        --) shift; break ;;
        *) echo "launch.sh: unknown option $1 (train-m2's own options go after --)" >&2; usage 2 ;;
    esac
done

python="${PYTHON:-python3}"
if [[ -z "$nproc" ]]; then
    nproc=$("$python" -c "import torch; print(max(1, torch.cuda.device_count()))")
fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export TORCH_NCCL_ASYNC_ERROR_HANDLING="${TORCH_NCCL_ASYNC_ERROR_HANDLING:-1}"  # a hung peer fails the job
export PYTHONUNBUFFERED=1

if [[ "$nnodes" -eq 1 && -z "$endpoint" ]]; then
    rendezvous=(--standalone)
else
    if [[ -z "$endpoint" ]]; then
        echo "launch.sh: --nnodes $nnodes needs --rdzv-endpoint HOST:PORT (a host every node reaches)" >&2
        exit 2
    fi
    rendezvous=(--nnodes "$nnodes" --node-rank "$node_rank" --rdzv-backend c10d \
        --rdzv-endpoint "$endpoint" --rdzv-id "$rdzv_id")
fi
exec "$python" -m torch.distributed.run "${rendezvous[@]}" --nproc-per-node "$nproc" \
    -m compressor.cli train-m2 "$@"
