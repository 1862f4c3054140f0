#!/usr/bin/env bash
# netlab.sh - the benchmark lab's network: N emulated hosts in network namespaces on one Linux
# bridge, each host's upload (and optionally download) limited with tc. Addresses are taken
# from the benchmark range 198.18.0.0/15 (RFC 2544) and from nowhere else. The bridge lives in
# its own "switch" namespace, so the root namespace is never touched.
#
# Usage (as root):
#   netlab.sh up N UP_RATE [DOWN_RATE|none] [SHAPER=htb|htb1|tbf]
#   netlab.sh down            # kills every process inside this lab's namespaces, deletes them
#   netlab.sh status          # tc counters per host
#   netlab.sh exec I CMD...   # run CMD inside host I (1-based)
#   netlab.sh ip I            # host I's address
# Env: NL_PREFIX (default dfb): namespaces are ${NL_PREFIX}-hI and ${NL_PREFIX}-sw, so two labs
# with different prefixes never touch each other (scripts/bench-swarm.ts uses dfb<its pid>).
#
# Topology:  ${NL_PREFIX}-hI:eth0 (198.18.A.B/15) <-veth-> ${NL_PREFIX}-sw:vhI -- br0
#   UP_RATE   = egress shaping on the host's eth0    (what host I can send: its upload)
#   DOWN_RATE = egress shaping on the switch port vhI (what host I can receive: its download)
# Rates in tc units: kbit, mbit, gbit (bits/s). "none" leaves that direction unshaped.
#
# Shapers (the limit always applies to the sum of all traffic of the interface):
#   htb  (default) an htb class of RATE with two children. 1:10 "small", priority 0: IPv4
#        packets shorter than 128 bytes (pure TCP ACKs, SYN/FIN/RST, small requests) and ARP,
#        guaranteed 5 % of RATE. 1:20 "bulk", priority 1: the rest, in a byte FIFO of 20 ms at
#        RATE. A host whose upload is saturated thus still sends its ACKs at once. With a
#        single FIFO the ACKs wait 10-15 ms behind upload data; BBR (this kernel's default)
#        then takes a too-small min_rtt, becomes window-limited, and a download on a host that
#        also uploads takes up to 1.7x as long. With this shaper one TCP copy over a
#        100 Mbit/s link takes 1.045x the bit-rate time (TCP/IP header overhead).
#   htb1 one htb class with the default 1000-packet FIFO (ACKs queue behind data).
#   tbf  one token bucket, latency 100 ms.
# Kernel note: this machine's kernel has tbf, htb, pfifo/bfifo, u32 but NOT netem, fq,
# fq_codel, sfq, prio or cake: there is no delay or loss emulation here.
set -u
NL_PREFIX=${NL_PREFIX:-dfb}
NL_MASK=15
NL_SMALL_PCT=${NL_SMALL_PCT:-5}
NL_BULK_MS=${NL_BULK_MS:-20}
NL_BULK_MIN=${NL_BULK_MIN:-200000}   # bytes; above 64 KiB so that a GSO packet always fits
NL_SMALL_LEN=128                      # power of 2 <= 256

# Host I (1..500) -> 198.18.(I / 250).(I % 250 + 1): always inside 198.18.0.0/15.
netlab_ip() { echo "198.18.$(( ($1 - 1) / 250 )).$(( ($1 - 1) % 250 + 1 ))"; }
netlab_ns() { echo "${NL_PREFIX}-h$1"; }
netlab_sw() { echo "${NL_PREFIX}-sw"; }
netlab_exec() { local i=$1; shift; ip netns exec "$(netlab_ns "$i")" "$@"; }

# _netlab_bps RATE -> bits/s; accepts bit, kbit, mbit, gbit (and k, m, g)
_netlab_bps() {
  awk -v r="$1" 'BEGIN{ r=tolower(r); n=r+0; u=r; sub(/^[0-9.]+/,"",u); m=0
    if(u==""||u=="bit") m=1; else if(u=="kbit"||u=="k") m=1e3; else if(u=="mbit"||u=="m") m=1e6;
    else if(u=="gbit"||u=="g") m=1e9
    if(m==0||n<=0) print "ERR"; else printf "%.0f", n*m }'
}

# _netlab_shape NS DEV RATE SHAPER
_netlab_shape() {
  local ns=$1 dev=$2 rate=$3 shaper=$4
  [ "$rate" = none ] && return 0
  case "$shaper" in
  tbf)
    ip netns exec "$ns" tc qdisc replace dev "$dev" root tbf rate "$rate" burst 64kb latency 100ms ;;
  htb1)
    ip netns exec "$ns" tc qdisc replace dev "$dev" root handle 1: htb default 10 &&
    ip netns exec "$ns" tc class add dev "$dev" parent 1: classid 1:10 htb rate "$rate" ceil "$rate" burst 64kb cburst 64kb quantum 1514 ;;
  htb)
    local bps small bulk qb lenmask f
    bps=$(_netlab_bps "$rate"); [ "$bps" = ERR ] && { echo "netlab: bad rate $rate" >&2; return 1; }
    small=$(( bps * NL_SMALL_PCT / 100 )); [ "$small" -lt 8000 ] && small=8000
    bulk=$(( bps - small ))
    qb=$(( bps / 8 * NL_BULK_MS / 1000 )); [ "$qb" -lt "$NL_BULK_MIN" ] && qb=$NL_BULK_MIN
    lenmask=$(printf '0x%04x' $(( 0xffff & ~(NL_SMALL_LEN - 1) )))
    f=$(mktemp) || return 1
    cat > "$f" <<EOF
qdisc replace dev $dev root handle 1: htb default 20
class add dev $dev parent 1: classid 1:1 htb rate ${bps}bit ceil ${bps}bit burst 64kb cburst 64kb quantum 1514
class add dev $dev parent 1:1 classid 1:10 htb rate ${small}bit ceil ${bps}bit burst 16kb cburst 64kb quantum 1514 prio 0
qdisc add dev $dev parent 1:10 handle 10: pfifo limit 1000
class add dev $dev parent 1:1 classid 1:20 htb rate ${bulk}bit ceil ${bps}bit burst 64kb cburst 64kb quantum 1514 prio 1
qdisc add dev $dev parent 1:20 handle 20: bfifo limit $qb
filter add dev $dev parent 1: protocol ip prio 1 u32 match u16 0x0000 0xffff at 2 flowid 1:20
filter add dev $dev parent 1: protocol ip prio 2 u32 match u16 0x0000 $lenmask at 2 flowid 1:10
filter add dev $dev parent 1: protocol arp prio 3 u32 match u32 0 0 flowid 1:10
EOF
    # Filters, first match wins: IPv4 total length 0 (a BIG TCP super-packet) -> bulk;
    # IPv4 total length < 128 -> small; ARP -> small; everything else -> 1:20 (default).
    ip netns exec "$ns" tc -batch "$f" || { rm -f "$f"; return 1; }
    rm -f "$f" ;;
  *) echo "netlab: unknown shaper $shaper (htb|htb1|tbf)" >&2; return 1 ;;
  esac
}

netlab_up() {
  local n=${1:-4} up=${2:-100mbit} down=${3:-none} shaper=${4:-htb}
  if [ "$n" -lt 1 ] || [ "$n" -gt 500 ]; then echo "netlab: N must be 1..500" >&2; return 1; fi
  netlab_down >/dev/null 2>&1
  local sw i ns
  sw=$(netlab_sw)
  ip netns add "$sw" || return 1
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge || return 1
  # No STP and no forwarding delay: ports forward at once.
  ip -n "$sw" link set br0 type bridge stp_state 0 forward_delay 0 2>/dev/null
  ip -n "$sw" link set br0 up
  for i in $(seq 1 "$n"); do
    ns=$(netlab_ns "$i")
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up
    ip -n "$sw" link add "vh$i" type veth peer name eth0 netns "$ns" || return 1
    ip -n "$sw" link set "vh$i" master br0
    ip -n "$sw" link set "vh$i" up
    ip -n "$ns" addr add "$(netlab_ip "$i")/$NL_MASK" dev eth0 || return 1
    ip -n "$ns" link set eth0 up
    _netlab_shape "$ns" eth0 "$up" "$shaper" || return 1
    _netlab_shape "$sw" "vh$i" "$down" "$shaper" || return 1
  done
  echo "netlab: $n hosts up ($(netlab_ip 1)..$(netlab_ip "$n")/$NL_MASK) up=$up down=$down shaper=$shaper prefix=$NL_PREFIX"
}

# Lists this lab's namespaces (exactly ${NL_PREFIX}-hI and ${NL_PREFIX}-sw).
_netlab_list() {
  ip netns list | awk '{print $1}' | grep -E "^${NL_PREFIX}-(h[0-9]+|sw)$"
}

netlab_down() {
  local ns pid left
  for ns in $(_netlab_list); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
  done
  # Give the processes up to 2 s to exit on SIGTERM, then SIGKILL what is left.
  for _ in $(seq 1 20); do
    left=0
    for ns in $(_netlab_list); do [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for ns in $(_netlab_list); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  done
  # Deleting a namespace deletes its veth end, and the switch namespace takes the bridge.
  for ns in $(_netlab_list); do ip netns del "$ns" || sleep 0.2; done
  for ns in $(_netlab_list); do ip netns del "$ns"; done
  if [ -n "$(_netlab_list)" ]; then echo "netlab: could not remove $(_netlab_list | tr '\n' ' ')" >&2; return 1; fi
  echo "netlab: down (prefix $NL_PREFIX)"
}

netlab_status() {
  local ns
  for ns in $(_netlab_list); do
    [ "$ns" = "$(netlab_sw)" ] && continue
    echo "== $ns $(ip -n "$ns" -4 -o addr show dev eth0 | awk '{print $4}')"
    ip netns exec "$ns" tc -s class show dev eth0 | grep -E "^class|Sent"
  done
  [ -z "$(_netlab_list)" ] && echo "netlab: nothing up (prefix $NL_PREFIX)"
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cmd=${1:-}; shift || true
  case "$cmd" in
    up) netlab_up "$@" ;;
    down) netlab_down ;;
    status) netlab_status ;;
    exec) netlab_exec "$@" ;;
    ip) netlab_ip "$@" ;;
    *) sed -n '2,34p' "$0"; exit 2 ;;
  esac
fi
