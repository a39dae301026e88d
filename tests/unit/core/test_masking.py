from httpendpoint.core.masking import mask_secrets


def test_every_occurrence_of_every_secret_is_masked() -> None:
    text = "key=s3cr3t token=abc again s3cr3t"
    assert mask_secrets(text, ["s3cr3t", "abc"]) == "key=*** token=*** again ***"


def test_a_secret_containing_another_is_masked_whole() -> None:
    assert mask_secrets("value: abcdef", ["abc", "abcdef"]) == "value: ***"


def test_empty_values_and_no_secrets_leave_the_text_alone() -> None:
    assert mask_secrets("plain output", ["", ""]) == "plain output"
    assert mask_secrets("plain output", []) == "plain output"
