#!/usr/bin/env python3
"""Parse a node-exporter textfile with prometheus_client's exposition-format parser.

usage: prom_parse.py FILE
Prints the samples as JSON lines {"name", "labels", "value"} after checking what the textfile
collector requires on top of the parser: HELP and TYPE before each family's samples, no
timestamps, a final newline, every sample of a family with the same label names. Exit 1 on an
error, 77 when python3-prometheus-client is missing.
"""
import json
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e} (apt-get install python3-prometheus-client)")
    sys.exit(77)


def main(path):
    text = open(path, encoding="utf-8").read()
    if not text.endswith("\n"):
        raise ValueError("the file does not end with a newline")
    seen_type = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            seen_type.add(line.split()[2])
        elif line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name not in seen_type:
                raise ValueError(f"sample before its TYPE line: {line}")
    for family in text_string_to_metric_families(text):
        if not family.documentation:
            raise ValueError(f"{family.name}: no HELP")
        label_sets = {tuple(sorted(s.labels)) for s in family.samples}
        if len(label_sets) > 1:
            raise ValueError(f"{family.name}: samples with different label names {label_sets}")
        for s in family.samples:
            if s.timestamp is not None:
                raise ValueError(f"{s.name}: a timestamp (the textfile collector refuses them)")
            print(json.dumps({"name": s.name, "labels": s.labels, "value": s.value,
                              "type": family.type}))


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except ValueError as e:
        print(f"INVALID: {e}")
        sys.exit(1)
