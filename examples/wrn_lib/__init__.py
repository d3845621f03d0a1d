"""Helpers for ``examples/wrn_cifar10.py``: one small module per job.

model       the Wide ResNet (depth, width, L2 weight decay, batch norm)
pipeline    tf.data pipelines: pad-and-crop, flip, per-channel normalization
lrs         the learning-rate grid per optimizer and the learning-rate schedules
train       one (optimizer, learning rate) run, tracked as a nested MLflow run
experiment  data once, then the sweep under one parent run, resumable
report      the Table-1-style summary and the test-accuracy plot
"""
