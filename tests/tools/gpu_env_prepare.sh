#!/usr/bin/env bash
# Prepares .gpucarry/ for tests/tools/gpu_env_e2e.sh: the Debian 12 packages that the GPU machine
# (Ubuntu 24.04, no network) lacks to configure and build the sd35-setup CLI with
#   -DSD35_WITH_TORCH=OFF -DSD35_BUILD_TESTS=OFF -DSD35_BUILD_BENCH=OFF
# Runs HERE (Debian 12), from anywhere; writes <repo>/.gpucarry/{debs/,MANIFEST.txt}. The scripts
# themselves travel with the working tree (tests/tools/ is not ignored).
#
# What the GPU box has: g++ 13, cmake + ninja (venv), git, libcurl/OpenSSL dev files, python3 with
# torch 2.11+cu130. What it lacks and we carry (apt-get download: the .deb files, no dependencies
# pulled, nothing installed here):
#   libgit2-dev libgit2-1.5                    the git engine (headers, .so, libgit2.pc)
#   libmbedtls14 libmbedcrypto7 libmbedx509-1  libgit2-1.5's TLS backend (runtime NEEDED)
#   libhttp-parser2.9 libssh2-1                libgit2-1.5's other runtime NEEDED libraries
#   nlohmann-json3-dev                         JSON (header-only, CMake config)
#   libcli11-dev                               CLI11 2.1 (header-only, CMake config)
#   libfmt-dev libfmt9                         fmt 9.1 (the same version the plugin build uses)
#   pkgconf-bin libpkgconf3                    pkgconf, used only when the box has no pkg-config
#                                              (CMake's pkg_check_modules(libgit2) needs one)
#   libsentencepiece-dev libsentencepiece0     T5 tokenizer (src/text; sentencepiece.pc)
#   libicu-dev libicu72                        Unicode for the CLIP tokenizer (icu-uc.pc); Ubuntu
#                                              24.04 has libicu74, another soname: no clash
#   zlib1g-dev zlib1g                          PNG deflate (zlib.pc); the box's own libz.so.1
#                                              (1.3) is newer and ABI-compatible, so the bench
#                                              scripts link and run against it when present
# libicu-dev's other Depends (icu-devtools: genrb, icuinfo, ...; libc6-dev) are not needed to
# build against ICU and are not carried. libsentencepiece0 / libicu72 need only libc6, libgcc-s1,
# libstdc++6 (Ubuntu 24.04's are newer).
# Not carried: libgit2.pc's `Requires.private: libpcre2-8 zlib` and its Libs.private (mbedtls,
# http_parser, ssh2) only matter for static linking; gpu_env_e2e.sh drops the Requires.private
# line from the unpacked .pc, so libpcre2-dev / zlib1g-dev / libmbedtls-dev / libssh2-1-dev /
# libhttp-parser-dev are not needed. libgit2-1.5's other runtime deps (libc6, libgssapi-krb5-2,
# libpcre2-8-0, zlib1g, libssl3 for libssh2) are in the Ubuntu 24.04 base with curl.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CARRY=${GPUCARRY:-$SRC/.gpucarry}
PKGS=(libgit2-dev libgit2-1.5 libmbedtls14 libmbedcrypto7 libmbedx509-1 libhttp-parser2.9 libssh2-1
      nlohmann-json3-dev libcli11-dev libfmt-dev libfmt9 pkgconf-bin libpkgconf3
      libsentencepiece-dev libsentencepiece0 libicu-dev libicu72 zlib1g-dev zlib1g)

# Check the dependency claims above against this apt database, so a changed package fails loudly.
deps=$(apt-cache depends --no-recommends --no-suggests libgit2-1.5 | awk '/Depends:/{print $2}')
for d in $deps; do
  case " ${PKGS[*]} libc6 libgssapi-krb5-2 libpcre2-8-0 zlib1g " in
    *" $d "*) ;;
    *) echo "gpu_env_prepare: libgit2-1.5 depends on $d, which is neither carried nor expected" \
            "on the GPU box: add it to PKGS" >&2; exit 1 ;;
  esac
done
for pkg in libsentencepiece-dev libsentencepiece0 libicu-dev libicu72 zlib1g-dev zlib1g; do
  for d in $(apt-cache depends --no-recommends --no-suggests "$pkg" | awk '/ Depends:/{print $2}'); do
    case " ${PKGS[*]} libc6 libgcc-s1 libstdc++6 icu-devtools libc6-dev <libc-dev> " in
      *" $d "*) ;;
      *) echo "gpu_env_prepare: $pkg depends on $d, which is neither carried nor expected" \
              "on the GPU box: add it to PKGS" >&2; exit 1 ;;
    esac
  done
done
if [[ -r /usr/lib/x86_64-linux-gnu/pkgconfig/libgit2.pc ]]; then
  echo "libgit2.pc: $(grep -E '^(Requires|Libs)' /usr/lib/x86_64-linux-gnu/pkgconfig/libgit2.pc | tr '\n' ';')"
fi

mkdir -p "$CARRY/debs"
rm -f "$CARRY"/debs/*.deb
# apt-get download writes into the current directory; as root it warns that _apt cannot write
# there (harmless: the download runs unsandboxed).
(cd "$CARRY/debs" && apt-get download "${PKGS[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
# apt names an epoch's colon %3a (zlib1g_1%3a1.2.13...): plain names travel and unpack the same.
for f in "$CARRY"/debs/*%3a*.deb; do [[ -e $f ]] && mv "$f" "${f//%3a/_}"; done
n=$(ls "$CARRY"/debs/*.deb 2>/dev/null | wc -l)
if (( n != ${#PKGS[@]} )); then
  echo "gpu_env_prepare: expected ${#PKGS[@]} .deb files, got $n" >&2
  ls -la "$CARRY/debs" >&2
  exit 1
fi
(cd "$CARRY" && sha256sum debs/*.deb > MANIFEST.txt)
bytes=$(du -sb "$CARRY" | cut -f1)
echo "gpu_env_prepare: $n packages in $CARRY/debs, $(du -sh "$CARRY" | cut -f1) in all ($bytes bytes)"
ls -1s --block-size=K "$CARRY/debs" | sed 1d
# ICU (libicu72 9 MB + libicu-dev 10 MB) is most of it; the device carry limit is 64 MiB in all.
if (( bytes > 48 * 1024 * 1024 )); then
  echo "gpu_env_prepare: $CARRY is over 48 MiB" >&2
  exit 1
fi
echo "run on the GPU box: run(command=\"bash tests/tools/gpu_env_e2e.sh\", carry=[\".gpucarry\"])"
