"""The one tracking layer: where MLflow writes, the tags, the trackers, and trials to and from runs.

Search and compare write through it and read back through it; it imports
neither of them (``dsl ← optimizers ← tasks ← tracking ← (search, compare) ← cli``).
MLflow itself loads on first use, not when this package is imported.
"""

from keras_nos.tracking.compare_runs import CompareTracker
from keras_nos.tracking.search_runs import (SearchTracker, candidate_runs, find_search_run, latest_search_run_id,
                                            read_search, speedup_metrics)
from keras_nos.tracking.store import (artifact_location_for, check_reachable, default_tracking_uri,
                                      get_or_create_experiment, use_tracking_uri)
from keras_nos.tracking.trials import Trial, trial_from_run

__all__ = ["CompareTracker", "SearchTracker", "Trial", "artifact_location_for", "candidate_runs", "check_reachable",
           "default_tracking_uri", "find_search_run", "get_or_create_experiment", "latest_search_run_id",
           "read_search", "speedup_metrics", "trial_from_run", "use_tracking_uri"]
