"""bert_tf.tasks.ner.tag_schemes: IOB1, IOB2, BIOES and BMES to IOB2 and back, detection, and the tag that
breaks a scheme."""
import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.ner import tag_schemes

IOB2 = ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
IN_SCHEMES = {
    "iob2": IOB2,
    "iob1": ["I-PER", "I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "O", "I-ORG"],
    "bioes": ["B-PER", "I-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"],
    "bmes": ["B-PER", "M-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"],
}


@pytest.mark.parametrize("scheme", tag_schemes.SCHEMES)
def test_every_scheme_round_trips_through_iob2(scheme):
    assert tag_schemes.to_iob2(IN_SCHEMES[scheme], scheme) == IOB2
    assert tag_schemes.from_iob2(IOB2, scheme) == IN_SCHEMES[scheme]
    assert tag_schemes.detect_scheme([IN_SCHEMES[scheme]]) == scheme


def test_ill_formed_iob2_predictions_are_read_as_conlleval_does():
    assert tag_schemes.from_iob2(["O", "I-PER", "I-PER"], "bioes") == ["O", "B-PER", "E-PER"]


@pytest.mark.parametrize("tags, scheme, position, message", [
    (["O", "I-PER"], "iob2", 1, "tag 'I-PER' after 'O' continues no entity (IOB2 starts one with B-)"),
    (["B-PER", "O"], "bioes", 1, "the PER entity before tag 'O' has no end (BIOES ends one with E-"),
    (["B-PER"], "bmes", 0, "the PER entity at the end of the sentence has no end (BMES"),
    (["E-PER"], "bioes", 0, "tag 'E-PER' continues no PER entity (BIOES starts one with B-)"),
    (["B-PER", "M-LOC", "E-LOC"], "bmes", 1, "tag 'M-LOC' continues no LOC entity"),
    (["S-PER"], "iob2", 0, "tag 'S-PER' is not IOB2 (B-TYPE, I-TYPE or O)"),
    (["B-"], "bioes", 0, "tag 'B-' is not BIOES"),
])
def test_a_tag_its_scheme_does_not_allow_is_named(tags, scheme, position, message):
    with pytest.raises(tag_schemes.SchemeError) as error:
        tag_schemes.to_iob2(tags, scheme)
    assert message in str(error.value) and error.value.position == position


def test_mixed_schemes_are_refused():
    with pytest.raises(InputError, match="mix schemes"):
        tag_schemes.detect_scheme([["B-X", "M-X", "E-X"], ["I-Y"]])
    assert tag_schemes.check_tag("O") is None and tag_schemes.check_tag("Q-X") is not None
