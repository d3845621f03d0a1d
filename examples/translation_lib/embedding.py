"""A token embedding whose gradient is a dense tensor.

Keras' ``Embedding`` (TensorFlow backend) yields ``tf.IndexedSlices`` gradients,
which optimizers built from arbitrary update rules may not handle (products
of two slices fail). Every optimizer compared here updates the whole table
anyway (their moments are dense), so a dense gradient costs nothing extra.
"""

from keras import layers, ops


class DenseGradEmbedding(layers.Embedding):
    def call(self, inputs):
        # Multiplying by 1 turns the sparse gradient of the gather into a dense one.
        table = ops.multiply(self.embeddings, 1.0)
        return ops.take(table, ops.cast(inputs, "int32"), axis=0)
