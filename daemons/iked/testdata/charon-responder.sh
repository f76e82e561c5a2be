#!/usr/bin/env bash
# Runs strongSwan's charon as an IKEv2 PSK responder on 127.0.0.1:${PORT:-17500}
# in a private mount namespace. BenchmarkIKESetup starts it to measure charon
# beside iked in the same run; it also works by hand. Needs root and Debian's
# strongswan-charon + strongswan-swanctl. Prints FOSIM_CHARON=<addr> once
# charon answers, and stops after ${SECONDS_UP:-120}s.
#
# charon's thread pool must stay above what its sockets, kernel-libipsec and
# vici hold on to: with "threads = 8" vici never answers swanctl, which then
# hangs (seen when started in the background).
set -eu
PORT=${PORT:-17500}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
cat > "$DIR/strongswan.conf" <<CONF
charon {
  port = $PORT
  port_nat_t = $((PORT + 1))
  install_routes = no
  threads = 16
  # a real hash table for the SA manager (the default is one bucket)
  ikesa_table_size = 4096
  ikesa_table_segments = 16
  # every initiator comes from 127.0.0.1: no per-address half-open limit
  block_threshold = 100000
  cookie_threshold = 100000
  init_limit_half_open = 0
  load = random nonce openssl pem pkcs1 x509 pubkey curve25519 aes sha1 sha2 hmac gcm kdf kernel-libipsec kernel-netlink socket-default vici
}
swanctl { load = pem pkcs1 x509 pubkey openssl random }
CONF
cat > "$DIR/swanctl.conf" <<CONF
connections {
  resp {
    version = 2
    local_addrs = 127.0.0.1
    proposals = aes128-sha256-ecp256-modp2048-curve25519
    unique = never
    encap = yes
    local { auth = psk
            id = 127.0.0.1 }
    remote { auth = psk
             id = %any }
    children { c { local_ts = 0.0.0.0/0
                   remote_ts = 0.0.0.0/0
                   esp_proposals = aes128-sha256 } }
  }
}
secrets { ike-1 { secret = "s3cret-psk" } }
CONF
unshare -m --kill-child bash -c "
mount -t tmpfs tmpfs /run
export STRONGSWAN_CONF=$DIR/strongswan.conf
/usr/lib/ipsec/charon >$DIR/charon.log 2>&1 </dev/null &
for i in \$(seq 100); do [ -S /run/charon.vici ] && break; sleep 0.05; done
swanctl --load-all --file $DIR/swanctl.conf >/dev/null 2>&1 </dev/null
echo FOSIM_CHARON=127.0.0.1:$PORT
sleep ${SECONDS_UP:-120}
kill %1
"
