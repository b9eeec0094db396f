#!/usr/bin/env bash
# The sweeps of the RegNet paper's design-space study (results/paper/), resumable: every
# `nas sample` below trains only the configs its study has not finished, so kill this script, run it
# again, and it goes on where it stopped (a round whose summary is in logs/ is skipped); nothing is
# repeated or lost.
#   bash bench/paper_runs.sh                 # from the repository root; 2 worker processes
#   ROUNDS="50 100 150" bash bench/paper_runs.sh   # grow every space to 150 models
# The spaces grow in rounds (all to 50, then all to 100, ...) so that a partial study is balanced.
# Each space is one study (SPACE-s0) of results/paper/paper.journal, trained with the default proxy
# of its time, pinned here since the default moved to 20,000 images (a study refuses other settings)
# (1 epoch over 5,000 Fashion-MNIST images, lr 0.2, crop + flip, bf16: the schedule
# results/ground_truth/ validated; bf16 is fixed because the validation used it, at no cost on this
# CPU at one thread) in the 360-400 MF band. Each round's wall time is appended to
# results/paper/runs.tsv, and each space is exported to results/paper/SPACE.parquet after every
# round; each round's `--json` summary is results/paper/logs/SPACE-N.json.
set -euo pipefail
cd "$(dirname "$0")/.."
NAS=${NAS:-.venv/bin/nas}
D=${OUT:-results/paper}
J=$D/paper.journal
SPACES=${SPACES:-anynetx_a anynetx_b anynetx_c anynetx_d anynetx_e regnetx regnety}
mkdir -p $D/logs
[ -s $D/runs.tsv ] || printf 'space\tn\tstarted\tseconds\tcommand\n' > $D/runs.tsv
for n in ${ROUNDS:-50 100}; do
  for s in $SPACES; do
    # A round is done when its summary is in logs/: it is moved there only after nas sample ended
    # with every config trained (exit 0). A study grown past this round refuses a smaller -n, so a
    # finished round is skipped, never re-run; an unfinished one (a kill, a crash) runs again.
    log="$D/logs/$s-$n.json"
    [ -s "$log" ] && continue
    cmd="nas sample --space $s -n $n --seed 0 --workers ${WORKERS:-2} --precision bf16 --train-size 5000 --storage $J"
    start=$(date +%s)
    started=$(date -u +%FT%TZ)
    $NAS sample --space "$s" -n "$n" --seed 0 --workers "${WORKERS:-2}" --precision bf16 \
      --train-size 5000 --storage $J --json > "$log.part"
    mv "$log.part" "$log"
    printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$n" "$started" "$(( $(date +%s) - start ))" "$cmd" \
      >> $D/runs.tsv
    $NAS export --study "$s-s0" --storage $J -o "$D/$s.parquet" > /dev/null
  done
done
