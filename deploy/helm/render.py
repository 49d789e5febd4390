#!/usr/bin/env python3
"""Renders the switchyard chart the way `helm template` does, without a helm binary.

Uses helm-python-sdk (PyPI), which binds Helm's own Go SDK (Helm v4) through ctypes, so the
templates, Sprig functions and values merging are Helm's:

    python3 -m venv /tmp/helm && /tmp/helm/bin/pip install helm-python-sdk
    /tmp/helm/bin/python deploy/helm/render.py                      # default values
    /tmp/helm/bin/python deploy/helm/render.py -f deploy/helm/fleet-values.yaml
    /tmp/helm/bin/python deploy/helm/render.py --set redis.url=redis://redis:6379 --lint

Prints the manifests as one multi-document YAML stream, each after a `# Source:` line as
`helm template` does; with --json, a JSON object of template path to manifest instead. With a
real helm binary the same is `helm template switchyard deploy/helm/switchyard -f ...`.
"""

import argparse
import json
import os
import sys

import helm_python as helm

CHART = os.path.join(os.path.dirname(os.path.abspath(__file__)), "switchyard")


def merge(base, extra):
    """Deep-merges `extra` into `base` as helm does for several -f files and --set."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chart", nargs="?", default=CHART)
    ap.add_argument("-f", "--values", action="append", default=[], help="a values file (repeatable)")
    ap.add_argument("--set", action="append", default=[], help="key=value,... (repeatable)")
    ap.add_argument("--name", default="switchyard", help="release name")
    ap.add_argument("--namespace", default="switchyard")
    ap.add_argument("--lint", action="store_true", help="also run helm lint --strict; fail on findings")
    ap.add_argument("--json", action="store_true", help="print {template: manifest} as JSON")
    args = ap.parse_args()

    values = {}
    for path in args.values:
        with open(path, encoding="utf-8") as f:
            merge(values, helm.values_from_yaml(f.read()))
    for expr in args.set:
        merge(values, helm.parse_set_string(expr))

    if args.lint:
        report = helm.lint(args.chart, values, strict=True, namespace=args.namespace)
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        for m in report.get("messages", []):
            print(f"lint: [{m.get('severity')}] {m.get('path')}: {m.get('error')}", file=sys.stderr)
        if problems or report.get("errors"):
            for e in report.get("errors") or []:
                print(f"lint: {e}", file=sys.stderr)
            return 1

    chart = helm.Chart.load(args.chart)
    try:
        manifests = chart.render(values, name=args.name, namespace=args.namespace, is_install=True)
    except helm.HelmError as e:
        print(f"render: {e}", file=sys.stderr)
        return 1
    manifests = {k: v for k, v in sorted(manifests.items()) if v.strip() and not k.endswith("NOTES.txt")}
    if args.json:
        json.dump(manifests, sys.stdout, indent=1)
        print()
        return 0
    for path, text in manifests.items():
        print(f"---\n# Source: {path}\n{text.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
