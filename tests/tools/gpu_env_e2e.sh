#!/usr/bin/env bash
# End to end on the GPU machine: build the sd35-setup CLI from Debian packages carried in
# .gpucarry/debs (tests/tools/gpu_env_prepare.sh), write a full-size synthetic SD3.5-Large scaled-FP8
# all-in-one checkpoint (tests/tools/make_sd35_fp8_file.py), serve it as a Git LFS object from the
# local hub (tests/tools/lfs_hub.py), then fetch -> verify -> smoke --python (cold plugin build with
# NVRTC kernels, cached, --synthetic, a missing --require) -> lock -> verify --lock --smoke, timing
# every step and keeping each --json document.
#
#   run(command="bash tests/tools/gpu_env_e2e.sh", carry=[".gpucarry"])     # from the repo root
#
# Local dry run (no dpkg, no cmake; the tiny --small checkpoint on Debian's CPU torch):
#   E2E_LOCAL=1 OUT=/tmp/e2e-out bash tests/tools/gpu_env_e2e.sh
#
# Env: OUT (required: results), E2E_LOCAL=1, E2E_WORK (default build/e2e; needs ~2x15 GB free on
# the GPU box), E2E_BIN (a prebuilt sd35-setup; skips the build), E2E_PYTHON (the environment to
# prove; default: python3 from PATH, /usr/bin/python3 locally), E2E_LATENT (default 128, local 32),
# E2E_REGEN=1 (rewrite the checkpoint even when an identical one is there), E2E_KEEP=1 (keep the
# HF cache), E2E_DEADLINE_S (default 530, local 3600: no step runs past this many seconds after
# the start — each one's time limit is cut to what is left, and a step with < 15 s left is skipped),
# E2E_TIMEOUT_SCALE (per-step time limits x this; default 1, local 4: a cold plugin build takes
# ~8 min on 2 busy cores), E2E_PLUGIN_CACHE (default: a fresh WORK/plugins, so the first smoke
# builds cold; name a folder to keep plugins between runs), GPUCARRY (.gpucarry).
#
# $OUT gets at most 7 files: summary.txt (also printed), docs.json (every --json document, the
# generator's and the manifest), steps.log (stderr tails, build log tails), sd35.lock.json,
# manifest.json, gate.xml (JUnit of verify --lock), hub-stats.json.
set -u
set -o pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$SRC" || exit 1
: "${OUT:?set OUT to the results folder}"
mkdir -p "$OUT"
LOCAL=${E2E_LOCAL:-0}
CARRY=${GPUCARRY:-$SRC/.gpucarry}
WORK=${E2E_WORK:-$SRC/build/e2e}
if [[ $LOCAL == 1 ]]; then DEADLINE=${E2E_DEADLINE_S:-3600}; SCALE=${E2E_TIMEOUT_SCALE:-4}
else DEADLINE=${E2E_DEADLINE_S:-530}; SCALE=${E2E_TIMEOUT_SCALE:-1}; fi
TOOLS=$SRC/tests/tools
now() { date +%s.%N; }
T_START=$(now)
elapsed() { awk -v a="$T_START" -v b="$(now)" 'BEGIN{printf "%.0f", b - a}'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b - a}'; }

if [[ $LOCAL == 1 ]]; then
  BIN=${E2E_BIN:-$SRC/build/release/bin/sd35-setup}
  ENVPY=${E2E_PYTHON:-/usr/bin/python3}
  HOSTPY=${E2E_HOST_PYTHON:-/usr/bin/python3}
  LATENT=${E2E_LATENT:-32}
  SMALL=--small
  REQUIRE=(--require numpy)  # Debian's python3 has numpy, not transformers
else
  BIN=${E2E_BIN:-}
  ENVPY=${E2E_PYTHON:-$(command -v python3)}
  HOSTPY=${E2E_HOST_PYTHON:-$(command -v python3)}
  LATENT=${E2E_LATENT:-128}
  SMALL=
  REQUIRE=()  # the manifest's environment.packages: transformers
fi
# The environment as a venv (`lock` needs a resolution or a venv; lock/verify --lock read its
# wheels). An interpreter outside a venv (Debian's /usr/bin/python3) gets a pip-less venv that sees
# its site-packages, so the same flow runs.
VENV=
_vd=$(dirname "$(dirname "$ENVPY")")
[[ -f $_vd/pyvenv.cfg ]] && VENV=$_vd
if [[ -z $VENV ]]; then
  rm -rf "$WORK/venv"
  if "$ENVPY" -m venv --without-pip --system-site-packages "$WORK/venv" 2>/dev/null; then
    VENV=$WORK/venv ENVPY=$WORK/venv/bin/python3
  fi
fi

RUN=$WORK/run
STEPS=$RUN/steps.tsv
LOG=$OUT/steps.log
PLUGINS=${E2E_PLUGIN_CACHE:-$WORK/plugins}
rm -rf "$RUN" "$WORK/hub"
[[ -n ${E2E_PLUGIN_CACHE:-} ]] || rm -rf "$PLUGINS"
[[ ${E2E_KEEP:-0} == 1 ]] || rm -rf "$WORK/cache"
mkdir -p "$RUN" "$WORK/model"
: > "$STEPS"
: > "$LOG"
HUB_PID=
cleanup() {
  if [[ -n $HUB_PID ]]; then
    kill -TERM "$HUB_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$HUB_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$HUB_PID" 2>/dev/null
    wait "$HUB_PID" 2>/dev/null
    HUB_PID=
  fi
}
trap cleanup EXIT

# record NAME RC SECONDS EXPECTED_RC
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$STEPS"; }
logtail() {  # logtail TITLE FILE LINES
  { echo "===== $1 (last $3 lines)"; tail -n "$3" "$2" 2>/dev/null | cut -c1-400; } >> "$LOG"
}
left() { echo $(( DEADLINE - $(elapsed) )); }
# cap LIMIT: the smaller of LIMIT x SCALE and the time left before the deadline
cap() { local l=$(( $1 * SCALE )) r; r=$(left); (( r < l )) && l=$r; echo "$l"; }

echo "gpu_env_e2e: $(uname -n), $(nproc) cores, local=$LOCAL, work $WORK ($(df -Ph "$WORK" | awk 'NR==2{print $4}') free)"
echo "gpu_env_e2e: environment $ENVPY${VENV:+ (venv $VENV)}"

# ---- 1. Debian packages into a prefix, then configure + build the CLI ----------------------------
if [[ -z $BIN ]]; then
  P=$SRC/build/gpu-deps
  LIBDIR=$P/usr/lib/x86_64-linux-gnu
  t0=$(now)
  rc=0
  rm -rf "$P" && mkdir -p "$P"
  shopt -s nullglob
  debs=("$CARRY"/debs/*.deb)
  shopt -u nullglob
  if (( ${#debs[@]} == 0 )); then
    echo "gpu_env_e2e: no .deb files in $CARRY/debs (run tests/tools/gpu_env_prepare.sh here and carry .gpucarry)"
    rc=2
  fi
  for d in "${debs[@]}"; do dpkg -x "$d" "$P" || rc=$?; done
  # Debian's .pc files say prefix=/usr (ICU's "prefix = /usr"): point them at the prefix; their
  # Requires.private / Libs.private (static links only) dropped; the box's own libz.so.1 kept.
  . "$TOOLS/gpu_deps_fix.sh" && gpu_deps_fix "$P" || rc=3
  PKGCONF=$(command -v pkg-config || echo "$P/usr/bin/pkgconf")
  export PKG_CONFIG_PATH=$LIBDIR/pkgconfig:$P/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  record deps "$rc" "$(secs "$t0" "$(now)")" 0

  t0=$(now)
  # LD_LIBRARY_PATH only for the build: ld resolves libgit2's NEEDED (mbedtls, http-parser, ssh2)
  # through it, and the carried pkgconf needs libpkgconf.so.3. The binary gets a DT_RPATH (which,
  # unlike RUNPATH, also serves libgit2's own dependencies), so the runs need no environment.
  LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} cmake -S . -B build/gpu -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DSD35_WITH_TORCH=OFF -DSD35_BUILD_TESTS=OFF -DSD35_BUILD_BENCH=OFF \
    -DCMAKE_PREFIX_PATH="$P/usr" -DPKG_CONFIG_EXECUTABLE="$PKGCONF" -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
    "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags -Wl,-rpath,$LIBDIR -Wl,-rpath-link,$LIBDIR" \
    > "$RUN/configure.log" 2>&1
  rc=$?
  record configure "$rc" "$(secs "$t0" "$(now)")" 0
  grep -E "^-- +(libcurl|libgit2|nlohmann|CLI11|fmt|OpenSSL|libtorch) " "$RUN/configure.log" | tr -s ' ' | paste -sd';' | cut -c1-300
  (( rc == 0 )) || logtail configure "$RUN/configure.log" 40

  t0=$(now)
  if (( rc == 0 )); then
    LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
      timeout -k 10 "$(cap 420)" cmake --build build/gpu -j"$(nproc)" --target sd35-setup > "$RUN/build.log" 2>&1
    rc=$?
  fi
  record build "$rc" "$(secs "$t0" "$(now)")" 0
  if (( rc != 0 )); then
    grep -E "error|Error" "$RUN/build.log" | head -20 >> "$LOG"
    logtail build "$RUN/build.log" 30
  fi
  BIN=$SRC/build/gpu/bin/sd35-setup
  if [[ -x $BIN ]]; then
    missing=$(ldd "$BIN" | grep "not found")
    if [[ -n $missing ]]; then  # the rpath did not take: fall back to the environment
      echo "gpu_env_e2e: ldd: $missing" | head -3
      export LD_LIBRARY_PATH=$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    fi
  fi
fi
if [[ ! -x $BIN ]]; then
  echo "gpu_env_e2e: no sd35-setup binary ($BIN); stopping"
  cat "$LOG" | head -60
  exit 1
fi
echo "gpu_env_e2e: $("$BIN" --version 2>&1) at $BIN"

# ---- 2a. the checkpoint --------------------------------------------------------------------------
MODEL=$WORK/model/sd3.5_large_fp8_scaled.safetensors
# the generator's own digest in the name: a changed generator writes the file again
GEN=$WORK/model/gen${SMALL}-$(sha256sum "$TOOLS/make_sd35_fp8_file.py" | cut -c1-12).json
free_gb=$(df -Pk "$WORK" | awk 'NR==2{printf "%d", $4 / 1048576}')
if [[ -z $SMALL ]] && (( free_gb < 33 )); then
  echo "gpu_env_e2e: WARNING: $free_gb GiB free in $WORK; the checkpoint and its fetched copy need ~30 GiB"
fi
t0=$(now)
if [[ ${E2E_REGEN:-0} != 1 && -s $GEN && -f $MODEL ]] &&
   [[ $(stat -c %s "$MODEL") == $("$HOSTPY" -c 'import json,sys;print(json.load(open(sys.argv[1]))["size"])' "$GEN") ]]; then
  rc=0
  echo "gpu_env_e2e: reusing $MODEL ($GEN)"
else
  rm -f "$WORK"/model/gen*.json "$MODEL"
  "$HOSTPY" "$TOOLS/make_sd35_fp8_file.py" "$MODEL" $SMALL > "$RUN/gen.out" 2> "$RUN/gen.err"
  rc=$?
  tail -n 1 "$RUN/gen.out" > "$GEN"
  (( rc == 0 )) || logtail generate "$RUN/gen.err" 20
fi
cp "$GEN" "$RUN/gen.json" 2>/dev/null
record generate "$rc" "$(secs "$t0" "$(now)")" 0
read -r SIZE OID < <("$HOSTPY" -c 'import json,sys;d=json.load(open(sys.argv[1]));print(d["size"],d["sha256"])' "$GEN" 2>/dev/null)
if [[ -z ${OID:-} ]]; then
  echo "gpu_env_e2e: the checkpoint was not written; stopping"
  cat "$LOG" | head -40
  exit 1
fi
echo "gpu_env_e2e: checkpoint $SIZE bytes, sha256 $OID"

# ---- 2b. hub repo (pointer committed, object hard-linked into the store), hub, manifest ----------
t0=$(now)
ORG=Comfy-Org NAME=stable-diffusion-3.5-fp8 FILE=sd3.5_large_fp8_scaled.safetensors
"$HOSTPY" - "$RUN/repo-spec.json" "$OID" "$SIZE" <<'EOF'
import json, sys
out, oid, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (oid, size)
json.dump({"org": "Comfy-Org", "name": "stable-diffusion-3.5-fp8", "tag": "v1.0", "files": [
    {"path": "README.md", "content": "Synthetic SD3.5 Large scaled-FP8 all-in-one (gpu_env_e2e.sh)\n"},
    {"path": ".gitattributes", "content": "*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},
    # committed as the pointer blob itself, so make_test_repo.py need not read 15 GB
    {"path": "sd3.5_large_fp8_scaled.safetensors", "content": pointer}]}, open(out, "w"))
EOF
"$HOSTPY" "$TOOLS/make_test_repo.py" --root "$WORK/hub" --spec "$RUN/repo-spec.json" > "$RUN/repo.json" 2> "$RUN/repo.err"
rc=$?
OBJ=$WORK/hub/lfs/objects/${OID:0:2}/${OID:2:2}/$OID
mkdir -p "$(dirname "$OBJ")"
ln -f "$MODEL" "$OBJ" 2>/dev/null || cp "$MODEL" "$OBJ" || rc=4
echo '{}' > "$RUN/hub-config.json"
env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u all_proxy \
  "$HOSTPY" "$TOOLS/lfs_hub.py" --root "$WORK/hub" --config "$RUN/hub-config.json" \
  --port-file "$RUN/ports.json" --max-seconds 1200 > "$RUN/hub.log" 2>&1 &
HUB_PID=$!
for _ in $(seq 200); do [[ -s $RUN/ports.json ]] && break; sleep 0.1; done
GIT_URL=$("$HOSTPY" -c 'import json,sys;print(json.load(open(sys.argv[1]))["git_url"])' "$RUN/ports.json" 2>/dev/null)
[[ -n $GIT_URL ]] || { rc=5; logtail hub "$RUN/hub.log" 20; logtail make_test_repo "$RUN/repo.err" 20; }
MANIFEST=$RUN/manifest.json
"$HOSTPY" - "$SRC/manifests/sd35-large-fp8.json" "$MANIFEST" "$OID" "$SIZE" "$LATENT" <<'EOF'
import json, sys
src, out, oid, size, latent = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
m = json.load(open(src))
m["name"] = "sd35-large-fp8-e2e"
m["description"] = "gpu_env_e2e.sh: synthetic SD3.5 Large scaled-FP8 file served by tests/tools/lfs_hub.py"
m["sources"] = {"model.files": "written by tests/tools/make_sd35_fp8_file.py"}
m["model"]["files"] = [{"path": "sd3.5_large_fp8_scaled.safetensors", "size": size, "sha256": oid}]
m["model"].pop("extra_files", None)  # the tokenizers are not on this hub / not timed here
m["environment"]["candidates"] = [{"torch": "2.11.0", "cuda": ["cu130"], "torchvision": None,
                                   "xformers": None}]
m["environment"]["packages"] = {"transformers": ">=4.45"}
m["requirements"]["disk_free_bytes"] = size + size // 20
m["smoke"]["latent"] = [latent, latent]
json.dump(m, open(out, "w"), indent=1)
EOF
record hub "$rc" "$(secs "$t0" "$(now)")" 0
cp "$MANIFEST" "$OUT/manifest.json"

# ---- 2c. the tool ----------------------------------------------------------------------------------
export HF_ENDPOINT=$GIT_URL NO_PROXY=127.0.0.1,127.0.0.2 no_proxy=127.0.0.1,127.0.0.2
export HF_TOKEN_PATH=$WORK/no-token GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_OFFLINE HF_HUB_CACHE HF_HOME \
      http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy SD35_SMOKE_PLUGIN SD35_FUSED
CACHE=$WORK/cache
G=("$BIN" --manifest "$MANIFEST" --cache "$CACHE" --json)
# The smoke environment: no nvcc anywhere (PATH, CUDA_HOME) and SD35_NVCC=off, so the fused
# kernels come from NVRTC at run time; a fresh plugin cache, so the first build is cold.
NOPATH=
IFS=: read -r -a _pp <<< "$PATH"
for d in "${_pp[@]}"; do [[ -n $d && ! -x $d/nvcc ]] && NOPATH+=${NOPATH:+:}$d; done
SMOKE_ENV=(env -u CUDA_HOME -u CUDA_PATH SD35_NVCC=off "PATH=$NOPATH" "SD35_PLUGIN_CACHE=$PLUGINS")
PYARGS=(--python "$ENVPY")

# step NAME EXPECTED_RC TIMEOUT_S CMD... : stdout -> RUN/NAME.json, stderr -> RUN/NAME.err
step() {
  local name=$1 expect=$2 limit=$3 t0 rc
  shift 3
  limit=$(cap "$limit")
  if (( limit < 15 )); then
    record "$name" skipped 0 "$expect"
    echo "== $name: skipped (the ${DEADLINE}s deadline is near)"
    return
  fi
  t0=$(now)
  (cd "$RUN" && timeout -k 10 "$limit" "$@" > "$RUN/$name.json" 2> "$RUN/$name.err")
  rc=$?
  record "$name" "$rc" "$(secs "$t0" "$(now)")" "$expect"
  echo "== $name: rc=$rc (expected $expect) $(secs "$t0" "$(now)") s"
  # progress lines are many and dull: keep the other stderr lines
  grep -v '"type":"progress"' "$RUN/$name.err" > "$RUN/$name.err.txt"
  logtail "$name stderr" "$RUN/$name.err.txt" $([[ $rc == "$expect" ]] && echo 12 || echo 60)
}

step fetch 0 300 "${G[@]}" fetch
step verify 0 300 "${G[@]}" verify
step smoke_cold 0 420 "${SMOKE_ENV[@]}" "${G[@]}" smoke "${PYARGS[@]}" "${REQUIRE[@]}"
step smoke_cached 0 240 "${SMOKE_ENV[@]}" "${G[@]}" smoke "${PYARGS[@]}" "${REQUIRE[@]}"
step smoke_synthetic 0 120 "${SMOKE_ENV[@]}" "${G[@]}" smoke "${PYARGS[@]}" --synthetic "${REQUIRE[@]}"
# a package the environment lacks: exit 3 naming it (the synthetic model keeps the GPU part short)
step smoke_require 3 120 "${SMOKE_ENV[@]}" "${G[@]}" smoke "${PYARGS[@]}" --synthetic --require diffusers
LOCK=$RUN/sd35.lock.json
SMOKE_DOC=$RUN/smoke_cached.json
[[ -s $SMOKE_DOC ]] || SMOKE_DOC=$RUN/smoke_cold.json
step lock 0 120 "${G[@]}" lock --out "$LOCK" --smoke-result "$SMOKE_DOC" ${VENV:+--venv "$VENV"}
step verify_lock 0 300 "${SMOKE_ENV[@]}" "${G[@]}" verify --lock "$LOCK" --smoke ${VENV:+--venv "$VENV"} \
  --junit "$RUN/gate.xml"
curl -s --max-time 5 "$GIT_URL/_stats" > "$RUN/hub-stats.json" 2>/dev/null
cleanup

# ---- summary ---------------------------------------------------------------------------------------
T_END=$(now)
"$HOSTPY" - "$RUN" "$OUT" "$(secs "$T_START" "$T_END")" "$BIN" <<'EOF' > "$OUT/summary.txt"
import json, os, re, sys
run, out, total, binpath = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def load(name):
    try:
        with open(os.path.join(run, name + ".json")) as f:
            text = f.read()
        return json.loads(text) if text.strip() else None
    except Exception as e:
        return {"_unparsed": str(e)[:120]}

def g(d, *path, default=None):
    for p in path:
        if isinstance(d, dict) and p in d:
            d = d[p]
        elif isinstance(d, list) and isinstance(p, int) and -len(d) <= p < len(d):
            d = d[p]
        else:
            return default
    return d

def err_text(name):
    try:
        return open(os.path.join(run, name + ".err.txt"), errors="replace").read()
    except OSError:
        return ""

def smoke_fields(d):
    env, plug = g(d, "environment", default={}) or {}, g(d, "plugin", default={}) or {}
    parts = ["ok=%s proven=%s source=%s" % (g(d, "ok"), g(d, "proven"), g(d, "source"))]
    if plug:
        parts.append("plugin cached=%s build_s=%s kernels=%s" % (
            plug.get("cached"), round(plug.get("build_seconds") or 0, 1), plug.get("kernels")))
    if env:
        parts.append("env torch=%s cuda=%s device=%s cc=%s native_fp8=%s fused=%s" % (
            env.get("torch"), env.get("cuda"), env.get("device"), env.get("cc"),
            env.get("native_fp8"), env.get("fused_kernels")))
    paths = g(d, "paths", default=[]) or []
    ms = ["%s %.1f" % (p.get("path") or p.get("name") or "?", p.get("ms_per_step") or 0)
          for p in paths if isinstance(p, dict)]
    if ms:
        parts.append("ms/step " + ", ".join(ms))
    for k in ("rel_l2_vs_reference", "total_seconds", "weight_bytes"):
        if g(d, k) is not None:
            parts.append("%s=%s" % (k, round(g(d, k), 4) if isinstance(g(d, k), float) else g(d, k)))
    fk = g(d, "fused_kernels")
    if isinstance(fk, dict):
        parts.append("fused_kernels.ok=%s" % fk.get("ok"))
    elif isinstance(fk, list):
        parts.append("fused_kernels %d/%d ok" % (sum(1 for k in fk if k.get("ok")), len(fk)))
    return "; ".join(parts)

def fields(name, d):
    if d is None:
        return "(no document)"
    if "_unparsed" in d:
        return "(stdout not JSON: %s)" % d["_unparsed"]
    if isinstance(d, dict) and d.get("ok") is False and "error" in d:
        e = d["error"]
        return "ERROR %s: %s (%s)" % (e.get("code"), e.get("message"), e.get("where", ""))[:300]
    if name == "fetch":
        files = g(d, "files", default=[]) or []
        return "commit=%s bytes_downloaded=%s seconds=%s files=%s" % (
            str(g(d, "commit"))[:12], g(d, "bytes_downloaded"), g(d, "seconds"),
            ",".join("%s:%s" % (f.get("path", "")[-24:], f.get("state")) for f in files))
    if name == "verify":
        return "ok=%s failed=%s warnings=%s | %s" % (g(d, "ok"), g(d, "failed"), g(d, "warnings"),
                                                   " | ".join(g(d, "summary", default=[])[:2]))
    if name == "verify_lock":
        fs = g(d, "findings", default=[]) or []
        bad = [f for f in fs if f.get("verdict") in ("fail", "failed") or f.get("ok") is False]
        s = "ok=%s findings=%d failed=%d seconds=%s" % (g(d, "ok"), len(fs), len(bad), g(d, "seconds"))
        for f in bad[:6]:
            s += "\n      FAIL %s: %s" % (f.get("id"), str(f.get("detail") or f.get("message"))[:220])
        if name == "verify_lock":
            for f in fs:
                if str(f.get("id", "")).startswith("smoke"):
                    s += "\n      %s %s: %s" % (f.get("verdict"), f.get("id"), str(f.get("detail"))[:200])
        return s
    if name.startswith("smoke"):
        s = smoke_fields(d)
        if name == "smoke_require":
            m = re.search(r"No module named '?diffusers'?", json.dumps(d) + err_text(name))
            s = "diffusers missing reported: %s; " % bool(m) + s
        return s
    if name.startswith("lock"):
        l = load("sd35.lock") or {}
        return "lock_digest=%s model.repo=%s verified=%s smoke.source=%s env=%s packages=%s" % (
            str(g(l, "lock_digest"))[:23], g(l, "model", "repo"), g(l, "model", "verified"),
            g(l, "smoke", "source"), g(l, "smoke", "environment", "interpreter"),
            len(g(l, "packages", default=[]) or []))
    return json.dumps(d)[:200]

rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(run, "steps.tsv"))]
lines = ["sd35-setup gpu_env_e2e: %s (total %s s)" % (binpath, total),
         "%-16s %7s %4s %8s  %s" % ("step", "rc", "exp", "seconds", "key fields")]
combined, bad = {}, 0
gen = load("gen")
for name, rc, sec, exp in rows:
    d = load(name) if name not in ("deps", "configure", "build", "hub", "generate") else None
    if name == "generate":
        d = gen
    if d is not None:
        combined[name] = d
    mark = "" if rc == exp else " <-- UNEXPECTED"
    bad += rc != exp
    if rc == "skipped":
        info = "skipped: the deadline was near"
    elif name == "generate" and isinstance(gen, dict):
        info = "size=%s sha256=%s mmdit_bytes=%s write_s=%s" % (
            gen.get("size"), str(gen.get("sha256"))[:16], gen.get("mmdit_bytes"), gen.get("seconds"))
    elif name in ("deps", "configure", "build", "hub"):
        info = ""
    else:
        info = fields(name, d)
    lines.append("%-16s %7s %4s %8s  %s%s" % (name, rc, exp, sec, info, mark))
lines.append("steps with an unexpected exit code: %d" % bad)
combined["manifest"] = json.load(open(os.path.join(run, "manifest.json")))
json.dump(combined, open(os.path.join(out, "docs.json"), "w"), indent=1)
print("\n".join(lines))
EOF
for f in sd35.lock.json gate.xml hub-stats.json; do [[ -s $RUN/$f ]] && cp "$RUN/$f" "$OUT/$f"; done
head -c 9000 "$OUT/summary.txt"
echo "--- steps.log (stderr tails): $(wc -c < "$LOG") bytes in \$OUT/steps.log; last lines:"
tail -n 25 "$LOG" | cut -c1-200 | head -c 2500
[[ ${E2E_KEEP:-0} == 1 ]] || rm -rf "$CACHE"
exit 0
