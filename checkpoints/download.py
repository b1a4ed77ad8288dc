#!/usr/bin/env python3
"""Download and unpack a released google-research/bert checkpoint (Python standard library only).

  python checkpoints/download.py uncased_L-12_H-768_A-12              # into checkpoints/uncased_L-12_H-768_A-12/
  python checkpoints/download.py uncased_L-4_H-256_A-4 --dest /data/bert
  python checkpoints/download.py --list                              # every released model and its URL
  python checkpoints/download.py NAME --url file:///path/to/NAME.zip # a zip you already have, or a mirror

Each zip is downloaded to `<dest>/<name>.zip.part` with progress on stderr, renamed to `<name>.zip`
when complete, checked (a zip, CRCs intact, holding `bert_config.json`, `vocab.txt` and the
`bert_model.ckpt` index and data files), unpacked through a temporary folder into `<dest>/<name>/`
(whether the zip keeps its files in a top folder or not), and deleted unless `--keep_zip`.
A model folder that is already complete is left alone unless `--force`.
"""
import argparse
import dataclasses
import difflib
import os
import posixpath
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from typing import Dict, List, Optional, Sequence

BASE_URL = "https://storage.googleapis.com/bert_models"
DEFAULT_DEST = os.path.dirname(os.path.abspath(__file__))

# What every released zip holds (the checkpoint prefix is `bert_model.ckpt`); `bert_model.ckpt.meta`,
# the TF1 graph, may also be there and is not needed to load the weights.
REQUIRED_FILES = (
    "bert_config.json",
    "vocab.txt",
    "bert_model.ckpt.index",
    "bert_model.ckpt.data-00000-of-00001",
)

_CHUNK_BYTES = 1 << 20


class DownloadError(Exception):
    """A download, check or unpack step failed; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class ReleasedModel:
    """One zip of the google-research/bert releases.

    Attributes:
      name: the name used on the command line and for the unpacked folder.
      release: the release folder under `BASE_URL` (e.g. "2018_10_18").
      description: the README's words for it.
      cased: False when the text must be lower-cased (`--do_lower_case=True`).
      zip_stem: the zip's file name without `.zip` (the name, except for the 2020 copy of BERT-Base).
    """

    name: str
    release: str
    description: str
    cased: bool
    zip_stem: str = ""

    @property
    def url(self) -> str:
        return f"{BASE_URL}/{self.release}/{self.zip_stem or self.name}.zip"

    @property
    def shape(self) -> str:
        """"L=12 H=768 A=12" from the name."""
        match = re.search(r"L-(\d+)_H-(\d+)_A-(\d+)", self.name)
        return f"L={match.group(1)} H={match.group(2)} A={match.group(3)}" if match else ""


def _catalog() -> Dict[str, ReleasedModel]:
    models = [
        ReleasedModel("wwm_uncased_L-24_H-1024_A-16", "2019_05_30",
                      "BERT-Large, Uncased (Whole Word Masking): 340M parameters", cased=False),
        ReleasedModel("wwm_cased_L-24_H-1024_A-16", "2019_05_30",
                      "BERT-Large, Cased (Whole Word Masking): 340M parameters", cased=True),
        ReleasedModel("uncased_L-12_H-768_A-12", "2018_10_18", "BERT-Base, Uncased: 110M parameters", cased=False),
        ReleasedModel("uncased_L-24_H-1024_A-16", "2018_10_18", "BERT-Large, Uncased: 340M parameters", cased=False),
        ReleasedModel("cased_L-12_H-768_A-12", "2018_10_18", "BERT-Base, Cased: 110M parameters", cased=True),
        ReleasedModel("cased_L-24_H-1024_A-16", "2018_10_18", "BERT-Large, Cased: 340M parameters", cased=True),
        ReleasedModel("multi_cased_L-12_H-768_A-12", "2018_11_23",
                      "BERT-Base, Multilingual Cased (recommended): 104 languages, 110M parameters", cased=True),
        ReleasedModel("multilingual_L-12_H-768_A-12", "2018_11_03",
                      "BERT-Base, Multilingual Uncased (original, not recommended): 102 languages, 110M parameters",
                      cased=False),
        ReleasedModel("chinese_L-12_H-768_A-12", "2018_11_03",
                      "BERT-Base, Chinese: Simplified and Traditional, 110M parameters", cased=False),
    ]
    # The 24 smaller BERT models (Turc et al., 2019), all uncased, A = H / 64.
    size_names = {(2, 128): "BERT-Tiny", (4, 256): "BERT-Mini", (4, 512): "BERT-Small", (8, 512): "BERT-Medium"}
    for layers in (2, 4, 6, 8, 10, 12):
        for hidden in (128, 256, 512, 768):
            stem = f"uncased_L-{layers}_H-{hidden}_A-{hidden // 64}"
            label = size_names.get((layers, hidden), "smaller BERT")
            if (layers, hidden) == (12, 768):
                # The grid's L=12/H=768 cell is BERT-Base; its zip has the same name as the 2018 one.
                models.append(ReleasedModel(f"{stem}_2020_02_20", "2020_02_20",
                                            "BERT-Base, Uncased, as re-released with the smaller models",
                                            cased=False, zip_stem=stem))
            else:
                models.append(ReleasedModel(stem, "2020_02_20", f"{label}, Uncased (smaller BERT models)",
                                            cased=False))
    return {model.name: model for model in models}


MODELS: Dict[str, ReleasedModel] = _catalog()


# ------------------------------------------------------------------------------------------ download
def _format_megabytes(num_bytes: float) -> str:
    return f"{num_bytes / 1e6:.1f} MB"


class _Progress:
    """Progress line on stderr: carriage-return updates on a terminal, a line per 10% otherwise."""

    def __init__(self, total: Optional[int], stream=None):
        self.total = total
        self.stream = stream or sys.stderr
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()
        self.last_print = 0.0
        self.next_decile = 1

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        rate = done / max(now - self.start, 1e-6)
        if self.total:
            fraction = done / self.total
            text = f"  {100 * fraction:5.1f}%  {_format_megabytes(done)} / {_format_megabytes(self.total)}"
        else:
            fraction = None
            text = f"  {_format_megabytes(done)}"
        text += f"  {_format_megabytes(rate)}/s"
        if self.interactive:
            if final or now - self.last_print >= 0.5:
                self.stream.write("\r" + text + ("\n" if final else ""))
                self.stream.flush()
                self.last_print = now
        elif final or (fraction is not None and fraction * 10 >= self.next_decile):
            self.stream.write(text + "\n")
            self.stream.flush()
            if fraction is not None:
                self.next_decile = int(fraction * 10) + 1


def download(url: str, destination: str, timeout: float = 60.0, show_progress: bool = True) -> int:
    """Downloads `url` to `destination` through `destination + ".part"`; returns the byte count.

    Raises DownloadError with the reason (offline, HTTP status, truncated transfer).
    """
    partial = destination + ".part"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            progress = _Progress(total) if show_progress else None
            done = 0
            with open(partial, "wb") as writer:
                while True:
                    chunk = response.read(_CHUNK_BYTES)
                    if not chunk:
                        break
                    writer.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress.update(done)
            if progress:
                progress.update(done, final=True)
    except urllib.error.HTTPError as error:
        _remove_quietly(partial)
        raise DownloadError(f"cannot download {url}: the server answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as error:
        _remove_quietly(partial)
        reason = getattr(error, "reason", error)
        if url.startswith("file:"):
            raise DownloadError(f"cannot read {url}: {reason}") from None
        raise DownloadError(
            f"cannot download {url}: {reason}. Are you offline? Download the zip elsewhere and pass "
            f"--url file:///path/to/{posixpath.basename(url)}"
        ) from None
    except BaseException:
        _remove_quietly(partial)
        raise
    if total is not None and done != total:
        _remove_quietly(partial)
        raise DownloadError(f"download of {url} stopped after {done} of {total} bytes; try again")
    os.replace(partial, destination)
    return done


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


# -------------------------------------------------------------------------------------------- unpack
def _member_paths(archive: zipfile.ZipFile, zip_path: str) -> Dict[str, str]:
    """Maps each file member to its path inside the model folder (top folder stripped if shared).

    Rejects absolute paths and `..` (files must stay inside the target folder).
    """
    files = {}
    for info in archive.infolist():
        name = info.filename.replace("\\", "/")
        if info.is_dir() or name.startswith("__MACOSX/") or posixpath.basename(name) == ".DS_Store":
            continue
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts or not parts:
            raise DownloadError(f"{zip_path}: unsafe member path {info.filename!r}; not unpacking")
        files[info.filename] = "/".join(parts)
    if not files:
        raise DownloadError(f"{zip_path}: the zip holds no files")
    top_folders = {path.split("/")[0] for path in files.values()}
    if len(top_folders) == 1 and all("/" in path for path in files.values()):
        prefix = top_folders.pop() + "/"
        files = {member: path[len(prefix):] for member, path in files.items()}
    return files


def check_zip(zip_path: str) -> None:
    """Raises DownloadError unless `zip_path` is an intact zip holding a released model's files."""
    if not zipfile.is_zipfile(zip_path):
        raise DownloadError(f"{zip_path} is not a zip file (a proxy error page? an interrupted download?)")
    with zipfile.ZipFile(zip_path) as archive:
        damaged = archive.testzip()
        if damaged is not None:
            raise DownloadError(f"{zip_path}: member {damaged!r} is damaged (CRC mismatch); download it again")
        paths = set(_member_paths(archive, zip_path).values())
    missing = [name for name in REQUIRED_FILES if name not in paths]
    if missing:
        raise DownloadError(f"{zip_path} is not a BERT checkpoint zip: it lacks {', '.join(missing)}")


def unpack(zip_path: str, target_dir: str) -> List[str]:
    """Unpacks a checked model zip into `target_dir` (which must not exist); returns the file names.

    Files land directly in `target_dir` whether the zip keeps them in a top folder or not. The work
    happens in a temporary sibling folder renamed to `target_dir` at the end.
    """
    check_zip(zip_path)
    if os.path.exists(target_dir):
        raise DownloadError(f"{target_dir} already exists")
    parent = os.path.dirname(os.path.abspath(target_dir))
    os.makedirs(parent, exist_ok=True)
    temporary = os.path.join(parent, f".{os.path.basename(target_dir)}.partial-{uuid.uuid4().hex[:8]}")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member, relative in _member_paths(archive, zip_path).items():
                destination = os.path.join(temporary, *relative.split("/"))
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as writer:
                    shutil.copyfileobj(source, writer, _CHUNK_BYTES)
        os.replace(temporary, target_dir)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return sorted(os.listdir(target_dir))


def is_complete(model_dir: str) -> bool:
    return all(os.path.isfile(os.path.join(model_dir, name)) for name in REQUIRED_FILES)


# ----------------------------------------------------------------------------------------------- fetch
def fetch(name: str, dest: str = DEFAULT_DEST, url: Optional[str] = None, force: bool = False,
          keep_zip: bool = False, show_progress: bool = True, log=print) -> str:
    """Downloads (or reuses a downloaded zip), checks and unpacks model `name` into `<dest>/<name>/`.

    Args:
      name: a key of MODELS.
      dest: the folder receiving `<name>.zip` and `<name>/`.
      url: overrides the official URL (a mirror, or `file://` for a local zip).
      force: replace an existing complete `<dest>/<name>/`.
      keep_zip: keep `<dest>/<name>.zip` after unpacking.
    Returns:
      The model folder.
    """
    if name not in MODELS:
        raise DownloadError(_unknown_name_message(name))
    model = MODELS[name]
    url = url or model.url
    dest = os.path.abspath(dest)
    target_dir = os.path.join(dest, name)
    if os.path.exists(target_dir) and not force:
        if is_complete(target_dir):
            log(f"{name}: already in {target_dir} (use --force to download it again)")
            return target_dir
        raise DownloadError(f"{target_dir} exists but is incomplete; remove it or pass --force")
    os.makedirs(dest, exist_ok=True)
    zip_path = os.path.join(dest, f"{name}.zip")
    if os.path.exists(zip_path) and zipfile.is_zipfile(zip_path) and url == model.url:
        log(f"{name}: reusing {zip_path}")
    else:
        log(f"{name}: downloading {url}")
        size = download(url, zip_path, show_progress=show_progress)
        log(f"{name}: {_format_megabytes(size)} downloaded")
    try:
        check_zip(zip_path)
    except DownloadError:
        if not keep_zip:
            _remove_quietly(zip_path)
        raise
    previous = None
    if os.path.exists(target_dir):  # --force: move the old folder aside until the new one is in place
        previous = os.path.join(dest, f".{name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target_dir, previous)
    try:
        files = unpack(zip_path, target_dir)
    except BaseException:
        if previous is not None:
            os.replace(previous, target_dir)
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
    if not keep_zip:
        _remove_quietly(zip_path)
    log(f"{name}: unpacked into {target_dir}: {', '.join(files)}")
    casing = "--do_lower_case=False" if model.cased else "--do_lower_case=True"
    log(f"{name}: use --bert_dir={target_dir} (or --init_checkpoint={os.path.join(target_dir, 'bert_model.ckpt')}) "
        f"with {casing}")
    return target_dir


def _unknown_name_message(name: str) -> str:
    close = difflib.get_close_matches(name, list(MODELS), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown model {name!r}{hint} (--list shows all {len(MODELS)} names)"


def list_models(stream=None) -> None:
    """Prints every model: name, release, shape, casing, URL."""
    stream = stream or sys.stdout
    width = max(len(name) for name in MODELS)
    for model in MODELS.values():
        casing = "cased" if model.cased else "uncased"
        stream.write(f"{model.name:<{width}}  {model.release}  {model.shape:<18}  {casing:<7}  {model.url}\n")


# ------------------------------------------------------------------------------------------------ main
def _parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="download.py",
        description="Download and unpack released google-research/bert checkpoints.",
        epilog="Example: python checkpoints/download.py uncased_L-12_H-768_A-12",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="model names (see --list)")
    parser.add_argument("--dest", default=DEFAULT_DEST, help="folder for the models (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="list the released models and exit")
    parser.add_argument("--url", help="download from this URL instead (a mirror, or file:///path/NAME.zip); "
                                      "one NAME only")
    parser.add_argument("--force", action="store_true", help="replace a model folder that is already there")
    parser.add_argument("--keep_zip", action="store_true", help="keep the downloaded zip")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    if not args.list and not args.names:
        parser.error("give a model NAME (or --list)")
    if args.url and len(args.names) != 1:
        parser.error("--url needs exactly one NAME")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parse_args(argv)
    if args.list:
        list_models()
        return 0
    unknown = [name for name in args.names if name not in MODELS]
    if unknown:
        for name in unknown:
            print(f"download.py: error: {_unknown_name_message(name)}", file=sys.stderr)
        return 2
    log = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr))
    for name in args.names:
        try:
            fetch(name, dest=args.dest, url=args.url, force=args.force, keep_zip=args.keep_zip,
                  show_progress=not args.quiet, log=log)
        except (DownloadError, OSError) as error:
            print(f"download.py: error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("download.py: interrupted", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
