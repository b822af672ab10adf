"""The embedded font: DejaVu Sans has every Latin letter a patient's name may carry
(accents, Welsh ŵ ŷ), unlike the PDF base fonts. Licence: resources/fonts/DejaVu-LICENSE.txt."""

from __future__ import annotations

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from ..paths import resource

REGULAR = "LetterSans"
BOLD = "LetterSans-Bold"

_registered = False


def register() -> None:
    """Register once per process (parsing the TTF costs a few milliseconds)."""
    global _registered
    if _registered:
        return
    pdfmetrics.registerFont(TTFont(REGULAR, str(resource("fonts", "DejaVuSans.ttf"))))
    pdfmetrics.registerFont(TTFont(BOLD, str(resource("fonts", "DejaVuSans-Bold.ttf"))))
    # Paragraph's <b> and the table styles look the bold face up through this family.
    addMapping(REGULAR, 0, 0, REGULAR)
    addMapping(REGULAR, 1, 0, BOLD)
    addMapping(REGULAR, 0, 1, REGULAR)
    addMapping(REGULAR, 1, 1, BOLD)
    _registered = True
