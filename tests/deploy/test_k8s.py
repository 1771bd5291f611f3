"""deploy/k8s and deploy/prometheus-adapter: valid against the Kubernetes schemas (offline, strict), and
consistent with each other, with the image and with the gateway's settings."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from rtvoice_gateway.numbers import load_numbers
from rtvoice_gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
ADAPTER = ROOT / "deploy" / "prometheus-adapter"
#: The oldest Kubernetes the manifests are checked against, and the newest kubernetes-validate knows.
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
#: How long a call may still take after the grace: the agent's reply in progress, then the goodbye.
GOODBYE_MARGIN_S = 30
ACTIVE_CALLS_METRIC = "rtvoice_calls_active"

Resource = dict[str, Any]


def load(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


MANIFESTS = sorted([*K8S.glob("*.yaml"), ADAPTER / "configmap.yaml"])
RESOURCES = {(doc["kind"], doc["metadata"]["name"]): doc for path in K8S.glob("*.yaml") for doc in load(path)}


def resource(kind: str, name: str = "rtvoice-gateway") -> Resource:
    return RESOURCES[(kind, name)]


def container() -> Resource:
    containers = resource("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    found: Resource = containers[0]
    return found


def env_config() -> dict[str, str]:
    data: dict[str, str] = resource("ConfigMap", "rtvoice-gateway-env")["data"]
    return data


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=[p.relative_to(ROOT).as_posix() for p in MANIFESTS])
def test_each_manifest_is_valid_against_the_kubernetes_schemas(path: Path, version: str) -> None:
    docs = load(path)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validation_catches_a_misspelt_field() -> None:
    broken = copy.deepcopy(resource("Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_the_service_ingress_hpa_and_pdb_reach_the_deployment() -> None:
    deployment = resource("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = resource("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert resource("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port_names = {port["name"] for port in container()["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} <= port_names
    backends = [
        path["backend"]["service"]
        for rule in resource("Ingress")["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    service_ports = {port["name"] for port in service["spec"]["ports"]}
    assert backends and all(
        b["name"] == "rtvoice-gateway" and b["port"]["name"] in service_ports for b in backends
    )
    target = resource("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_the_ingress_keeps_media_streams_open_for_an_hour_over_http_1_1() -> None:
    annotations = resource("Ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-http-version"] == "1.1"
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600
    paths = [p["path"] for rule in resource("Ingress")["spec"]["rules"] for p in rule["http"]["paths"]]
    assert all("/twilio/voice".startswith(p) and "/twilio/stream/x".startswith(p) for p in paths)
    host = urlhost(env_config()["PUBLIC_URL"])
    assert [rule["host"] for rule in resource("Ingress")["spec"]["rules"]] == [host]
    assert host in resource("Ingress")["spec"]["tls"][0]["hosts"]


def urlhost(url: str) -> str:
    match = re.fullmatch(r"https://([^/:]+)", url)
    assert match, f"PUBLIC_URL must be an https:// origin, not {url!r}"
    return match[1]


def test_probes_and_the_drain_fit_the_termination_grace() -> None:
    spec = resource("Deployment")["spec"]["template"]["spec"]
    probes = container()
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    sleep = probes["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    grace = float(env_config()["DRAIN_GRACE_SECONDS"])
    # preStop runs first, then SIGTERM starts the drain; all of it must end before SIGKILL.
    assert spec["terminationGracePeriodSeconds"] >= int(sleep[1]) + grace + GOODBYE_MARGIN_S
    # The pod leaves the endpoints before the drain refuses calls: the sleep outlasts a readiness period.
    assert int(sleep[1]) >= probes["readinessProbe"]["periodSeconds"]


def test_the_pod_runs_as_the_images_user_on_the_images_port() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)
    expose = re.search(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE)
    assert user and expose
    security = resource("Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert (str(security["runAsUser"]), str(security["runAsGroup"])) == (user[1], user[2])
    assert security["runAsNonRoot"] is True
    assert [port["containerPort"] for port in container()["ports"]] == [int(expose[1])]
    assert env_config()["PORT"] == expose[1]
    annotations = resource("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == expose[1] and annotations["prometheus.io/path"] == "/metrics"


def test_the_settings_in_the_manifests_are_the_gateways_and_valid() -> None:
    documented = set(re.findall(r"^#?\s*([A-Z_]{4,})=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    secrets = {env["name"]: env["valueFrom"]["secretKeyRef"] for env in container()["env"]}
    assert set(secrets) == {"OPENAI_API_KEY", "TWILIO_AUTH_TOKEN", "STREAM_TOKEN_SECRET"}
    assert all(ref["name"] == "rtvoice-gateway" for ref in secrets.values())
    names = set(env_config()) | set(secrets)
    # DRAIN_GRACE_SECONDS arrives with the drain (docs/operations.md); every other name is a setting now.
    assert names - {"DRAIN_GRACE_SECONDS"} <= documented, names - documented
    values = {**env_config(), **{name: "x" * 40 for name in secrets}}
    settings = Settings.from_env(values)
    assert settings.redis_url is not None and not settings.local_only and settings.host == "0.0.0.0"
    assert env_config()["REDIS_URL"].startswith(
        f"redis://{RESOURCES[('Service', 'rtvoice-redis')]['metadata']['name']}:"
    )


def test_the_number_config_loads_with_the_agents_the_image_holds(tmp_path: Path) -> None:
    text = resource("ConfigMap", "rtvoice-gateway-numbers")["data"]["numbers.toml"]
    mount = next(m for m in container()["volumeMounts"] if m["name"] == "numbers")["mountPath"]
    assert env_config()["NUMBERS_CONFIG"] == f"{mount}/numbers.toml"
    agents = re.findall(r'agent = "(/app/[^":]+):', text)
    assert agents and all((ROOT / path.removeprefix("/app/")).is_file() for path in agents)
    assert "recording_dir" not in tomllib.loads(text).get("default", {})  # the root file system is read-only
    local = tmp_path / "numbers.toml"
    local.write_text(text.replace('"/app/', f'"{ROOT}/'))
    config, factories = load_numbers(local)
    assert config.default is not None and len(config.numbers) == 2 and len(factories) == 2


def adapter_rules() -> list[list[Resource]]:
    values = yaml.safe_load((ADAPTER / "values.yaml").read_text())["rules"]["custom"]
    configmap = load(ADAPTER / "configmap.yaml")[0]
    return [values, yaml.safe_load(configmap["data"]["config.yaml"])["rules"]]


def test_the_hpa_scales_on_the_metric_the_adapter_serves() -> None:
    metrics = resource("HorizontalPodAutoscaler")["spec"]["metrics"]
    assert [(m["type"], m["pods"]["metric"]["name"]) for m in metrics] == [("Pods", ACTIVE_CALLS_METRIC)]
    values, configmap = adapter_rules()
    assert values == configmap
    (rule,) = values
    assert rule["name"]["as"] == ACTIVE_CALLS_METRIC
    assert rule["seriesQuery"].startswith(f"{ACTIVE_CALLS_METRIC}{{")
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
    assert "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)" == rule["metricsQuery"]
