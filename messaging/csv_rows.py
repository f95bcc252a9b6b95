"""A contacts CSV as people export it, read into rows: encodings, delimiters, quotes, bad and repeated rows.

Spreadsheets write UTF-8 with or without a BOM, UTF-16, or Windows-1252; they separate with
`,`, `;` (European locales) or tabs; they quote fields holding separators or line breaks.
A row that can't be a contact (no valid phone) is counted and reported with its line and
reason; a file that can't be read as a table at all (no phone column, broken quoting, too
many rows) fails whole, so nothing half-imported is left behind. A phone seen twice is
merged into its first row: later non-empty fields win, tags are unioned.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Mapping
from typing import Any, Final

from messaging.errors import InvalidPhone
from messaging.phones import to_e164

MAX_ROWS: Final = 100_000
MAX_BYTES: Final = 20 * 1024 * 1024
FIELDS: Final = ("phone", "firstName", "lastName", "email", "tags", "timezone")
_AUTO: Final = {
    "phone": "phone", "phonenumber": "phone", "mobile": "phone", "mobilephone": "phone", "cell": "phone",
    "cellphone": "phone", "number": "phone", "tel": "phone", "telephone": "phone", "msisdn": "phone",
    "firstname": "firstName", "first": "firstName", "givenname": "firstName", "name": "firstName",
    "lastname": "lastName", "last": "lastName", "surname": "lastName", "familyname": "lastName",
    "email": "email", "emailaddress": "email", "mail": "email",
    "tags": "tags", "tag": "tags", "timezone": "timezone", "tz": "timezone", "zone": "timezone",
}
_DELIMITERS: Final = ",;\t|"
_TAG_SPLIT: Final = re.compile(r"[,;|]")


class MalformedFile(ValueError):
    """The file is not a contacts table (the whole import fails with this reason)."""


@dataclasses.dataclass
class Row:
    line: int
    phone: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    tags: set[str] = dataclasses.field(default_factory=set)
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    timezone: str = ""

    def merge(self, later: Row) -> None:
        for name in ("first_name", "last_name", "email", "timezone"):
            if getattr(later, name):
                setattr(self, name, getattr(later, name))
        self.tags |= later.tags
        self.attributes.update(later.attributes)


@dataclasses.dataclass
class Parsed:
    rows: list[Row]
    invalid: list[tuple[int, str]]
    duplicates: int

    def errors_csv(self) -> str:
        """`line,reason` for every row left out (the import's errors.csv)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["line", "reason"])
        writer.writerows(self.invalid)
        return out.getvalue()


def decode(data: bytes) -> str:
    """The file's text: a BOM decides, else UTF-8 if it is valid, else Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def delimiter_of(text: str) -> str:
    """The separator the header line uses most, counting only outside quotes."""
    header = text.split("\n", 1)[0]
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {d: unquoted.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _key(header: str) -> str:
    return re.sub(r"[\s_\-.]+", "", header.strip().lower())


def columns(headers: list[str], mapping: Mapping[str, str] | None) -> list[str | None]:
    """What each column fills: a field, `attributes.<key>`, or None (ignored).

    With an explicit mapping (header -> field), unmapped columns are ignored; without one,
    known headers are recognised and the others become attributes under their own name.
    """
    if mapping:
        unknown = [f for f in mapping.values() if f not in FIELDS and not f.startswith("attributes.")]
        if unknown:
            raise MalformedFile(f"mapping names unknown fields: {', '.join(sorted(unknown))}")
        by_header = {_key(h): f for h, f in mapping.items()}
        return [by_header.get(_key(h)) for h in headers]
    found: list[str | None] = []
    for header in headers:
        field = _AUTO.get(_key(header))
        if field is None:
            found.append(f"attributes.{header.strip()}" if header.strip() else None)
        else:
            found.append(None if field in found else field)
    return found


def _row(line: int, values: list[str], fields: list[str | None], country: str) -> Row:
    """Raises InvalidPhone for a row whose phone isn't valid."""
    raw = {f: v.strip() for f, v in zip(fields, values) if f is not None}
    row = Row(line, to_e164(raw.get("phone", ""), country))
    row.first_name, row.last_name = raw.get("firstName", "")[:200], raw.get("lastName", "")[:200]
    row.email, row.timezone = raw.get("email", "")[:320], raw.get("timezone", "")[:64]
    row.tags = {t.strip()[:50] for t in _TAG_SPLIT.split(raw.get("tags", "")) if t.strip()}
    row.attributes = {f[len("attributes."):]: v for f, v in raw.items() if f.startswith("attributes.") and v}
    return row


def parse(data: bytes, *, default_country: str = "US", mapping: Mapping[str, str] | None = None) -> Parsed:
    """Read a contacts CSV.

    Raises:
        MalformedFile: too large, too many rows, broken quoting, or no phone column.
    """
    if len(data) > MAX_BYTES:
        raise MalformedFile(f"the file is over {MAX_BYTES // (1024 * 1024)} MiB")
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(text), strict=True)
    try:
        headers = next(reader, None)
        if headers is None:
            raise MalformedFile("the file is empty")
        fields = columns(headers, mapping)
        if "phone" not in fields:
            raise MalformedFile("no phone column (name one `phone`, or map one)")
        by_phone: dict[str, Row] = {}
        invalid: list[tuple[int, str]] = []
        duplicates = 0
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(by_phone) + len(invalid) + duplicates >= MAX_ROWS:
                raise MalformedFile(f"more than {MAX_ROWS} rows")
            if len(values) > len(fields):
                invalid.append((line, f"{len(values)} fields, the header has {len(fields)}"))
                continue
            try:
                row = _row(line, values, fields, default_country)
            except InvalidPhone:
                phone = next((v for f, v in zip(fields, values) if f == "phone"), "")
                invalid.append((line, f"invalid phone {phone.strip()!r}" if phone.strip() else "no phone"))
                continue
            if row.phone in by_phone:
                by_phone[row.phone].merge(row)
                duplicates += 1
            else:
                by_phone[row.phone] = row
    except csv.Error as exc:
        raise MalformedFile(f"line {reader.line_num}: {exc}") from None
    return Parsed(list(by_phone.values()), invalid, duplicates)
