"""MLflow runs for a sweep that can be killed and resumed.

A sweep is one parent run tagged with a hash of the settings that decide its
results (``config_hash``) and one nested run per point, tagged ``sweep_key``.
Starting the same settings again finds that parent (``find_parent``) and
``finished_children`` says which points are done, so only the rest train; an
explicit parent id (``--resume``) must carry the same hash.
"""

import hashlib
import json

import mlflow
from mlflow.entities import RunStatus

HASH_TAG = "config_hash"
KEY_TAG = "sweep_key"
ROLE_TAG = "role"


def config_hash(params):
    """A short, stable hash of a JSON-able dict of settings."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def find_parent(client, experiment_id, chash):
    """The newest parent run with this config hash, or None."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.{HASH_TAG} = '{chash}' and tags.{ROLE_TAG} = 'parent'",
        order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def check_resumable(client, run_id, chash):
    """The parent run ``run_id``; ValueError if it is missing or has other settings."""
    try:
        run = client.get_run(run_id)
    except Exception:
        raise ValueError(f"--resume: no run {run_id!r} in the tracking store") from None
    if run.data.tags.get(HASH_TAG) != chash:
        raise ValueError(f"--resume: run {run_id} was made with other settings (config hash "
                         f"{run.data.tags.get(HASH_TAG)}, now {chash}); drop --resume to start anew")
    return run


def children(client, parent):
    return client.search_runs([parent.info.experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")


def finished_children(client, parent):
    """{sweep key: run} of the nested runs that finished; unfinished ones are marked KILLED."""
    done = {}
    for run in children(client, parent):
        key = run.data.tags.get(KEY_TAG)
        if run.info.status == RunStatus.to_string(RunStatus.FINISHED) and key is not None:
            done.setdefault(key, run)
        elif run.info.status == RunStatus.to_string(RunStatus.RUNNING):
            client.set_terminated(run.info.run_id, status="KILLED")
    return done


def start_parent(client, experiment_id, chash, run_name, resume=None, fresh=False):
    """Start (or reopen) the parent run; return (active run, {key: finished child run})."""
    parent = None
    if resume:
        parent = check_resumable(client, resume, chash)
    elif not fresh:
        parent = find_parent(client, experiment_id, chash)
    if parent is None:
        run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name)
        mlflow.set_tags({ROLE_TAG: "parent", HASH_TAG: chash})
        return run, {}
    done = finished_children(client, parent)
    return mlflow.start_run(run_id=parent.info.run_id), done


def start_child(key, run_name, experiment_id):
    """A nested run under the active parent, tagged with its sweep key."""
    run = mlflow.start_run(run_name=run_name, nested=True, experiment_id=experiment_id)
    mlflow.set_tags({ROLE_TAG: "child", KEY_TAG: key})
    return run


def metric_history(client, run_id, key):
    """The values of metric ``key`` in step order."""
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]
