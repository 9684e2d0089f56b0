"""The start and readiness scripts of a Sentinel-managed Redis set whose pods have no stable identity.

A Deployment's pods get new names and addresses whenever they are replaced, so no pod can be told
"you are the master" in advance (a StatefulSet's `-0` would do that, at the price of a stateful
workload). Instead every pod decides at start, from what the others report, and Sentinel remains
the only authority on who the master is once the set runs:

- A Redis pod asks the Sentinels (`SENTINEL get-master-addr-by-name`). If they name a master that
  answers as one, the pod starts as its replica. If they name this pod's own address (a restarted
  container that kept its address, now empty), it waits for their failover instead of coming back
  as an empty master that the replicas would copy. If they name a master that does not answer, it
  waits too (a failover is under way).
- If no Sentinel names a master (a new set, or the Sentinels are starting too), the pod looks at
  the other Redis pods: a master among them is replicated. When none of them runs at all, the
  set is new: once all `REDIS_REPLICAS` pods are listed, the first address in sorted order starts
  as the seed master and the others wait for it. Every pod applies the same rule to the same list,
  so exactly one seeds.
- A Sentinel monitors the master its peers name (once it answers), else a Redis pod that reports
  `role:master` (the seed). Sentinels find each other through the master (hello messages), and
  clients only ever ask them. Sentinel never forgets a peer, and a replaced pod comes back at a
  new address: a stale peer still counts towards the majority a failover needs. So a starting
  Sentinel has its running peers `SENTINEL RESET` the master, one at a time, and each relearns
  the live ones within seconds.
- Each pod announces its own address (`replica-announce-ip`, `sentinel announce-ip`: the pod IP from
  the downward API), because that is what Sentinel hands to clients and to the other pods.
- A pod that cannot decide within `BOOTSTRAP_SECONDS` exits non-zero: the kubelet restarts it
  with back-off and the reason is in its log, never a silent hang.

Peers are found by DNS (`getent ahostsv4`, IPv4 pod networks) through headless Services that also
list pods that are not ready yet; addresses given literally resolve to themselves, which is how the
tests run the same scripts on loopback. The scripts need `sh`, `redis-cli`, `getent`, `timeout`
and `sort`, as in the official (Debian-based) `redis` image. The password comes from a file
(`AUTH_FILE`) into `REDISCLI_AUTH`, never onto a command line.

Environment the scripts read (`BOOTSTRAP_ENV`): POD_IP, REDIS_PORT, SENTINEL_PORT, MASTER_NAME,
REDIS_PEERS, SENTINEL_PEERS, REDIS_REPLICAS, AUTH_FILE, DATA_DIR, BOOTSTRAP_SECONDS.
"""
from __future__ import annotations

from stateless_pack.components.sentinel_config import MASTER_HOST_PLACEHOLDER, MASTER_PORT_PLACEHOLDER

BOOTSTRAP_ENV = ("POD_IP", "REDIS_PORT", "SENTINEL_PORT", "MASTER_NAME", "REDIS_PEERS", "SENTINEL_PEERS",
                 "REDIS_REPLICAS", "AUTH_FILE", "DATA_DIR", "BOOTSTRAP_SECONDS")

REDIS_START = "redis-start.sh"
SENTINEL_START = "sentinel-start.sh"
REDIS_READY = "redis-ready.sh"
SENTINEL_READY = "sentinel-ready.sh"

# Every script starts so; shellcheck: splitting replies into words is on purpose (globbing is off).
_HEADER = "#!/bin/sh\n# shellcheck disable=SC2046,SC2086\n"

# Shared by the start scripts: how to find peers and ask them.
_COMMON = r"""set -euf  # -f: no globbing, since replies are split into words on purpose (IP, port)
REDISCLI_AUTH=$(cat "$AUTH_FILE")
export REDISCLI_AUTH

# The IPv4 addresses NAMES resolve to, sorted: a headless Service gives one per pod.
addresses() {
  for name in $1; do getent ahostsv4 "$name" || true; done | while read -r ip _; do echo "$ip"; done |
    LC_ALL=C sort -u
}

# ask HOST PORT COMMAND...: the reply, empty if nobody answers within 2 s.
ask() {
  _host=$1 _port=$2
  shift 2
  timeout 2 redis-cli --no-auth-warning -h "$_host" -p "$_port" --raw "$@" 2>/dev/null || true
}

role_of() { ask "$1" "$2" ROLE | head -n 1; }

# "IP PORT" of the master the first answering Sentinel names, "none" if the answering ones know
# none, "" if no Sentinel answers.
sentinel_master() {
  _answer=""
  for _s in $(addresses "$SENTINEL_PEERS"); do
    [ "$(ask "$_s" "$SENTINEL_PORT" PING)" = PONG ] || continue
    _answer=none
    set -- $(ask "$_s" "$SENTINEL_PORT" SENTINEL get-master-addr-by-name "$MASTER_NAME")
    if [ $# -eq 2 ]; then
      echo "$1 $2"
      return
    fi
  done
  echo "$_answer"
}

# "IP PORT" of the master the Sentinels name; status 1 when they name none or none answers.
named_master() {
  _named=$(sentinel_master)
  case $_named in ""|none) return 1;; esac
  echo "$_named"
}

# Retry DECIDE until it prints "start ..."; give up (exit 1, the kubelet restarts us) at the deadline.
until_decided() {
  _deadline=$(( $(date +%s) + ${BOOTSTRAP_SECONDS:-120} ))
  while :; do
    _decision=$($1)
    case $_decision in start*) echo "$_decision"; return;; esac
    if [ "$(date +%s)" -ge "$_deadline" ]; then
      echo "bootstrap: giving up after ${BOOTSTRAP_SECONDS:-120}s: $_decision" >&2
      exit 1
    fi
    echo "bootstrap: $_decision" >&2
    sleep 1
  done
}
"""

REDIS_START_SCRIPT = _HEADER + r"""# Start one Redis of a Sentinel-managed set: the replica of the master the Sentinels name, or the
# seed master of a new set. Generated by stateless-pack (components/redis_bootstrap.py).
# Usage: redis-start.sh BASE_REDIS_CONF
""" + _COMMON + r"""
decide() {
  if _named=$(named_master); then
    set -- $_named
    if [ "$1" = "$POD_IP" ]; then
      echo "wait: the Sentinels still name this pod ($1) as the master; an empty restart must not serve"
    elif [ "$(role_of "$1" "$2")" = master ]; then
      echo "start replica $1 $2"
    else
      echo "wait: the master the Sentinels name ($1:$2) does not answer (failover under way?)"
    fi
    return
  fi
  _peers=$(addresses "$REDIS_PEERS")
  _running=""
  for _p in $_peers; do
    [ "$_p" != "$POD_IP" ] || continue
    _role=$(role_of "$_p" "$REDIS_PORT")
    if [ "$_role" = master ]; then
      echo "start replica $_p $REDIS_PORT"
      return
    fi
    [ -z "$_role" ] || _running=yes
  done
  if [ -n "$_running" ]; then
    echo "wait: Redis pods of this set run, but none is a master and no Sentinel names one"
  elif [ "$(echo "$_peers" | grep -c .)" -lt "$REDIS_REPLICAS" ]; then
    echo "wait: a new set; $(echo "$_peers" | grep -c .) of $REDIS_REPLICAS Redis pods are listed"
  elif [ "$(echo "$_peers" | head -n 1)" = "$POD_IP" ]; then
    echo "start master"
  else
    echo "wait: a new set; $(echo "$_peers" | head -n 1) seeds it"
  fi
}

decision=$(until_decided decide) || exit 1
set -- "$1" $decision
conf="$DATA_DIR/redis.conf"
{
  cat "$1"
  echo "port $REDIS_PORT"
  echo "bind $POD_IP"
  echo "dir $DATA_DIR"
  echo "replica-announce-ip $POD_IP"
  echo "replica-announce-port $REDIS_PORT"
  if [ "$3" = replica ]; then echo "replicaof $4 $5"; fi
} > "$conf"
echo "bootstrap: starting as $decision" >&2
exec redis-server "$conf"
"""

SENTINEL_START_SCRIPT = _HEADER + r"""# Start one Sentinel of a session store: monitor the master its peers name, else the Redis pod
# that seeded the set. Generated by stateless-pack (components/redis_bootstrap.py).
# Usage: sentinel-start.sh BASE_SENTINEL_CONF (its monitor line holds @MASTER_HOST@ @MASTER_PORT@)
""" + _COMMON + r"""
decide() {
  if _named=$(named_master); then
    set -- $_named
    if [ "$(role_of "$1" "$2")" = master ]; then
      echo "start monitor $1 $2 named-by-peers"
    else
      echo "wait: the master the other Sentinels name ($1:$2) does not answer yet"
    fi
    return
  fi
  for _p in $(addresses "$REDIS_PEERS"); do
    if [ "$(role_of "$_p" "$REDIS_PORT")" = master ]; then
      echo "start monitor $_p $REDIS_PORT found-among-redis-pods"
      return
    fi
  done
  echo "wait: no Sentinel names a master and no Redis pod of the set is one yet"
}

decision=$(until_decided decide) || exit 1
set -- "$1" $decision
conf="$DATA_DIR/sentinel.conf"
{
  sed -e "s/""" + MASTER_HOST_PLACEHOLDER + r"""/$4/" -e "s/""" + MASTER_PORT_PLACEHOLDER + r"""/$5/" "$1"
  echo "port $SENTINEL_PORT"
  echo "bind $POD_IP"
  echo "dir $DATA_DIR"
  echo "sentinel announce-ip $POD_IP"
  echo "sentinel announce-port $SENTINEL_PORT"
} > "$conf"
# Joining a running set: a replaced Sentinel (a new pod, a new address) stays in the others' memory
# and raises the majority a failover needs, until none is possible. One peer at a time forgets what it
# knows and relearns the live Sentinels and replicas from the master (hello messages every 2 s)
# before the next one does. A new set has no stale Sentinel to forget.
if [ "$6" = named-by-peers ]; then
  for _s in $(addresses "$SENTINEL_PEERS"); do
    if [ "$_s" != "$POD_IP" ] && [ "$(ask "$_s" "$SENTINEL_PORT" SENTINEL RESET "$MASTER_NAME")" = 1 ]; then
      sleep 2
    fi
  done
fi
echo "bootstrap: monitoring $4:$5" >&2
exec redis-sentinel "$conf"
"""

# Readiness tells the roles apart: the master is ready as master; a replica only once its link to
# the master is up and its first sync is done (before that it holds none of the sessions).
REDIS_READY_SCRIPT = _HEADER + r"""# Readiness of a Redis pod of the set. Generated by stateless-pack (components/redis_bootstrap.py).
set -f
REDISCLI_AUTH=$(cat "$AUTH_FILE")
export REDISCLI_AUTH
info=$(timeout 2 redis-cli --no-auth-warning -h "$POD_IP" -p "$REDIS_PORT" INFO replication) || exit 1
case $info in
  *role:master*) exit 0;;
  *master_sync_in_progress:1*) exit 1;;
  *master_link_status:up*) exit 0;;
esac
exit 1
"""

# A Sentinel is ready when it can tell clients where the master is.
SENTINEL_READY_SCRIPT = _HEADER + r"""# Readiness of a Sentinel. Generated by stateless-pack (components/redis_bootstrap.py).
set -f
REDISCLI_AUTH=$(cat "$AUTH_FILE")
export REDISCLI_AUTH
reply=$(timeout 2 redis-cli --no-auth-warning -h "$POD_IP" -p "$SENTINEL_PORT" --raw \
  SENTINEL get-master-addr-by-name "$MASTER_NAME") || exit 1
set -- $reply
[ $# -eq 2 ]
"""


def scripts() -> dict:
    """{file name: text} of every script, as the set's ConfigMap holds them."""
    return {REDIS_START: REDIS_START_SCRIPT, SENTINEL_START: SENTINEL_START_SCRIPT,
            REDIS_READY: REDIS_READY_SCRIPT, SENTINEL_READY: SENTINEL_READY_SCRIPT}
