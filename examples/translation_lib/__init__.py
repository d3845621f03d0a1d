"""Helpers for ``examples/translation.py``: one small module per job.

corpus     the built-in English->German grammar (deterministic, seeded)
data       where sentence pairs come from: built-in, plain files, WMT 2014
tokenizer  WordPiece vocabulary learning, tokenization and detokenization
pipeline   tf.data pipelines from text pairs to padded id tensors
models     builds the --arch model: transformer, gnmt (+ embedding)
experiment data and vocabularies once, then every optimizer x seed
losses     label-smoothed, padding-masked cross entropy
schedules  warm-up, rsqrt and linear-cosine learning-rate schedules
decoding   greedy and beam-search decoding
evaluate   perplexity and BLEU
train      one training run (one optimizer, one seed), tracked in MLflow
report     the Table-2-style summary over optimizers and seeds
specs      parsing of --optimizers and --lr
"""
