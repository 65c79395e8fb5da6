# shellcheck shell=bash
# Sourced by the GPU-box scripts after the .gpucarry/debs are unpacked under $1 (dpkg -x DEB $1):
#   gpu_deps_fix PREFIX
# * every .pc under PREFIX/usr/{lib/x86_64-linux-gnu,share}/pkgconfig says prefix=/usr (ICU's:
#   "prefix = /usr"): point it at PREFIX/usr. Requires.private / Libs.private only matter for
#   static links (and the box may lack their .pc files): dropped.
# * zlib: the box's own libz.so.1 (Ubuntu 24.04: 1.3, ABI-compatible with Debian 12's 1.2.13
#   headers) stays the one every process loads; Debian's runtime copy is removed and libz.so
#   points at the box's, so only Debian's headers and zlib.pc are used.
gpu_deps_fix() {
  local p=$1/usr lib=$1/usr/lib/x86_64-linux-gnu pc sys
  for pc in "$lib"/pkgconfig/*.pc "$p"/share/pkgconfig/*.pc; do
    [[ -f $pc ]] || continue
    sed -i -E -e "s#\"/usr#\"$p#g" -e "s#=/usr#=$p#g" \
      -e "s#^(prefix[[:space:]]*=[[:space:]]*)/usr#\1$p#" \
      -e '/^Requires.private/d' -e '/^Libs.private/d' "$pc" || return 1
  done
  for sys in /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1; do
    if [[ -e $sys && -e $lib/libz.so ]]; then
      rm -f "$lib"/libz.so.1* && ln -sf "$sys" "$lib/libz.so"
      break
    fi
  done
  return 0
}
