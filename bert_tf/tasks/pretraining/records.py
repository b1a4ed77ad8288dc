"""The pretraining TFRecord format of google-research/bert `create_pretraining_data.py`.

Every record is a serialised `tf.train.Example` with these features (`S` = `max_seq_length`,
`P` = `max_predictions_per_seq`):

| feature | kind | length | content |
|---|---|---|---|
| `input_ids` | int64 | S | `[CLS] A [SEP] B [SEP]` after masking, zero padded |
| `input_mask` | int64 | S | 1 on real tokens, 0 on padding |
| `segment_ids` | int64 | S | 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`, 0 on padding |
| `masked_lm_positions` | int64 | P | masked positions, ascending, zero padded |
| `masked_lm_ids` | int64 | P | original ids at those positions, zero padded |
| `masked_lm_weights` | float | P | 1.0 per real prediction, 0.0 padding |
| `next_sentence_labels` | int64 | 1 | 1 when B is a random segment, 0 when B follows A |

`ExampleEncoder` writes the protobuf wire format by hand (packed varints computed with numpy for a
whole `InstanceBatch`, little-endian floats, map entries in sorted key order); the bytes equal
`tf.train.Example.SerializeToString(deterministic=True)` of the same features.
`write_tfrecord_files` frames the records with `tf.io.TFRecordWriter` under temporary names, then
renames them. `check_pretraining_tfrecord` tells a user which flag does not match a file before
training starts.
"""
import array
import dataclasses
import os
import struct
from typing import Dict, List, Sequence, Tuple

import numpy as np

from bert_tf.errors import InputError
from bert_tf.files import check_output_folders, is_remote

__all__ = [
    "PRETRAINING_FEATURE_NAMES",
    "PretrainingRecordError",
    "pretraining_feature_spec",
    "encode_varint",
    "ID_TYPECODE",
    "InstanceBatch",
    "ExampleEncoder",
    "write_tfrecord_files",
    "check_pretraining_tfrecord",
]

# (name, kind, which length): the original writer's features.
_FEATURE_LAYOUT = (
    ("input_ids", "int64", "max_seq_length"),
    ("input_mask", "int64", "max_seq_length"),
    ("segment_ids", "int64", "max_seq_length"),
    ("masked_lm_positions", "int64", "max_predictions_per_seq"),
    ("masked_lm_ids", "int64", "max_predictions_per_seq"),
    ("masked_lm_weights", "float", "max_predictions_per_seq"),
    ("next_sentence_labels", "int64", "one"),
)
PRETRAINING_FEATURE_NAMES = tuple(name for name, _, _ in _FEATURE_LAYOUT)

# Wire-format tags (field number << 3 | wire type 2 = length-delimited).
_TAG_FIELD_1 = b"\x0a"  # Example.features, Features.feature (map entry), MapEntry.key, *List.value
_TAG_MAP_VALUE = b"\x12"  # MapEntry.value (field 2)
_TAG_FLOAT_LIST = b"\x12"  # Feature.float_list (field 2)
_TAG_INT64_LIST = b"\x1a"  # Feature.int64_list (field 3)
# Token ids, positions and counts are stored in C int arrays (4 bytes on every supported platform).
ID_TYPECODE = "i"
_ID_DTYPE = np.dtype(f"=i{array.array(ID_TYPECODE).itemsize}")
_FLOAT_ONE = struct.pack("<f", 1.0)
_FLOAT_ZERO = struct.pack("<f", 0.0)


class PretrainingRecordError(InputError):
    """A pretraining TFRecord file does not match the requested shapes (or is unreadable)."""


def pretraining_feature_spec(max_seq_length: int, max_predictions_per_seq: int) -> Dict[str, object]:
    """Feature spec for `tf.io.parse_single_example` / `parse_example` of pretraining records.

    Returns `{name: tf.io.FixedLenFeature([length], dtype)}`: int64 `input_ids`, `input_mask`,
    `segment_ids` of length `max_seq_length`; int64 `masked_lm_positions`, `masked_lm_ids` and
    float32 `masked_lm_weights` of length `max_predictions_per_seq`; int64 `next_sentence_labels`
    of length 1 (the original `run_pretraining.py` spec).
    """
    import tensorflow as tf

    lengths = {"max_seq_length": int(max_seq_length),
               "max_predictions_per_seq": int(max_predictions_per_seq), "one": 1}
    dtypes = {"int64": tf.int64, "float": tf.float32}
    return {name: tf.io.FixedLenFeature([lengths[which]], dtypes[kind])
            for name, kind, which in _FEATURE_LAYOUT}


def encode_varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int (7 bits a byte, least significant first)."""
    if value < 0:
        raise ValueError(f"encode_varint: negative value {value} (ids and lengths are non-negative)")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class _FieldPrefixes(dict):
    """payload length -> the bytes that precede a packed payload of that length in `Features`.

    For a feature `name` the map entry is
    `0a len(entry) 0a len(name) name 12 len(Feature) <kind tag> len(List) 0a len(payload) payload`;
    every length follows from the payload length, so the prefix is computed once per length.
    """

    def __init__(self, name: str, kind_tag: bytes):
        super().__init__()
        self._key_field = _TAG_FIELD_1 + encode_varint(len(name.encode())) + name.encode()
        self._kind_tag = kind_tag

    def __missing__(self, payload_length: int) -> bytes:
        value_list = _TAG_FIELD_1 + encode_varint(payload_length)
        value_list_length = len(value_list) + payload_length
        feature_head = self._kind_tag + encode_varint(value_list_length)
        feature_length = len(feature_head) + value_list_length
        entry_head = self._key_field + _TAG_MAP_VALUE + encode_varint(feature_length)
        entry_length = len(entry_head) + feature_length
        prefix = _TAG_FIELD_1 + encode_varint(entry_length) + entry_head + feature_head + value_list
        self[payload_length] = prefix
        return prefix


@dataclasses.dataclass
class InstanceBatch:
    """Unpadded instances in flat int32 arrays (`array(ID_TYPECODE)`), the input of `ExampleEncoder`.

    Attributes (N instances):
      token_ids: the `[CLS] A [SEP] B [SEP]` ids after masking of every instance, concatenated.
      num_tokens: [N] tokens per instance (<= S).
      num_segment_a_tokens: [N] len(A); segment 0 covers the first `len(A) + 2` tokens.
      masked_lm_positions: ascending masked positions of every instance, concatenated.
      masked_lm_ids: the original ids at those positions, concatenated.
      num_predictions: [N] masked positions per instance (<= P).
      next_sentence_labels: [N] 1 when B is random, else 0.
    """

    token_ids: array.array = dataclasses.field(default_factory=lambda: array.array(ID_TYPECODE))
    num_tokens: array.array = dataclasses.field(default_factory=lambda: array.array(ID_TYPECODE))
    num_segment_a_tokens: array.array = dataclasses.field(default_factory=lambda: array.array(ID_TYPECODE))
    masked_lm_positions: array.array = dataclasses.field(default_factory=lambda: array.array(ID_TYPECODE))
    masked_lm_ids: array.array = dataclasses.field(default_factory=lambda: array.array(ID_TYPECODE))
    num_predictions: array.array = dataclasses.field(default_factory=lambda: array.array(ID_TYPECODE))
    next_sentence_labels: array.array = dataclasses.field(default_factory=lambda: array.array(ID_TYPECODE))

    def __len__(self) -> int:
        return len(self.num_tokens)

    def append(self, input_ids: Sequence[int], num_segment_a_tokens: int,
               masked_lm_positions: Sequence[int], masked_lm_ids: Sequence[int],
               is_random_next: bool) -> None:
        """Adds one instance (unpadded lists)."""
        if len(masked_lm_positions) != len(masked_lm_ids):
            raise ValueError(f"{len(masked_lm_positions)} masked_lm_positions but "
                             f"{len(masked_lm_ids)} masked_lm_ids")
        self.token_ids.extend(input_ids)
        self.num_tokens.append(len(input_ids))
        self.num_segment_a_tokens.append(num_segment_a_tokens)
        self.masked_lm_positions.extend(masked_lm_positions)
        self.masked_lm_ids.extend(masked_lm_ids)
        self.num_predictions.append(len(masked_lm_positions))
        self.next_sentence_labels.append(1 if is_random_next else 0)


def _encode_varints(values: np.ndarray, name: str) -> Tuple[bytes, np.ndarray]:
    """Varints of all `values` (integers >= 0), concatenated, and the byte offset where each value's
    varint starts followed by the total length (`len(values) + 1` offsets, int64)."""
    values = np.asarray(values)
    if values.size and int(values.min()) < 0:
        raise ValueError(f"{name}: negative value {int(values.min())}")
    largest = int(values.max()) if values.size else 0
    max_bytes = max(1, (largest.bit_length() + 6) // 7)
    unsigned = values.astype(np.uint32 if largest < (1 << 32) else np.uint64)
    seven_bits = unsigned.dtype.type(0x7F)
    # has_byte[:, j]: the value needs a j-th varint byte; byte_matrix[:, j]: that byte, with the
    # continuation bit set when a (j+1)-th byte follows.
    has_byte = np.empty((values.size, max_bytes), dtype=bool)
    has_byte[:, 0] = True
    num_bytes = np.ones(values.size, dtype=np.uint8)
    for byte_index in range(1, max_bytes):
        needed = unsigned >= unsigned.dtype.type(1 << (7 * byte_index))
        has_byte[:, byte_index] = needed
        num_bytes += needed
    byte_matrix = np.empty((values.size, max_bytes), dtype=np.uint8)
    for byte_index in range(max_bytes):
        low_bits = (unsigned >> unsigned.dtype.type(7 * byte_index)) & seven_bits
        if byte_index + 1 < max_bytes:
            low_bits |= has_byte[:, byte_index + 1].astype(unsigned.dtype) << unsigned.dtype.type(7)
        byte_matrix[:, byte_index] = low_bits
    offsets = np.zeros(values.size + 1, dtype=np.int64)
    np.cumsum(num_bytes, dtype=np.int64, out=offsets[1:])
    return byte_matrix[has_byte].tobytes(), offsets


class ExampleEncoder:
    """Serialises pretraining instances to `tf.train.Example` bytes without protobuf objects.

    Varints are computed with numpy for a whole `InstanceBatch`; each record is then one
    `bytes.join` of precomputed prefixes and slices.

    Args:
      max_seq_length: S, the padded length of `input_ids` / `input_mask` / `segment_ids`.
      max_predictions_per_seq: P, the padded length of the `masked_lm_*` features.
    """

    def __init__(self, max_seq_length: int, max_predictions_per_seq: int):
        self.max_seq_length = sequence_length = int(max_seq_length)
        self.max_predictions_per_seq = predictions = int(max_predictions_per_seq)
        kind_tags = {"int64": _TAG_INT64_LIST, "float": _TAG_FLOAT_LIST}
        self._prefixes = {name: _FieldPrefixes(name, kind_tags[kind]) for name, kind, _ in _FEATURE_LAYOUT}
        self._zeros = b"\x00" * max(sequence_length, predictions)
        self._ones = b"\x01" * sequence_length
        # Map entries in sorted key order (deterministic protobuf serialisation): input_ids, input_mask,
        # masked_lm_ids, masked_lm_positions, masked_lm_weights, next_sentence_labels, segment_ids.
        # What follows the input_ids varints, per number of tokens n: id padding + input_mask entry.
        self._after_ids = [
            self._zeros[:sequence_length - n]
            + self._entry("input_mask", b"\x01" * n + b"\x00" * (sequence_length - n))
            for n in range(sequence_length + 1)]
        # What follows the masked_lm_positions varints, per 2 * num_predictions + label: position padding,
        # masked_lm_weights and next_sentence_labels entries, and the segment_ids entry's prefix.
        segment_prefix = self._prefixes["segment_ids"][sequence_length]
        self._after_positions = [
            self._zeros[:predictions - k]
            + self._entry("masked_lm_weights", _FLOAT_ONE * k + _FLOAT_ZERO * (predictions - k))
            + self._entry("next_sentence_labels", bytes([label])) + segment_prefix
            for k in range(predictions + 1) for label in (0, 1)]

    def _entry(self, name: str, payload: bytes) -> bytes:
        return self._prefixes[name][len(payload)] + payload

    def encode(self, input_ids: Sequence[int], num_segment_a_tokens: int,
               masked_lm_positions: Sequence[int], masked_lm_ids: Sequence[int],
               is_random_next: bool) -> bytes:
        """Serialises one instance (see `InstanceBatch.append` for the arguments)."""
        batch = InstanceBatch()
        batch.append(input_ids, num_segment_a_tokens, masked_lm_positions, masked_lm_ids, is_random_next)
        return self.encode_batch(batch)[0]

    def encode_batch(self, batch: InstanceBatch) -> List[bytes]:
        """Serialises every instance of `batch`; returns one `bytes` per instance, in order.

        Raises `ValueError` for an instance longer than S tokens or with more than P predictions.
        """
        sequence_length, predictions = self.max_seq_length, self.max_predictions_per_seq
        num_tokens = np.frombuffer(batch.num_tokens, dtype=_ID_DTYPE)
        num_predictions = np.frombuffer(batch.num_predictions, dtype=_ID_DTYPE)
        num_segment_a = np.frombuffer(batch.num_segment_a_tokens, dtype=_ID_DTYPE)
        if num_tokens.size and int(num_tokens.max()) > sequence_length:
            raise ValueError(f"an instance has {int(num_tokens.max())} tokens, more than "
                             f"max_seq_length={sequence_length}")
        if num_predictions.size and int(num_predictions.max()) > predictions:
            raise ValueError(f"an instance has {int(num_predictions.max())} masked positions, more "
                             f"than max_predictions_per_seq={predictions}")
        if num_tokens.size and (int((num_tokens - num_segment_a).min()) < 3 or int(num_segment_a.min()) < 0):
            raise ValueError("num_segment_a_tokens must leave room for [CLS], [SEP] and B [SEP]")
        id_bytes, id_offsets = _encode_varints(np.frombuffer(batch.token_ids, _ID_DTYPE), "input_ids")
        label_bytes, label_offsets = _encode_varints(
            np.frombuffer(batch.masked_lm_ids, _ID_DTYPE), "masked_lm_ids")
        position_bytes, position_offsets = _encode_varints(
            np.frombuffer(batch.masked_lm_positions, _ID_DTYPE), "masked_lm_positions")
        token_starts = np.zeros(len(batch) + 1, dtype=np.int64)
        np.cumsum(num_tokens, out=token_starts[1:])
        prediction_starts = np.zeros(len(batch) + 1, dtype=np.int64)
        np.cumsum(num_predictions, out=prediction_starts[1:])
        # Byte offsets of each instance's varints (N + 1 each).
        id_offsets = id_offsets[token_starts].tolist()
        label_offsets = label_offsets[prediction_starts].tolist()
        position_offsets = position_offsets[prediction_starts].tolist()

        id_prefixes = self._prefixes["input_ids"]
        label_prefixes = self._prefixes["masked_lm_ids"]
        position_prefixes = self._prefixes["masked_lm_positions"]
        after_ids, after_positions = self._after_ids, self._after_positions
        zeros, ones = self._zeros, self._ones
        heads = _ExampleHeads()
        records = []
        for index, (count, count_a, count_predicted, label) in enumerate(zip(
                batch.num_tokens, batch.num_segment_a_tokens, batch.num_predictions,
                batch.next_sentence_labels)):
            id_start, id_end = id_offsets[index], id_offsets[index + 1]
            label_start, label_end = label_offsets[index], label_offsets[index + 1]
            position_start, position_end = position_offsets[index], position_offsets[index + 1]
            padding = sequence_length - count
            prediction_padding = predictions - count_predicted
            segment_0 = count_a + 2
            body = b"".join((
                id_prefixes[id_end - id_start + padding], id_bytes[id_start:id_end], after_ids[count],
                label_prefixes[label_end - label_start + prediction_padding],
                label_bytes[label_start:label_end], zeros[:prediction_padding],
                position_prefixes[position_end - position_start + prediction_padding],
                position_bytes[position_start:position_end], after_positions[2 * count_predicted + label],
                zeros[:segment_0], ones[:count - segment_0], zeros[:padding],
            ))
            records.append(heads[len(body)] + body)
        return records


class _ExampleHeads(dict):
    """Body length -> `Example.features` tag and length varint."""

    def __missing__(self, length: int) -> bytes:
        head = _TAG_FIELD_1 + encode_varint(length)
        self[length] = head
        return head


def write_tfrecord_files(records: Sequence[bytes], output_files: Sequence[str]) -> List[int]:
    """Writes `records` round-robin to `output_files` (record i -> file i % len(output_files)).

    Each file is written under `<name>.tmp-<pid>` and renamed when complete, so a crash never leaves
    a truncated file under the final name. Returns the number of records per file.
    Raises `PretrainingRecordError` naming a file whose folder does not exist.
    """
    import tensorflow as tf

    if not output_files:
        raise PretrainingRecordError("no output file given")
    check_output_folders(output_files, "output file", PretrainingRecordError)
    temp_paths = [f"{path}.tmp-{os.getpid()}" for path in output_files]
    counts = [0] * len(output_files)
    writers = []
    try:
        for temp_path in temp_paths:
            writers.append(tf.io.TFRecordWriter(temp_path))
        num_files = len(writers)
        for file_index, writer in enumerate(writers):
            write = writer.write
            for record in records[file_index::num_files]:
                write(record)
            counts[file_index] = len(range(file_index, len(records), num_files))
        for writer in writers:
            writer.close()
        for temp_path, path in zip(temp_paths, output_files):
            if is_remote(path):
                tf.io.gfile.rename(temp_path, path, overwrite=True)
            else:
                os.replace(temp_path, path)
    except BaseException:
        for writer in writers:
            writer.close()
        for temp_path in temp_paths:
            try:
                if is_remote(temp_path):
                    tf.io.gfile.remove(temp_path)
                elif os.path.exists(temp_path):
                    os.remove(temp_path)
            except Exception:  # best-effort clean-up; the original error matters
                pass
        raise
    return counts


def _read_examples(path: str, num_records: int) -> list:
    import tensorflow as tf

    examples = []
    dataset = tf.data.TFRecordDataset([path]).take(num_records)
    try:
        for index, serialized in enumerate(dataset):
            try:
                examples.append(tf.train.Example.FromString(serialized.numpy()))
            except Exception as error:  # protobuf DecodeError
                raise PretrainingRecordError(
                    f"{path}: record {index} is not a tf.train.Example ({error})") from None
    except tf.errors.OpError as error:
        raise PretrainingRecordError(
            f"{path}: cannot be read as a TFRecord file ({error.message.splitlines()[0]})") from None
    return examples


def check_pretraining_tfrecord(path: str, max_seq_length: int, max_predictions_per_seq: int,
                               num_records: int = 1) -> None:
    """Checks the first `num_records` records of `path` against the expected shapes.

    Every feature of the original format must be present with the right kind (int64 / float) and length
    (`max_seq_length` for `input_ids`, `input_mask`, `segment_ids`; `max_predictions_per_seq`
    for the `masked_lm_*` features; 1 for `next_sentence_labels`).

    Raises:
      PretrainingRecordError: naming the file, the record, the feature, the lengths found and the flag
        to change (e.g. the file was written with `--max_seq_length=512`); also for a missing, empty,
        or unreadable file.
    """
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise PretrainingRecordError(f"pretraining data file {path} does not exist")
    examples = _read_examples(path, num_records)
    if not examples:
        raise PretrainingRecordError(f"{path}: contains no records")
    expected = {"max_seq_length": int(max_seq_length),
                "max_predictions_per_seq": int(max_predictions_per_seq), "one": 1}
    for record_index, example in enumerate(examples):
        features = example.features.feature
        for name, kind, which in _FEATURE_LAYOUT:
            if name not in features:
                raise PretrainingRecordError(
                    f"{path}: record {record_index} has no feature '{name}' (found: "
                    f"{', '.join(sorted(features)) or 'none'}); not a create_pretraining_data.py file")
            feature = features[name]
            found_kind = feature.WhichOneof("kind")
            wanted_kind = "int64_list" if kind == "int64" else "float_list"
            if found_kind != wanted_kind:
                raise PretrainingRecordError(
                    f"{path}: record {record_index}, feature '{name}' is a {found_kind}, expected a "
                    f"{wanted_kind}")
            length = len(getattr(feature, wanted_kind).value)
            if length != expected[which]:
                if which == "one":
                    raise PretrainingRecordError(
                        f"{path}: record {record_index}, feature '{name}' has {length} values, expected 1")
                raise PretrainingRecordError(
                    f"{path}: record {record_index}, feature '{name}' has {length} values but "
                    f"{which}={expected[which]}; the file was written with --{which}={length}: pass "
                    f"--{which}={length} or regenerate the data with create_pretraining_data.py "
                    f"--{which}={expected[which]}")
