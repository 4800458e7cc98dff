"""Compute per step, for both production executors, decided here and nowhere else.

Training steps carry tags that both executors read (each ignores the other's, and local executors
ignore both): ``dagster-k8s/config`` for ``k8s_job_executor`` (a GPU limit plus a toleration for
tainted GPU nodes) and ``ecs/*`` for ``ecs_executor`` (a GPU resource requirement on the container
and a capacity provider with GPU instances, since Fargate has no GPUs). Every other step gets the
executor's default, CPU-only compute (``STEP_DEFAULTS``).
"""

from __future__ import annotations

import json
import os

GPU_NODE_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}

# Default CPU steps (dbt, NVTabular, evaluation, top-k, publishing).
K8S_STEP_DEFAULT = {
    "container_config": {
        "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "4", "memory": "16Gi"}}
    }
}
ECS_STEP_DEFAULT = {"cpu": 2048, "memory": 8192}  # ECS units: 1024 = 1 vCPU; MiB

K8S_GPU_TRAINING = {
    "container_config": {
        "resources": {
            "requests": {"cpu": "4", "memory": "24Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "30Gi", "nvidia.com/gpu": "1"},
        }
    },
    "pod_spec_config": {"tolerations": [GPU_NODE_TOLERATION]},
}


def ecs_gpu_capacity_provider() -> str:
    return os.environ.get("RECS_ECS_GPU_CAPACITY_PROVIDER", "recs-gpu")


def gpu_training_tags() -> dict[str, str]:
    """Op tags of the training step: one GPU on whichever production executor runs it."""
    return {
        "recs_assets/compute": "gpu",
        "dagster-k8s/config": json.dumps(K8S_GPU_TRAINING),
        "ecs/cpu": "4096",
        "ecs/memory": "30720",
        "ecs/container_overrides": json.dumps({"resourceRequirements": [{"type": "GPU", "value": "1"}]}),
        "ecs/run_task_kwargs": json.dumps(
            {"capacityProviderStrategy": [{"capacityProvider": ecs_gpu_capacity_provider(), "weight": 1}]}
        ),
    }


EXECUTORS = ("multiprocess", "in_process", "k8s", "ecs")


def build_executor(kind: str | None = None):
    """The executor named by ``RECS_EXECUTOR`` (multiprocess | in_process | k8s | ecs); None keeps Dagster's
    default (multiprocess; ``RECS_MAX_CONCURRENT_STEPS`` bounds it).

    k8s: each step is a Kubernetes Job (needs the K8sRunLauncher or the Helm chart's launcher).
    ecs: each step is an ECS task (needs the EcsRunLauncher, see deploy/dagster.ecs.yaml).
    """
    kind = kind or os.environ.get("RECS_EXECUTOR") or None
    limit = os.environ.get("RECS_MAX_CONCURRENT_STEPS")
    if kind == "in_process":  # every step in the run's process: no per-step start-up (the local demo)
        from dagster import in_process_executor

        return in_process_executor
    if kind is None or kind == "multiprocess":
        if limit is None:
            return None
        from dagster import multiprocess_executor

        return multiprocess_executor.configured({"max_concurrent": int(limit)}, name="local_steps")
    max_concurrent = int(limit or "4")
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(
            {"max_concurrent": max_concurrent, "step_k8s_config": K8S_STEP_DEFAULT}, name="k8s_steps"
        )
    if kind == "ecs":
        from dagster_aws.ecs import ecs_executor

        return ecs_executor.configured({"max_concurrent": max_concurrent, **ECS_STEP_DEFAULT}, name="ecs_steps")
    raise ValueError(f"RECS_EXECUTOR={kind!r} is not one of {EXECUTORS}")
