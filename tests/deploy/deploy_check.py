#!/usr/bin/env python3
"""Offline checks of deploy/: the container recipes, the Helm chart and the plain manifests.

    deploy_check.py TESSERAD TESSERA

No cluster, registry or container engine is needed:
- the chart is rendered by Helm's own template engine (helm-python-sdk: Helm's Go SDK as a
  library), with its values.schema.json enforced, for the default values and every example;
- every rendered object is validated strictly (unknown fields are errors): built-in kinds against
  the Kubernetes OpenAPI schemas of the oldest and newest releases the chart supports
  (kubernetes-validate), the KEDA, Prometheus Operator and Gateway API objects against
  tests/deploy/schemas/ (the fields we use, after their CRDs);
- deploy/kubernetes/ must be what the chart renders now (deploy/render_manifests.py);
- the recipes COPY files that exist, install the packages scripts/install-deps.sh names and the
  runtime packages the built binaries link, and their entrypoint's flags, with each Deployment's
  args, parse in the built tesserad.
"""
import fnmatch
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import unittest

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml
from yamllint import config as yamllint_config
from yamllint import linter as yamllint_linter

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "deploy"))
import render_manifests  # noqa: E402  (deploy/render_manifests.py)

RECIPES = {"cuda": ROOT / "deploy" / "Containerfile", "cpu": ROOT / "deploy" / "Containerfile.cpu"}
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas known.
KUBE_VERSIONS = ["1.29.0", "1.37.0"]
# Image volumes (model.source: image) exist from 1.31 and are on by default from 1.33 (beta).
KUBE_VERSIONS_IMAGE_VOLUME = ["1.33.0", "1.37.0"]
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject-v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-v1.json",
    ("inference.networking.k8s.io/v1", "InferencePool"): "inferencepool-v1.json",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute-v1.json",
}
TESSERAD = TESSERA = None  # from the command line


def load_docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def render_docs(values):
    return load_docs(render_manifests.render(values))


def all_renders():
    """(name, values, objects) for the chart's defaults and each example."""
    names = [None] + sorted(p.name for p in render_manifests.EXAMPLES.glob("*.yaml"))
    out = []
    for name in names:
        values = render_manifests.example_values(name)
        out.append((name or "defaults", values, render_docs(values)))
    return out


def find(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def flag_value(args, flag):
    """The value after FLAG in ARGS, or None."""
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def recipe_entrypoint(recipe):
    lines = [l for l in recipe.read_text().splitlines() if l.startswith("ENTRYPOINT")]
    assert len(lines) == 1, f"{recipe}: one ENTRYPOINT expected"
    return json.loads(lines[0][len("ENTRYPOINT"):])


def recipe_instructions(recipe):
    """The recipe's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", recipe.read_text())
    return [l.strip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]


def install_deps_packages():
    """scripts/install-deps.sh's arrays, by name: {'build_packages': [...], 'dev_packages': [...]}."""
    text = (ROOT / "scripts" / "install-deps.sh").read_text()
    arrays = {}
    for name, body in re.findall(r"^(\w+_packages)=\((.*?)^\)", text, re.S | re.M):
        words = []
        for line in body.splitlines():
            words += line.split("#", 1)[0].split()
        arrays[name] = words
    return arrays


class ChartTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.renders = all_renders()

    def test_yaml_files_pass_yamllint(self):
        conf = yamllint_config.YamlLintConfig(file=str(HERE / "yamllint.yaml"))
        files = [render_manifests.CHART / "Chart.yaml", render_manifests.CHART / "values.yaml"]
        files += sorted(render_manifests.EXAMPLES.glob("*.yaml"))
        files += sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
        self.assertGreater(len(files), 4)
        for f in files:
            problems = list(yamllint_linter.run(f.read_text(), conf, str(f)))
            self.assertEqual([], [f"{f}:{p.line}: {p.desc}" for p in problems])
        for name, _, _ in self.renders:
            text = render_manifests.render(render_manifests.example_values(
                None if name == "defaults" else name))
            problems = list(yamllint_linter.run(text, conf))
            self.assertEqual([], [f"render {name}:{p.line}: {p.desc}" for p in problems])

    def test_helm_lint(self):
        # Helm's own chart linter, strict; severities 2 and 3 are its warnings and errors.
        for name, values, _ in self.renders:
            with self.subTest(render=name):
                report = helm.lint(str(render_manifests.CHART), values, strict=True)
                self.assertEqual(report["errors"], [])
                self.assertEqual([m for m in report["messages"] if m["severity"] >= 2], [])

    def test_helm_enforces_values_schema(self):
        # Each of these renders without the schema; Helm must refuse them, naming the key.
        bad = {
            "backendd": {"backendd": "cuda"},
            "mode": {"autoscaling": {"mode": "kpa"}},
            "drainTimeoutSeconds": {"server": {"drainTimeoutSeconds": "30s"}},
            "digest": {"image": {"digest": "latest"}},
        }
        for key, values in bad.items():
            with self.subTest(key=key):
                with self.assertRaises(helm.HelmError) as ctx:
                    render_manifests.render(values)
                self.assertIn(key, str(ctx.exception))

    def test_plain_manifests_are_the_chart_rendered(self):
        for manifest, values in render_manifests.PLAIN_MANIFESTS.items():
            with self.subTest(manifest=manifest):
                checked_in = (ROOT / "deploy" / "kubernetes" / manifest).read_text()
                self.assertEqual(
                    render_manifests.render(render_manifests.example_values(values)),
                    checked_in,
                    f"deploy/kubernetes/{manifest} differs from the chart; run "
                    "deploy/render_manifests.py")

    def test_objects_match_their_schemas_strictly(self):
        seen = set()
        for name, values, objects in self.renders:
            image_volume = values.get("model", {}).get("source") == "image"
            versions = KUBE_VERSIONS_IMAGE_VOLUME if image_volume else KUBE_VERSIONS
            for o in objects:
                key = (o["apiVersion"], o["kind"])
                seen.add(key)
                with self.subTest(render=name, kind=o["kind"]):
                    if key in CRD_SCHEMAS:
                        schema = json.loads((HERE / "schemas" / CRD_SCHEMAS[key]).read_text())
                        jsonschema.validate(o, schema, cls=jsonschema.Draft7Validator)
                    else:
                        for v in versions:
                            kubernetes_validate.validate(o, v, strict=True)
        # Every kind the chart can make was validated by at least one render.
        for key in list(CRD_SCHEMAS) + [("apps/v1", "Deployment"), ("v1", "Service"),
                                        ("policy/v1", "PodDisruptionBudget"),
                                        ("autoscaling/v2", "HorizontalPodAutoscaler"),
                                        ("networking.k8s.io/v1", "NetworkPolicy")]:
            self.assertIn(key, seen)

    def test_strict_validation_rejects_an_unknown_field(self):
        # The validators would let a misspelt field through if strictness were off.
        objects = render_docs({})
        deployment = find(objects, "Deployment")[0]
        deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
        with self.assertRaises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)
        scaled = find(objects, "ScaledObject")[0]
        scaled["spec"]["minReplicas"] = 0
        schema = json.loads((HERE / "schemas" / CRD_SCHEMAS[("keda.sh/v1alpha1",
                                                               "ScaledObject")]).read_text())
        with self.assertRaises(jsonschema.ValidationError):
            jsonschema.validate(scaled, schema, cls=jsonschema.Draft7Validator)

    def test_deployment_serves_and_drains(self):
        for name, values, objects in self.renders:
            with self.subTest(render=name):
                (dep,) = find(objects, "Deployment")
                pod = dep["spec"]["template"]["spec"]
                (c,) = pod["containers"]
                args = c["args"]
                drain = float(flag_value(args, "--drain-timeout"))
                self.assertGreater(pod["terminationGracePeriodSeconds"], drain)
                pre_stop = " ".join(c["lifecycle"]["preStop"]["exec"]["command"])
                self.assertIn("kill -TERM 1", pre_stop)
                delay = float(re.search(r"sleep (\d+);", pre_stop).group(1))
                self.assertGreater(pod["terminationGracePeriodSeconds"], drain + delay)
                ports = {p["name"]: p["containerPort"] for p in c["ports"]}
                self.assertEqual(str(ports["grpc"]), flag_value(args, "--port"))
                self.assertEqual(str(ports["http"]), flag_value(args, "--http-port"))
                self.assertEqual(str(ports["metrics"]), flag_value(args, "--metrics-port"))
                self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
                self.assertEqual(c["readinessProbe"]["httpGet"]["path"], "/readyz")
                self.assertIn("startupProbe", c)
                self.assertIn("cpu", c["resources"]["requests"])
                self.assertIn("memory", c["resources"]["requests"])
                # Non-root on a read-only root filesystem, /tmp the writable emptyDir.
                self.assertTrue(pod["securityContext"]["runAsNonRoot"])
                self.assertNotEqual(pod["securityContext"]["runAsUser"], 0)
                self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
                self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"])
                mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
                volumes = {v["name"]: v for v in pod["volumes"]}
                self.assertIn("emptyDir", volumes[mounts["/tmp"]])
                self.assertTrue(flag_value(args, "--model").startswith("/models"))
                keys = flag_value(args, "--api-keys")
                if keys is not None:
                    self.assertIn("secret", volumes[mounts[os.path.dirname(keys)]])
                if flag_value(args, "--adapter-dir") is not None:
                    self.assertIn("/adapters", mounts)
                (svc,) = find(objects, "Service")
                self.assertTrue({"grpc", "http"} <= {p["name"] for p in svc["spec"]["ports"]})
                self.assertEqual(len(find(objects, "PodDisruptionBudget")), 1)

    def test_image_backend_and_gpu_agree(self):
        # The old manifest ran `--backend cuda` on an image built without CUDA: the backend is now
        # the image's (its recipe's entrypoint), and a GPU is requested exactly for CUDA images.
        for name, values, objects in self.renders:
            with self.subTest(render=name):
                (dep,) = find(objects, "Deployment")
                (c,) = dep["spec"]["template"]["spec"]["containers"]
                tag = c["image"].split("@")[0].rsplit(":", 1)[1]
                variant = "cpu" if tag.endswith("-cpu") else "cuda"
                recipe = RECIPES[variant]
                argv = recipe_entrypoint(recipe)[1:] + c["args"]
                backend = [argv[i + 1] for i, a in enumerate(argv) if a == "--backend"][-1]
                self.assertEqual(backend, variant)
                builds_cuda = "-DTESSERA_CUDA=ON" in recipe.read_text()
                self.assertEqual(builds_cuda, backend == "cuda", recipe)
                gpus = c["resources"].get("limits", {}).get("nvidia.com/gpu")
                self.assertEqual(gpus is not None, backend == "cuda")
                self.assertEqual(values.get("backend", "cuda"), backend)

    def test_scale_to_zero_on_queue_metrics(self):
        objects = render_docs({})
        (scaled,) = find(objects, "ScaledObject")
        spec = scaled["spec"]
        self.assertEqual(spec["minReplicaCount"], 0)
        self.assertEqual(spec["scaleTargetRef"]["name"], find(objects, "Deployment")[0][
            "metadata"]["name"])
        queries = [t["metadata"]["query"] for t in spec["triggers"]]
        self.assertTrue(any("vllm:num_requests_waiting" in q for q in queries))
        self.assertTrue(any("vllm:num_requests_running" in q for q in queries))
        for t in spec["triggers"]:
            self.assertIn("activationThreshold", t["metadata"])
        self.assertEqual(find(objects, "HorizontalPodAutoscaler"), [])
        # The HPA alternative replaces KEDA and keeps a replica.
        hpa_objects = render_docs({"autoscaling": {"mode": "hpa"}})
        self.assertEqual(find(hpa_objects, "ScaledObject"), [])
        (hpa,) = find(hpa_objects, "HorizontalPodAutoscaler")
        self.assertGreaterEqual(hpa["spec"]["minReplicas"], 1)

    def test_gateway_pool_selects_the_pods(self):
        objects = render_docs({})
        (pool,) = find(objects, "InferencePool")
        (dep,) = find(objects, "Deployment")
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        for k, v in pool["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(pod_labels.get(k), v)
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        self.assertEqual(str(pool["spec"]["targetPorts"][0]["number"]),
                         flag_value(c["args"], "--http-port"))
        (route,) = find(objects, "HTTPRoute")
        self.assertEqual(route["spec"]["rules"][0]["backendRefs"][0]["name"],
                         pool["metadata"]["name"])
        self.assertEqual(len(find(objects, "NetworkPolicy")), 1)
        self.assertEqual(len(find(objects, "ServiceMonitor")), 1)


class RecipeTest(unittest.TestCase):
    def test_copied_files_exist_and_are_in_the_context(self):
        ignore = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines()
                  if l.strip() and not l.startswith("#")]
        for variant, recipe in RECIPES.items():
            copies = [i for i in recipe_instructions(recipe) if i.startswith("COPY ")]
            self.assertTrue(copies)
            for copy in copies:
                words = shlex.split(copy)[1:]
                if any(w.startswith("--from") for w in words):
                    continue
                for src in words[:-1]:
                    with self.subTest(recipe=recipe.name, src=src):
                        self.assertTrue((ROOT / src).exists(), f"{recipe.name}: COPY {src}")
                        top = src.rstrip("/").split("/")[0]
                        self.assertFalse(any(fnmatch.fnmatch(top, p) for p in ignore),
                                         f"{src} is in .dockerignore")

    def test_base_images_by_tag_and_digest(self):
        for recipe in RECIPES.values():
            images = re.findall(r"^ARG \w+_IMAGE=(\S+)", recipe.read_text(), re.M)
            self.assertTrue(images, recipe)
            for image in images:
                self.assertRegex(image, r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")
            if recipe.name == "Containerfile":
                self.assertTrue(any("nvidia/cuda:13" in i and "-devel-" in i for i in images))
                self.assertTrue(any("nvidia/cuda:13" in i and "-runtime-" in i for i in images))

    def test_recipes_install_what_install_deps_names(self):
        arrays = install_deps_packages()
        self.assertIn("libgrpc++-dev", arrays["build_packages"])
        self.assertNotIn("clang-14", arrays["build_packages"])
        for recipe in RECIPES.values():
            steps = recipe_instructions(recipe)
            with self.subTest(recipe=recipe.name):
                self.assertIn("RUN bash scripts/install-deps.sh --build-only && rm -rf "
                              "/var/lib/apt/lists/*", steps)
                # No other package is named: the runtime stage installs the list derived from
                # the binaries (xargs -a), nothing by name.
                for step in steps:
                    for m in re.finditer(r"apt-get install ([^&|;]*)", step):
                        named = [w for w in m.group(1).split() if not w.startswith("-")]
                        self.assertEqual(named, [], f"{recipe.name} installs {named} by name")
                self.assertIn("USER 65532:65532", steps)

    def test_runtime_packages_are_what_the_binaries_link(self):
        derived = subprocess.run(
            [str(ROOT / "deploy" / "runtime-packages.sh"), TESSERAD, TESSERA],
            check=True, capture_output=True, text=True).stdout.split()
        checked_in = (ROOT / "deploy" / "runtime-packages.txt").read_text().split()
        self.assertEqual(checked_in, derived,
                         "deploy/runtime-packages.txt differs from the binaries' libraries: "
                         "regenerate it with deploy/runtime-packages.sh")
        self.assertIn("libgrpc++1.51", derived)

    def test_entrypoint_flags_parse(self):
        # Each recipe's entrypoint with each rendered Deployment's args for that image: tesserad
        # must get past its flags and stop on the first missing thing, the model folder.
        checked = 0
        for name, _, objects in all_renders():
            (dep,) = find(objects, "Deployment")
            (c,) = dep["spec"]["template"]["spec"]["containers"]
            tag = c["image"].split("@")[0].rsplit(":", 1)[1]
            entry = recipe_entrypoint(RECIPES["cpu" if tag.endswith("-cpu") else "cuda"])
            self.assertEqual(entry[0], "tesserad")
            argv = [TESSERAD] + entry[1:] + c["args"]
            checked += 1
            with self.subTest(render=name):
                r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                out = r.stdout + r.stderr
                model = flag_value(c["args"], "--model")
                self.assertEqual(r.returncode, 2, out)
                self.assertIn(f"--model {model}: no such directory", out)
                self.assertNotIn("Run with --help", out)  # how CLI11 ends a flag error
        self.assertGreater(checked, 3)


def main():
    global TESSERAD, TESSERA
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    TESSERAD, TESSERA = sys.argv[1], sys.argv[2]
    result = unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:], exit=False).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
