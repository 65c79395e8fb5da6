#!/usr/bin/env python3
"""Validate Kubernetes manifests against the API schema of the kubernetes Python client models.

usage: k8s_validate.py FILE.yaml...

Each YAML document is deserialized into its model class (V1DaemonSet, V1Job, ...) with
ApiClient().deserialize on a fake response, with client-side validation on (required fields,
enums), and every key of the document must be a field of its model: the client itself silently
drops unknown fields, so this walks the document against openapi_types/attribute_map and rejects
any key the API does not have. Prints one line per document; exit 1 on the first error.
Exit 77 when python3-kubernetes or python3-yaml is missing.
"""
import json
import re
import sys

try:
    import yaml
    import kubernetes
    from kubernetes import client
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e} (apt-get install python3-kubernetes python3-yaml)")
    sys.exit(77)

KINDS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("apps/v1", "DaemonSet"): "V1DaemonSet",
    ("batch/v1", "Job"): "V1Job",
}
PRIMITIVE = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object,
             "date": str, "datetime": str}


def check(value, type_name, where):
    """Every key known to the model, every primitive of its type, recursively."""
    if value is None:
        return
    m = re.match(r"list\[(.*)\]$", type_name)
    if m:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            check(item, m.group(1), f"{where}[{i}]")
        return
    m = re.match(r"dict\(([^,]*), (.*)\)$", type_name)
    if m:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping")
        for k, v in value.items():
            check(v, m.group(2), f"{where}.{k}")
        return
    if type_name in PRIMITIVE:
        if type_name == "int" and isinstance(value, bool) or not isinstance(value, PRIMITIVE[type_name]):
            raise ValueError(f"{where}: expected {type_name}, got {value!r}")
        return
    klass = getattr(kubernetes.client.models, type_name)
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a {type_name} mapping")
    by_json = {json_key: attr for attr, json_key in klass.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            raise ValueError(f"{where}: unknown field '{key}' in {type_name}")
        check(item, klass.openapi_types[by_json[key]], f"{where}.{key}")


class FakeResponse:
    def __init__(self, doc):
        self.data = json.dumps(doc)


def main(paths):
    api = client.ApiClient()
    api.configuration.client_side_validation = True
    count = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        for i, doc in enumerate(docs):
            where = f"{path}#{i}"
            key = (doc.get("apiVersion"), doc.get("kind"))
            if key not in KINDS:
                raise SystemExit(f"{where}: unexpected apiVersion/kind {key}")
            check(doc, KINDS[key], where)
            obj = api.deserialize(FakeResponse(doc), KINDS[key])
            print(f"OK {where}: {key[1]} {obj.metadata.name}")
            count += 1
    print(f"{count} document(s) valid")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (ValueError, TypeError) as e:
        print(f"INVALID: {e}")
        sys.exit(1)
