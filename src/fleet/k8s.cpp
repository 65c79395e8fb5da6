// `export k8s`: the gate on every GPU node as a DaemonSet (and a one-shot indexed Job), labelling
// its node sd35-setup/lock=<16 hex> and sd35-setup/ready=true|false through the API server.
// Manifests are built as JSON and written as YAML (to_yaml), so every value is quoted right.
#include <fmt/format.h>

#include <filesystem>

#include "fleet/fleet.hpp"

namespace sd35::fleet {
namespace {

using ojson = nlohmann::ordered_json;

constexpr const char* kApp = "sd35-gate";
constexpr const char* kTextfileDir = "/var/lib/node_exporter/textfile_collector";
constexpr const char* kLockDir = "/etc/sd35-setup";

// The container's script: run the gate, label the node, repeat (or exit with the verdict).
constexpr const char* kGateLoop = R"SH(set -euo pipefail
sa=/var/run/secrets/kubernetes.io/serviceaccount
label_node() {
  local body
  body="{\"metadata\":{\"labels\":{\"sd35-setup/lock\":\"${SD35_LOCK_SHORT}\",\"sd35-setup/ready\":\"$1\"}}}"
  curl -sS --fail --max-time 20 --cacert "$sa/ca.crt" \
    -H @<(printf 'Authorization: Bearer %s\n' "$(cat "$sa/token")") \
    -H 'Content-Type: application/merge-patch+json' -X PATCH --data "$body" \
    "https://kubernetes.default.svc/api/v1/nodes/${NODE_NAME}" >/dev/null
}
while true; do
  args=(--no-color -q)
  if [[ -n "${SD35_CACHE:-}" ]]; then args+=(--cache "$SD35_CACHE"); fi
  args+=(verify --lock "$SD35_LOCK")
  if [[ -n "${SD35_VENV:-}" ]]; then args+=(--venv "$SD35_VENV"); fi
  if [[ "${SD35_GATE_MODE:-fast}" == full ]]; then args+=(--smoke); fi
  if [[ -d "${SD35_TEXTFILE_DIR:-}" ]]; then args+=(--prometheus "$SD35_TEXTFILE_DIR/sd35_gate.prom"); fi
  ready=false
  if sd35-setup "${args[@]}"; then ready=true; fi
  echo "node ${NODE_NAME}: lock ${SD35_LOCK_SHORT} ready=${ready}"
  label_node "$ready" || echo "cannot label node ${NODE_NAME} (RBAC: get/patch nodes)" >&2
  if [[ "${SD35_ONESHOT:-0}" == 1 ]]; then [[ "$ready" == true ]]; exit $?; fi
  sleep "${SD35_INTERVAL:-300}"
done
)SH";

ojson host_volume(const std::string& name, const std::string& path, const char* type) {
  return {{"name", name}, {"hostPath", {{"path", path}, {"type", type}}}};
}

ojson env_var(const std::string& name, const std::string& value) {
  return {{"name", name}, {"value", value}};
}

struct PodParts {
  ojson volumes = ojson::array();
  ojson mounts = ojson::array();
  ojson env = ojson::array();
};

// Host paths are mounted at the same paths, so the lock's and the venv's absolute paths hold.
PodParts pod_parts(const GateSpec& gate, const std::string& short_lock, bool oneshot,
                   const K8sOptions& o) {
  PodParts p;
  p.volumes.push_back({{"name", "lock"}, {"configMap", {{"name", "sd35-lock-" + short_lock}}}});
  p.mounts.push_back({{"name", "lock"}, {"mountPath", kLockDir}, {"readOnly", true}});
  // Read-write: the gate keeps its stat cache (.sd35-verify) beside the model.
  p.volumes.push_back(host_volume("hf-cache", gate.cache_dir, "Directory"));
  p.mounts.push_back({{"name", "hf-cache"}, {"mountPath", gate.cache_dir}});
  if (!gate.venv.empty()) {
    p.volumes.push_back(host_volume("venv", gate.venv, "Directory"));
    p.mounts.push_back({{"name", "venv"}, {"mountPath", gate.venv}, {"readOnly", true}});
  }
  p.volumes.push_back(host_volume("textfile", kTextfileDir, "DirectoryOrCreate"));
  p.mounts.push_back({{"name", "textfile"}, {"mountPath", kTextfileDir}});
  p.volumes.push_back({{"name", "tmp"}, {"emptyDir", ojson::object()}});
  p.mounts.push_back({{"name", "tmp"}, {"mountPath", "/tmp"}});
  p.env = ojson::array(
      {{{"name", "NODE_NAME"},
        {"valueFrom", {{"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "spec.nodeName"}}}}}},
       env_var("SD35_LOCK", std::string(kLockDir) + "/sd35.lock.json"),
       env_var("SD35_LOCK_SHORT", short_lock),
       env_var("SD35_CACHE", gate.cache_dir),
       env_var("SD35_VENV", gate.venv),
       env_var("SD35_TEXTFILE_DIR", kTextfileDir),
       env_var("SD35_GATE_MODE", oneshot ? "full" : "fast"),
       env_var("SD35_ONESHOT", oneshot ? "1" : "0"),
       env_var("SD35_INTERVAL", std::to_string(o.interval_s)),
       env_var("HOME", "/tmp"),
       // Without requesting a GPU (the DaemonSet must not take one from the workloads), the
       // NVIDIA container runtime still exposes the devices and driver for the host checks.
       env_var("NVIDIA_VISIBLE_DEVICES", "all"),
       env_var("NVIDIA_DRIVER_CAPABILITIES", "compute,utility")});
  return p;
}

ojson gpu_node_affinity() {
  return {{"nodeAffinity",
           {{"requiredDuringSchedulingIgnoredDuringExecution",
             {{"nodeSelectorTerms",
               ojson::array({{{"matchExpressions",
                               ojson::array({{{"key", "nvidia.com/gpu.present"},
                                              {"operator", "In"},
                                              {"values", ojson::array({"true"})}}})}}})}}}}}};
}

ojson pod_spec(const GateSpec& gate, const std::string& short_lock, const std::string& image,
               bool oneshot, const K8sOptions& o) {
  auto parts = pod_parts(gate, short_lock, oneshot, o);
  ojson resources = {{"requests", {{"cpu", "50m"}, {"memory", "64Mi"}}}};
  if (oneshot) resources["limits"] = {{"nvidia.com/gpu", "1"}};  // the smoke needs the GPU alone
  ojson container = {
      {"name", "gate"},
      {"image", image},
      {"imagePullPolicy", "IfNotPresent"},
      {"command", ojson::array({"/bin/bash", "-c", kGateLoop})},
      {"env", parts.env},
      {"resources", resources},
      {"securityContext", {{"allowPrivilegeEscalation", false}, {"readOnlyRootFilesystem", true}}},
      {"volumeMounts", parts.mounts}};
  ojson spec = {
      {"serviceAccountName", kApp},
      {"affinity", gpu_node_affinity()},
      {"tolerations",
       ojson::array(
           {{{"key", "nvidia.com/gpu"}, {"operator", "Exists"}, {"effect", "NoSchedule"}}})},
      {"containers", ojson::array({container})},
      {"volumes", parts.volumes}};
  if (oneshot) {
    spec["restartPolicy"] = "Never";
    // One pod per node: no two pods of the Job on the same host.
    spec["affinity"]["podAntiAffinity"] = {
        {"requiredDuringSchedulingIgnoredDuringExecution",
         ojson::array(
             {{{"labelSelector", {{"matchLabels", {{"app.kubernetes.io/name", "sd35-gate-job"}}}}},
               {"topologyKey", "kubernetes.io/hostname"}}})}};
  }
  return spec;
}

ojson metadata(const std::string& name, const K8sOptions& o, const std::string& short_lock) {
  return {{"name", name},
          {"namespace", o.namespace_name},
          {"labels", {{"app.kubernetes.io/name", kApp}, {"sd35-setup/lock", short_lock}}}};
}

std::string rbac_yaml(const K8sOptions& o) {
  const ojson ns = {
      {"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", o.namespace_name}}}};
  const ojson sa = {{"apiVersion", "v1"},
                    {"kind", "ServiceAccount"},
                    {"metadata", {{"name", kApp}, {"namespace", o.namespace_name}}}};
  // RBAC cannot name "the pod's own node": this role may get and patch every node (docs/fleet.md).
  const ojson role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                      {"kind", "ClusterRole"},
                      {"metadata", {{"name", "sd35-gate-node-labeler"}}},
                      {"rules", ojson::array({{{"apiGroups", ojson::array({""})},
                                               {"resources", ojson::array({"nodes"})},
                                               {"verbs", ojson::array({"get", "patch"})}}})}};
  const ojson binding = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "ClusterRoleBinding"},
      {"metadata", {{"name", "sd35-gate-node-labeler"}}},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"},
        {"kind", "ClusterRole"},
        {"name", "sd35-gate-node-labeler"}}},
      {"subjects",
       ojson::array(
           {{{"kind", "ServiceAccount"}, {"name", kApp}, {"namespace", o.namespace_name}}})}};
  return to_yaml(ns) + "---\n" + to_yaml(sa) + "---\n" + to_yaml(role) + "---\n" + to_yaml(binding);
}

std::string readme(const GateSpec& gate, const std::string& short_lock, const std::string& image,
                   const K8sOptions& o) {
  return fmt::format(
      "# sd35-setup gate for Kubernetes\n\n"
      "Generated by `sd35-setup export k8s` for the lock `{0}`.\n\n"
      "```\nkubectl apply -f rbac.yaml -f lock-configmap.yaml -f daemonset.yaml\n"
      "kubectl -n {1} rollout status daemonset/sd35-gate\n"
      "kubectl get nodes -L sd35-setup/lock -L sd35-setup/ready\n```\n\n"
      "The DaemonSet runs the fast gate every {2} s on every node labelled "
      "`nvidia.com/gpu.present=true` (GPU feature discovery) and labels the node "
      "`sd35-setup/lock={3}` and `sd35-setup/ready=true|false`. Workloads select ready nodes with\n"
      "`nodeSelector: {{sd35-setup/lock: \"{3}\", sd35-setup/ready: \"true\"}}`.\n\n"
      "`job.yaml` is the one-shot full gate (with the smoke, one GPU per pod, one pod per node):\n"
      "set `completions`/`parallelism` to the number of GPU nodes, then `kubectl apply -f "
      "job.yaml`.\n\n"
      "Host paths mounted at the same paths: the model cache `{4}`{5}, and the node-exporter "
      "textfile folder `{6}` (the gate writes `sd35_gate.prom` there). The image `{7}` must hold "
      "`sd35-setup` on its PATH, `bash` and `curl` (`sd35-setup export docker` writes one).\n\n"
      "RBAC: Kubernetes RBAC cannot restrict a ServiceAccount to the node its pod runs on; the "
      "ClusterRole `sd35-gate-node-labeler` can get and patch *every* node. Keep the namespace "
      "locked down, or replace the labelling with a validating admission policy that limits the "
      "patch to the `sd35-setup/*` labels.\n",
      gate.lock_digest, o.namespace_name, o.interval_s, short_lock, gate.cache_dir,
      gate.venv.empty() ? "" : fmt::format(", the venv `{}`", gate.venv), kTextfileDir, image);
}

}  // namespace

Result<std::vector<GeneratedFile>> k8s_files(const GateSpec& gate, const std::string& lock_text,
                                             const K8sOptions& options) {
  if (options.job_completions < 1 || options.interval_s < 10)
    return make_error(Errc::usage, "the Job needs at least 1 completion, the interval >= 10 s",
                      "export k8s", "--nodes N (>= 1), --interval S (>= 10)");
  if (gate.cache_dir.empty() || !std::filesystem::path(gate.cache_dir).is_absolute())
    return make_error(Errc::usage, "the model cache must be an absolute path on the nodes",
                      "export k8s", "pass --cache /path/to/huggingface/hub");
  const std::string short_lock = short_digest(gate.lock_digest);
  const std::string image = options.image.empty() ? "sd35-setup-gate:" + short_lock : options.image;
  const ojson configmap = {{"apiVersion", "v1"},
                           {"kind", "ConfigMap"},
                           {"metadata", metadata("sd35-lock-" + short_lock, options, short_lock)},
                           {"data", {{"sd35.lock.json", lock_text}}}};
  const ojson selector = {{"matchLabels", {{"app.kubernetes.io/name", kApp}}}};
  ojson ds_template = {{"metadata", {{"labels", {{"app.kubernetes.io/name", kApp}}}}},
                       {"spec", pod_spec(gate, short_lock, image, false, options)}};
  const ojson daemonset = {
      {"apiVersion", "apps/v1"},
      {"kind", "DaemonSet"},
      {"metadata", metadata(kApp, options, short_lock)},
      {"spec",
       {{"selector", selector},
        {"updateStrategy",
         {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxUnavailable", "10%"}}}}},
        {"template", ds_template}}}};
  const ojson job = {{"apiVersion", "batch/v1"},
                     {"kind", "Job"},
                     {"metadata", metadata("sd35-gate-full-" + short_lock, options, short_lock)},
                     {"spec",
                      {{"completionMode", "Indexed"},
                       {"completions", options.job_completions},
                       {"parallelism", options.job_completions},
                       {"backoffLimit", 0},
                       {"ttlSecondsAfterFinished", 86400},
                       {"template",
                        {{"metadata", {{"labels", {{"app.kubernetes.io/name", "sd35-gate-job"}}}}},
                         {"spec", pod_spec(gate, short_lock, image, true, options)}}}}}};
  return std::vector<GeneratedFile>{{"rbac.yaml", rbac_yaml(options), false},
                                    {"lock-configmap.yaml", to_yaml(configmap), false},
                                    {"daemonset.yaml", to_yaml(daemonset), false},
                                    {"job.yaml", to_yaml(job), false},
                                    {"README.md", readme(gate, short_lock, image, options), false}};
}

}  // namespace sd35::fleet
