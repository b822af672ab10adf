import io
import re
from datetime import date

from pypdf import PdfReader

from gp_optout_desktop.letters import fonts
from gp_optout_desktop.letters.model import LetterRequest
from gp_optout_desktop.letters.render import render_batch, render_bytes, render_split
from gp_optout_desktop.letters.templates import load_template, parse_template

from .helpers import AWKWARD, NHS, PRACTICE, item, objection, pdf_text, poppler_text, recipient


def test_letter_holds_name_address_nhs_number_date_and_codes_exactly(tmp_path):
    result = render_batch([objection()], PRACTICE, tmp_path / "one.pdf")
    (text,) = pdf_text(result.path)
    for expected in ("Ms Megan Jones", "Flat 2, Tŷ Gwyn", "5 Ffordd yr Orsaf", "LL30 1AA",
                     "999 000 0018", "4 March 2025", "3 March 1980", "from 1 March 2025", "L-000001",
                     "SNOMED CT 827241000000103", "Read v2 9Nu0.", "CTV3 XaZ89",
                     "Riverside Medical Centre", "01492 000000", "riverside.practice@nhs.net", "ODS code W94001"):
        assert expected in text, expected
    assert "9990000018" not in text  # always shown 3-3-4
    assert result.letters[0].pages == 1


def test_awkward_names_render_literally_and_markup_is_not_interpreted(tmp_path):
    hostile = 'Ŷ <img src="http://127.0.0.1:9/x.png"/> <b>Bold</b>'
    letter = objection(recipient=recipient(surname=AWKWARD, forenames=hostile),
                       items=(item(name=f"{hostile} {AWKWARD}"),))
    result = render_batch([letter], PRACTICE, tmp_path / "awkward.pdf")
    text = pdf_text(result.path)[0]
    assert AWKWARD in text
    assert "Dear Ms O'Brien-Ŵyn <script>&amp; Siân," in text
    assert '<img src="http://127.0.0.1:9/x.png"/>' in text and "<b>Bold</b>" in text
    assert AWKWARD in poppler_text(result.path)[0]  # and poppler reads the file without complaint
    # Nothing was embedded from the markup: the only images would be ones we drew (none).
    reader = PdfReader(str(result.path))
    xobjects = reader.pages[0]["/Resources"].get("/XObject", {})
    assert all(x.get_object()["/Subtype"] == "/Form" for x in xobjects.values())


def test_font_is_embedded_with_welsh_letters(tmp_path):
    result = render_batch([objection(recipient=recipient(surname="Ŵyn-Ŷr"))], PRACTICE, tmp_path / "f.pdf")
    fonts = {f["/BaseFont"] for f in _fonts(PdfReader(str(result.path)))}
    # Only the embedded subsets: no base-14 font, which has no ŵ or ŷ.
    assert fonts == {"/AAAAAA+DejaVuSans", "/AAAAAA+DejaVuSans-Bold"}
    assert "Ŵyn-Ŷr" in pdf_text(result.path)[0]


def _fonts(reader):
    res = reader.pages[0]["/Resources"]["/Font"].get_object()
    return [f.get_object() for f in res.values()]


def test_dependants_are_each_listed_and_proxy_named(tmp_path):
    family = (item(name="Megan Jones"), item(name="Tomos Jones", nhs=NHS[1], dob=date(2014, 6, 1)),
              item(name="Zoë Jones", nhs=NHS[2], dob=date(2017, 9, 30)))
    letter = objection(items=family, proxy_name="Gwen Jones", proxy_role="parental_responsibility")
    result = render_batch([letter], PRACTICE, tmp_path / "family.pdf")
    text = "".join(pdf_text(result.path))
    for name, nhs, dob in (("Tomos Jones", "999 000 0026", "1 June 2014"), ("Zoë Jones", "999 000 0034", "30 September 2017")):
        assert name in text and nhs in text and dob in text
    assert "covered 3 people: Megan Jones, Tomos Jones and Zoë Jones" in text
    assert "by Gwen Jones (Parental responsibility)" in text


def test_conditional_paragraphs_drop_out_when_they_do_not_apply(tmp_path):
    result = render_batch([objection()], PRACTICE, tmp_path / "self.pdf")
    text = pdf_text(result.path)[0]
    assert "on the patient's behalf" not in text and "Your form covered" not in text


def test_page_numbers_restart_for_each_letter_in_a_batch(tmp_path):
    many = tuple(item(name=f"Child {i} Jones", nhs=NHS[i]) for i in range(1, 26))  # long table: 2+ pages
    batch = [objection("L-1"), objection("L-2", items=many), objection("L-3")]
    result = render_batch(batch, PRACTICE, tmp_path / "batch.pdf")
    counts = [letter.pages for letter in result.letters]
    assert counts[0] == 1 and counts[1] >= 2 and counts[2] == 1
    pages = poppler_text(result.path)
    assert len(pages) == sum(counts)
    numbers = [re.search(r"Page (\d+) of (\d+)", p).groups() for p in pages]
    expected = [(str(n), str(total)) for total in counts for n in range(1, total + 1)]
    assert numbers == expected
    # Continuation pages carry the reference so a loose sheet finds its letter.
    assert "Reference L-2" in pages[2]


def test_each_letter_records_its_template_version(tmp_path):
    source = load_template("withdrawal").source.replace("version: 2", "version: 7")
    tpl = parse_template(source, expected_kind="withdrawal")
    letter = LetterRequest("withdrawal", "L-9", date(2025, 3, 4), recipient(), (item(action="withdraw"),))
    result = render_batch([letter], PRACTICE, tmp_path / "w.pdf", templates={"withdrawal": tpl})
    assert result.letters[0].template_version == 7
    assert result.letters[0].template_digest == tpl.digest
    text = pdf_text(result.path)[0]
    assert "Template withdrawal v7" in text
    flat = " ".join(text.split())  # a table cell may wrap
    assert "SNOMED CT 827261000000102" in flat and "Type 1 objection withdrawn" in flat


def test_type2_in_error_and_practice_wide_notice(tmp_path):
    t2 = LetterRequest("type2_in_error", "L-20", date(2025, 3, 4), recipient(),
                       (item(kind="type2", effective=date(2019, 2, 1)),))
    notice = LetterRequest("practice_wide_notice", "L-21", date(2025, 3, 4), recipient(),
                           policy_effective=date(2025, 4, 1))
    result = render_batch([t2, notice], PRACTICE, tmp_path / "mix.pdf")
    t2_text, *notice_pages = pdf_text(result.path)
    notice_text = "".join(notice_pages)
    assert "SNOMED CT 881561000000100" in t2_text and "recorded in error" in t2_text
    assert "0300 303 5678" in " ".join(t2_text.split())  # drawn with no-break spaces: never split
    assert "From 1 April 2025" in notice_text and "want to be included" in notice_text


def test_split_mode_writes_one_file_per_letter_named_without_patient_names(tmp_path):
    batch = [objection(f"L-{i}", recipient=recipient(surname=f"Jones{i}")) for i in range(6)]
    letters = render_split(batch, PRACTICE, tmp_path / "split", workers=2)
    files = sorted(p.name for p in (tmp_path / "split").iterdir())
    assert files == [f"{i + 1:04d}-L-{i}.pdf" for i in range(6)]
    assert [letter.reference for letter in letters] == [f"L-{i}" for i in range(6)]
    for i, letter in enumerate(letters):
        (text,) = pdf_text(letter.path)
        assert f"Jones{i}" in text and "Page 1 of" in text


def test_split_letters_keep_their_own_rare_letters_when_font_subsets_are_reused(tmp_path):
    # Subsets are cached per process: letters with different characters outside the common
    # set must each still show their own names.
    names = ["Łucja Ğül", "Ōtake Ŝŭŝa", "Megan Jones", "Łucja Ğül"]
    batch = [objection(f"L-{i}", recipient=recipient(surname=n)) for i, n in enumerate(names)]
    letters = render_split(batch, PRACTICE, tmp_path / "split", workers=1)
    for name, letter in zip(names, letters):
        assert name in pdf_text(letter.path)[0]
        assert name in poppler_text(letter.path)[0]


def test_fixed_wording_drawn_once_and_replayed_reads_back_exactly_in_every_letter(tmp_path):
    # Fixed wording is drawn once per process and its page operators replayed in later letters;
    # wording with characters outside the common set gets different font codes from letter to
    # letter (first use decides), so each letter must still read back its own exact text.
    source = load_template("objection").source.replace(
        "## What we recorded", "Croeso: Łódź, Ğüneş and Ōtake € ŵ.\n\n## What we recorded")
    tpl = parse_template(source, expected_kind="objection")
    names = ["Ōtake", "Ğül Łucja", "Jones", "Ōtake"]
    batch = [objection(f"L-{i}", recipient=recipient(surname=n), items=(item(name=f"Megan {n}"),))
             for i, n in enumerate(names)]
    for run in range(2):  # the second run replays what the first recorded
        letters = render_split(batch, PRACTICE, tmp_path / f"split{run}", {"objection": tpl}, workers=1)
        for name, letter in zip(names, letters):
            text = " ".join(pdf_text(letter.path)[0].split())
            assert "Croeso: Łódź, Ğüneş and Ōtake € ŵ." in text
            assert f"Dear Ms {name}," in text
            assert "Your direct care: the people caring for you" in text
            assert name in poppler_text(letter.path)[0]


def test_a_letter_that_fills_its_last_page_gets_no_blank_extra_page():
    # Grow a letter line by line across a page boundary: whatever the fill, the sign-off is on
    # the last page (a zero-height end marker once spilled onto a blank page of its own).
    base = load_template("type2_in_error").source
    seen = set()
    for extra in range(0, 40):
        source = base.replace("## What you can do", "A line of filler.\n\n" * extra + "## What you can do")
        tpl = parse_template(source, expected_kind="type2_in_error")
        letter = LetterRequest("type2_in_error", "L-30", date(2025, 3, 4), recipient(),
                               (item(kind="type2", effective=date(2019, 2, 1)),))
        data, (rendered,) = render_bytes([letter], PRACTICE, {"type2_in_error": tpl})
        pages = [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]
        assert len(pages) == rendered.pages
        assert "Yours sincerely" in pages[-1], (extra, rendered.pages)
        seen.add(rendered.pages)
    assert {1, 2} <= seen


def test_common_text_is_split_into_font_codes_once_per_process_and_reads_back_exactly(tmp_path, monkeypatch):
    # Mapping text to subset codes is remembered for text of common characters only (the same
    # codes in every seeded PDF); a name with others (Ł) is mapped afresh in each PDF.
    from reportlab.pdfbase.ttfonts import TTFont

    mapped: list[str] = []
    original = TTFont.splitString

    def counting(self, text, doc, encoding="utf-8"):
        mapped.append(text)
        return original(self, text, doc, encoding)

    monkeypatch.setattr(TTFont, "splitString", counting)
    batch = [objection("L-1", recipient=recipient(surname="Łucja Jones")), objection("L-2")]
    render_split(batch, PRACTICE, tmp_path / "first", workers=1)
    mapped.clear()
    letters = render_split(batch, PRACTICE, tmp_path / "again", workers=1)
    assert mapped, "the seed and the rare name are still mapped in each PDF"
    assert all(text == fonts.SEED or not fonts._FIXED.issuperset(text) for text in mapped), mapped
    assert any("Łucja" in text for text in mapped)
    first, second = (" ".join(pdf_text(letter.path)[0].split()) for letter in letters)
    assert "Dear Ms Łucja Jones," in first and "Dear Ms Jones," in second
    assert "Łucja Jones" in poppler_text(letters[0].path)[0]
    assert (tmp_path / "first" / letters[0].path.name).read_bytes() == letters[0].path.read_bytes()


def test_escaping_names_and_tounicode_maps_are_remembered_and_equal_reportlabs_own():
    # Pure functions run for every string and every PDF; remembered per process, same output.
    from reportlab.lib import rl_accel
    from reportlab.pdfbase import ttfonts
    from reportlab.pdfgen import canvas

    text = b"Ms (Si\xe2n) O'Brien \\ \x01yn"  # subset codes, as drawn
    assert canvas.escapePDF(text) == rl_accel._py_escapePDF(text)
    assert canvas.escapePDF(text) is canvas.escapePDF(text)
    subset = [0, 1, 2, 32, 65, 0x175]
    first = ttfonts.makeToUnicodeCMap("AAAAAA+DejaVuSans", subset)
    assert "<05> <0175>" in first and "6 beginbfchar" in first
    assert ttfonts.makeToUnicodeCMap("AAAAAA+DejaVuSans", list(subset)) is first
    from reportlab.pdfbase import pdfdoc

    assert pdfdoc.PDFName("Font Name(1)") == "/Font#20Name#281#29"
    assert pdfdoc.PDFName("Font Name(1)") is pdfdoc.PDFName("Font Name(1)")


def test_fixed_characters_match_in_any_seeded_pdf_and_not_in_an_unseeded_one():
    # Replayed wording of common characters is matched by the PDFs being seeded, not letter by
    # letter; an unseeded PDF gives the same characters other codes, so it never matches.
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfgen.canvas import Canvas

    fonts.register()
    seeded, seeded_too, plain = Canvas(io.BytesIO()), Canvas(io.BytesIO()), Canvas(io.BytesIO())
    fonts.seed(seeded)
    fonts.seed(seeded_too)
    for name in (fonts.REGULAR, fonts.BOLD):
        pdfmetrics.getFont(name).splitString("Zoë Ŵyn", plain._doc)
    recorded = fonts.codes_for(frozenset("Dear Zoë Ŵyn"), seeded._doc)
    assert [codes for _, _, codes in recorded] == [None, None]
    assert fonts.codes_match(recorded, seeded_too._doc)
    assert not fonts.codes_match(recorded, plain._doc)
    rare = fonts.codes_for(frozenset("Łucja"), seeded._doc)
    assert all(codes is not None for _, _, codes in rare)
