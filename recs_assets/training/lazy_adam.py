"""Adam whose sparse updates touch only the rows in the batch (the embedding tables' rows).

Keras' legacy Adam applies a sparse gradient (an embedding lookup's) by decaying the *whole* first and
second moments and stepping the *whole* table: every batch rewrites every row of every embedding
table, so a step's cost grows with the vocabularies (every customer of the training window, not just the batch's).
Here the moments and weights of the rows in the batch are updated as Adam would, and the other rows
are left as they are: TensorFlow Addons' ``LazyAdam`` (its last release, 0.23.0, resolves beside this lock,
but Addons has reached end of life; this subclass is a few lines, tested against Adam).
Dense variables (the towers' MLPs) get Adam's update unchanged. When every row is in every batch, the
result equals Adam's (tested).
"""

from __future__ import annotations


def lazy_adam(learning_rate: float):
    """A ``tf.keras.optimizers.legacy.Adam`` with lazy sparse updates (TensorFlow imported here)."""
    import tensorflow as tf

    class LazyAdam(tf.keras.optimizers.legacy.Adam):
        def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
            # indices are unique here: OptimizerV2 sums duplicate rows before calling this
            device, dtype = var.device, var.dtype.base_dtype
            c = (apply_state or {}).get((device, dtype)) or self._fallback_apply_state(device, dtype)
            m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
            m_rows = c["beta_1_t"] * tf.gather(m, indices) + c["one_minus_beta_1_t"] * grad
            v_rows = c["beta_2_t"] * tf.gather(v, indices) + c["one_minus_beta_2_t"] * tf.square(grad)
            step = c["lr"] * m_rows / (tf.sqrt(v_rows) + c["epsilon"])  # lr carries the bias correction
            return tf.group(
                m.scatter_update(tf.IndexedSlices(m_rows, indices)),
                v.scatter_update(tf.IndexedSlices(v_rows, indices)),
                var.scatter_sub(tf.IndexedSlices(step, indices)),
            )

    return LazyAdam(learning_rate)
