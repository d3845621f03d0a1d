"""The names of the tags keras_nos puts on MLflow runs: written by the trackers, read back by everyone else."""

PREFIX = "keras_nos."
PARENT = "mlflow.parentRunId"  # MLflow's own: a nested run names its parent here
RUN_NAME = "mlflow.runName"

KIND = PREFIX + "kind"  # a parent run: "search" or "compare"
STAGE = PREFIX + "stage"  # a nested run: "search", "funnel" (a search's), "tune", "seed" (a comparison's) or "suite"
INDEX = PREFIX + "index"
STATUS = PREFIX + "status"
MESSAGE = PREFIX + "message"
CACHE_HIT = PREFIX + "cache_hit"
STRATEGY = PREFIX + "strategy"
REFERENCE = PREFIX + "reference"  # "true" on the runs of an Adam reference (its proxy run and funnel trainings)
TASK = PREFIX + "task"
OPTIMIZER = PREFIX + "optimizer"
SETTINGS = PREFIX + "settings"  # a search's settings as JSON: what ``--resume RUN_ID`` reads back
SUITE = PREFIX + "suite"  # a search's compare-suite wins against Adam, as JSON
SUMMARY = PREFIX + "summary"  # a search's one line on its winner against tuned Adam
LEASE = PREFIX + "lease"  # the process that runs a search now: host, pid and heartbeat, as JSON
