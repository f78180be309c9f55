#!/usr/bin/env bash
# Starts a throw-away S3 server for the tests: a single-node Ceph cluster (1 monitor, 1 OSD, no
# mgr, cephx auth) plus the RADOS Gateway, all on 127.0.0.1 and all state under one folder.
# RGW is the S3 server in Debian bookworm that checks SigV4 signatures and makes
# `PUT If-None-Match: *` atomic, which the S3 store's tests rely on. See docs/format/s3-store.md.
#
# Packages: ceph-mon ceph-osd radosgw uuid-runtime curl (scripts/install-deps.sh --tests installs them).
#
# Environment (all optional):
#   RGW_DIR        state folder, wiped first (default: ${TMPDIR:-/tmp}/tracebucket-rgw). Holds
#                  ceph.conf, keyrings, the OSD's data, {mon,osd,rgw}.pid, log/, and `env`.
#   RGW_PORT       S3 port; MON_PORT monitor port. Unset or 0: a free port is picked.
#   OBJECTSTORE    memstore (default) or bluestore. memstore starts in ~3 s instead of ~7-9 s and
#                  runs the S3 tests ~30% faster, but keeps every stored byte in the OSD's RAM
#                  (capped at 4 GiB): the OSD grows by ~0.5 GB per run of tb_s3_store_test, since
#                  RGW frees deleted data only after its 2-hour GC delay. scripts/test.sh runs the
#                  tests twice, so memstore is the default. bluestore keeps data in a sparse 10 GiB
#                  file in RGW_DIR and bounds the OSD's RAM (~0.3 GB after a run); use it for a
#                  long-lived instance or more data.
#   S3_ACCESS_KEY / S3_SECRET_KEY / S3_REGION   the S3 user's keys and region to advertise.
#
# On success it writes "$RGW_DIR/env" — `export S3_ENDPOINT=… S3_REGION=… S3_ACCESS_KEY=…
# S3_SECRET_KEY=… S3_VHOST_ENDPOINT=…` — for the caller to `source`, prints the same lines on
# stdout (and nothing else: progress goes to stderr), and returns 0. S3_VHOST_ENDPOINT
# (http://localhost:PORT) serves virtual-hosted requests to http://<bucket>.localhost:PORT.
# On failure it returns non-zero; run scripts/s3-down.sh (same RGW_DIR) to stop what did start.
# Stop with: RGW_DIR=… scripts/s3-down.sh. Nothing is written outside RGW_DIR at runtime.
set -euo pipefail
D=${RGW_DIR:-${TMPDIR:-/tmp}/tracebucket-rgw}
OBJECTSTORE=${OBJECTSTORE:-memstore}
S3_REGION=${S3_REGION:-us-east-1}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-CITESTACCESSKEY00001}
S3_SECRET_KEY=${S3_SECRET_KEY:-citestsecretkey0000000000000000000000001}
case $OBJECTSTORE in memstore | bluestore) ;; *) echo "OBJECTSTORE must be memstore or bluestore" >&2; exit 2 ;; esac
for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool uuidgen curl; do
  command -v "$tool" >/dev/null || { echo "s3-up: '$tool' not found; run scripts/install-deps.sh --tests" >&2; exit 1; }
done

ms() { echo $(($(date +%s%N) / 1000000)); }
running() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]; } # a zombie counts as gone
# listening, free_port
source "$(dirname "$0")/lib/ports.sh"

exec 3>&1 1>&2 # stdout is only for the env lines at the end: `source <(scripts/s3-up.sh)` works
T0=$(ms)
for n in rgw osd mon; do # refuse to wipe the state of a running instance
  if [[ -f $D/$n.pid ]] && running "$(cat "$D/$n.pid")"; then
    echo "s3-up: an instance is running in $D; stop it with RGW_DIR=$D scripts/s3-down.sh" >&2
    exit 1
  fi
done
MON_PORT=${MON_PORT:-0}
RGW_PORT=${RGW_PORT:-0}
ports_picked_here=0
[[ $MON_PORT != 0 || $RGW_PORT != 0 ]] || ports_picked_here=1
[[ $MON_PORT != 0 ]] || MON_PORT=$(free_port)
[[ $RGW_PORT != 0 ]] || RGW_PORT=$(free_port "$MON_PORT")
for port in "$MON_PORT" "$RGW_PORT"; do
  if listening "$port"; then echo "s3-up: port $port already in use" >&2; exit 1; fi
done

rm -rf "$D"
mkdir -p "$D"/{mon.a,osd.0,run,log,crash}
fsid=$(uuidgen)
# Notes on the settings (each one was needed; docs/format/s3-store.md, "Test server", says why RGW):
# - `mon host = v1:…` plus `monmaptool --addv a [v1:…]`: works on any port (--add assumes msgr2
#   off port 6789 and every ceph command then hangs).
# - paxos intervals: pool creation in ~1 s instead of ~14 s.
# - crash dir / mon cluster log to file = false: nothing written to /var/lib/ceph or /var/log/ceph.
# - mon data avail crit = 0: by default ceph-mon will not start on a disk with under 5% free, which a
#   shared CI disk can be; this monitor keeps kilobytes.
# - cluster addr: else the OSD binds 0.0.0.0.
# - tcp_nodelay=1: else every keep-alive GET waits ~50 ms (Nagle + delayed ACK).
# - rgw dns name = localhost: virtual-hosted requests to http://<bucket>.localhost:<port>/ work
#   (libcurl resolves *.localhost to the loopback itself); path-style keeps working.
# - the bluestore block file must live outside the OSD data dir (mkfs would symlink it to itself).
cat >"$D/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
crash dir = $D/crash
keyring = $D/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon cluster log to file = false
paxos propose interval = 0.01
paxos min wait = 0.01
osd crush chooseleaf type = 0
[mon]
mon data = $D/mon.\$id
[osd]
osd data = $D/osd.\$id
osd objectstore = $OBJECTSTORE
memstore device bytes = 4294967296
bluestore block path = $D/osd.\$id.block
bluestore block create = true
bluestore block size = 10737418240
osd memory target = 939524096
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT tcp_nodelay=1
rgw data = $D/rgw
rgw dns name = localhost
EOF
C=(-c "$D/ceph.conf")

# cephx keys for every daemon in one keyring; ceph-mon --mkfs imports them all. (auth=none races in
# Pacific: the OSD's first mon command can carry a zero fsid and the OSD aborts.)
K=(ceph-authtool "$D/keyring" --gen-key)
"${K[@]}" --create-keyring -n mon. --cap mon 'allow *' >/dev/null
"${K[@]}" -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
"${K[@]}" -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
"${K[@]}" -n client.rgw --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$MON_PORT]" "$D/monmap" >/dev/null
ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
ceph-mon "${C[@]}" -i a -f >"$D/log/mon.stdout" 2>&1 3>&- &
echo $! >"$D/mon.pid"
for _ in $(seq 1 120); do
  listening "$MON_PORT" && break
  running "$(cat "$D/mon.pid")" || break
  sleep 0.25
done
if ! listening "$MON_PORT"; then
  echo "s3-up: ceph-mon is not listening on 127.0.0.1:$MON_PORT; the end of $D/log/mon.a.log:" >&2
  tail -n 5 "$D/log/mon.a.log" "$D/log/mon.stdout" >&2 || true
  kill -9 "$(cat "$D/mon.pid")" 2>/dev/null || true
  # Most likely another process took the port between free_port and the bind: try other ports,
  # twice at most, when they were picked here.
  attempt=${S3_UP_ATTEMPT:-1}
  if [[ $ports_picked_here == 1 && $attempt -lt 3 ]]; then
    echo "s3-up: starting again on other ports (attempt $((attempt + 1)) of 3)" >&2
    exec 1>&3 3>&-
    S3_UP_ATTEMPT=$((attempt + 1)) MON_PORT=0 RGW_PORT=0 exec bash "$0"
  fi
  exit 1
fi
T1=$(ms)

osd_uuid=$(uuidgen)
id=$(ceph "${C[@]}" --connect-timeout 30 osd new "$osd_uuid")
ceph-osd "${C[@]}" -i "$id" --mkfs --osd-uuid "$osd_uuid" >"$D/log/osd.mkfs.log" 2>&1
ceph-osd "${C[@]}" -i "$id" -f >"$D/log/osd.stdout" 2>&1 3>&- &
echo $! >"$D/osd.pid"
up=0
for _ in $(seq 1 240); do
  ceph "${C[@]}" --connect-timeout 5 osd stat 2>/dev/null | grep -q ' 1 up' && { up=1; break; }
  sleep 0.25
done
[[ $up == 1 ]] || { echo "s3-up: ceph-osd did not come up; see $D/log/osd.$id.log" >&2; tail -5 "$D/log/osd.stdout" >&2; exit 1; }
T2=$(ms)

# Pre-create RGW's pools in one ceph CLI session: otherwise the first CreateBucket, PutObject and
# CreateMultipartUpload each stall ~2 s while radosgw creates a pool.
{
  for p in .rgw.root default.rgw.log default.rgw.control default.rgw.meta default.rgw.buckets.index \
    default.rgw.buckets.data default.rgw.buckets.non-ec; do
    echo "osd pool create $p 8 8"
    echo "osd pool application enable $p rgw"
  done
} | timeout 120 ceph "${C[@]}" >"$D/log/pools.log" 2>&1
T3=$(ms)

radosgw "${C[@]}" -n client.rgw -f >"$D/log/rgw.stdout" 2>&1 3>&- &
echo $! >"$D/rgw.pid"
for _ in $(seq 1 240); do
  curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" && break
  running "$(cat "$D/rgw.pid")" || break
  sleep 0.25
done
T4=$(ms)
timeout 60 radosgw-admin "${C[@]}" user create --uid=ci --display-name=ci \
  --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" >"$D/user.json"
T5=$(ms)
curl -fsS -o /dev/null "http://127.0.0.1:$RGW_PORT/" || { echo "s3-up: radosgw is not answering; see $D/log" >&2; exit 1; }

cat >"$D/env" <<EOF
export S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
export S3_VHOST_ENDPOINT=http://localhost:$RGW_PORT
export S3_REGION=$S3_REGION
export S3_ACCESS_KEY=$S3_ACCESS_KEY
export S3_SECRET_KEY=$S3_SECRET_KEY
EOF
echo "s3-up: ceph-rgw ($OBJECTSTORE) up in $((T5 - T0)) ms (mon $((T1 - T0)), osd $((T2 - T1)), pools $((T3 - T2)), rgw $((T4 - T3)), user $((T5 - T4))); pids mon=$(cat "$D/mon.pid") osd=$(cat "$D/osd.pid") rgw=$(cat "$D/rgw.pid"); state $D"
cat "$D/env" >&3
