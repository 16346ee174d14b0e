#!/usr/bin/env bash
# Stops the single-node Slurm that scripts/slurm-up.sh started: cancels its jobs, then ends slurmd,
# slurmctld and (if slurm-up.sh started it) munged by the process ids it recorded, so nothing else on
# the machine is touched. Safe to call twice, or when slurm-up.sh failed half-way.
set -uo pipefail
dir="${1:-${OXNAS_SLURM_DIR:-/tmp/oxnas-slurm}}"

if [[ -f "$dir/slurm.conf" && -f "$dir/slurmctld.pid" ]]; then
  # Jobs first, so that no task outlives the daemons that track it.
  SLURM_CONF="$dir/slurm.conf" timeout 20 scancel --user="$(id -un)" 2>/dev/null
  for _ in $(seq 50); do
    [[ -z "$(SLURM_CONF="$dir/slurm.conf" timeout 5 squeue -h -o %i 2>/dev/null)" ]] && break
    sleep 0.2
  done
fi

stop() {
  local pidfile="$dir/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pidfile"
}

stop slurmd
stop slurmctld
stop munged
exit 0
