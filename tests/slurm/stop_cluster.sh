#!/usr/bin/env bash
# Stop the test cluster of tests/slurm/start_cluster.sh: cancels its jobs,
# stops slurmd and slurmctld (by their pid files in $ALFF_SLURM_STATE) and
# munged. Running it when nothing runs is fine. `--purge` also removes the
# state directory and the generated slurm.conf.
set -uo pipefail

STATE="${ALFF_SLURM_STATE:-/var/lib/alff-slurm-test}"
CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
MARK="ALFF_TEST_CLUSTER"

if [ -e "$CONF" ] && ! grep -q "$MARK" "$CONF"; then
    echo "$CONF was not written by start_cluster.sh; not stopping anything" >&2
    exit 3
fi

stop_pidfile() {
    local f="$1" pid
    [ -s "$f" ] || return 0
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

if [ -s "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
    timeout 10 scancel --full --quiet --user "$(id -un)" 2>/dev/null || true
fi
stop_pidfile "$STATE/slurmd.pid"
stop_pidfile "$STATE/slurmctld.pid"
# munged: only if the cluster config is ours (it is the test cluster's munge)
stop_pidfile /run/munge/munged.pid

if [ "${1:-}" = "--purge" ]; then
    rm -rf "$STATE"
    [ -e "$CONF" ] && rm -f "$CONF"
    d="$(dirname "$CONF")/cgroup.conf"
    [ -e "$d" ] && grep -q "$MARK" "$d" && rm -f "$d"
fi
echo "Slurm test cluster stopped"
