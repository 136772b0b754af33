#!/usr/bin/env bash
# A throw-away single-node SLURM cluster (slurmctld + slurmd + munged) for the SLURM tests.
#
#   tests/slurm/cluster.sh start <dir>   # config, state, logs, munge socket: all under <dir>
#   tests/slurm/cluster.sh stop <dir>    # shuts it down and checks that nothing it started remains
#
# Runs as root (CI: a fresh Debian machine); installs the Debian SLURM packages when slurmctld is
# missing. Clients find the cluster through SLURM_CONF=<dir>/etc/slurm.conf, and through
# /etc/slurm/slurm.conf, a symlink made by `start` (removed by `stop`): the nested `srun` of
# snakemake's slurm-jobstep plugin drops every SLURM_* variable and reads only that default path.
# Only one such cluster can run at a time. The job record (one line per finished job) is
# <dir>/log/jobcomp.txt; ports: HYBRIDBATCH_SLURM_PORTS="ctld slurmd" (default "16817 16818").
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 start|stop <dir>"
command=$1
mkdir -p "$2"
B=$(cd "$2" && pwd)
CONF=$B/etc/slurm.conf
SYSTEM_CONF=/etc/slurm/slurm.conf
export SLURM_CONF=$CONF
read -r CTLD_PORT SLURMD_PORT <<<"${HYBRIDBATCH_SLURM_PORTS:-16817 16818}"

install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null && return
    [ "$(id -u)" -eq 0 ] || die "the SLURM packages are missing and installing them needs root"
    echo "cluster.sh: installing slurmctld slurmd munge slurm-client" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends slurmctld slurmd munge slurm-client >&2
}

write_config() {
    local host cpus memory
    host=$(hostname -s)
    cpus=$(nproc)
    # Three quarters of the machine's memory, in MB (slurmd refuses a node claiming more than it has).
    memory=$(awk '/^MemTotal:/ {print int($2 / 1024 * 3 / 4)}' /proc/meminfo)
    mkdir -p "$B/etc"
    cat >"$CONF" <<CONF
# Written by tests/slurm/cluster.sh: a single-node test cluster, everything under $B.
ClusterName=hybridbatch-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$B/munge/munge.socket.2
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$B/spool/ctld
SlurmdSpoolDir=$B/spool/d
SlurmctldPidFile=$B/run/slurmctld.pid
SlurmdPidFile=$B/run/slurmd.pid
SlurmctldLogFile=$B/log/slurmctld.log
SlurmdLogFile=$B/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Jobs without --mem must not claim the whole node.
DefMemPerCPU=500
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: sacct does not work, finished jobs stay visible to squeue for MinJobAge seconds
# and every finished job gets a line in the jobcomp file.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$B/log/jobcomp.txt
MinJobAge=600
InactiveLimit=0
KillWait=5
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

link_system_conf() {
    # /etc/slurm/slurm.conf -> our conf; refuse to touch a real configuration or a live cluster's link.
    mkdir -p /etc/slurm
    if [ -L "$SYSTEM_CONF" ]; then
        local target
        target=$(readlink "$SYSTEM_CONF")
        if [ "$target" = "$CONF" ]; then
            :
        elif [ -e "$target" ] && [ -n "$(running_daemons "$(dirname "$(dirname "$target")")")" ]; then
            die "$SYSTEM_CONF points to $target, whose cluster is running: stop it first"
        else
            echo "cluster.sh: replacing the stale link $SYSTEM_CONF -> $target" >&2
            ln -sfn "$CONF" "$SYSTEM_CONF"
            touch "$B/run/created-system-conf-link"
        fi
    elif [ -e "$SYSTEM_CONF" ]; then
        die "$SYSTEM_CONF exists and is not a link made by this script: not overwriting it"
    else
        ln -s "$CONF" "$SYSTEM_CONF"
        touch "$B/run/created-system-conf-link"
    fi
}

# Pids (from the pid files, or the copies saved at start) of the daemons of the cluster in $1 that
# are still alive; only those named in $2 (default: all three).
running_daemons() {
    local dir=$1 name pid
    for name in ${2:-slurmctld slurmd munged}; do
        for file in "$dir/run/$name.pid" "$dir/run/$name.started"; do
            [ -s "$file" ] || continue
            pid=$(cat "$file")
            if kill -0 "$pid" 2>/dev/null && grep -q "$name" "/proc/$pid/comm" 2>/dev/null; then
                echo "$pid"
            fi
        done
    done | sort -u
}

start() {
    install_packages
    [ -z "$(running_daemons "$B")" ] || die "a cluster in $B is already running"
    rm -rf "$B/spool" "$B/log" "$B/run"
    mkdir -p "$B/log" "$B/run" "$B/spool/ctld" "$B/spool/d" "$B/munge"
    chmod 711 "$B/munge"  # munged: the socket's folder must be searchable
    if [ ! -s "$B/munge/munge.key" ]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$B/munge/munge.key" --force
        else
            dd if=/dev/urandom of="$B/munge/munge.key" bs=1024 count=1 status=none
        fi
    fi
    chmod 400 "$B/munge/munge.key"
    write_config
    link_system_conf
    munged --force --socket="$B/munge/munge.socket.2" --key-file="$B/munge/munge.key" \
        --log-file="$B/log/munged.log" --pid-file="$B/run/munged.pid" --seed-file="$B/munge/munged.seed"
    cp "$B/run/munged.pid" "$B/run/munged.started"
    slurmctld -c -f "$CONF"  # -c: no saved state (jobs) from an earlier start
    slurmd -f "$CONF"
    local i
    for i in $(seq 1 200); do
        [ -s "$B/run/slurmctld.pid" ] && cp "$B/run/slurmctld.pid" "$B/run/slurmctld.started"
        [ -s "$B/run/slurmd.pid" ] && cp "$B/run/slurmd.pid" "$B/run/slurmd.started"
        if sinfo -h -o %T 2>/dev/null | grep -qx idle \
            && [ -s "$B/run/slurmctld.started" ] && [ -s "$B/run/slurmd.started" ]; then
            echo "cluster.sh: SLURM is up ($(sinfo -h -o '%P %D %T %N %c CPUs')); SLURM_CONF=$CONF"
            return 0
        fi
        sleep 0.25
    done
    echo "cluster.sh: the node did not become idle; logs:" >&2
    tail -n 20 "$B"/log/*.log >&2 || true
    stop
    die "SLURM did not start"
}

stop() {
    local i pids
    if [ -s "$B/run/slurmctld.started" ] || [ -s "$B/run/slurmd.started" ]; then
        scontrol shutdown >/dev/null 2>&1 || true  # slurmctld and slurmd
        for i in $(seq 1 60); do
            [ -z "$(running_daemons "$B" "slurmctld slurmd")" ] && break
            sleep 0.25
        done
    fi
    if [ -S "$B/munge/munge.socket.2" ]; then
        munged --stop --socket="$B/munge/munge.socket.2" >/dev/null 2>&1 || true
    fi
    for i in $(seq 1 40); do
        [ -z "$(running_daemons "$B")" ] && break
        sleep 0.25
    done
    pids=$(running_daemons "$B")
    if [ -n "$pids" ]; then
        echo "cluster.sh: terminating leftover daemons $pids" >&2
        kill -TERM $pids 2>/dev/null || true
        sleep 2
        pids=$(running_daemons "$B")
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
        sleep 0.5
    fi
    if [ -e "$B/run/created-system-conf-link" ]; then
        if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$CONF" ]; then
            rm -f "$SYSTEM_CONF"
        fi
        rm -f "$B/run/created-system-conf-link"
    fi
    pids=$(running_daemons "$B")
    [ -z "$pids" ] || die "daemons still running after stop: $pids"
    echo "cluster.sh: stopped (no slurmctld, slurmd or munged of $B left)"
}

case $command in
    start) start ;;
    stop) stop ;;
    *) die "usage: $0 start|stop <dir>" ;;
esac
