"""Data: reading sign videos, preparing TFRecord shards, and the tf.data input pipeline."""
