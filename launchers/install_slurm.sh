#!/usr/bin/env bash
# Installs what the Slurm tests need on a Debian machine, as root: slurmctld,
# slurmd and the client commands, slurmdbd (accounting: submitit and the job
# launcher ask sacct for job states), munge (authentication), mariadb-server
# (slurmdbd's database) and iproute2 (the multi-node test cluster puts each
# slurmd in its own network namespace; nsenter and unshare come with
# util-linux). Only installs; it starts nothing (tests/launchers/slurm_cluster.py
# starts and stops the daemons). Idempotent: returns at once when everything is
# there. Quiet: prints one line with the time taken, or apt's output on failure.
set -euo pipefail

packages=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server iproute2)
start=$(date +%s)

installed=$(dpkg-query -W -f='${db:Status-Status}\n' "${packages[@]}" 2>/dev/null |
  grep -cx installed || true)
if [ "$installed" -ne "${#packages[@]}" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install_slurm.sh: must run as root to apt-get install ${packages[*]}" >&2
    exit 1
  fi
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      "${packages[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install_slurm.sh: apt-get install ${packages[*]} failed" >&2
    exit 1
  fi
fi

for cmd in slurmctld slurmd slurmdbd srun sbatch sinfo squeue scancel scontrol sacct \
  sacctmgr munged mariadbd mariadb setpriv ip nsenter unshare mount; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
    echo "install_slurm.sh: '$cmd' is missing after installing ${packages[*]}" >&2
    exit 1
  fi
done
echo "== slurm install took $(($(date +%s) - start)) s"
