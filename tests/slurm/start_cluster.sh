#!/usr/bin/env bash
# Start a single-node Slurm cluster (munge, slurmctld, slurmd; no slurmdbd,
# no accounting) on this machine, from Debian's packages:
#
#   apt-get install slurmctld slurmd slurm-client munge
#   tests/slurm/start_cluster.sh      # idempotent: a running cluster is kept
#   tests/slurm/stop_cluster.sh
#
# The node gets the CPUs and memory that `slurmd -C` reads from this machine;
# one partition (default "debug"). Needs root. The configuration goes to
# /etc/slurm/slurm.conf, where every Slurm command looks for it; an existing
# slurm.conf that this script did not write is never touched (exit 3).
# State, logs and pid files go to $ALFF_SLURM_STATE (default
# /var/lib/alff-slurm-test).
#
# Exit codes: 0 the node is idle; 2 cannot run here (not root, packages
# missing); 3 a foreign slurm.conf; 1 a daemon did not come up (logs printed).
# The reason is the last line on stderr.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="${ALFF_SLURM_STATE:-/var/lib/alff-slurm-test}"
CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
PARTITION="${ALFF_SLURM_PARTITION:-debug}"
CTLD_PORT="${ALFF_SLURM_CTLD_PORT:-6817}"
D_PORT="${ALFF_SLURM_D_PORT:-6818}"
TIMEOUT="${ALFF_SLURM_TIMEOUT:-60}"
MARK="ALFF_TEST_CLUSTER"

skip() { echo "cannot start Slurm: $*" >&2; exit 2; }
fail() { echo "Slurm did not start: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || skip "not root"
for b in munged munge slurmctld slurmd sinfo scontrol sbatch squeue; do
    command -v "$b" >/dev/null 2>&1 || skip "no '$b' binary (apt-get install slurmctld slurmd slurm-client munge)"
done

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {
    local f="$1" pid
    alive "$f" || { rm -f "$f"; return 0; }
    pid="$(cat "$f")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
}

# ----- munge
MUNGE_PID=/run/munge/munged.pid
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    stop_pidfile "$MUNGE_PID"
    runuser -u munge -- munged --force
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
    munge -n | unmunge >/dev/null || fail "munged does not answer (see /var/log/munge/munged.log)"
fi

# ----- slurm.conf for this host
HOST="$(hostname -s)"
NODELINE="$(slurmd -C | head -1)"            # NodeName=<host> CPUs=... RealMemory=...
case "$NODELINE" in NodeName=*) ;; *) fail "slurmd -C printed: $NODELINE" ;; esac
NODE="${NODELINE#NodeName=}"
NODE="${NODE%% *}"
# leave a little memory to the system
MEM="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$NODELINE")"
NODELINE="$(sed "s/RealMemory=[0-9]*/RealMemory=$(( MEM > 2048 ? MEM - 512 : MEM ))/" <<<"$NODELINE")"

mkdir -p "$(dirname "$CONF")" "$STATE/ctld" "$STATE/d"
if [ -e "$CONF" ] && ! grep -q "$MARK" "$CONF"; then
    echo "cannot start Slurm: $CONF exists and was not written by $0; not touching it" >&2
    exit 3
fi
NEW="$(sed -e "s|@HOST@|$HOST|g" -e "s|@STATE@|$STATE|g" -e "s|@NODELINE@|$NODELINE|g" \
           -e "s|@NODE@|$NODE|g" -e "s|@PARTITION@|$PARTITION|g" \
           -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@D_PORT@|$D_PORT|g" "$HERE/slurm.conf.in")"
RESTART=0
if [ ! -e "$CONF" ] || [ "$NEW" != "$(cat "$CONF")" ]; then
    printf '%s\n' "$NEW" > "$CONF.tmp"
    mv "$CONF.tmp" "$CONF"
    RESTART=1
fi
# cgroup-free set-up: an empty cgroup.conf keeps slurmd from probing cgroups
[ -e "$(dirname "$CONF")/cgroup.conf" ] || echo "# $MARK" > "$(dirname "$CONF")/cgroup.conf"

# ----- daemons (kept when running with this configuration)
if [ "$RESTART" = 1 ]; then
    stop_pidfile "$STATE/slurmd.pid"
    stop_pidfile "$STATE/slurmctld.pid"
fi
if ! alive "$STATE/slurmctld.pid"; then
    slurmctld -f "$CONF" || fail "slurmctld exited: $(tail -5 "$STATE/slurmctld.log" 2>/dev/null)"
fi
ok=0
for _ in $(seq $(( TIMEOUT * 5 ))); do
    scontrol ping 2>/dev/null | grep -q UP && { ok=1; break; }
    alive "$STATE/slurmctld.pid" || break
    sleep 0.2
done
[ "$ok" = 1 ] || fail "slurmctld does not answer: $(tail -20 "$STATE/slurmctld.log" 2>/dev/null)"
if ! alive "$STATE/slurmd.pid"; then
    slurmd -f "$CONF" || fail "slurmd exited: $(tail -5 "$STATE/slurmd.log" 2>/dev/null)"
fi

# ----- wait for the node to be idle (resume it if a previous run left it down)
state=""
for i in $(seq $(( TIMEOUT * 2 ))); do
    state="$(sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -1 || true)"
    case "$state" in
        idle|mix|alloc) break ;;
        down*|drain*|drng*|fail*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
case "$state" in
    idle|mix|alloc) ;;
    *) fail "node $NODE is '$state' after ${TIMEOUT}s: $(tail -20 "$STATE/slurmd.log" 2>/dev/null)" ;;
esac
echo "Slurm is up: node $NODE ($(sed 's/^NodeName=[^ ]* //' <<<"$NODELINE")), partition $PARTITION, state $state"
