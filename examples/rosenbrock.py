"""Trajectories of SGD, momentum, Adam, PowerSign and AddSign on the 2-D Rosenbrock function.

Each optimizer minimises f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.5, 2)
with ``optimizer.apply`` on one Keras variable: the ``rosenbrock`` task of
``keras-nos compare``, reused here. Its learning rate is tuned on a small log
grid (the same grid for every optimizer; lowest final f wins) and said in the
legend. The paths are drawn over the log-scaled contours of f, saved as a PNG
and logged as an artifact of one MLflow run::

    python examples/rosenbrock.py                      # examples/results/rosenbrock.png
    python examples/rosenbrock.py --optimizers adam,lion,"sign(m)" --steps 1000 --out rosenbrock.png
"""

import argparse
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEFAULT_OPTIMIZERS = "sgd,momentum,adam,powersign,addsign"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizers", default=DEFAULT_OPTIMIZERS, help="comma-separated names or rule text")
    parser.add_argument("--steps", type=int, default=500, help="optimizer steps (a multiple of 10)")
    parser.add_argument("--lr-grid", type=int, default=7, help="learning rates tried per optimizer, log-spaced")
    parser.add_argument("--lr-range", default="1e-4,1", metavar="LOW,HIGH")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                      "rosenbrock.png"))
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--experiment", default="keras-nos")
    return parser.parse_args(argv)


def tuned_trajectories(specs, steps, budget):
    """{spec: (learning rate, points, values)}: each spec at its best rate of ``budget``'s grid."""
    import dataclasses

    import keras

    from keras_nos.compare.runner import tune
    from keras_nos.compare.suite import get_compare_task, rosenbrock_trajectory
    from keras_nos.optimizers import make_optimizer

    task = get_compare_task("rosenbrock")
    task = dataclasses.replace(task, epochs=steps // task.steps_per_epoch)
    result = {}
    for spec in specs:
        _, lr = tune(task, None, spec, budget)
        keras.backend.clear_session()
        points, values = rosenbrock_trajectory(make_optimizer(spec, learning_rate=lr, decay_steps=steps), steps)
        result[spec] = (lr, points, values)
    return result


def plot(trajectories, path, steps):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = np.meshgrid(np.linspace(-2, 2, 400), np.linspace(-1, 3, 400))
    f = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    figure, ax = plt.subplots(figsize=(7.5, 6))
    ax.contourf(x, y, np.log10(f + 1e-3), levels=30, cmap="Greys")
    ax.contour(x, y, np.log10(f + 1e-3), levels=15, colors="white", linewidths=0.4, alpha=0.6)
    for index, (spec, (lr, points, values)) in enumerate(trajectories.items()):
        final = f"{values[-1]:.2g}" if np.isfinite(values[-1]) else "diverged"
        ax.plot(points[:, 0], points[:, 1], "-", color=f"C{index}", linewidth=1.4, marker=".", markersize=2,
                label=f"{spec} (lr {lr:.2g}, final f {final})")
    ax.plot([-1.5], [2.0], "o", color="black", label="start (-1.5, 2)")
    ax.plot([1.0], [1.0], "*", color="gold", markersize=14, markeredgecolor="black", label="minimum (1, 1)")
    ax.set_xlim(-2, 2)
    ax.set_ylim(-1, 3)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"Rosenbrock, {steps} steps; contours of log10 f; learning rates tuned on a log grid")
    ax.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None):
    args = parse_args(argv)
    from keras_nos.native_log import quiet_native_stderr

    with quiet_native_stderr():  # TensorFlow's C++ start-up lines would bury the output
        import keras  # noqa: F401
    from keras_nos import tracking
    from keras_nos.compare.runner import make_budget, resolve_optimizers

    try:
        low, high = (float(v) for v in args.lr_range.split(","))
        if args.steps < 10 or args.steps % 10:
            raise ValueError(f"--steps must be a positive multiple of 10, got {args.steps}")
        budget = make_budget(lr_grid=args.lr_grid, seeds=1, lr_range=(low, high))
        specs = resolve_optimizers(args.optimizers.split(","), baselines=())
    except ValueError as error:
        print(f"rosenbrock.py: error: {error}", file=sys.stderr)
        return 2
    import mlflow

    trajectories = tuned_trajectories(specs, args.steps, budget)
    plot(trajectories, args.out, args.steps)
    experiment_id = tracking.get_or_create_experiment(args.experiment, args.tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id, run_name="rosenbrock-example"):
        mlflow.set_tag("keras_nos.kind", "rosenbrock-example")
        mlflow.log_params({"steps": args.steps, "lr_grid": budget.trials, "lr_range": args.lr_range})
        for spec, (lr, _, values) in trajectories.items():
            key = spec if spec.isidentifier() else f"rule{list(trajectories).index(spec)}"
            mlflow.log_params({f"lr.{key}": lr, f"optimizer.{key}": spec})
            if np.isfinite(values[-1]):
                mlflow.log_metric(f"final_f.{key}", float(values[-1]))
        mlflow.log_artifact(args.out)
    for spec, (lr, _, values) in trajectories.items():
        print(f"{spec:>12}  lr {lr:<8.3g} final f {values[-1]:.4g}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
