"""The clip record format of prepared shards: one ``tf.train.Example`` per clip, encoded and parsed here only.

Each record keeps more frames than a model needs (``stored_frames``, JPEG per frame) so training
can sample different frames every epoch; the pipeline decodes only the frames it samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge_slr.utils.tf_env import import_tf

tf, _ = import_tf()


@dataclass(frozen=True)
class ClipRecord:
    """The contents of one record."""

    jpegs: tuple[bytes, ...]  # one JPEG per stored frame, RGB, size x size
    frame_index: tuple[int, ...]  # source frame index of each stored frame
    label: int  # index into dataset.json "classes"
    label_name: str
    signer: str  # "" when unknown
    source: str  # path of the source clip, relative to the source dataset
    source_frames: int  # decodable frames in the source clip
    fps: float  # 0.0 when unknown


FEATURES = {
    "frames": tf.io.VarLenFeature(tf.string),
    "frame_index": tf.io.VarLenFeature(tf.int64),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "label_name": tf.io.FixedLenFeature([], tf.string),
    "signer": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "source": tf.io.FixedLenFeature([], tf.string),
    "source_frames": tf.io.FixedLenFeature([], tf.int64),
    "fps": tf.io.FixedLenFeature([], tf.float32),
}


def _bytes(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values: Sequence[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def encode_clip(record: ClipRecord) -> bytes:
    """Serialize a :class:`ClipRecord` to ``tf.train.Example`` bytes."""
    feature = {
        "frames": _bytes(record.jpegs),
        "frame_index": _ints(record.frame_index),
        "label": _ints([record.label]),
        "label_name": _bytes([record.label_name.encode("utf-8")]),
        "signer": _bytes([record.signer.encode("utf-8")]),
        "source": _bytes([record.source.encode("utf-8")]),
        "source_frames": _ints([record.source_frames]),
        "fps": tf.train.Feature(float_list=tf.train.FloatList(value=[float(record.fps)])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def decode_clip(serialized: bytes) -> ClipRecord:
    """Eager inverse of :func:`encode_clip`, for inspection and tests (the pipeline uses parse_clip)."""
    f = tf.train.Example.FromString(serialized).features.feature
    return ClipRecord(
        jpegs=tuple(f["frames"].bytes_list.value),
        frame_index=tuple(f["frame_index"].int64_list.value),
        label=int(f["label"].int64_list.value[0]),
        label_name=f["label_name"].bytes_list.value[0].decode("utf-8"),
        signer=f["signer"].bytes_list.value[0].decode("utf-8"),
        source=f["source"].bytes_list.value[0].decode("utf-8"),
        source_frames=int(f["source_frames"].int64_list.value[0]),
        fps=float(f["fps"].float_list.value[0]),
    )


def parse_clip(serialized: tf.Tensor, keys: Sequence[str] = ("frames", "label")) -> dict[str, tf.Tensor]:
    """Graph-mode parse of one record; ``frames`` and ``frame_index`` come back as dense 1-D tensors.

    Only ``keys`` are parsed: the pipeline needs just the JPEG list and the label.
    """
    parsed = tf.io.parse_single_example(serialized, {k: FEATURES[k] for k in keys})
    return {k: tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v for k, v in parsed.items()}


def read_records(path: str) -> list[ClipRecord]:
    """All records of one shard file, decoded eagerly (inspection and tests)."""
    return [decode_clip(bytes(r.numpy())) for r in tf.data.TFRecordDataset(path)]


def encode_jpegs(frames: np.ndarray, quality: int) -> tuple[bytes, ...]:
    """JPEG-encode RGB uint8 frames (N, H, W, 3) with OpenCV (prepare runs it in worker threads)."""
    out = []
    for rgb in frames:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("OpenCV could not JPEG-encode a frame")
        out.append(buf.tobytes())
    return tuple(out)
