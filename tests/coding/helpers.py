"""Synthetic clinical-system exports (valid 999 NHS numbers only) shaped like EMIS Web and
SystmOne search exports, and a fixed clock."""

from __future__ import annotations

from datetime import date, datetime, timezone

from gp_optout_desktop.domain.nhs_number import display, synthetic_range

N = synthetic_range(640_000)[-40:]  # above every other test's numbers


def fixed(session, day: date) -> None:
    session.clock = lambda: datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)


def emis_export(rows: list[tuple]) -> bytes:
    """EMIS Web-shaped: UTF-8 with a byte-order mark, CRLF, comma-separated, SNOMED CT concept
    ids and dd-Mon-yyyy dates. rows: (nhs, surname, forename, dob, postcode, snomed, date)."""
    lines = ["NHS Number,Surname,Forename,Date of Birth,Postcode,SNOMED Code,Event Date"]
    for nhs, surname, forename, dob, postcode, code, when in rows:
        lines.append(f"{display(nhs)},{surname},{forename},{dob:%d-%b-%Y},{postcode},{code},{when:%d-%b-%Y}")
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def systmone_export(rows: list[tuple], encoding: str = "cp1252") -> bytes:
    """SystmOne-shaped as a spreadsheet saves it on a Windows PC: semicolon-separated,
    Windows-1252, CTV3 codes and dd/mm/yyyy dates."""
    lines = ["NHS number;Surname;Given name;Date of birth;Postcode;Clinical code;Date recorded"]
    for nhs, surname, forename, dob, postcode, code, when in rows:
        lines.append(f"{nhs};{surname};{forename};{dob:%d/%m/%Y};{postcode};{code};{when:%d/%m/%Y}")
    return ("\r\n".join(lines) + "\r\n").encode(encoding)
