#!/usr/bin/env python3
"""Renders the Helm chart (deploy/helm/tessera) into the plain manifests of deploy/kubernetes/.

Rendering uses Helm's own template engine (Helm's Go SDK as a library, from the PyPI package
helm-python-sdk that scripts/install-deps.sh puts in ~/.cache/tessera/venv), offline: no cluster.
tests/deploy checks that the checked-in manifests are what the chart renders now; after changing
the chart, run this to update them:

    ~/.cache/tessera/venv/bin/python deploy/render_manifests.py
"""
import pathlib
import sys

import helm_python as helm
import yaml

DEPLOY = pathlib.Path(__file__).resolve().parent
CHART = DEPLOY / "helm" / "tessera"
EXAMPLES = DEPLOY / "helm" / "examples"
RELEASE = "tessera"
NAMESPACE = "tessera"

# Checked-in plain manifest -> the example values it renders (None: the chart's defaults).
PLAIN_MANIFESTS = {
    "tessera.yaml": None,
    "tessera-cpu.yaml": "cpu.yaml",
}


def example_values(name):
    """The values of deploy/helm/examples/NAME, or {} for None."""
    if name is None:
        return {}
    return yaml.safe_load((EXAMPLES / name).read_text()) or {}


def render(values=None):
    """The chart rendered with VALUES (over its defaults), as `helm template` prints it."""
    with helm.Chart.load(str(CHART)) as chart:
        out = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path in sorted(out):
        body = out[path].strip()
        if not body or all(line.startswith("#") for line in body.splitlines()):
            continue  # a template switched off
        for part in body.split("\n---\n"):
            docs.append(f"---\n# Source: {path}\n{part.strip()}\n")
    header = (
        f"# Rendered from deploy/helm/tessera by deploy/render_manifests.py (release {RELEASE!r},\n"
        f"# namespace {NAMESPACE!r}); edit the chart and re-render rather than this file.\n"
    )
    return header + "".join(docs)


def main():
    for manifest, values in PLAIN_MANIFESTS.items():
        target = DEPLOY / "kubernetes" / manifest
        target.parent.mkdir(exist_ok=True)
        target.write_text(render(example_values(values)))
        print(f"render_manifests: wrote {target.relative_to(DEPLOY.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
