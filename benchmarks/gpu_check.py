"""The device check: candidates per second of the batched evaluator, and a reduced Wide ResNet run, on a GPU.

The same program runs on a GPU when JAX sees one and on the CPU otherwise; ``benchmarks/gpu_check.sh`` runs
this script on a lent device machine within its 10 minutes. Each part runs in its own child process under a
time limit (and all of them under ``--budget`` seconds), so a part that fails or hangs prints its error and
the script goes on; the exit status is 1 when a part failed. The parts:

- ``devices``: what JAX sees (``jax.devices()``), and TensorFlow's GPUs.
- ``rules``: ``2 x --rules`` random rules of the paper's space that pass the hurdles
  (``evaluator_throughput.choose_rules``, without its named rules: a search proposes rules of its space, and
  the batched program runs every one of them, where some named rules fall back to the one-by-one evaluator).
- one throughput part per task of ``--tasks`` (default ``digits-autoencoder``, the default search task, and
  ``cifar10-convnet``, the paper's proxy, when CIFAR-10 is found) and per ``--copies-per-call``: a
  ``BatchedEvaluator`` with the paper space's groups, as a search runs it, evaluates a first batch of
  ``--rules`` rules (its program compiles), then a second batch of other rules: the candidates per second of
  the check are that second batch's, all of it (parsing and hurdles on the host, the trainings on the device,
  the judgement); the second batch once more, every program size compiled, is reported beside it, and so is
  the share of the time spent in the trainings. ``cifar10-convnet`` trains ``--cifar-epochs`` epochs (1; the
  task's own is 5) on ``--cifar-rules`` rules a batch.
- ``wrn``: ``examples/wrn_cifar10.py`` at a reduced size (``--wrn-*``), when CIFAR-10 is found.

CIFAR-10 is found as every command finds it: ``--data``, else ``$KERAS_NOS_CIFAR10``, else the shared copy
``../shared/data/cifar10-jpeg.tar.gz`` beside the checkout; without it the CIFAR-10 parts print one line and
are skipped. ``--tiny`` is the CPU size the tests run (8 rules, one epoch, cifar10-convnet with 4 filters on
50 images, WRN-10-1 on 128 images).

The figures go to stdout (one line per measurement), and ``gpu_check.json``, ``gpu_check.md`` and each part's
log go to ``$OUT`` when it is set (the device machine's folder that comes back), else to ``--out``, else a new
temporary folder. ``--from-summary gpu_check.json --doc`` writes a summary brought back from a device into
``docs/results/gpu-check.md``'s block.

    bash benchmarks/gpu_check.sh                      # on the device machine, from the repository root
    python benchmarks/gpu_check.py --tiny --no-wrn --tasks digits-autoencoder   # a minute on a CPU
"""

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # results_page and evaluator_throughput, beside this file
import results_page  # noqa: E402

PAGE = results_page.RESULTS / "gpu-check.md"
DEFAULT_TASK = "digits-autoencoder"
CIFAR_TASK = "cifar10-convnet"
SHARED_CIFAR10 = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
# --tiny: cifar10-convnet with 4 filters on 50 images mean-pooled to 16x16 (XLA's CPU convolutions over many
# copies are slow: the full network on 200 images took minutes a batch on two cores)
TINY_CIFAR = {"train_limit": 50, "validation_size": 100, "pool": 2, "filters": 4}

# The device sizes (the defaults) and the CPU test's (--tiny); a flag given on the command line wins.
SIZES = {
    "device": {"rules": 512, "cifar_rules": 32, "copies_per_call": "256", "epochs": 0, "cifar_epochs": 1,
               "wrn_depth": 16, "wrn_width": 2, "wrn_epochs": 2, "wrn_train_limit": 10000, "wrn_test_limit": 2000,
               "wrn_validation_size": 1000, "wrn_batch_size": 128, "wrn_optimizers": "momentum,powersign",
               "wrn_lr": "0.1"},
    "tiny": {"rules": 8, "cifar_rules": 2, "copies_per_call": "8", "epochs": 1, "cifar_epochs": 1,
             "wrn_depth": 10, "wrn_width": 1, "wrn_epochs": 1, "wrn_train_limit": 128, "wrn_test_limit": 100,
             "wrn_validation_size": 100, "wrn_batch_size": 32, "wrn_optimizers": "momentum", "wrn_lr": "0.05"},
}
# Each part's time limit in seconds (the device sizes fit them on an H100 with room; --budget caps the sum).
LIMITS = {"devices": 60, "rules": 120, "throughput": 240, "wrn": 200}


# --- the parts, each in a child process -------------------------------------------------------------------

def part_devices(args):
    """What JAX and TensorFlow see."""
    import jax

    devices = jax.devices()
    described = [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in devices]
    print(f"jax {jax.__version__}, default backend {jax.default_backend()}: {', '.join(described)}")
    figures = {"jax": jax.__version__, "backend": jax.default_backend(), "devices": described,
               "tensorflow_gpus": None}
    if not args.ask_tensorflow:  # only the WRN run's backend depends on it
        return figures
    try:
        from keras_nos.native_log import quiet_native_stderr

        with quiet_native_stderr():
            import tensorflow as tf

            figures["tensorflow_gpus"] = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
        print(f"tensorflow {tf.__version__}: {len(figures['tensorflow_gpus'])} GPU(s)")
    except Exception as error:  # the WRN part says more if it needs TensorFlow
        figures["tensorflow_gpus"] = None
        print(f"tensorflow: {type(error).__name__}: {error}")
    return figures


def draw(job):
    """``count`` random rules of the paper space that pass the hurdles, drawn from ``seed``."""
    count, seed = job
    from evaluator_throughput import choose_rules
    from keras_nos.named_rules import RULES

    named = set(RULES.values())
    # choose_rules gives min(len(named), asked // 2) named rules first: ask for enough to keep ``count`` random ones
    drawn = choose_rules(count + len(named) if count >= len(named) else 2 * count, seed)
    return [rule for rule in drawn if rule not in named][:count]


def part_rules(args):
    """``--draw`` distinct rules, drawn in chunks on the host's cores when there are many."""
    from concurrent.futures import ProcessPoolExecutor

    count = args.draw
    chunks = max(1, min(os.cpu_count() or 1, count // 64))
    size = -(-count // chunks)
    jobs = [(size, args.seed + 7919 * chunk) for chunk in range(chunks)]
    if chunks == 1:
        parts = [draw(jobs[0])]
    else:
        with ProcessPoolExecutor(chunks) as pool:
            parts = list(pool.map(draw, jobs))
    rules, seen = [], set()
    for rule in (rule for part in parts for rule in part):
        if rule not in seen:
            seen.add(rule)
            rules.append(rule)
    extra = 1
    while len(rules) < count:  # a rule drawn in two chunks: draw more
        for rule in draw((count - len(rules), args.seed + 7919 * (chunks + extra))):
            if rule not in seen:
                seen.add(rule)
                rules.append(rule)
        extra += 1
    print(f"{count} rules drawn on {chunks} process(es)")
    return {"rules": rules[:count]}


def tiny_cifar_task():
    """cifar10-convnet's network with 4 filters, its batch, on 50 CIFAR-10 images of 16x16: the CPU test's size."""
    import functools

    from keras_nos.tasks import get_task, models, register_task
    from keras_nos.tasks.datasets import load_cifar10, scaled_images

    def load(path, seed):
        return scaled_images(load_cifar10(path, seed=seed, train_limit=TINY_CIFAR["train_limit"],
                                          validation_size=TINY_CIFAR["validation_size"], pool=TINY_CIFAR["pool"]))

    task = dataclasses.replace(get_task(CIFAR_TASK), name=f"{CIFAR_TASK}-tiny", load_data=load,
                               build_model=functools.partial(models.conv_block_net, filters=TINY_CIFAR["filters"]),
                               description=f"{CIFAR_TASK} with {TINY_CIFAR['filters']} filters on "
                                           f"{TINY_CIFAR['train_limit']} images of 16x16, for tests")
    return register_task(task, overwrite=True)


def part_throughput(args):
    """The batched evaluator on ``args.task``: a first batch (with compilation), a second, the second again."""
    from keras_nos.native_log import quiet_native_stderr

    with quiet_native_stderr():
        import jax
        import keras  # noqa: F401

        from keras_nos.search.space import SearchSpace
        from keras_nos.tasks.batched.evaluator import BatchedEvaluator

    device = jax.devices()[0]
    device_name = f"{device.platform}:{device.id} {getattr(device, 'device_kind', '')}".strip()
    rules = json.loads(Path(args.rules_file).read_text())
    count = args.cifar_rules if args.task == CIFAR_TASK else args.rules
    first, second = rules[:count], rules[count:2 * count]
    task = tiny_cifar_task() if args.task == CIFAR_TASK and args.tiny else args.task
    epochs = (args.cifar_epochs if args.task == CIFAR_TASK else args.epochs) or None
    started = time.perf_counter()
    evaluator = BatchedEvaluator(task, seed=args.seed, data_path=args.data, epochs=epochs,
                                 num_groups=SearchSpace.preset("paper").num_groups,
                                 copies_per_call=args.copies_per_call)
    built = time.perf_counter() - started
    train, spent = evaluator.trainer.train, []

    def timed_train(code, learning_rates):  # the trainings' share of a batch
        begun = time.perf_counter()
        log = train(code, learning_rates)
        spent.append((time.perf_counter() - begun, len(learning_rates)))
        return log

    evaluator.trainer.train = timed_train

    def batch(rules_of_batch):
        spent.clear()
        begun = time.perf_counter()
        results = evaluator.evaluate(rules_of_batch)
        seconds = time.perf_counter() - begun
        statuses = {}
        for result in results:
            statuses[result.status] = statuses.get(result.status, 0) + 1
        return {"rules": len(rules_of_batch), "seconds": seconds, "rate": len(rules_of_batch) / seconds,
                "training_seconds": sum(s for s, _ in spent), "copies": sum(c for _, c in spent),
                "statuses": statuses}

    figures = {"task": args.task, "tiny": args.tiny, "device": device_name, "copies_per_call": args.copies_per_call,
               "epochs": evaluator.epochs, "task_epochs": evaluator.task.epochs, "setup_seconds": built}
    figures["first"] = batch(first)
    print(f"  first batch, compiling: {describe_batch(figures['first'])}", flush=True)
    figures["second"] = batch(second)
    print(f"  second batch: {describe_batch(figures['second'])}", flush=True)
    figures["again"] = batch(second)
    print(f"  second batch again: {describe_batch(figures['again'])}", flush=True)
    return figures


def part_wrn(args):
    """examples/wrn_cifar10.py at the reduced size, in its own process (Keras on ``--wrn-backend``)."""
    folder = Path(args.part_folder)
    command = [sys.executable, str(ROOT / "examples" / "wrn_cifar10.py"), *wrn_arguments(args, gpu=args.wrn_gpu),
               "--out", str(folder / "wrn"), "--tracking-uri", f"sqlite:///{folder / 'wrn-mlflow.db'}"]
    env = {**os.environ, "KERAS_BACKEND": args.wrn_backend, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    print("$ " + " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=folder, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    print(done.stdout, flush=True)
    if done.returncode:
        raise RuntimeError(f"examples/wrn_cifar10.py exited with status {done.returncode}: "
                           f"{done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ''}")
    table = (folder / "wrn" / "table.md").read_text(encoding="utf-8")
    results = json.loads((folder / "wrn" / "results.json").read_text())
    return {"seconds": seconds, "backend": args.wrn_backend, "table": table, "results": results,
            "command": "python examples/wrn_cifar10.py " + " ".join(wrn_arguments(args, data=False, gpu=args.wrn_gpu))}


def wrn_arguments(args, data=True, gpu=False):
    """The example's flags; ``gpu``: Keras on JAX with a GPU that TensorFlow does not see, where the example
    would turn XLA and mixed precision off (it asks TensorFlow): turn them on."""
    return [*(["--jit-compile", "--mixed-precision"] if gpu and args.wrn_backend == "jax" else []),
            "--depth", str(args.wrn_depth), "--width", str(args.wrn_width), "--epochs", str(args.wrn_epochs),
            "--batch-size", str(args.wrn_batch_size), "--train-limit", str(args.wrn_train_limit),
            "--validation-size", str(args.wrn_validation_size), "--test-limit", str(args.wrn_test_limit),
            "--optimizers", args.wrn_optimizers, "--lr", args.wrn_lr, "--verbose", "0",
            "--experiment", "gpu-check", "--fresh", *(["--data", args.data] if data else [])]


PARTS = {"devices": part_devices, "rules": part_rules, "throughput": part_throughput, "wrn": part_wrn}


def run_part_here(args):
    """In the child: run one part and write its figures (or its error) as JSON."""
    try:
        figures = {"ok": True, **PARTS[args.part](args)}
    except Exception as error:
        import traceback

        traceback.print_exc()
        figures = {"ok": False, "error": f"{type(error).__name__}: {error}"[:2000]}
    Path(args.part_out).write_text(json.dumps(figures))
    return 0 if figures["ok"] else 1


# --- the parent: the parts one after another, each bounded ------------------------------------------------

class Check:
    """Runs the parts in child processes within the budget; keeps their figures and failures."""

    def __init__(self, args, out):
        self.args, self.out, self.failed, self.child = args, out, [], None
        self.deadline = time.monotonic() + args.budget
        (out / "logs").mkdir(parents=True, exist_ok=True)

    def run(self, name, part, limit, env=None, **options):
        """The figures of ``part`` (its name ``name``), or None when it failed (printed and recorded)."""
        left = self.deadline - time.monotonic() - 5
        limit = min(limit, left)
        if limit < 10:
            return self.fail(name, f"skipped: {max(0, left):.0f} s of the --budget left")
        result, log = self.out / f"{name}.json", self.out / "logs" / f"{name}.log"
        command = [sys.executable, __file__, "--part", part, "--part-out", str(result), "--part-folder", str(self.out),
                   *self.forwarded(), *(item for key, value in options.items()
                                        for item in (f"--{key.replace('_', '-')}", str(value)))]
        started = time.perf_counter()
        with open(log, "w") as stream:
            child = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, cwd=ROOT,
                                     env={"TF_FORCE_GPU_ALLOW_GROWTH": "true", **os.environ, "KERAS_BACKEND": "jax",
                                          **(env or {})},  # TensorFlow, if imported, leaves JAX the GPU
                                     start_new_session=True)
            self.child = child
            try:
                child.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                self.kill()
                return self.fail(name, f"stopped after its time limit of {limit:.0f} s", log)
            finally:
                self.child = None
        seconds = time.perf_counter() - started
        figures = json.loads(result.read_text()) if result.exists() else {"ok": False, "error": "no result written"}
        result.unlink(missing_ok=True)
        if not figures.get("ok") or child.returncode:
            return self.fail(name, figures.get("error") or f"exit status {child.returncode}", log)
        figures["part_seconds"] = seconds
        return figures

    def kill(self):
        """Kill the running part and every process it started."""
        child = self.child
        if child is not None and child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait()

    def forwarded(self):
        args, skip = self.args, {"part", "part_out", "part_folder", "out", "doc", "from_summary", "task",
                                 "copies_per_call", "tasks", "wrn", "draw", "ask_tensorflow"}
        items = []
        for key, value in vars(args).items():
            if key in skip or value is None or value is False:
                continue
            flag = f"--{key.replace('_', '-')}"
            items += [flag] if value is True else [flag, str(value)]
        return items

    def fail(self, name, why, log=None):
        tail = log.read_text(errors="replace").strip().splitlines()[-15:] if log and log.exists() else []
        print(f"{name}: FAILED: {why}" + "".join(f"\n    {line}" for line in tail), flush=True)
        self.failed.append({"part": name, "error": why})
        return None


def find_cifar10(data):
    """The CIFAR-10 copy every command would use (an absolute path), or None."""
    for candidate in (data, os.environ.get("KERAS_NOS_CIFAR10"), SHARED_CIFAR10 if SHARED_CIFAR10.exists() else None):
        if candidate:
            return str(Path(candidate).expanduser().resolve())
    return None


def describe_batch(batch):
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(batch["statuses"].items()))
    return (f"{batch['rules']} candidates in {batch['seconds']:.2f} s ({batch['rate']:.1f}/s); trainings "
            f"{batch['training_seconds']:.2f} s for {batch['copies']} (rule, learning rate) copies; {statuses}")


def throughput_line(figures):
    """The measurement's line: the second batch's candidates per second."""
    second, epochs = figures["second"], figures["epochs"]
    length = f"{epochs} epoch(s)" + (f", the task's own {figures['task_epochs']}" if epochs != figures["task_epochs"]
                                     else "")
    tiny = (f" (tiny: {TINY_CIFAR['filters']} filters, {TINY_CIFAR['train_limit']} images of 16x16)"
            if figures["tiny"] and figures["task"] == CIFAR_TASK else "")
    return (f"{figures['task']}{tiny}: {second['rules']} candidates in {second['seconds']:.2f} s: "
            f"{second['rate']:.1f} candidates/s (device: {figures['device']}; {length}; copies per call "
            f"{figures['copies_per_call']}; first batch {figures['first']['seconds']:.1f} s with compilation; "
            f"again {figures['again']['rate']:.1f}/s; trainings {second['training_seconds']:.2f} s of it)")


def wrn_line(figures):
    rows = figures["results"].get("rows", [])
    tested = "; ".join(f"{row['optimizer']} at lr {row['lr']:g}: final test accuracy {row['final_test']:.4f} "
                       f"({row['seconds']:.1f} s)" for row in rows)
    return f"wrn: {figures['command']}: {figures['seconds']:.1f} s on Keras {figures['backend']}; {tested}"


def summary_markdown(summary):
    """The summary as markdown: the lines, the throughput table, the WRN table."""
    lines = [f"Device: {', '.join(summary['devices'].get('devices', [])) or 'unknown'} "
             f"(jax {summary['devices'].get('jax', '?')}).", ""]
    if summary["throughput"]:
        lines += ["| task | copies per call | epochs | rules a batch | first batch, compiling | second batch | "
                  "second batch again | trainings of the second |",
                  "| --- | ---: | ---: | ---: | --- | --- | --- | ---: |"]
        for f in summary["throughput"]:
            lines.append(f"| {f['task']}{' (tiny)' if f['tiny'] else ''} | {f['copies_per_call']} | {f['epochs']} "
                         f"| {f['second']['rules']} | {f['first']['seconds']:.2f} s ({f['first']['rate']:.1f}/s) "
                         f"| {f['second']['seconds']:.2f} s (**{f['second']['rate']:.1f}/s**) "
                         f"| {f['again']['seconds']:.2f} s ({f['again']['rate']:.1f}/s) "
                         f"| {f['second']['training_seconds']:.2f} s |")
        lines.append("")
    if summary.get("wrn"):
        lines += [f"Reduced WRN: `{summary['wrn']['command']}`, {summary['wrn']['seconds']:.1f} s on Keras "
                  f"{summary['wrn']['backend']}.", "", summary["wrn"]["table"].strip(), ""]
    lines += [*(f"- {line}" for line in summary["skipped"]), *(f"- FAILED {f['part']}: {f['error']}"
                                                                for f in summary["failed"])]
    return "\n".join(lines).strip() + "\n"


def write_doc(summary, page, argv):
    text = "\n".join([summary_markdown(summary), "The lines it printed:", "",
                      *(f"    {line}" for line in summary["lines"])])
    results_page.write_block(page, "gpu-check", results_page.results_block(summary["command"], summary["machine"],
                                                                          text), "benchmarks/gpu_check.py",
                             title="The device check")
    print(f"wrote the gpu-check block of {page}")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the CPU test's size: 8 rules, 1 epoch, 8 copies a call, "
                                                            "a smaller cifar10-convnet, WRN-10-1 on 128 images")
    parser.add_argument("--tasks", help=f"comma-separated (default {DEFAULT_TASK},{CIFAR_TASK}; the latter only "
                                        f"when CIFAR-10 is found)")
    parser.add_argument("--rules", type=int, help="rules a batch (default 512; --tiny 8)")
    parser.add_argument("--cifar-rules", type=int, help=f"rules a batch on {CIFAR_TASK} (default 32; --tiny 2)")
    parser.add_argument("--copies-per-call", help="the batched trainer's copies per call, comma-separated to "
                                                  "measure several (default 256; --tiny 8)")
    parser.add_argument("--epochs", type=int, help=f"{DEFAULT_TASK}'s epochs (default 0: the task's own, 8; --tiny 1)")
    parser.add_argument("--cifar-epochs", type=int, help=f"{CIFAR_TASK}'s epochs (default 1; 0: its own, 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", help="CIFAR-10 (default: $KERAS_NOS_CIFAR10, else "
                                       "../shared/data/cifar10-jpeg.tar.gz)")
    parser.add_argument("--wrn", action=argparse.BooleanOptionalAction, default=True, help="the reduced WRN run")
    parser.add_argument("--wrn-depth", type=int, help="default 16 (--tiny 10)")
    parser.add_argument("--wrn-width", type=int, help="default 2 (--tiny 1)")
    parser.add_argument("--wrn-epochs", type=int, help="default 2 (--tiny 1)")
    parser.add_argument("--wrn-batch-size", type=int, help="default 128 (--tiny 32)")
    parser.add_argument("--wrn-train-limit", type=int, help="training images (default 10000; --tiny 128)")
    parser.add_argument("--wrn-validation-size", type=int, help="default 1000 (--tiny 100)")
    parser.add_argument("--wrn-test-limit", type=int, help="default 2000 (--tiny 100)")
    parser.add_argument("--wrn-optimizers", help="default momentum,powersign (--tiny momentum)")
    parser.add_argument("--wrn-lr", help="the learning rates of every optimizer (default 0.1; --tiny 0.05)")
    parser.add_argument("--wrn-backend", default="auto", choices=("auto", "tensorflow", "jax"),
                        help="Keras backend of the WRN run (default auto: tensorflow where TensorFlow sees a GPU, "
                             "else jax where JAX does, else tensorflow)")
    parser.add_argument("--budget", type=float, default=520, help="seconds for all the parts (default 520, inside "
                                                                   "gpu_check.sh's 540)")
    parser.add_argument("--out", help="where the summary and logs go (default $OUT, else a new temporary folder)")
    parser.add_argument("--from-summary", metavar="JSON", help="write this gpu_check.json (from a device) with "
                                                               "--doc instead of running")
    parser.add_argument("--doc", nargs="?", const=PAGE, default=None, type=Path, metavar="PATH",
                        help=f"write the summary into PATH's gpu-check block (default "
                             f"{PAGE.relative_to(results_page.ROOT)})")
    for hidden in ("--part", "--part-out", "--part-folder", "--rules-file", "--task"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--wrn-gpu", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--draw", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ask-tensorflow", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    for key, value in SIZES["tiny" if args.tiny else "device"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.part:
        if args.part == "throughput":
            args.copies_per_call = int(args.copies_per_call)
        return run_part_here(args)
    if args.from_summary:
        write_doc(json.loads(Path(args.from_summary).read_text()), args.doc or PAGE, argv)
        return 0
    out = Path(args.out or os.environ.get("OUT") or tempfile.mkdtemp(prefix="gpu_check-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    args.data = find_cifar10(args.data)
    machine = results_page.machine_line(("keras", "jax", "jaxlib", "tensorflow"))
    command = results_page.command_line("benchmarks/gpu_check.py", sys.argv[1:] if argv is None else argv)
    print(f"gpu_check: {machine}", flush=True)
    print(f"gpu_check: summary and logs in {out}", flush=True)
    check = Check(args, out)
    summary = {"command": command, "machine": machine, "devices": {}, "throughput": [], "wrn": None, "skipped": [],
               "failed": check.failed, "lines": []}
    lines, skipped, throughput = summary["lines"], summary["skipped"], summary["throughput"]

    def say(line):
        print(line, flush=True)
        lines.append(line)

    def save():  # after every part: what is done survives a kill
        (out / "gpu_check.json").write_text(json.dumps(summary, indent=1))
        (out / "gpu_check.md").write_text(summary_markdown(summary))

    def stop(signum, frame):  # the parts run in their own sessions: a timeout's SIGTERM must reach them
        check.kill()
        check.failed.append({"part": "gpu_check", "error": f"stopped by signal {signum}"})
        save()
        print(f"gpu_check: stopped by signal {signum}; wrote {out / 'gpu_check.json'}", flush=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)

    ask = int(bool(args.wrn and args.data and args.wrn_backend == "auto"))
    devices = summary["devices"] = check.run("devices", "devices", LIMITS["devices"], ask_tensorflow=ask) or {}
    save()
    if devices:
        say(f"devices: jax {devices['jax']} on {devices['backend']}: {', '.join(devices['devices'])}")
        if devices["backend"] == "cpu":
            say("devices: JAX sees no GPU: the figures below are CPU figures")
    tasks = args.tasks.split(",") if args.tasks else [DEFAULT_TASK, CIFAR_TASK]
    if CIFAR_TASK in tasks and not args.data:
        tasks.remove(CIFAR_TASK)
        skipped.append(f"{CIFAR_TASK}: skipped, no CIFAR-10 found (--data, $KERAS_NOS_CIFAR10 or {SHARED_CIFAR10})")
        say(skipped[-1])
    hidden = {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}  # drawing rules needs no device
    draw_count = 2 * max((args.cifar_rules if task == CIFAR_TASK else args.rules for task in tasks), default=0)
    drawn = check.run("rules", "rules", LIMITS["rules"], env=hidden, draw=draw_count) if tasks else None
    if drawn:
        rules_file = out / "rules.json"
        rules_file.write_text(json.dumps(drawn.pop("rules"), indent=0))
        say(f"rules: {draw_count} rules of the paper space that pass the hurdles, drawn in "
            f"{drawn['part_seconds']:.1f} s")
        for task in tasks:
            for copies in str(args.copies_per_call).split(","):
                name = f"throughput-{task}-{copies}"
                print(f"{name}:", flush=True)
                figures = check.run(name, "throughput", LIMITS["throughput"], task=task, copies_per_call=copies,
                                    rules_file=rules_file)
                if figures:
                    throughput.append(figures)
                    say(throughput_line(figures))
                    for batch in ("first", "second", "again"):
                        print(f"    {batch}: {describe_batch(figures[batch])}", flush=True)
                save()
    if args.wrn and not args.data:
        skipped.append(f"wrn: skipped, no CIFAR-10 found (--data, $KERAS_NOS_CIFAR10 or {SHARED_CIFAR10})")
        say(skipped[-1])
    elif args.wrn:
        jax_gpu = devices.get("backend", "cpu") != "cpu"
        if args.wrn_backend == "auto":
            args.wrn_backend = "jax" if jax_gpu and not devices.get("tensorflow_gpus") else "tensorflow"
        args.wrn_gpu = jax_gpu and args.wrn_backend == "jax"
        wrn = summary["wrn"] = check.run("wrn", "wrn", LIMITS["wrn"])
        if wrn:
            say(wrn_line(wrn))
    save()
    if args.doc:
        write_doc(summary, args.doc, argv)
    print(f"gpu_check: wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}; "
          f"{len(check.failed)} part(s) failed" + (f": {', '.join(f['part'] for f in check.failed)}"
                                                   if check.failed else ""), flush=True)
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
