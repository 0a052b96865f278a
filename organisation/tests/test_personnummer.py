from datetime import date

import pytest

from organisation import personnummer
from organisation.personnummer import InvalidPersonnummer

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("811218-9876", "198112189876"),  # Skatteverket's published example
        ("8112189876", "198112189876"),
        ("19811218-9876", "198112189876"),
        ("198112189876", "198112189876"),
        (" 19811218 9876 ", "198112189876"),
        ("121212+1212", "191212121212"),  # '+' marks a person aged 100 or more
        ("701063-2391", "197010632391"),  # samordningsnummer: day + 60
    ],
)
def test_valid_written_forms_normalise_to_twelve_digits(written, normalised):
    assert personnummer.parse(written, today=TODAY).normalised == normalised


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("811218-9875", "kontrollsiffra"),  # wrong check digit
        ("811318-9876", "datum"),  # month 13
        ("810230-1234", "datum"),  # 30 February
        ("20301218-9876", "framtiden"),  # born in 2030
        ("abc", "ÅÅÅÅMMDD"),
        ("", "ÅÅÅÅMMDD"),
        ("81121898766", "ÅÅÅÅMMDD"),  # eleven digits
        ("811218_9876", "ÅÅÅÅMMDD"),
    ],
)
def test_invalid_numbers_are_refused_with_a_reason(written, problem):
    with pytest.raises(InvalidPersonnummer, match=problem):
        personnummer.parse(written, today=TODAY)


def test_the_check_digit_is_the_luhn_digit_over_the_ten_digit_form():
    assert personnummer.luhn_check_digit("811218987") == 6
    assert personnummer.is_valid("811218-9876")
    assert not personnummer.is_valid("811218-9870")


def test_masking_keeps_the_birth_date_and_hides_the_rest():
    assert personnummer.mask("198112189876") == "19811218-****"
    assert personnummer.mask("811218-9876") == "811218-****"
    assert personnummer.mask("nonsense") == "********"


def test_personnummer_inside_free_text_are_masked():
    text = "Elev 19811218-9876 och 811218-9876 flyttar; rum 12, tel 0701234567"
    masked = personnummer.mask_in_text(text)
    assert "9876" not in masked
    assert "19811218-****" in masked and "811218-****" in masked
    assert "rum 12" in masked
