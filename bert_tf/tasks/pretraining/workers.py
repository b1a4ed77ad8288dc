"""Instance creation in worker processes.

Holds `WorkerPool` (processes shared by tokenization and instance creation), the split of the
(pass, document) items into shards of about equal token count and their seeds, the packing of documents
for the workers, the per-shard build (`_build_shard`) and the progress line on stderr.
"""
from __future__ import annotations

import array
import multiprocessing
import random
import sys
import time
from typing import TYPE_CHECKING, Dict, List, Sequence, Tuple

from bert_tf.tasks.pretraining.corpus import Document, WordIdCache
from bert_tf.tasks.pretraining.instances import BuildCounts, InstanceBuilder, VocabularyIds
from bert_tf.tasks.pretraining.records import ID_TYPECODE

if TYPE_CHECKING:
    from bert_tf.tasks.pretraining.create import PretrainingDataConfig

__all__ = ["WorkerPool"]

# Distinct words per tokenization task, at least: smaller tasks cost more in transfers than they save.
_MIN_WORDS_PER_TOKENIZE_TASK = 1000


def _plan_shards(documents: Sequence[Document], dupe_factor: int, num_shards: int) -> List[List[int]]:
    """Splits the items (pass-major list of document indices) into `num_shards` contiguous runs of
    about equal token count. Depends only on the documents and `num_shards`."""
    sizes = [sum(len(sentence) for sentence in document) for document in documents]
    items = [document_index for _ in range(dupe_factor) for document_index in range(len(documents))]
    total = sum(sizes) * dupe_factor
    shards: List[List[int]] = [[] for _ in range(num_shards)]
    done = 0
    for document_index in items:
        # The shard whose share of the total contains the middle of this item.
        shard = min(num_shards - 1, int((done + sizes[document_index] / 2) * num_shards / total))
        shards[shard].append(document_index)
        done += sizes[document_index]
    return shards


def _shard_seed(random_seed: int, shard: int, num_shards: int) -> str:
    return f"{random_seed}:{shard}/{num_shards}"


# Per-process state of a worker, set by _init_worker.
_WORKER_STATE: dict = {}


def _exit_with_parent() -> None:
    """Linux: the kernel sends this worker SIGTERM when the parent dies, even by SIGKILL (no orphans)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _init_worker(state: dict) -> None:
    _exit_with_parent()
    _WORKER_STATE.clear()
    _WORKER_STATE.update(state)


class WorkerPool:
    """Processes shared by tokenization and instance creation (started once: ~40 ms a pool).

    With the `fork` start method the workers inherit `tokenizer` and tokenize words too; otherwise
    (`spawn`) only instance creation runs in them. Use as a context manager.

    Args:
      num_workers: processes (>= 2).
      tokenizer: the `FullTokenizer` used for reading, or None.
    """

    def __init__(self, num_workers: int, tokenizer=None):
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.num_workers = int(num_workers)
        self.has_tokenizer = tokenizer is not None and context.get_start_method() == "fork"
        # Progress of instance creation: [documents done, instances] per shard (written by workers).
        self.progress_counters = context.RawArray("q", 2 * self.num_workers)
        state = {"progress": self.progress_counters}
        if self.has_tokenizer:
            state["tokenizer"] = tokenizer
        self._pool = context.Pool(self.num_workers, initializer=_init_worker, initargs=(state,))

    def map(self, function, items):
        return self._pool.map(function, items, chunksize=1)

    def starmap_async(self, function, items):
        return self._pool.starmap_async(function, items, chunksize=1)

    def tokenize_words(self, lines_per_file: List[List[str]]) -> Dict[str, bytes]:
        """word -> ids bytes for every distinct word, tokenized in the pool's processes (needs
        `has_tokenizer`)."""
        distinct_words = set()
        for lines in lines_per_file:
            for line in lines:
                distinct_words.update(line.split(" "))
        words = list(distinct_words)
        num_chunks = min(4 * self.num_workers, max(1, len(words) // _MIN_WORDS_PER_TOKENIZE_TASK))
        chunks = [words[start::num_chunks] for start in range(num_chunks)]
        word_ids: Dict[str, bytes] = {}
        for chunk, ids in zip(chunks, self.map(_tokenize_words, chunks)):
            word_ids.update(zip(chunk, ids))
        return word_ids

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _pack_documents(documents: Sequence[Document]) -> Tuple[array.array, array.array, array.array]:
    """Documents -> (all ids, sentence lengths, sentences per document): three flat arrays that
    pickle as plain bytes."""
    all_ids = array.array(ID_TYPECODE)
    sentence_lengths = array.array(ID_TYPECODE)
    document_sizes = array.array(ID_TYPECODE, [len(document) for document in documents])
    for document in documents:
        for sentence in document:
            all_ids += sentence
        sentence_lengths.extend([len(sentence) for sentence in document])
    return all_ids, sentence_lengths, document_sizes


def _unpack_documents(packed) -> List[Document]:
    all_ids, sentence_lengths, document_sizes = packed
    documents: List[Document] = []
    position = sentence_index = 0
    for size in document_sizes:
        document = []
        for length in sentence_lengths[sentence_index:sentence_index + size]:
            document.append(all_ids[position:position + length])
            position += length
        sentence_index += size
        documents.append(document)
    return documents


def _build_shard(shard: int, num_shards: int, document_indices: List[int], packed_documents,
                 vocabulary: VocabularyIds, config: PretrainingDataConfig):
    """Worker: builds and serialises the instances of one shard with its own generator."""
    documents = _unpack_documents(packed_documents)
    rng = random.Random(_shard_seed(config.random_seed, shard, num_shards))
    builder = InstanceBuilder(documents, vocabulary, config, rng, original_draws=False)
    progress = _WORKER_STATE["progress"]
    for done, document_index in enumerate(document_indices, 1):
        builder.build_document(document_index)
        progress[2 * shard] = done
        progress[2 * shard + 1] = len(builder)
    return builder.encode(), builder.counts()


def _tokenize_words(words: List[str]) -> List[bytes]:
    """Worker: ids bytes of every word, with the tokenizer inherited from the parent."""
    word_ids = WordIdCache(_WORKER_STATE["tokenizer"])
    return [word_ids[word] for word in words]


class ProgressLine:
    """A one-line progress display on stderr, redrawn at most every `interval` seconds."""

    def __init__(self, total_documents: int, enabled: bool = True, interval: float = 0.5,
                 stream=None):
        self.total_documents = total_documents
        self.enabled = enabled
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self._start = time.monotonic()
        self._last = -1e9
        self._last_state = None
        self._shown = False

    def update(self, documents_done: int, instances: int, force: bool = False) -> None:
        if not self.enabled or (documents_done, instances) == self._last_state:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self._last_state = (documents_done, instances)
        elapsed = max(now - self._start, 1e-9)
        percent = 100.0 * documents_done / max(1, self.total_documents)
        line = (f"creating instances: documents {documents_done}/{self.total_documents} "
                f"({percent:5.1f}%) | instances {instances} | {instances / elapsed:,.0f}/s")
        terminal = getattr(self.stream, "isatty", lambda: False)()
        self.stream.write(("\r" + line) if terminal else (line + "\n"))
        self.stream.flush()
        self._shown = terminal

    def close(self, documents_done: int, instances: int) -> None:
        self.update(documents_done, instances, force=True)
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()


def build_in_workers(documents: Sequence[Document], vocabulary: VocabularyIds,
                      config: PretrainingDataConfig, pool: WorkerPool, progress: ProgressLine
                      ) -> Tuple[List[bytes], BuildCounts]:
    """Builds the instances of all passes in `pool`'s processes, one shard a process.

    Returns:
      (records of shard 0, then shard 1, ..., before the final shuffle; counts of all shards).
    Raises:
      ValueError: `pool` has another number of processes than `config.resolved_num_workers()`.
    """
    if pool.num_workers != config.resolved_num_workers():
        raise ValueError(f"the pool has {pool.num_workers} workers but num_workers="
                         f"{config.resolved_num_workers()}: the output depends on the number of shards")
    num_shards = pool.num_workers
    shards = _plan_shards(documents, config.dupe_factor, num_shards)
    counters = pool.progress_counters
    for index in range(len(counters)):
        counters[index] = 0
    packed = _pack_documents(documents)
    pending = pool.starmap_async(
        _build_shard, [(shard, num_shards, shards[shard], packed, vocabulary, config)
                       for shard in range(num_shards)])
    while not pending.ready():
        pending.wait(0.1)
        progress.update(sum(counters[0::2]), sum(counters[1::2]))
    records: List[bytes] = []
    counts = BuildCounts()
    for shard_records, shard_counts in pending.get():
        records += shard_records
        counts.add(shard_counts)
    progress.close(sum(len(shard) for shard in shards), len(records))
    return records, counts
