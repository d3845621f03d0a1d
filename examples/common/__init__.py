"""What the example scripts share: one small module per job.

cli       one-line usage errors (exit status 2) and argparse without tracebacks
specs     parsing of ``--optimizers`` and per-optimizer ``--lr`` values (no TensorFlow)
markdown  rendering a results table as GitHub markdown
sweep     MLflow parent/nested runs that a killed sweep can resume
"""
