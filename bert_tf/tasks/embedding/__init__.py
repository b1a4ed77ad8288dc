"""Sentence embeddings: `encode` (the library behind `encode.py`), the input files, and the embedding task whose
export is the embedding SavedModel (`export_savedmodel.py --task_name=embedding`)."""
