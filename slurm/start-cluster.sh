#!/usr/bin/env bash
# Start a private single-node Slurm cluster under DIR (default /tmp/hpcsub-slurm): as root, with
# no systemd and no accounting database, every file under DIR, random free ports on 127.0.0.1.
# Needs Debian's slurm-wlm and munge. MAX_ARRAY_SIZE sets Slurm's MaxArraySize (default 1001);
# CPUS declares that many CPUs on the node (default: nproc; more lets waiting tasks share cores).
# Clients find it through SLURM_CONF, which this prints:
#   eval "$(slurm/start-cluster.sh /tmp/my-slurm)"; sinfo; slurm/stop-cluster.sh /tmp/my-slurm
set -euo pipefail
dir=$(realpath -m "${1:-/tmp/hpcsub-slurm}")
node=$(hostname -s)
cpus=${CPUS:-$(nproc)}
memory_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
mkdir -p "$dir"/{state,log,tmp,run,munge} "$dir/spool/$node"
chmod 755 "$dir/munge"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

key="$dir/munge/munge.key"
if [ ! -f "$key" ]; then
  head -c 1024 /dev/urandom > "$key"
  chmod 400 "$key"
fi
munged --force \
  --socket="$dir/munge/munge.socket" \
  --key-file="$key" \
  --pid-file="$dir/munge/munged.pid" \
  --seed-file="$dir/munge/munged.seed" \
  --log-file="$dir/log/munged.log"

cat > "$dir/slurm.conf" <<CONF
ClusterName=hpcsub
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire: how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
TmpFS=$dir/tmp
MpiDefault=none
SchedulerParameters=batch_sched_delay=0,sched_interval=1,bf_interval=1,sched_min_interval=0
EnforcePartLimits=ALL
MinJobAge=300
MaxArraySize=${MAX_ARRAY_SIZE:-1001}
ReturnToService=2
# Lets CPUS declare more CPUs than the machine has.
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mib State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF" -i
slurmd -f "$SLURM_CONF" -N "$node"

for _ in $(seq 100); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.1
done
echo "slurm did not become idle; see $dir/log/" >&2
exit 1
