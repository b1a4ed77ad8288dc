"""A Hugging Face folder as `--bert_dir` / `--init_checkpoint`: converted to a released copy (reused while the
source is unchanged), and the scripts run with it as with the released conversion."""
import os

from bert_tf.interop import convert
from bert_tf.interop.model_folder import CONVERTED_FOLDER, needs_conversion
from bert_tf.training.run_options import resolve_model_files
from tests.harness.scripts import assert_fails_cleanly, run_main
from tests.interop import hf_fixtures


def test_bert_dir_is_converted_once_into_the_cache(tmp_path):
    source = hf_fixtures.write_hf_folder("classification_gelu", tmp_path / "hf")
    assert needs_conversion(str(source)) and not needs_conversion(str(tmp_path))
    files = resolve_model_files(str(source), conversion_dir=str(tmp_path / "cache"), checkpoint_required=True)
    copy = tmp_path / "cache" / CONVERTED_FOLDER
    assert files.bert_config_file == str(copy / "bert_config.json")
    assert files.vocab_file == str(copy / "vocab.txt")
    assert files.init_checkpoint == str(copy / "bert_model.ckpt")
    assert (copy / "label_list.txt").read_text() == "negative\nneutral\npositive\n"
    written = os.stat(copy / "bert_model.ckpt.index").st_mtime_ns
    resolve_model_files(str(source), conversion_dir=str(tmp_path / "cache"))
    assert os.stat(copy / "bert_model.ckpt.index").st_mtime_ns == written  # reused
    (source / "config.json").write_text((source / "config.json").read_text().replace('"gelu"', '"gelu_new"'))
    resolve_model_files(str(source), conversion_dir=str(tmp_path / "cache"))
    assert '"gelu"' in (copy / "bert_config.json").read_text()  # the changed source converted again


def test_init_checkpoint_as_a_hugging_face_folder_stands_for_the_model(tmp_path):
    source = hf_fixtures.write_hf_folder("base_gelu", tmp_path / "hf")
    files = resolve_model_files(None, init_checkpoint=str(source))
    folder = os.path.dirname(files.bert_config_file)
    assert files.init_checkpoint == folder and files.vocab_file == os.path.join(folder, "vocab.txt")
    assert os.path.exists(os.path.join(folder, "bert_model.ckpt.index"))


def test_run_classifier_with_a_hugging_face_bert_dir(tmp_path):
    source = hf_fixtures.write_hf_folder("classification_gelu", tmp_path / "hf")
    convert(str(source), str(tmp_path / "released"))
    data = tmp_path / "data"
    data.mkdir()
    rows = "the a is of\tpositive\nhe was in it\tnegative\nthey are at the\tneutral\n"
    for name in ("dev.tsv", "test.tsv"):
        (data / name).write_text(rows)
    common = ["--task=tsv", f"--data_dir={data}", "--noheader", "--text_a_column=0", "--label_column=1",
              "--do_eval", "--do_predict", "--max_seq_length=16"]
    assert run_main("run_classifier", *common, f"--bert_dir={source}", f"--output_dir={tmp_path / 'a'}") == 0
    assert run_main("run_classifier", *common, f"--bert_dir={tmp_path / 'released'}",
                    f"--output_dir={tmp_path / 'b'}") == 0
    for name in ("test_results.tsv", "eval_results.txt"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    assert not (tmp_path / "a" / CONVERTED_FOLDER).exists()


def test_a_hugging_face_bert_dir_that_cannot_convert_is_one_line(capsys, tmp_path):
    source = hf_fixtures.write_hf_folder("classification_gelu", tmp_path / "hf", config_changes={"model_type": "albert"})
    output_dir = tmp_path / "out"
    assert_fails_cleanly(capsys, "run_classifier", ["--task=MRPC", f"--data_dir={tmp_path}", f"--bert_dir={source}",
                                                    f"--output_dir={output_dir}", "--do_eval"],
                         "ALBERT is not BERT", output_dir=output_dir)
