#!/usr/bin/env bash
# A one-machine Slurm cluster for tsload's distributed tests and recipes:
# munged, slurmctld and slurmd on this host, every file of theirs under one
# state dir in /run, none of the system's /etc/slurm or /run/munge. Root.
#
#   scripts/slurm-local.sh up      configure and start; waits until the node is idle
#   scripts/slurm-local.sh env     the variables a shell needs to use it (eval "$(… env)")
#   scripts/slurm-local.sh status  the daemons' pids and sinfo
#   scripts/slurm-local.sh down    cancel its jobs, stop the daemons, remove the state dir
#
# TSLOAD_TESTBED_ID=k (as for the testbed) gives an independent cluster:
# its own state dir, ports and cluster name, so two can run side by side.
#
# What Slurm needed on one machine without an init system:
# - munged's socket, key, pid, seed and log in a directory of its own, owned
#   by the munge user and not writable by others (munged refuses otherwise),
#   and every Slurm daemon and client pointed at that socket (AuthInfo);
# - the node described as slurmd -C measures it (a node that claims more CPUs
#   or memory than it has is drained);
# - proctrack/linuxproc and task/none: no cgroup hierarchy to delegate;
# - EnforcePartLimits=ALL, so that a step asking for more CPUs than the
#   partition has is refused at once instead of pending forever; tsload's
#   `srun -n 4` on 2 CPUs runs with --overcommit (one CPU need not be one task:
#   a generator at 2,500 req/s uses a fraction of one).
set -euo pipefail
# munged and the Slurm daemons live in sbin, which a non-login root shell may not have on PATH.
PATH=$PATH:/usr/sbin:/sbin

id=${TSLOAD_TESTBED_ID:-0}
if ! [[ $id =~ ^[0-9]+$ ]] || ((id > 254)); then
  echo "slurm-local: TSLOAD_TESTBED_ID must be an integer 0..254, not '$id'" >&2
  exit 2
fi
suffix=$([ "$id" = 0 ] && echo "" || echo "-$id")
dir=/run/tsload-slurm$suffix
conf=$dir/slurm.conf
socket=$dir/munge/munge.socket
# Away from Slurm's own 6817/6818, so a system cluster on this machine is left alone.
ctld_port=$((17000 + 2 * id))
slurmd_port=$((17001 + 2 * id))
node=$(hostname -s)

die() {
  echo "slurm-local: $*" >&2
  exit 1
}

need() {
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null || die "$cmd not found: apt-get install --no-install-recommends slurm-wlm munge"
  done
}

pid_of() { [ -s "$1" ] && cat "$1" || true; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

wait_for() { # seconds, what, command...
  local seconds=$1 what=$2
  shift 2
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "$what did not come up in ${seconds}s; see $dir/*.log"
}

print_env() {
  echo "export SLURM_CONF=$conf"
}

node_idle() { [ "$(SLURM_CONF=$conf sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ]; }

up() {
  need munged mungekey slurmctld slurmd sinfo srun
  [ "$(id -u)" = 0 ] || die "needs root (slurmd runs tasks as their users)"
  if alive "$(pid_of "$dir/slurmctld.pid")"; then
    echo "slurm-local: already up in $dir" >&2
    print_env
    return 0
  fi
  mkdir -p "$dir"/munge "$dir"/ctld "$dir"/slurmd
  chmod 755 "$dir"

  # munged checks that its key is the munge user's alone, that nobody else may write to its directories
  # (and that everyone may reach the socket in it: 755, as Debian's /run/munge).
  chown munge:munge "$dir/munge"
  chmod 755 "$dir/munge"
  if [ ! -s "$dir/munge/munge.key" ]; then
    runuser -u munge -- mungekey --create --keyfile="$dir/munge/munge.key"
  fi
  chmod 600 "$dir/munge/munge.key"
  runuser -u munge -- munged --socket="$socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" --log-file="$dir/munge/munged.log"
  wait_for 10 munged test -S "$socket"

  # CPUs, sockets, cores, threads and memory exactly as slurmd finds them.
  local hardware
  hardware=$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')
  : >"$dir/plugstack.conf"
  cat >"$conf" <<EOF
# Written by scripts/slurm-local.sh up; removed by down.
ClusterName=tsload$id
SlurmctldHost=$node
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/slurmd
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
EnforcePartLimits=ALL
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$node $hardware State=UNKNOWN
PartitionName=tsload Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

  # -c: a clean start, no jobs or node state from an earlier cluster in this dir.
  SLURM_CONF=$conf slurmctld -c -f "$conf"
  wait_for 15 slurmctld env SLURM_CONF="$conf" scontrol ping
  SLURM_CONF=$conf slurmd -f "$conf" -N "$node"
  wait_for 30 "node $node (idle)" node_idle
  echo "slurm-local: up in $dir (cluster tsload$id, node $node: $hardware)" >&2
  print_env
}

down() {
  if [ -s "$conf" ] && alive "$(pid_of "$dir/slurmctld.pid")"; then
    SLURM_CONF=$conf scancel --full --quiet --user=root 2>/dev/null || true
  fi
  local pids=() pid
  for file in slurmd.pid slurmctld.pid munge/munged.pid; do
    pid=$(pid_of "$dir/$file")
    if alive "$pid"; then
      kill "$pid"
      pids+=("$pid")
    fi
  done
  # Steps that outlived their slurmd: slurmstepd holds a socket in this cluster's spool dir.
  for proc in /proc/[0-9]*; do
    [ "$(cat "$proc/comm" 2>/dev/null)" = slurmstepd ] || continue
    if ls -l "$proc/fd" 2>/dev/null | grep -q -- "-> $dir/"; then
      pid=${proc#/proc/}
      kill "$pid" 2>/dev/null && pids+=("$pid")
    fi
  done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 100; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$dir"
  echo "slurm-local: down ($dir removed)" >&2
}

status() {
  for file in munge/munged.pid slurmctld.pid slurmd.pid; do
    pid=$(pid_of "$dir/$file")
    if alive "$pid"; then echo "$(basename "$file" .pid): $pid"; else echo "$(basename "$file" .pid): not running"; fi
  done
  if [ -s "$conf" ]; then SLURM_CONF=$conf sinfo || true; fi
}

# A failed up leaves nothing running: its logs' ends go to stderr, then down.
failed_up() {
  local rc=$?
  [ "$rc" = 0 ] && return 0
  for log in "$dir"/*.log "$dir"/munge/*.log; do
    [ -s "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
  done
  down
  exit "$rc"
}

case "${1:-}" in
  up)
    trap failed_up EXIT
    up
    trap - EXIT
    ;;
  down) down ;;
  env) print_env ;;
  status) status ;;
  *)
    echo "usage: $0 up|down|env|status" >&2
    exit 2
    ;;
esac
