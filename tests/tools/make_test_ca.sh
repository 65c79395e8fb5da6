#!/bin/sh
# make_test_ca.sh DIR: a private CA and a server certificate it signed, for the TLS tests.
# DIR/ca.pem (the CA, what a client trusts), DIR/server.pem + DIR/server.key (for lfs_hub.py
# --tls-cert/--tls-key; valid for 127.0.0.1, 127.0.0.2, 127.0.0.3 and localhost), DIR/other-ca.pem
# (a second CA that signed nothing the hub serves: trusting only it must fail).
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=sd35 test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 \
  -subj "/CN=sd35 other CA" -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
  -subj "/CN=127.0.0.1" 2>/dev/null
# mbedTLS (libgit2 on Debian) matches the host only against DNS names: the IPs are DNS names too.
printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3,DNS:127.0.0.1,DNS:127.0.0.2,DNS:127.0.0.3,DNS:localhost" \
  "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
  -days 2 -extfile server.ext 2>/dev/null
