"""The embedded font: DejaVu Sans has every Latin letter a patient's name may carry
(accents, Welsh ŵ ŷ), unlike the PDF base fonts. Licence: resources/fonts/DejaVu-LICENSE.txt.

Embedding a TrueType subset costs about 5 ms per PDF (cutting the subset out of the font
file and compressing it), more than laying out a whole letter. In split mode each letter
is its own PDF, so the subset is made the same in every letter (``seed``: ASCII plus the
common accented and Welsh letters, in a fixed order) and its bytes are kept per process.
"""

from __future__ import annotations

import hashlib
import zlib

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase import ttfonts
from reportlab.pdfbase.ttfonts import TTFont

from ..paths import resource

REGULAR = "LetterSans"
BOLD = "LetterSans-Bold"

# Non-ASCII characters every letter's subset starts with, in this order (fits subset 0).
SEED = "·•‘’“”–—" + "".join(chr(c) for c in range(0xC0, 0x100) if c not in (0xD7, 0xF7)) + "ŴŵŶŷ"
_CACHE_LIMIT = 64
_WIDTH_CACHE_LIMIT = 200_000
# Characters whose code is the same in every seeded PDF: printable ASCII (fixed by reportlab's
# readable-ASCII subset), the seed (assigned in order on a fresh subset) and the no-break space
# (drawn as a space).
_FIXED = frozenset(chr(c) for c in range(32, 128)) | frozenset(SEED) | {"\u00a0"}

_registered = False


class _CachedFlate:
    """Flate compression remembered by content, for font files repeated from PDF to PDF."""

    pdfname = "FlateDecode"

    def __init__(self):
        self._done: dict[bytes, bytes] = {}

    def encode(self, data):
        if isinstance(data, str):
            data = data.encode("utf8")
        key = hashlib.blake2b(data, digest_size=16).digest()
        out = self._done.get(key)
        if out is None:
            if len(self._done) >= _CACHE_LIMIT:
                self._done.clear()
            out = self._done[key] = zlib.compress(data)
        return out

    def decode(self, encoded):
        return zlib.decompress(encoded)


_FLATE = _CachedFlate()


def _remember_cmaps() -> None:
    """The ToUnicode map of a subset is formatted line by line in pure Python for each PDF,
    and the seeded subsets repeat from PDF to PDF: remember it by font name and subset."""
    original = ttfonts.makeToUnicodeCMap
    if getattr(original, "_remembered", False):
        return
    done: dict[tuple, str] = {}

    def make(fontname, subset):
        key = (fontname, tuple(subset))
        out = done.get(key)
        if out is None:
            if len(done) >= _CACHE_LIMIT:
                done.clear()
            out = done[key] = original(fontname, subset)
        return out

    make._remembered = True
    ttfonts.makeToUnicodeCMap = make


_remember_cmaps()


class _CachingTTFont(TTFont):
    """A TTFont whose subsets are cut and compressed once per process for each distinct subset."""

    def __init__(self, name, filename):
        super().__init__(name, filename)
        self._widths: dict[tuple, float] = {}
        self._splits: dict[str, list] = {}
        face = self.face
        made: dict[tuple, bytes] = {}
        cut = face.makeSubset
        add = face.addSubsetObjects

        def make_subset(subset):
            key = tuple(subset)
            data = made.get(key)
            if data is None:
                if len(made) >= _CACHE_LIMIT:
                    made.clear()
                data = made[key] = cut(subset)
            return data

        def add_subset_objects(doc, fontname, subset):
            ref = add(doc, fontname, subset)
            stream = doc.idToObject.get(f"fontFile:{face.filename}({fontname})")
            if stream is not None and doc.compression:
                stream.filters = [_FLATE]
            return ref

        face.makeSubset = make_subset
        face.addSubsetObjects = add_subset_objects

    def stringWidth(self, text, size, encoding="utf8"):
        """Remembered per (text, size): the same words are measured again in every letter
        (line breaking, table cells, the address) and summing glyph widths is pure Python."""
        key = (text, size)
        width = self._widths.get(key)
        if width is None:
            if len(self._widths) >= _WIDTH_CACHE_LIMIT:
                self._widths.clear()
            width = self._widths[key] = super().stringWidth(text, size, encoding)
        return width

    def splitString(self, text, doc, encoding="utf-8"):
        """Remembered per text in seeded PDFs: mapping each character to its subset code is a
        pure-Python loop run for every string drawn, and in a PDF that ``seed`` began every
        character of ``_FIXED`` has the same code, so text made only of those splits the same
        way in every such PDF (and adds nothing to the subset). Anything else is split afresh."""
        state = self.state.get(doc)
        if state is None or not getattr(state, "letters_seeded", False) or not isinstance(text, str):
            return super().splitString(text, doc, encoding)
        out = self._splits.get(text)
        if out is None:
            out = super().splitString(text, doc, encoding)
            if _FIXED.issuperset(text):
                if len(self._splits) >= _WIDTH_CACHE_LIMIT:
                    self._splits.clear()
                self._splits[text] = out
        return out

    def addObjects(self, doc):
        """As TTFont's, then reuse the formatted widths and compressed ToUnicode map of a
        subset seen before (both formatted in pure Python per PDF otherwise)."""
        fonts = doc.idToObject["BasicFonts"].dict
        before = set(fonts)
        super().addObjects(doc)
        for name in set(fonts) - before:
            font = fonts[name]
            font.Widths = _Preformatted.of(font.Widths, doc)
            cmap = doc.idToObject.get(f"toUnicodeCMap:{font.BaseFont}")
            if cmap is not None and doc.compression:
                cmap.filters = [_FLATE]


class _Preformatted(pdfdoc.PDFObject):
    """A PDF array formatted once per process (font widths repeat from PDF to PDF)."""

    _done: dict[tuple, bytes] = {}

    def __init__(self, data: bytes):
        self.data = data

    def format(self, document):
        return self.data

    @classmethod
    def of(cls, array, doc) -> "_Preformatted":
        key = tuple(array.sequence)
        data = cls._done.get(key)
        if data is None:
            if len(cls._done) >= _CACHE_LIMIT:
                cls._done.clear()
            data = cls._done[key] = array.format(doc)
        return cls(data)


def register() -> None:
    """Register once per process (parsing the TTF costs a few milliseconds)."""
    global _registered
    if _registered:
        return
    pdfmetrics.registerFont(_CachingTTFont(REGULAR, str(resource("fonts", "DejaVuSans.ttf"))))
    pdfmetrics.registerFont(_CachingTTFont(BOLD, str(resource("fonts", "DejaVuSans-Bold.ttf"))))
    # Paragraph's <b> and the table styles look the bold face up through this family.
    addMapping(REGULAR, 0, 0, REGULAR)
    addMapping(REGULAR, 1, 0, BOLD)
    addMapping(REGULAR, 0, 1, REGULAR)
    addMapping(REGULAR, 1, 1, BOLD)
    _registered = True


def seed(canv) -> None:
    """Give this PDF's font subsets the fixed starting order, so repeated letters reuse them."""
    for name in (REGULAR, BOLD):
        font = pdfmetrics.getFont(name)
        fresh = font.state.get(canv._doc) is None  # nothing drawn in this face yet
        font.splitString(SEED, canv._doc)
        if fresh:
            font.state[canv._doc].letters_seeded = True  # codes of _FIXED are now as in every seeded PDF


def codes_for(chars, doc) -> tuple:
    """How this PDF's font subsets name and encode ``chars``, in both faces: enough to tell
    whether page operators recorded in one PDF mean the same in another. Codes of ``_FIXED``
    characters in a seeded PDF are recorded as None: the same in every seeded PDF, so they
    need no comparing character by character."""
    fixed = _FIXED.issuperset(chars)
    out = []
    for name in (REGULAR, BOLD):
        state = pdfmetrics.getFont(name).state.get(doc)
        if state is None:
            return ()
        if fixed and getattr(state, "letters_seeded", False):
            out.append((name, state.internalName, None))
        else:
            out.append((name, state.internalName,
                        tuple((c, state.assignments.get(ord(c))) for c in sorted(chars))))
    return tuple(out)


def codes_match(recorded: tuple, doc) -> bool:
    if not recorded:
        return False
    for name, internal, codes in recorded:
        state = pdfmetrics.getFont(name).state.get(doc)
        if state is None or state.internalName != internal:
            return False
        if codes is None:  # fixed characters: match in any seeded PDF
            if not getattr(state, "letters_seeded", False):
                return False
            continue
        assignments = state.assignments
        for c, code in codes:
            if code is None or assignments.get(ord(c)) != code:
                return False
    return True
