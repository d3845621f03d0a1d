"""Time of one optimizer step and optimizer-state size: PowerSign, AddSign and a rule against Keras' optimizers.

On one MLP (~1.05M parameters) and one fixed batch, the gradients are computed
once; each optimizer then runs ``apply_gradients`` on them inside a compiled step
(``tf.function(jit_compile=True)`` on TensorFlow, ``jax.jit`` of
``stateless_apply`` on JAX). Warm-up calls are excluded; each repeat times a
block of steps, the optimizers take turns within every repeat, and the table
reports the median over repeats of the mean time per step. State is the bytes of
the optimizer's variables, leaving out the step counter and the learning rate.

    python benchmarks/optimizer_step.py                 # TensorFlow (or $KERAS_BACKEND)
    python benchmarks/optimizer_step.py --backend jax
    python benchmarks/optimizer_step.py --no-jit        # plain tf.function, no XLA
    python benchmarks/optimizer_step.py --backend jax --hidden 16384   # ~143M parameters, for a GPU
    python benchmarks/optimizer_step.py --doc          # and into docs/results/optimizer-step.md's block
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page, beside this file
import results_page  # noqa: E402

PAGE = results_page.RESULTS / "optimizer-step.md"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["tensorflow", "jax"], default=None, help="Keras backend (default: $KERAS_BACKEND or tensorflow)")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=41, help="timed blocks per optimizer (the median is reported)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps after compilation")
    parser.add_argument("--hidden", type=int, default=1024,
                        help="width of the MLP's first hidden layer, the second is half of it (default 1024: ~1.05M "
                             "parameters; 16384 gives ~143M, a size where a GPU's step time is bandwidth, not launches)")
    parser.add_argument("--no-jit", dest="jit", action="store_false", help="TensorFlow: tf.function without XLA")
    parser.add_argument("--doc", nargs="?", const=PAGE, default=None, type=Path, metavar="PATH",
                        help=f"write the table, the command and the machine into PATH's block (default PATH: "
                             f"{PAGE.relative_to(results_page.ROOT)})")
    parser.add_argument("--block", default=None, help="the block of the page (default: the backend's name, "
                                                      "with -no-jit when compiled without XLA or jit)")
    return parser.parse_args(argv)


ARGS = parse_args()
MACHINE = results_page.machine_line()  # the load average before the run
COMMAND = results_page.command_line("benchmarks/optimizer_step.py", sys.argv[1:])  # before --backend sets it
if ARGS.backend:
    os.environ["KERAS_BACKEND"] = ARGS.backend
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_nos.native_log import quiet_native_stderr  # noqa: E402

with quiet_native_stderr():  # TensorFlow's C++ start-up lines would bury the table
    import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_nos import AddSign, PowerSign, RuleOptimizer  # noqa: E402

LEARNING_RATE = 1e-4  # small, so thousands of steps on the same gradients keep the weights ordinary numbers
OPTIMIZERS = {
    "PowerSign": lambda: PowerSign(learning_rate=LEARNING_RATE),
    "AddSign": lambda: AddSign(learning_rate=LEARNING_RATE),
    'RuleOptimizer("exp(sign(g)*sign(m))*g")': lambda: RuleOptimizer("exp(sign(g)*sign(m))*g", learning_rate=LEARNING_RATE),
    "Adam": lambda: keras.optimizers.Adam(learning_rate=LEARNING_RATE),
    "SGD (momentum 0.9)": lambda: keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=0.9),
    "Lion": lambda: keras.optimizers.Lion(learning_rate=LEARNING_RATE),
}


def make_model(hidden):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((512,)),
        keras.layers.Dense(hidden, activation="relu"),
        keras.layers.Dense(hidden // 2, activation="relu"),
        keras.layers.Dense(10),
    ])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 512)).astype("float32")
    y = rng.integers(0, 10, size=(128,))
    return model, x, y


def state_bytes(optimizer):
    fixed = {id(optimizer.iterations), id(getattr(optimizer, "_learning_rate", None))}
    return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in optimizer.variables if id(v) not in fixed)


def loss_fn(y, logits):
    return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


class TensorFlowStep:
    def __init__(self, model, x, y, optimizer, jit):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = keras.ops.mean(loss_fn(y, model(x)))
        self.grads = [tf.constant(g) for g in tape.gradient(loss, model.trainable_variables)]
        self.variables = model.trainable_variables
        self.optimizer = optimizer
        optimizer.build(self.variables)
        self.step = tf.function(self._step, jit_compile=jit)

    def _step(self):
        self.optimizer.apply_gradients(zip(self.grads, self.variables))
        return self.optimizer.iterations

    def __call__(self, n):
        for _ in range(n):
            out = self.step()
        out.numpy()  # wait for the last step


class JaxStep:
    def __init__(self, model, x, y, optimizer, jit):
        import jax

        def loss(values):
            logits, _ = model.stateless_call(values, [v.value for v in model.non_trainable_variables], x)
            return keras.ops.mean(loss_fn(y, logits))

        self.trainable = [v.value for v in model.trainable_variables]
        self.grads = jax.grad(loss)(self.trainable)
        optimizer.build(model.trainable_variables)
        self.state = [v.value for v in optimizer.variables]
        step = lambda trainable, state, grads: optimizer.stateless_apply(state, grads, trainable)  # noqa: E731
        self.step = jax.jit(step, donate_argnums=(0, 1)) if jit else step

    def __call__(self, n):
        for _ in range(n):
            self.trainable, self.state = self.step(self.trainable, self.state, self.grads)
        for value in self.trainable + self.state:
            value.block_until_ready()


def main(args):
    backend = keras.backend.backend()
    model, x, y = make_model(args.hidden)
    n_params = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    steppers, states = {}, {}
    for name, factory in OPTIMIZERS.items():
        model, x, y = make_model(args.hidden)  # each optimizer moves its own copy of the same weights
        optimizer = factory()
        steppers[name] = (TensorFlowStep if backend == "tensorflow" else JaxStep)(model, x, y, optimizer, args.jit)
        states[name] = state_bytes(optimizer)
        steppers[name](args.warmup)  # compiles, then warms up
    times = {name: [] for name in steppers}
    order = list(steppers.items())
    for repeat in range(args.repeats):
        # take turns, forwards then backwards, so drift in machine speed hits all alike
        for name, stepper in (order if repeat % 2 == 0 else order[::-1]):
            start = time.perf_counter()
            stepper(args.steps)
            times[name].append((time.perf_counter() - start) / args.steps)
    median = {name: statistics.median(values) for name, values in times.items()}
    spread = {name: (min(values), max(values)) for name, values in times.items()}

    compiled = {"tensorflow": "tf.function(jit_compile=True)" if args.jit else "tf.function", "jax": "jax.jit" if args.jit else "eager"}
    lines = [f"Optimizer step on an MLP 512-{args.hidden}-{args.hidden // 2}-10 ({n_params:,} parameters, float32), "
             f"backend {backend}, {compiled.get(backend, backend)}; median of {args.repeats} repeats x {args.steps} "
             f"steps, {args.warmup} warm-up steps", "",
             "| optimizer | step time (ms) | min-max (ms) | step vs Adam | state (MiB) | state vs Adam |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in steppers:
        low, high = spread[name]
        lines.append(f"| {name} | {median[name] * 1e3:.3f} | {low * 1e3:.3f}-{high * 1e3:.3f} | "
                     f"{median[name] / median['Adam']:.2f}x | {states[name] / 2**20:.2f} | "
                     f"{states[name] / states['Adam']:.2f}x |")
    text = "\n".join(lines)
    print(text)
    if args.doc:
        block = args.block or backend + ("" if args.jit else "-no-jit")
        results_page.write_block(args.doc, block, results_page.results_block(COMMAND, MACHINE, text),
                                 "benchmarks/optimizer_step.py", title="Optimizer step cost")
        print(f"wrote the {block} block of {args.doc}")
    return median, states


if __name__ == "__main__":
    main(ARGS)
    sys.exit(0)
