#!/usr/bin/env bash
# A real single-node SLURM (Debian's slurm-wlm + munge) for tests and for trying the
# `slurm` profile on one machine: controller and one compute node (all cores, two fake GPUs).
#
#   scripts/slurm-local.sh install   apt-get install slurm-wlm munge (root; skipped if present)
#   scripts/slurm-local.sh start     write /etc/slurm/{slurm,gres}.conf (2 fake GPUs), start munged, slurmctld, slurmd
#   scripts/slurm-local.sh stop      stop exactly the daemons `start` started (pid files) and
#                                    move our slurm.conf aside (a stale one stalls scontrol)
#   scripts/slurm-local.sh status    daemons, sinfo
#
# Facts this relies on are measured in ../shared/CLUSTER.md: the config must live in
# /etc/slurm (the Snakemake job step strips SLURM_CONF), no slurmdbd (so squeue, not sacct),
# MinJobAge long enough that finished jobs stay visible to `scontrol show job`.
# Exit codes: 0 ok, 1 failure, 3 not possible here (not root / no apt) - tests skip on 3.
set -euo pipefail

STATE=${SLURM_LOCAL_STATE:-/run/taskonomy-slurm}   # pid files of what we started
CONF_DIR=/etc/slurm
HOST=$(hostname -s)
CPUS=$(nproc)
# Leave some memory for the OS; slurmd refuses to start if RealMemory exceeds what it sees.
MEM_MB=$(awk '/MemTotal/ {printf "%d", $2/1024*0.9}' /proc/meminfo)
GPU_FILES="/dev/null /dev/zero"       # one fake GPU per file
GPUS=$(echo $GPU_FILES | wc -w)

die() { echo "slurm-local: $*" >&2; exit 1; }
cannot() { echo "slurm-local: $*" >&2; exit 3; }

need_root() { [ "$(id -u)" = 0 ] || cannot "must run as root (it writes /etc/slurm and starts daemons)"; }

installed() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; }

do_install() {
    if installed; then echo "slurm-local: slurm-wlm and munge already installed"; return 0; fi
    need_root
    command -v apt-get >/dev/null || cannot "slurm-wlm is not installed and apt-get is unavailable"
    export DEBIAN_FRONTEND=noninteractive
    # apt does not start the daemons in containers (no systemd); `start` does.
    apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q slurm-wlm munge >/dev/null; } \
        || cannot "apt-get install slurm-wlm munge failed (no network or no package list?)"
    installed || die "installed slurm-wlm/munge but slurmctld/slurmd/munged are not on PATH"
}

write_conf() {
    mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    cat > "$CONF_DIR/slurm.conf" <<EOF
# Written by taskonomy scripts/slurm-local.sh: a one-node test cluster. Do not edit by hand.
ClusterName=taskonomy-local
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default per-CPU memory each job takes the whole node and jobs run one at a time.
DefMemPerCPU=1024
# Finished jobs stay visible to squeue/scontrol this long; the Snakemake plugin needs it
# (>= 3x its init seconds) or it falls back to sacct, which hangs without slurmdbd. 30 min:
# tests/test_slurm.py reads every job's record after the whole (possibly slow) run.
MinJobAge=1800
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
MpiDefault=none
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:$GPUS State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
    # Fake GPUs: scheduled and counted by SLURM (CUDA_VISIBLE_DEVICES is set); the device
    # files are never opened by anything real. Two, so both cores run GPU-tagged jobs.
    {
        echo "AutoDetect=off"
        for f in $GPU_FILES; do echo "NodeName=$HOST Name=gpu File=$f"; done
    } > "$CONF_DIR/gres.conf"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

do_start() {
    need_root
    installed || do_install
    mkdir -p "$STATE"
    write_conf
    # munged runs as user munge with /run/munge owned by it (CLUSTER.md).
    mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    if ! alive "$STATE/munged.pid"; then
        su -s /bin/sh munge -c "munged --pid-file=/run/munge/munged.pid" \
            || die "munged failed to start (see /var/log/munge/munged.log)"
        for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
        cp /run/munge/munged.pid "$STATE/munged.pid"
    fi
    if ! alive "$STATE/slurmctld.pid"; then
        # -c: no jobs recovered from the saved state. A controller that is not running took its
        # jobs' processes with it (or they were killed with a test run), but their saved records
        # would show them RUNNING and hold the node's cores and GPUs until their time limits ran
        # out: a CI run once waited 21 minutes for such ghosts before its first job started.
        slurmctld -c || die "slurmctld failed (see /var/log/slurm/slurmctld.log)"
    else
        scontrol reconfigure || true     # already running: pick up the rewritten slurm.conf
    fi
    if ! alive "$STATE/slurmd.pid"; then
        slurmd || die "slurmd failed (see /var/log/slurm/slurmd.log)"
    fi
    # The node shows up idle within a few seconds.
    for _ in $(seq 60); do
        state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
        case "$state" in idle|mixed|allocated) echo "slurm-local: node $HOST $state"; return 0;; esac
        sleep 0.5
    done
    die "node not idle after 30 s (state: ${state:-none}); see /var/log/slurm/"
}

do_stop() {
    # Exactly what `start` started, by pid file; never by name.
    local rc=0
    for d in slurmd slurmctld munged; do
        f="$STATE/$d.pid"
        if alive "$f"; then
            pid=$(cat "$f")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || rc=1; fi
            echo "slurm-local: stopped $d ($pid)"
        fi
        rm -f "$f"
    done
    # Our slurm.conf without its daemons makes every `scontrol` (which the Snakemake SLURM
    # plugin runs at start-up) wait ~9 s for a controller that is gone: move it aside
    # (`start` writes it again). A slurm.conf someone else wrote is left alone.
    if head -1 "$CONF_DIR/slurm.conf" 2>/dev/null | grep -q "taskonomy scripts/slurm-local.sh"; then
        mv -f "$CONF_DIR/slurm.conf" "$CONF_DIR/slurm.conf.stopped" && echo "slurm-local: moved $CONF_DIR/slurm.conf aside (slurm.conf.stopped)"
    fi
    return $rc
}

do_status() {
    for d in munged slurmctld slurmd; do
        if alive "$STATE/$d.pid"; then echo "$d: running ($(cat "$STATE/$d.pid"))"; else echo "$d: stopped"; fi
    done
    command -v sinfo >/dev/null && sinfo 2>/dev/null || true
}

case "${1:-}" in
    install) do_install ;;
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
