"""Layers shared by the model zoo.

The key piece is :class:`SpatioTemporalConv`: every 3-D and (2+1)-D convolution in the zoo goes
through it. It always owns a Conv3D-shaped kernel ``(kt, kh, kw, c_in, c_out)`` and has two forms
that compute the same linear map with the same weights:

* ``form="5d"``: clips are ``(B, T, H, W, C)`` and the layer runs ``conv3d`` (training/reference).
* ``form="4d"``: clips are ``(B*T, H, W, C)`` (time folded into batch, ``T`` known statically) and
  the layer uses 4-D ops only, because the TFLite GPU delegate rejects CONV_3D and any tensor of
  rank 5, and XNNPACK runs neither (see GUIDE.md):

  - spatial kernels (``kt == 1``): one Conv2D on the folded tensor;
  - temporal kernels (``kh == kw == 1``): reshape to ``(B, T, H*W, C)`` and run a ``(kt, 1)`` Conv2D;
  - full kernels: stack the ``kt`` temporal neighbours of every output frame on the channel axis
    (strided 4-D slices of ``(B, T, H*W, C)``) and run one ``kh x kw`` Conv2D with the kernel
    reshaped to ``(kh, kw, kt*c_in, c_out)``: the same sum, reordered.

Padding is explicit and symmetric (PyTorch semantics), so both forms pad identically.
"""

from __future__ import annotations

from typing import Any

from edge_slr.models.registry import FORMS, KINETICS_MEAN, KINETICS_STD
from edge_slr.utils.tf_env import import_tf

tf, keras = import_tf()


def _triple(value: int | tuple[int, int, int]) -> tuple[int, int, int]:
    return (value, value, value) if isinstance(value, int) else tuple(value)  # type: ignore[return-value]


@keras.saving.register_keras_serializable(package="edge_slr")
class Normalize(keras.layers.Layer):
    """Map raw RGB frames in [0, 255] to ``(x / 255 - mean) / std``, so every caller feeds raw frames."""

    def __init__(self, mean: tuple[float, ...] = KINETICS_MEAN, std: tuple[float, ...] = KINETICS_STD, **kw: Any):
        super().__init__(**kw)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    #: Set by the exporter when the affine map has been folded into the first convolution
    #: (:mod:`edge_slr.export.fold`): the layer then only casts. Not part of the config: trained models never fold.
    folded = False

    def call(self, x):  # noqa: D102
        x = tf.cast(x, self.compute_dtype)
        if self.folded:
            return x
        scale, offset = (tf.constant(v, dtype=x.dtype) for v in self.affine())
        return x * scale + offset

    def affine(self) -> tuple[list[float], list[float]]:
        """Per-channel ``(scale, offset)`` of ``x * scale + offset``."""
        return ([1.0 / (255.0 * s) for s in self.std],
                [-m / s for m, s in zip(self.mean, self.std, strict=True)])

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std)}


def pad_time(x, left: int, right: int):
    """Zero-pad axis 1 (time) by ``left``/``right`` frames; a negative ``left`` drops leading frames instead."""
    if left < 0:
        x = x[:, -left:]
        left = 0
    if left or right:
        x = tf.pad(x, [[0, 0], [left, right]] + [[0, 0]] * (len(x.shape) - 2))
    return x


def temporal_taps(seq, frames: int, t_out: int, kt: int, st: int, pt: int) -> list:
    """Tap ``i`` of ``seq`` ``(B, T, H*W, C)`` holds padded frame ``i + st * t`` for every output frame ``t``.

    Slices keep stride 1 (XNNPACK runs STRIDED_SLICE only with unit strides). For temporal stride ``st`` the
    sequence is split once into its ``st`` residues (frames ``r, r + st, ...``: one reshape to ``(n, st)``
    groups and one slice each), and tap ``i`` is a unit-stride window of residue ``i % st``: each frame is
    copied once for the split instead of twice per tap (cnn3d's taps: 4.4 of 13.2 ms before).
    """
    hw, c = seq.shape[2], seq.shape[3]
    if st == 1:
        extra = max(0, (kt - 1) + t_out - (frames + 2 * pt))
        if pt or extra:
            seq = tf.pad(seq, [[0, 0], [pt, pt + extra], [0, 0], [0, 0]])
        return [seq[:, i:i + t_out] for i in range(kt)]
    n = (kt - 1) // st + t_out  # frames per residue that the taps reach
    have = frames + 2 * pt
    if pt or have < st * n:
        seq = tf.pad(seq, [[0, 0], [pt, pt + max(0, st * n - have)], [0, 0], [0, 0]])
    if have > st * n:
        seq = seq[:, :st * n]
    grouped = tf.reshape(seq, (-1, n, st, hw * c))
    residues = [tf.reshape(grouped[:, :, r:r + 1], (-1, n, hw, c)) for r in range(min(st, kt))]
    return [residues[i % st][:, i // st:i // st + t_out] for i in range(kt)]


@keras.saving.register_keras_serializable(package="edge_slr")
class SpatioTemporalConv(keras.layers.Layer):
    """A 3-D convolution with a Conv3D form and a 4-D-only form sharing one kernel (see module docstring).

    Args:
        filters: output channels.
        kernel_size: ``(kt, kh, kw)`` or an int.
        strides: ``(st, sh, sw)`` or an int.
        padding: ``(pt, ph, pw)`` symmetric zero padding, ``"same"`` (``k // 2``) or ``"valid"``.
        form: ``"5d"`` or ``"4d"``.
        frames: the input's number of frames; required by the 4-D form, which cannot see it in the shape.
        use_bias: add a bias (off when a BatchNorm follows).
        causal: pad time on the left only, by ``kt - st`` (a negative amount drops leading frames), so output
            ``t`` sees input frames up to ``st * t + st - 1`` and nothing later: the layer can stream (it fires
            on the last frame of every group of ``st``). The temporal part of ``padding`` is then ignored.
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding="same", form: str = "5d",
                 frames: int | None = None, use_bias: bool = False, causal: bool = False, **kw: Any):
        super().__init__(**kw)
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        if form == "4d" and not frames:
            raise ValueError("the 4d form needs the input's frame count")
        self.filters = int(filters)
        self.kernel_size = _triple(kernel_size)
        self.strides = _triple(strides)
        if padding == "same":
            padding = tuple(k // 2 for k in self.kernel_size)
        elif padding == "valid":
            padding = (0, 0, 0)
        self.padding = _triple(padding)
        self.form = form
        self.frames = frames
        self.use_bias = use_bias
        self.causal = bool(causal)

    def time_pads(self) -> tuple[int, int]:
        """(left, right) temporal padding; a negative left pad drops that many leading frames."""
        kt, st, pt = self.kernel_size[0], self.strides[0], self.padding[0]
        return (kt - st, 0) if self.causal else (pt, pt)

    def out_frames(self, frames: int | None) -> int | None:
        """Output frame count for ``frames`` input frames (None: unknown, 5d form only)."""
        if frames is None:
            return None
        kt, st = self.kernel_size[0], self.strides[0]
        left, right = self.time_pads()
        return (frames + left + right - kt) // st + 1

    def build(self, input_shape) -> None:  # noqa: D102
        c_in = int(input_shape[-1])
        self.kernel = self.add_weight(
            name="kernel", shape=(*self.kernel_size, c_in, self.filters),
            initializer=keras.initializers.HeNormal(), trainable=True)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros", trainable=True)
                     if self.use_bias else None)
        super().build(input_shape)

    def call(self, x):  # noqa: D102
        y = self._call_5d(x) if self.form == "5d" else self._call_4d(x)
        return y + tf.cast(self.bias, y.dtype) if self.bias is not None else y

    def _call_5d(self, x):
        _, ph, pw = self.padding
        left, right = self.time_pads()
        if left < 0:  # causal with stride > kernel: drop leading frames
            x, left = x[:, -left:], 0
        # One PAD for all axes: two PADs in a row before CONV_3D come out wrong in graph mode (Grappler's
        # pad folding kept only the second one: 15 instead of 16 frames out of a 3x1x1 conv).
        if left or right or ph or pw:
            x = tf.pad(x, [[0, 0], [left, right], [ph, ph], [pw, pw], [0, 0]])
        return tf.nn.conv3d(x, tf.cast(self.kernel, x.dtype), strides=(1, *self.strides, 1), padding="VALID")

    def _call_4d(self, x):
        kt, kh, kw = self.kernel_size
        st, sh, sw = self.strides
        _, ph, pw = self.padding
        left, right = self.time_pads()
        frames = int(self.frames)
        kernel = tf.cast(self.kernel, x.dtype)
        if kt == 1 and st == 1 and left == right == 0:  # spatial only: frames stay folded in the batch
            return self._conv2d(x, kernel[0], (sh, sw), (ph, pw))

        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        seq = tf.reshape(x, (-1, frames, h * w, c))  # (B, T, H*W, C)
        t_out = self.out_frames(frames)
        seq = pad_time(seq, left, right)
        padded = frames + left + right
        if kh == kw == 1 and sh == sw == 1 and ph == pw == 0:  # temporal only: a (kt, 1) Conv2D
            y = tf.nn.conv2d(seq, tf.reshape(kernel, (kt, 1, c, self.filters)), strides=(1, st, 1, 1),
                             padding="VALID")
            return tf.reshape(y, (-1, h, w, self.filters))

        # Full kernel: gather the kt neighbours of each output frame on the channel axis.
        taps = temporal_taps(seq, padded, t_out, kt, st, 0)  # kt tensors of (B, T_out, H*W, C)
        stacked = taps[0] if kt == 1 else tf.concat(taps, axis=-1)
        return self._taps_conv2d(tf.reshape(stacked, (-1, h, w, kt * c)), kernel)

    def _taps_conv2d(self, stacked, kernel):
        """The full kernel as one Conv2D over ``stacked``: the ``kt`` taps on the channel axis, tap-major."""
        kt, kh, kw = self.kernel_size
        kernel2d = tf.reshape(tf.transpose(kernel, (1, 2, 0, 3, 4)), (kh, kw, int(stacked.shape[-1]), self.filters))
        return self._conv2d(stacked, kernel2d, self.strides[1:], self.padding[1:])

    def stream_step(self, taps):
        """One output frame from the newest ``kt`` input frames ``taps``, oldest first, each ``(1, H, W, C)``.

        The streaming export calls this on the frames a causal layer keeps in its state plus the new one;
        it computes exactly one output position of :meth:`call` (same kernel, same channel order), 4-D ops only.
        """
        kt = self.kernel_size[0]
        if len(taps) != kt:
            raise ValueError(f"{self.name} needs {kt} frames, got {len(taps)}")
        # Taps on the channel axis, one Conv2D: for a temporal-only kernel a 1x1 conv, i.e. one GEMM,
        # which XNNPACK runs faster at batch 1 than a (kt, 1) conv over a (1, kt, H*W, C) layout.
        stacked = taps[0] if kt == 1 else tf.concat(taps, axis=-1)  # (1, H, W, kt*C), tap-major
        y = self._taps_conv2d(stacked, tf.cast(self.kernel, taps[0].dtype))
        return y + tf.cast(self.bias, y.dtype) if self.bias is not None else y

    def stream_sums(self, x, sums, scale=None, shift=None):
        """Streaming form for a temporal-only, temporal-stride-1 kernel that keeps pending output sums.

        ``sums[j-1]`` ``(1, H, W, filters)`` is what the past inputs contribute to the output ``j`` inputs from
        now. Returns this input's output frame and the new sums: ``y = W_last x + sums[0]`` and
        ``sums'[j-1] = W_{kt-1-j} x + sums[j]`` (the last one ``W_0 x``), one 1x1 conv per tap. ``scale`` and
        ``shift`` (per output channel) fold an affine map that follows, e.g. an inference BatchNormalization:
        the kernel is scaled (so the sums are kept in scaled units) and the shift becomes the output conv's bias,
        since the ADDs between the convs and that map would keep a converter from folding it.
        """
        kt = self.kernel_size[0]
        if len(sums) != kt - 1:
            raise ValueError(f"{self.name} needs {kt - 1} pending sums, got {len(sums)}")
        kernel = tf.cast(self.kernel, x.dtype)  # (kt, 1, 1, C, F)
        bias = tf.cast(self.bias, x.dtype) if self.bias is not None else None
        if scale is not None:
            kernel = kernel * tf.cast(scale, x.dtype)
            bias = bias * tf.cast(scale, x.dtype) if bias is not None else None
        if shift is not None:
            bias = tf.cast(shift, x.dtype) if bias is None else bias + tf.cast(shift, x.dtype)
        parts = [tf.nn.conv2d(x, kernel[i], strides=1, padding="VALID") for i in range(kt)]  # tap i, oldest first
        newest = parts[kt - 1] if bias is None else tf.nn.bias_add(parts[kt - 1], bias)
        pending = [parts[kt - 1 - j] + sums[j] for j in range(1, kt - 1)] + [parts[0]]
        return newest + sums[0], pending

    @staticmethod
    def _conv2d(x, kernel, strides, padding):
        ph, pw = padding
        if ph or pw:
            x = tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]])
        return tf.nn.conv2d(x, kernel, strides=(1, *strides, 1), padding="VALID")

    def compute_output_shape(self, input_shape):  # noqa: D102
        input_shape = tf.TensorShape(input_shape)
        _, kh, kw = self.kernel_size
        _, sh, sw = self.strides
        _, ph, pw = self.padding
        if self.form == "5d":
            _, t, h, w, _ = input_shape.as_list()
            t = None if t is None else self.out_frames(t)
        else:
            _, h, w, _ = input_shape.as_list()
        h = (h + 2 * ph - kh) // sh + 1
        w = (w + 2 * pw - kw) // sw + 1
        if self.form == "5d":
            return tf.TensorShape((input_shape[0], t, h, w, self.filters))
        return tf.TensorShape((None, h, w, self.filters))

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": list(self.padding), "form": self.form,
                "frames": self.frames, "use_bias": self.use_bias, "causal": self.causal}


@keras.saving.register_keras_serializable(package="edge_slr")
class StemConv2D(keras.layers.Conv2D):
    """A Conv2D that an int8 export may run as SPACE_TO_DEPTH(2) plus a stride-1 conv: same weights, same sums.

    For a stride-2 unpadded stem over 3 channels, XNNPACK's int8 convolution spends its time on indirection:
    49 taps of 3 bytes per output pixel. Regrouped (the 7x7 kernel zero-padded to 8x8, 16 taps of 12 bytes),
    it ran 2.1x faster in int8 here, interleaved. In fp32 the 1.31x extra MACs cost more than that saves: 1.3x
    slower. So the edge form uses this layer for such stems, and the exporter switches it on for full-integer
    formats only (:func:`edge_slr.export.fold.prefer_integer_kernels`).
    """

    #: Set by the exporter; not part of the config (a trained model never depends on it).
    space_to_depth = False

    def convolution_op(self, inputs, kernel):  # noqa: D102
        h, w = inputs.shape[1], inputs.shape[2]
        usable = (tuple(self.strides) == (2, 2) and self.padding == "valid" and tuple(self.dilation_rate) == (1, 1)
                  and self.groups == 1 and h is not None and w is not None and h % 2 == 0 and w % 2 == 0)
        if not self.space_to_depth or not usable:
            return super().convolution_op(inputs, kernel)
        kh, kw, c_in, c_out = kernel.shape
        kernel = tf.pad(kernel, [[0, kh % 2], [0, kw % 2], [0, 0], [0, 0]])  # even taps; the extra ones are 0
        kh, kw = kh + kh % 2, kw + kw % 2
        # space_to_depth puts input pixel (2a+dy, 2b+dx, c) at (a, b, (dy*2 + dx)*c_in + c): group the kernel alike.
        kernel = tf.reshape(kernel, (kh // 2, 2, kw // 2, 2, c_in, c_out))
        kernel = tf.reshape(tf.transpose(kernel, (0, 2, 1, 3, 4, 5)), (kh // 2, kw // 2, 4 * c_in, c_out))
        return tf.nn.conv2d(tf.nn.space_to_depth(inputs, 2), kernel, strides=1, padding="VALID")


@keras.saving.register_keras_serializable(package="edge_slr")
class FoldFrames(keras.layers.Layer):
    """``(B, T, H, W, C) -> (B*T, H, W, C)``: the 5d form's entry into a per-frame 2-D encoder."""

    def call(self, x):  # noqa: D102
        return tf.reshape(x, (-1, *x.shape[2:]))


@keras.saving.register_keras_serializable(package="edge_slr")
class UnfoldFrames(keras.layers.Layer):
    """``(B*T, F) -> (B, T, F)``: per-frame features back into sequences."""

    def __init__(self, frames: int, **kw: Any):
        super().__init__(**kw)
        self.frames = int(frames)

    def call(self, x):  # noqa: D102
        return tf.reshape(x, (-1, self.frames, x.shape[-1]))

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {**super().get_config(), "frames": self.frames}
