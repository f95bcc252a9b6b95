"""Reading contacts CSVs as spreadsheets write them: BOM, `;`, cp1252, quotes; bad and repeated rows counted."""

from __future__ import annotations

import pytest

from messaging.csv_rows import MalformedFile, parse


def test_a_utf8_bom_semicolons_and_quoted_separators() -> None:
    data = '\ufeffPhone;First Name;City\n"(415) 555-0123";Zoë;"Oslo; Norway"\n'.encode()
    [row] = parse(data).rows
    assert (row.phone, row.first_name, row.attributes) == ("+14155550123", "Zoë", {"City": "Oslo; Norway"})


def test_windows_1252_is_read_when_the_bytes_are_not_utf8() -> None:
    [row] = parse("phone,first name\n4155550124,Jos\xe9 M\xfcller\n".encode("cp1252")).rows
    assert row.first_name == "José Müller"


def test_tabs_and_a_quoted_line_break() -> None:
    [row] = parse(b'mobile\tnotes\n+1 415 555 0125\t"line one\nline two"\n').rows
    assert row.attributes == {"notes": "line one\nline two"}


def test_invalid_and_duplicate_rows_are_counted_with_lines() -> None:
    data = (b"phone,first_name,tags\n4155550123,Ann,vip\nnot a phone,Bob,\n,Cy,\n415-555-0123,Annie,new\n"
            b"4155550126,Dee,x,extra\n")
    parsed = parse(data)
    assert [(r.phone, r.first_name, sorted(r.tags)) for r in parsed.rows] == [("+14155550123", "Annie",
                                                                               ["new", "vip"])]
    assert parsed.duplicates == 1
    assert parsed.invalid == [(3, "invalid phone 'not a phone'"), (4, "no phone"), (6, "4 fields, the header has 3")]
    assert parsed.errors_csv().splitlines()[:2] == ["line,reason", "3,invalid phone 'not a phone'"]


def test_a_mapping_names_the_columns() -> None:
    [row] = parse(b"Tel,Given,Town\n4155550123,Ann,Reno\n",
                  mapping={"Tel": "phone", "Given": "firstName", "Town": "attributes.city"}).rows
    assert (row.first_name, row.attributes) == ("Ann", {"city": "Reno"})


@pytest.mark.parametrize(("data", "reason"), [(b"", "empty"), (b"name,email\nAnn,a@b.c\n", "no phone column"),
                                              (b'phone\n"4155550123\n', "line")])
def test_a_malformed_file_fails_whole(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedFile, match=reason):
        parse(data)


def test_a_mapping_to_an_unknown_field_fails_whole() -> None:
    with pytest.raises(MalformedFile, match="unknown fields"):
        parse(b"a\n1\n", mapping={"a": "mobile"})
