"""Production configuration checked against the libraries' own schemas, with no cloud account:
instance YAMLs (Postgres, ECS/K8s launchers), executors, and the GPU tags of training steps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from dagster._config import convert_potential_field, validate_config

from recs_assets.deployment.compute import (
    ECS_STEP_DEFAULT,
    K8S_STEP_DEFAULT,
    build_executor,
    gpu_training_tags,
)

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
INSTANCES = ["dagster.local.yaml", "dagster.ecs.yaml", "dagster.k8s.yaml"]


def _errors(schema, value) -> list[str]:
    config_type = schema.config_type if hasattr(schema, "config_type") else convert_potential_field(schema).config_type
    result = validate_config(config_type, value)
    return [e.message for e in result.errors or []]


def _class(section: dict):
    module = __import__(section["module"], fromlist=[section["class"]])
    return getattr(module, section["class"])


@pytest.mark.parametrize("name", INSTANCES)
def test_instance_yaml_matches_dagster_schemas(name):
    from dagster._core.instance.config import dagster_instance_config_schema

    config = yaml.safe_load((DEPLOY / name).read_text())
    assert _errors(dagster_instance_config_schema(), config) == []
    for key in ("run_launcher", "run_coordinator", "compute_logs"):
        if key in config:
            klass = _class(config[key])
            assert _errors(klass.config_type(), config[key].get("config", {})) == [], key
    assert config["freshness"]["enabled"] and config["auto_materialize"]["use_sensors"]


@pytest.mark.parametrize("name,launcher", [("dagster.ecs.yaml", "EcsRunLauncher"), ("dagster.k8s.yaml", "K8sRunLauncher")])
def test_production_instances_use_postgres_and_a_container_launcher(name, launcher):
    from dagster_postgres import DagsterPostgresStorage

    config = yaml.safe_load((DEPLOY / name).read_text())
    assert config["run_launcher"]["class"] == launcher
    assert _errors(DagsterPostgresStorage.config_type(), config["storage"]["postgres"]) == []


def test_a_wrong_launcher_setting_is_caught():
    """The schema check above can fail: a typo'd key is an error."""
    from dagster_aws.ecs import EcsRunLauncher

    assert _errors(EcsRunLauncher.config_type(), {"task_definiton": "arn"})


def test_executor_defaults_match_executor_schemas():
    from dagster_aws.ecs import ecs_executor
    from dagster_k8s import k8s_job_executor

    assert _errors(k8s_job_executor.config_schema, {"max_concurrent": 4, "step_k8s_config": K8S_STEP_DEFAULT}) == []
    assert _errors(ecs_executor.config_schema, {"max_concurrent": 4, **ECS_STEP_DEFAULT}) == []
    assert build_executor("multiprocess") is None
    with pytest.raises(ValueError, match="RECS_EXECUTOR='lambda'"):
        build_executor("lambda")


_PROBE = """
import json
from recs_assets import defs
print(json.dumps({"executor": defs.executor.name if defs.executor else None,
                  "train_tags": dict(defs.get_assets_def("trained_model").op.tags),
                  "dbt_tags": dict(defs.get_assets_def("stg_transactions").op.tags)}))
"""


@pytest.mark.parametrize("executor", ["k8s", "ecs"])
def test_prod_definitions_load_with_each_executor(executor):
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SNOWFLAKE_", "AWS_"))}
    environ.update(RECS_ENV="prod", RECS_EXECUTOR=executor)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=environ, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["executor"] == f"{executor}_steps"
    assert "nvidia.com/gpu" in loaded["train_tags"]["dagster-k8s/config"]
    assert "dagster-k8s/config" not in loaded["dbt_tags"]  # CPU steps take the executor's default


def _k8s_job(tags: dict):
    from dagster_k8s.job import DagsterK8sJobConfig, UserDefinedDagsterK8sConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    step = get_user_defined_k8s_config(tags)
    defaults = UserDefinedDagsterK8sConfig.from_dict(K8S_STEP_DEFAULT)
    chosen = step if step.container_config else defaults
    config = DagsterK8sJobConfig(job_image="recs-assets:test", dagster_home="/opt/dagster/dagster_home",
                                 instance_config_map="dagster-instance")
    return construct_dagster_k8s_job(config, ["dagster", "api", "execute_step"], "step-job", chosen)


def test_training_pods_get_a_gpu_and_tolerate_gpu_nodes():
    job = _k8s_job(gpu_training_tags())  # dagster-k8s builds the kubernetes V1Job from our tag
    pod = job.spec.template.spec
    [container] = pod.containers
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    assert any(t.key == "nvidia.com/gpu" for t in pod.tolerations)


def test_other_steps_run_on_cpu():
    [container] = _k8s_job({}).spec.template.spec.containers
    assert "nvidia.com/gpu" not in (container.resources.limits or {})


def test_a_malformed_k8s_tag_is_rejected_by_dagster_k8s():
    from dagster import DagsterInvalidConfigError
    from dagster_k8s.job import get_user_defined_k8s_config

    with pytest.raises(DagsterInvalidConfigError, match='unexpected config entry "container"'):
        get_user_defined_k8s_config({"dagster-k8s/config": json.dumps({"container": {"resources": {}}})})


def _ecs_run_task_params(step_tags: dict) -> dict:
    """What ecs_executor sends to ECS RunTask for a step with these tags (its own override logic)."""
    from dagster_aws.ecs.executor import EcsStepHandler

    # The handler reads ECS task metadata when built (it only exists inside ECS), so its override
    # methods run on the executor settings alone, stored as its constructor stores them (strings).
    settings = SimpleNamespace(_task_overrides={}, _cpu=str(ECS_STEP_DEFAULT["cpu"]),
                               _memory=str(ECS_STEP_DEFAULT["memory"]), _ephemeral_storage=None)
    overrides = EcsStepHandler._get_task_overrides(settings, step_tags)
    container = {"name": "run", "command": ["dagster", "api", "execute_step"],
                 **EcsStepHandler._get_container_overrides(settings, step_tags)}
    params = {"cluster": "recs", "taskDefinition": "recs-assets", "overrides": {**overrides, "containerOverrides": [container]}}
    return {**params, **json.loads(step_tags.get("ecs/run_task_kwargs", "{}"))}


def _botocore_problems(params: dict) -> str:
    import boto3
    from botocore.exceptions import ParamValidationError
    from botocore.validate import ParamValidator

    shape = boto3.client("ecs", region_name="us-east-1").meta.service_model.operation_model("RunTask").input_shape
    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


def test_training_ecs_tasks_request_a_gpu_in_a_valid_run_task_call():
    params = _ecs_run_task_params(gpu_training_tags())
    assert _botocore_problems(params) == ""
    [container] = params["overrides"]["containerOverrides"]
    assert container["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    assert params["capacityProviderStrategy"][0]["capacityProvider"] == "recs-gpu"


def test_cpu_steps_get_the_executor_default_without_a_gpu():
    params = _ecs_run_task_params({})
    [container] = params["overrides"]["containerOverrides"]
    assert "resourceRequirements" not in container and "capacityProviderStrategy" not in params
    assert params["overrides"]["cpu"] == str(ECS_STEP_DEFAULT["cpu"]) and _botocore_problems(params) == ""


def test_an_invalid_ecs_override_is_caught_by_botocore():
    assert "resourceRequirements" in _botocore_problems(
        {"taskDefinition": "x", "overrides": {"containerOverrides": [{"name": "run", "resourceRequirements": "GPU"}]}}
    )


def test_image_installs_the_locked_tensorflow_with_gpu_kernels_and_builds_the_manifest():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    lock = (DEPLOY.parent / "uv.lock").read_text()
    locked_tf = re.search(r'name = "tensorflow-cpu"\nversion = "([^"]+)"', lock).group(1)
    assert f"ARG TENSORFLOW_VERSION={locked_tf}" in dockerfile
    assert "cudnn8" in dockerfile and "11.8" in dockerfile  # what TF 2.12 was built against
    assert "uv sync --frozen" in dockerfile and "dbt parse" in dockerfile
    assert "requires-python = \">=3.11" in (DEPLOY.parent / "pyproject.toml").read_text()


def test_helm_values_run_the_code_location_with_the_k8s_executor():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env == {"RECS_ENV": "prod", "RECS_EXECUTOR": "k8s"}
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "recs_assets.definitions"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["additionalInstanceConfig"]["freshness"]["enabled"]
