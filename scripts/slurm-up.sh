#!/usr/bin/env bash
# A real single-node Slurm on this machine, for the cluster tests (CI runs it from .ci/run):
# installs Debian's slurm-wlm and munge if they are missing (needs root), writes a slurm.conf for
# localhost into a private directory, starts munged (unless one already answers), slurmctld and slurmd,
# and waits until a job array runs. Nothing goes to /etc/slurm: clients find the cluster through
# SLURM_CONF, so a machine's own Slurm set-up is never touched.
#
#   scripts/slurm-up.sh [DIR]      # DIR defaults to $OXNAS_SLURM_DIR, else /tmp/oxnas-slurm
#   export SLURM_CONF=DIR/slurm.conf
#   scripts/slurm-down.sh [DIR]    # stops exactly the daemons this script started
#
# Slurm 22.05 (Debian 12) runs job arrays as root with proctrack/linuxproc and task/none, which need
# no cgroups, so this also works in containers.
set -euo pipefail
dir="${1:-${OXNAS_SLURM_DIR:-/tmp/oxnas-slurm}}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

fail() {
  echo "slurm-up: $*" >&2
  for log in "$dir"/*.log; do
    [[ -f "$log" ]] && { echo "--- $log (last lines)" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return
  fi
  [[ $(id -u) == 0 ]] || fail "slurm-wlm and munge are not installed and installing them needs root (apt-get install slurm-wlm munge)"
  echo "slurm-up: installing slurm-wlm and munge with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || fail "apt-get update failed"
  apt-get install -y -qq slurm-wlm munge >/dev/null || fail "apt-get install slurm-wlm munge failed"
}

# munged: reuse one that already answers (a machine with a real Slurm), else start our own as the
# munge user, as Debian's service does.
start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key || fail "could not create /etc/munge/munge.key"
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid || fail "munged did not start (see /var/log/munge/munged.log)"
  cp /run/munge/munged.pid "$dir/munged.pid"
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.1
  done
  fail "munged started but does not answer"
}

write_conf() {
  local host cpus mem_mb
  host="$(hostname -s)"
  cpus="$(nproc)"
  # Leave headroom below the machine's memory so slurmd's own check never drains the node.
  mem_mb=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10))
  rm -rf "$dir/state" "$dir/spool"
  mkdir -p "$dir/state" "$dir/spool"
  cat >"$dir/slurm.conf" <<EOF
# Written by oxnas scripts/slurm-up.sh: a single-node Slurm on localhost for tests.
ClusterName=oxnas
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${OXNAS_SLURMCTLD_PORT:-6917}
SlurmdPort=${OXNAS_SLURMD_PORT:-6918}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
# Tests read finished tasks' states from squeue; keep them listed for ten minutes.
MinJobAge=600
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

# A job array must run to the end: that is what the tests need, not merely daemons that started.
smoke_test() {
  export SLURM_CONF="$dir/slurm.conf"
  for _ in $(seq 100); do
    sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && break
    sleep 0.2
  done
  local out
  out="$(timeout 120 sbatch --parsable --wait --array=0-1 --output=/dev/null --wrap true 2>&1)" ||
    fail "a test job array did not run: $out"
}

mkdir -p "$dir"
# A previous instance of ours in this directory (an aborted run) would hold the ports.
"$root/scripts/slurm-down.sh" "$dir"
install_packages
start_munge
write_conf
slurmctld -c -f "$dir/slurm.conf" || fail "slurmctld did not start"
slurmd -f "$dir/slurm.conf" -N "$(hostname -s)" || fail "slurmd did not start"
smoke_test
echo "slurm-up: single-node Slurm running; export SLURM_CONF=$dir/slurm.conf (stop it with $root/scripts/slurm-down.sh $dir)" >&2
