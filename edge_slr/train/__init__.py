"""Training and evaluation: ``edge-slr train`` writes a run folder, ``edge-slr evaluate`` scores a model.

Modules: :mod:`~edge_slr.train.config` (the one dataclass of a run), :mod:`~edge_slr.train.run_folder`
(the files of a run folder, read by the exporter and the evaluator), :mod:`~edge_slr.train.schedule`
(warm-up + cosine learning rate), :mod:`~edge_slr.train.strategy` (tf.distribute choice),
:mod:`~edge_slr.train.callbacks` (per-epoch outputs), :mod:`~edge_slr.train.trainer` (the fit loop) and
:mod:`~edge_slr.train.evaluate` (accuracy reports for ``.keras`` and ``.tflite`` models).
Only ``trainer``, ``schedule``, ``strategy``, ``callbacks`` and the Keras predictor import TensorFlow.
"""
