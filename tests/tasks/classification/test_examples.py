"""Tests for bert_tf.tasks.classification.examples: processors on the shared GLUE files, synthetic layouts, bad
input."""
import collections
import os

import pytest

from bert_tf.tasks.classification import examples as glue
from tests.conftest import require_shared


def _write(path, text, encoding="utf-8"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as output:
        output.write(text.encode(encoding) if isinstance(text, str) else text)
    return path


def _label_counts(examples):
    return dict(collections.Counter(example.label for example in examples))


# ------------------------------------------------------------------------------------------------
# Registry.
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, processor_class", [
    ("CoLA", glue.ColaProcessor), ("sst-2", glue.Sst2Processor), ("SST2", glue.Sst2Processor),
    ("MRPC", glue.MrpcProcessor), ("STS-B", glue.StsbProcessor), ("stsb", glue.StsbProcessor),
    ("QQP", glue.QqpProcessor), ("MNLI", glue.MnliProcessor), ("MNLI-MM", glue.MnliMismatchedProcessor),
    ("qnli", glue.QnliProcessor), ("RTE", glue.RteProcessor), ("WNLI", glue.WnliProcessor),
    ("XNLI", glue.XnliProcessor),
])
def test_get_processor_is_case_insensitive(name, processor_class):
    processor = glue.get_processor(name)
    assert type(processor) is processor_class


def test_registry_keys():
    assert set(glue.PROCESSORS) == {"cola", "sst-2", "sst2", "mrpc", "sts-b", "stsb", "qqp", "mnli", "mnli-mm",
                                    "qnli", "rte", "wnli", "xnli"}


def test_unknown_task_lists_known_tasks():
    with pytest.raises(ValueError) as error:
        glue.get_processor("squad")
    message = str(error.value)
    assert "squad" in message
    for known in ("cola", "mrpc", "mnli-mm", "sts-b", "xnli"):
        assert known in message


def test_labels_regression_and_metric_names():
    assert glue.get_processor("cola").get_labels() == ["0", "1"]
    assert glue.get_processor("mnli").get_labels() == ["contradiction", "entailment", "neutral"]
    assert glue.get_processor("xnli").get_labels() == ["contradiction", "entailment", "neutral"]
    assert glue.get_processor("rte").get_labels() == ["entailment", "not_entailment"]
    assert glue.get_processor("qnli").get_labels() == ["entailment", "not_entailment"]
    assert glue.get_processor("wnli").get_labels() == ["0", "1"]
    stsb = glue.get_processor("sts-b")
    assert stsb.is_regression and stsb.num_labels == 1 and stsb.get_labels() == [None]
    for name in glue.PROCESSORS:
        processor = glue.get_processor(name)
        assert processor.is_regression == (name in ("sts-b", "stsb"))
        assert processor.metric_names and all(metric.startswith("eval_") for metric in processor.metric_names)
    assert glue.get_processor("mrpc").metric_names == ("eval_accuracy", "eval_f1")
    assert glue.get_processor("qqp").metric_names == ("eval_accuracy", "eval_f1")
    assert glue.get_processor("cola").metric_names[0] == "eval_mcc"
    assert glue.get_processor("sts-b").metric_names == ("eval_pearson", "eval_spearman")
    assert glue.get_processor("mnli").metric_names == ("eval_accuracy",)


# ------------------------------------------------------------------------------------------------
# Real GLUE files (counts from shared/data/PROVENANCE.md).
# ------------------------------------------------------------------------------------------------

def test_mrpc_shared_files():
    data_dir = require_shared("data", "glue", "MRPC")
    processor = glue.get_processor("mrpc")
    train = processor.get_train_examples(data_dir)
    dev = processor.get_dev_examples(data_dir)
    test = processor.get_test_examples(data_dir)
    assert (len(train), len(dev), len(test)) == (3668, 408, 1725)
    # The header (with its UTF-8 BOM) is skipped; unescaped quotes are kept verbatim.
    first = train[0]
    assert first.guid == "train-1" and first.label == "1"
    assert first.text_a == ('Amrozi accused his brother, whom he called "the witness", '
                            'of deliberately distorting his evidence.')
    assert first.text_b.startswith('Referring to him as only "the witness"')
    assert dev[0].text_b == '"The foodservice pie business does not fit our long-term growth strategy.'
    assert _label_counts(train) == {"1": 2474, "0": 1194}
    assert _label_counts(dev) == {"1": 279, "0": 129}
    assert _label_counts(test) == {"0": 1725}  # placeholder: the first label
    assert all(example.text_b for example in train + dev + test)
    assert len({example.guid for example in train}) == len(train)


def test_cola_shared_files():
    data_dir = require_shared("data", "glue", "CoLA")
    processor = glue.get_processor("cola")
    train = processor.get_train_examples(data_dir)
    dev = processor.get_dev_examples(data_dir)
    assert (len(train), len(dev)) == (8551, 1043)  # no header: the first line is an example
    assert train[0].text_a == "Our friends won't buy this analysis, let alone the next one we propose."
    assert train[0].text_b is None and train[0].guid == "train-0"
    assert _label_counts(dev) == {"1": 719, "0": 324}


def test_sst2_shared_files():
    data_dir = require_shared("data", "glue", "SST-2")
    processor = glue.get_processor("sst-2")
    train = processor.get_train_examples(data_dir)
    dev = processor.get_dev_examples(data_dir)
    test = processor.get_test_examples(data_dir)
    assert (len(train), len(dev), len(test)) == (67349, 872, 1821)
    assert _label_counts(dev) == {"1": 444, "0": 428}
    assert dev[0].text_a == "it 's a charming and often affecting journey . "
    assert test[0].text_a == "uneasy mishmash of styles and genres ." and test[0].label == "0"
    assert all(example.text_b is None for example in dev)


def test_stsb_shared_files_are_regression():
    data_dir = require_shared("data", "glue", "STS-B")
    processor = glue.get_processor("stsb")
    train = processor.get_train_examples(data_dir)
    dev = processor.get_dev_examples(data_dir)
    assert (len(train), len(dev)) == (5749, 1500)
    assert dev[0].text_a == "A man with a hard hat is dancing."
    assert dev[0].text_b == "A man wearing a hard hat is dancing."
    assert dev[0].label == 5.0 and dev[1].label == 4.75
    assert all(isinstance(example.label, float) and 0.0 <= example.label <= 5.0 for example in train + dev)


def test_rte_shared_files():
    data_dir = require_shared("data", "glue", "RTE")
    processor = glue.get_processor("rte")
    train = processor.get_train_examples(data_dir)
    dev = processor.get_dev_examples(data_dir)
    assert (len(train), len(dev)) == (2490, 277)
    assert _label_counts(train) == {"entailment": 1249, "not_entailment": 1241}
    assert _label_counts(dev) == {"entailment": 146, "not_entailment": 131}
    assert train[0].text_b == "Weapons of Mass Destruction Found in Iraq."


def test_wnli_shared_files():
    data_dir = require_shared("data", "glue", "WNLI")
    processor = glue.get_processor("wnli")
    train = processor.get_train_examples(data_dir)
    dev = processor.get_dev_examples(data_dir)
    assert (len(train), len(dev)) == (635, 71)
    assert _label_counts(dev) == {"0": 40, "1": 31}


def test_missing_split_file_names_path():
    data_dir = require_shared("data", "glue", "RTE")
    with pytest.raises(FileNotFoundError, match="test.tsv"):
        glue.get_processor("rte").get_test_examples(data_dir)


# ------------------------------------------------------------------------------------------------
# Synthetic files for the tasks not in shared/ and for the unlabelled test layouts.
# ------------------------------------------------------------------------------------------------

_MNLI_TRAIN_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                      "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n")
_MNLI_DEV_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                    "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\t"
                    "label5\tgold_label\n")
_MNLI_TEST_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                     "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\n")


def _mnli_row(index, premise, hypothesis, labels):
    return "\t".join([str(index), "31193", f"{index}n", "government", "( ( bp ) )", "( ( bh ) )",
                      "(ROOT (S))", "(ROOT (S))", premise, hypothesis] + labels) + "\n"


def test_mnli_and_mnli_mm_layouts(tmp_path):
    data_dir = str(tmp_path)
    _write(os.path.join(data_dir, "train.tsv"), _MNLI_TRAIN_HEADER
           + _mnli_row(0, 'He said "yes".', "He agreed.", ["entailment", "entailment"])
           + _mnli_row(1, "It rained.", "It was dry.", ["contradiction", "contradiction"]))
    _write(os.path.join(data_dir, "dev_matched.tsv"), _MNLI_DEV_HEADER
           + _mnli_row(0, "A matched premise.", "A hypothesis.", ["neutral"] * 5 + ["neutral"]))
    _write(os.path.join(data_dir, "dev_mismatched.tsv"), _MNLI_DEV_HEADER
           + _mnli_row(0, "Mismatched one.", "H1.", ["entailment"] * 6)
           + _mnli_row(1, "Mismatched two.", "H2.", ["neutral"] * 5 + ["contradiction"]))
    _write(os.path.join(data_dir, "test_matched.tsv"), _MNLI_TEST_HEADER + _mnli_row(0, "T premise.", "T hyp.", []))
    _write(os.path.join(data_dir, "test_mismatched.tsv"), _MNLI_TEST_HEADER
           + _mnli_row(0, "M1.", "h1.", []) + _mnli_row(1, "M2.", "h2.", []) + _mnli_row(2, "M3.", "h3.", []))

    mnli = glue.get_processor("mnli")
    train = mnli.get_train_examples(data_dir)
    assert [(e.text_a, e.text_b, e.label) for e in train] == [
        ('He said "yes".', "He agreed.", "entailment"), ("It rained.", "It was dry.", "contradiction")]
    dev = mnli.get_dev_examples(data_dir)
    assert [(e.text_a, e.label) for e in dev] == [("A matched premise.", "neutral")]
    test = mnli.get_test_examples(data_dir)
    assert [(e.text_a, e.text_b, e.label) for e in test] == [("T premise.", "T hyp.", "contradiction")]

    mismatched = glue.get_processor("mnli-mm")
    assert len(mismatched.get_train_examples(data_dir)) == 2
    dev_mm = mismatched.get_dev_examples(data_dir)
    assert [(e.text_a, e.label) for e in dev_mm] == [("Mismatched one.", "entailment"),
                                                     ("Mismatched two.", "contradiction")]  # gold = last column
    assert [e.text_a for e in mismatched.get_test_examples(data_dir)] == ["M1.", "M2.", "M3."]


def test_qqp_layout(tmp_path):
    data_dir = str(tmp_path)
    header = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
    _write(os.path.join(data_dir, "train.tsv"),
           header + '7\t15\t16\tHow do I "learn" Python?\tWhat is the best way to learn Python?\t1\n'
           + "8\t17\t18\tWhy is the sky blue?\tWhat is the capital of France?\t0\n")
    _write(os.path.join(data_dir, "dev.tsv"), header + "201\t3\t4\tQ one?\tQ two?\t0\n")
    _write(os.path.join(data_dir, "test.tsv"), "id\tquestion1\tquestion2\n0\tTest q1?\tTest q2?\n")
    processor = glue.get_processor("qqp")
    train = processor.get_train_examples(data_dir)
    assert [(e.text_a, e.text_b, e.label) for e in train] == [
        ('How do I "learn" Python?', "What is the best way to learn Python?", "1"),
        ("Why is the sky blue?", "What is the capital of France?", "0")]
    assert [(e.text_a, e.label) for e in processor.get_dev_examples(data_dir)] == [("Q one?", "0")]
    test = processor.get_test_examples(data_dir)
    assert [(e.text_a, e.text_b, e.label) for e in test] == [("Test q1?", "Test q2?", "0")]


def test_qnli_rte_wnli_test_layouts(tmp_path):
    data_dir = str(tmp_path)
    _write(os.path.join(data_dir, "train.tsv"),
           "index\tquestion\tsentence\tlabel\n0\tWhat is it?\tIt is a test.\tentailment\n"
           "1\tWho?\tNobody knows.\tnot_entailment\n")
    _write(os.path.join(data_dir, "test.tsv"), "index\tquestion\tsentence\n0\tWhere?\tHere.\n")
    qnli = glue.get_processor("qnli")
    assert [(e.text_a, e.text_b, e.label) for e in qnli.get_train_examples(data_dir)] == [
        ("What is it?", "It is a test.", "entailment"), ("Who?", "Nobody knows.", "not_entailment")]
    assert [(e.text_a, e.text_b, e.label) for e in qnli.get_test_examples(data_dir)] == [
        ("Where?", "Here.", "entailment")]
    assert [e.label for e in glue.get_processor("rte").get_test_examples(data_dir)] == ["entailment"]
    assert [e.label for e in glue.get_processor("wnli").get_test_examples(data_dir)] == ["0"]


def test_cola_sst2_stsb_mrpc_test_layouts(tmp_path):
    cola_dir = str(tmp_path / "CoLA")
    _write(os.path.join(cola_dir, "test.tsv"), "index\tsentence\n0\tBill whistled past the house.\n"
           "1\tThe car honked its way down the road.\n")
    cola_test = glue.get_processor("cola").get_test_examples(cola_dir)
    assert [(e.text_a, e.text_b, e.label) for e in cola_test] == [
        ("Bill whistled past the house.", None, "0"), ("The car honked its way down the road.", None, "0")]

    stsb_dir = str(tmp_path / "STS-B")
    _write(os.path.join(stsb_dir, "test.tsv"),
           "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\n"
           "0\tmain-captions\tMSRvid\t2012test\t0024\tnone\tnone\tA girl is styling her hair.\t"
           "A girl is brushing her hair.\n")
    stsb_test = glue.get_processor("sts-b").get_test_examples(stsb_dir)
    assert [(e.text_a, e.text_b, e.label) for e in stsb_test] == [
        ("A girl is styling her hair.", "A girl is brushing her hair.", 0.0)]


def test_xnli_layout_language_filter_and_contradictory(tmp_path):
    data_dir = str(tmp_path)
    _write(os.path.join(data_dir, "multinli", "multinli.train.zh.tsv"),
           "premise\thypo\tlabel\n他说是的。\t他同意了。\tentailment\n天下雨了。\t天很干燥。\tcontradictory\n"
           "猫在睡觉。\t猫很累。\tneutral\n")
    _write(os.path.join(data_dir, "multinli", "multinli.train.de.tsv"),
           "premise\thypo\tlabel\nEr sagte ja.\tEr stimmte zu.\tentailment\n")
    dev_header = ("language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
                  "sentence2_parse\tsentence1\tsentence2\tpromptID\tpairID\tgenre\tlabel1\tlabel2\tlabel3\t"
                  "label4\tlabel5\tsentence1_tokenized\tsentence2_tokenized\tmatch\n")

    def dev_row(language, label, premise, hypothesis):
        return "\t".join([language, label, "", "", "", "", premise, hypothesis, "1", "1", "facetoface",
                          label, label, label, label, label, premise, hypothesis, "True"]) + "\n"

    _write(os.path.join(data_dir, "xnli.dev.tsv"), dev_header + dev_row("en", "neutral", "E1", "e1")
           + dev_row("zh", "entailment", "中文一", "中一") + dev_row("de", "contradiction", "D1", "d1")
           + dev_row("zh", "contradiction", "中文二", "中二"))
    _write(os.path.join(data_dir, "xnli.test.tsv"), dev_header + dev_row("zh", "neutral", "测试", "测"))

    processor = glue.get_processor("xnli")
    assert processor.language == "zh"
    train = processor.get_train_examples(data_dir)
    assert [(e.text_a, e.text_b, e.label) for e in train] == [
        ("他说是的。", "他同意了。", "entailment"), ("天下雨了。", "天很干燥。", "contradiction"),
        ("猫在睡觉。", "猫很累。", "neutral")]
    dev = processor.get_dev_examples(data_dir)
    assert [(e.text_a, e.text_b, e.label) for e in dev] == [("中文一", "中一", "entailment"),
                                                             ("中文二", "中二", "contradiction")]
    assert [(e.text_a, e.label) for e in processor.get_test_examples(data_dir)] == [("测试", "neutral")]

    german = glue.XnliProcessor(language="de")
    assert [e.text_a for e in german.get_train_examples(data_dir)] == ["Er sagte ja."]
    assert [e.text_a for e in german.get_dev_examples(data_dir)] == ["D1"]


def test_crlf_line_endings_and_missing_final_newline(tmp_path):
    data_dir = str(tmp_path)
    _write(os.path.join(data_dir, "train.tsv"), "sentence\tlabel\r\nfirst one \t1\r\nsecond\t0")
    examples = glue.get_processor("sst-2").get_train_examples(data_dir)
    assert [(e.text_a, e.label) for e in examples] == [("first one ", "1"), ("second", "0")]


def test_trailing_blank_lines_are_ignored(tmp_path):
    data_dir = str(tmp_path)
    _write(os.path.join(data_dir, "train.tsv"), "sentence\tlabel\na\t1\n\n\n")
    assert len(glue.get_processor("sst-2").get_train_examples(data_dir)) == 1


def test_bom_is_stripped_without_header_too(tmp_path):
    data_dir = str(tmp_path)
    _write(os.path.join(data_dir, "train.tsv"), "\ufeffgj04\t1\t\tA sentence.\n")
    examples = glue.get_processor("cola").get_train_examples(data_dir)
    assert examples[0].label == "1" and examples[0].text_a == "A sentence."


def test_line_separators_inside_fields_are_not_line_breaks(tmp_path):
    # str.splitlines / universal newlines would split on these; GLUE rows end at "\n" only.
    data_dir = str(tmp_path)
    _write(os.path.join(data_dir, "train.tsv"), "sentence\tlabel\nodd\u2028text\x0bhere\rok\t1\n")
    examples = glue.get_processor("sst-2").get_train_examples(data_dir)
    assert [(e.text_a, e.label) for e in examples] == [("odd\u2028text\x0bhere\rok", "1")]


# ------------------------------------------------------------------------------------------------
# Bad input: file and 1-based line number in the message.
# ------------------------------------------------------------------------------------------------

def test_malformed_row_names_file_and_line(tmp_path):
    data_dir = str(tmp_path)
    path = _write(os.path.join(data_dir, "train.tsv"),
                  "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tA.\tB.\n0\t3\t4\tC. D.\n")
    with pytest.raises(ValueError) as error:
        glue.get_processor("mrpc").get_train_examples(data_dir)
    message = str(error.value)
    assert f"{path}:3" in message and "expected 5" in message and "found 4" in message


def test_extra_column_in_headerless_cola_names_line(tmp_path):
    data_dir = str(tmp_path)
    path = _write(os.path.join(data_dir, "dev.tsv"), "gj04\t1\t\tFine.\ngj04\t0\t*\tBad\textra tab.\n")
    with pytest.raises(ValueError, match=f"{path}:2: malformed row"):
        glue.get_processor("cola").get_dev_examples(data_dir)


def test_blank_line_in_the_middle_is_malformed(tmp_path):
    data_dir = str(tmp_path)
    path = _write(os.path.join(data_dir, "train.tsv"), "sentence\tlabel\na\t1\n\nb\t0\n")
    with pytest.raises(ValueError, match=f"{path}:3: malformed row"):
        glue.get_processor("sst-2").get_train_examples(data_dir)


def test_unknown_label_names_file_and_line(tmp_path):
    data_dir = str(tmp_path)
    path = _write(os.path.join(data_dir, "dev.tsv"),
                  "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n1\tC.\tD.\tneutral\n")
    with pytest.raises(ValueError) as error:
        glue.get_processor("rte").get_dev_examples(data_dir)
    message = str(error.value)
    assert f"{path}:3" in message and "'neutral'" in message and "not_entailment" in message


def test_bad_regression_label_names_file_and_line(tmp_path):
    data_dir = str(tmp_path)
    header = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    row = "0\tg\tf\t2012\t0001\tnone\tnone\tA.\tB.\t{}\n"
    path = _write(os.path.join(data_dir, "train.tsv"), header + row.format("3.5") + row.format("high"))
    with pytest.raises(ValueError, match=f"{path}:3: regression label 'high'"):
        glue.get_processor("sts-b").get_train_examples(data_dir)
    _write(path, header + row.format("nan"))
    with pytest.raises(ValueError, match=f"{path}:2: .*not finite"):
        glue.get_processor("sts-b").get_train_examples(data_dir)


def test_invalid_utf8_names_file_and_line(tmp_path):
    data_dir = str(tmp_path)
    path = _write(os.path.join(data_dir, "train.tsv"), b"sentence\tlabel\nok\t1\nbad \xff byte\t0\n")
    with pytest.raises(ValueError, match=f"{path}:3: not valid UTF-8"):
        glue.get_processor("sst-2").get_train_examples(data_dir)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        glue.get_processor("mnli").get_dev_examples(str(tmp_path))
    assert str(tmp_path / "dev_matched.tsv") in str(error.value)


def test_empty_and_header_only_files(tmp_path):
    data_dir = str(tmp_path)
    path = _write(os.path.join(data_dir, "train.tsv"), "")
    with pytest.raises(ValueError, match=f"empty: {path}"):
        glue.get_processor("sst-2").get_train_examples(data_dir)
    _write(path, "sentence\tlabel\n")
    with pytest.raises(ValueError, match=f"no examples: {path}"):
        glue.get_processor("sst-2").get_train_examples(data_dir)


def test_header_with_too_few_columns(tmp_path):
    data_dir = str(tmp_path)
    path = _write(os.path.join(data_dir, "train.tsv"), "id\tquestion1\n1\tq\n")
    with pytest.raises(ValueError, match=f"{path}:1: header has 2 columns"):
        glue.get_processor("qqp").get_train_examples(data_dir)


def test_xnli_missing_train_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="multinli.train.zh.tsv"):
        glue.get_processor("xnli").get_train_examples(str(tmp_path))
