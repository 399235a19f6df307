"""Putting a binder together (pypdf): hoso's own pages, each record's PDF with the binding
gutter, blank pages where a week must start on the right, the footers, the bookmarks and
the title/author metadata.

The gutter is mirrored: on a right-hand (odd) page the content moves away from the left
edge, on a left-hand (even) page away from the right edge. The record's page is scaled
down a little to make room rather than cut, and keeps a free band at the bottom for the
footer.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    FloatObject,
    NameObject,
    RectangleObject,
)

from . import layout
from .pages import FOOTER_BAND, GUTTER, PT, Overlay

_GUTTER_PT = GUTTER / PT
_BAND_PT = FOOTER_BAND / PT
A4_PT = (595.28, 841.89)
# A page's visible side, in points: under an inch leaves no room for the gutter (a zero-sized
# page would divide by zero); over the PDF's own limit of 200 inches is no page to print.
_SIDE_PT = (72.0, 14400.0)
# More pages than a record of a binder has: a PDF of 10,000 pages took minutes to copy and
# made a binder no one prints.
MAX_PAGES = 1000


class NotAPdf(Exception):
    """A PDF that cannot go into the binder (damaged, password-protected, no pages)."""


class Changed(Exception):
    """A record's PDF no longer has the pages it was counted with (replaced meanwhile, e.g.
    by a sync): the page plan would be wrong."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index  # of the part


@dataclass(frozen=True)
class Part:
    """A record's PDF in the binder, with the bookmarks' and the mark's words."""

    pdf: Path
    mark: str = ""  # shown at the foot of each of its pages


def page_count(pdf: Path, *, trial: bool = False) -> int:
    """The pages of a PDF that can go in a binder; NotAPdf otherwise. ``trial``: a PDF from
    the share is also copied whole into a scratch PDF, as the binder will copy it: a hostile
    one may hold objects that only break then."""
    try:
        reader = PdfReader(pdf)
        if reader.is_encrypted:
            raise NotAPdf("password-protected")
        count = len(reader.pages)
        if count > MAX_PAGES:
            raise NotAPdf(f"{count} pages, over {MAX_PAGES} for a binder")
        for page in reader.pages:
            _check_size(page)
        if trial:
            scratch = PdfWriter()
            for page in reader.pages:
                # merged with a page as the footer will be: that decodes its content (a
                # stream that inflates past pypdf's limit fails here, not in the binder)
                scratch.add_page(page).merge_page(PageObject.create_blank_page(None, 72, 72))
            scratch.write(io.BytesIO())
    except NotAPdf:
        raise
    except Exception as exc:  # pypdf raises many kinds (and RecursionError) on a hostile file
        raise NotAPdf(str(exc) or type(exc).__name__) from exc
    if count == 0:
        raise NotAPdf("no pages")
    return count


def _check_size(page: PageObject) -> None:
    turn = page.rotation  # what the binder turns its content by: a quarter turn or none
    if not isinstance(turn, int) or turn % 90:
        raise NotAPdf(f"a page turned by {turn}")
    box = page.cropbox  # what a viewer shows and a printer prints
    width, height = float(box.width), float(box.height)
    low, high = _SIDE_PT
    if not (low <= width <= high and low <= height <= high):
        raise NotAPdf(f"a page of {width:g} × {height:g} pt")


def assemble(
    front: bytes,
    parts: Sequence[Part],
    entries: Sequence[layout.Entry],
    page_plan: layout.PagePlan,
    closing: bytes | None,
    overlay_pages: Callable[[list[Overlay]], bytes],
    *,
    title: str,
    author: str,
) -> tuple[bytes, int]:
    """The binder's bytes and its number of pages."""
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(front)))
    # per page: the corner its box starts at (x, y), where its content sits after the gutter
    # (left, width), all in points
    frames: list[tuple[float, float, float, float]] = []
    for _page in writer.pages:
        frames.append((0.0, 0.0, *_own_frame(len(frames) + 1)))
    for index, part in enumerate(parts):
        first = page_plan.first_pages[index]
        while len(writer.pages) + 1 < first:  # the blank page before a week
            writer.add_blank_page(*A4_PT)
            frames.append((0.0, 0.0, *_own_frame(len(frames) + 1)))
        try:
            pages = PdfReader(part.pdf).pages
            unchanged = len(pages) == entries[index].pages
        except Exception as exc:  # as in page_count: it was a PDF when counted
            raise Changed(index) from exc
        if not unchanged:
            raise Changed(index)
        for page in pages:
            number = len(writer.pages) + 1
            added = writer.add_page(page)
            frames.append(_with_gutter(writer, added, number))
    if closing is not None:
        writer.append(PdfReader(io.BytesIO(closing)))
        while len(frames) < len(writer.pages):
            frames.append((0.0, 0.0, *_own_frame(len(frames) + 1)))
    total = len(writer.pages)
    marks = _marks(parts, entries, page_plan)
    overlays = PdfReader(
        io.BytesIO(
            overlay_pages(
                [
                    Overlay(
                        float(page.mediabox.width),
                        float(page.mediabox.height),
                        frames[i][2],
                        frames[i][3],
                        footer=f"Trang {i + 1}/{total}" if page_plan.numbered(i + 1) else "",
                        mark=marks.get(i + 1, ""),
                    )
                    for i, page in enumerate(writer.pages)
                ]
            )
        )
    )
    for i, page in enumerate(writer.pages):
        if page_plan.numbered(i + 1):
            x, y = frames[i][:2]
            page.merge_translated_page(overlays.pages[i], x, y)
    _bookmarks(writer, entries, page_plan)
    writer.add_metadata({"/Title": title, "/Author": author, "/Creator": "hoso"})
    writer.page_mode = "/UseOutlines"
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), total


def _own_frame(number: int) -> tuple[float, float]:
    """hoso's own pages are laid out with the gutter already (pages.py)."""
    left = (15.0 + GUTTER) / PT if number % 2 else 15.0 / PT
    return left, A4_PT[0] - (30.0 + GUTTER) / PT


def _with_gutter(
    writer: PdfWriter, page: PageObject, number: int
) -> tuple[float, float, float, float]:
    """Scale the record's page and move it off the binding edge (right-hand pages: off the
    left edge); returns its box's corner (x, y) and where its content now sits (left, width)
    from that corner."""
    if page.rotation:
        page.transfer_rotation_to_content()
    # The visible page is the crop box: what a viewer crops away stays away, and a box that
    # does not start at 0, 0 keeps the footer on the page.
    page.mediabox = RectangleObject(page.cropbox)
    box = page.mediabox
    left, bottom = float(box.left), float(box.bottom)
    width, height = float(box.width), float(box.height)
    scale = min((width - _GUTTER_PT) / width, (height - _BAND_PT) / height)
    shift_x = _GUTTER_PT if number % 2 else width * (1 - scale) - _GUTTER_PT
    shift_x = max(shift_x, 0.0)
    move_x = left * (1 - scale) + shift_x
    move_y = bottom * (1 - scale) + height * (1 - scale)
    # Clipped to the box it had: what lay outside it (hidden) must not show in the band
    # freed for the footer.
    _wrap(
        writer,
        page,
        f"q {scale:.6f} 0 0 {scale:.6f} {move_x:.4f} {move_y:.4f} cm "
        f"{left:.4f} {bottom:.4f} {width:.4f} {height:.4f} re W n\n",
    )
    page.cropbox = page.mediabox
    _move_annotations(page, scale, move_x, move_y)
    return left, bottom, shift_x, width * scale


def _move_annotations(page: PageObject, scale: float, move_x: float, move_y: float) -> None:
    """Annotations (a signature's stamp, a filled form's values, a note) are printed where
    the content went, not where it was. Their actions go: a binder is for printing, and a
    PDF from the share may carry scripts that would run in whoever opens the binder."""
    page.pop("/AA", None)
    annots = page.get("/Annots")
    annots = annots.get_object() if annots is not None else None
    if not isinstance(annots, ArrayObject):  # none, or not a list of them: nothing to print
        page.pop("/Annots", None)
        return
    kept = ArrayObject()
    for item in annots:
        annot = item.get_object()
        try:
            for key in ("/Rect", "/QuadPoints"):
                if key in annot:
                    values = [float(v) for v in annot[key]]
                    annot[NameObject(key)] = ArrayObject(
                        FloatObject(v * scale + (move_y if i % 2 else move_x))
                        for i, v in enumerate(values)
                    )
            annot.pop("/A", None)
            annot.pop("/AA", None)
        except (AttributeError, KeyError, TypeError, ValueError):  # no place: not printed
            continue
        kept.append(item)
    page[NameObject("/Annots")] = kept


def _wrap(writer: PdfWriter, page: PageObject, matrix: str) -> None:
    """Put the page's content streams between ``q <matrix>`` and ``Q``, as they are: pypdf's
    own add_transformation parses and rewrites every stream (most of a binder's time)."""
    contents = page.raw_get("/Contents") if "/Contents" in page else None
    if contents is None:
        return
    resolved = contents.get_object()
    streams = list(resolved) if isinstance(resolved, ArrayObject) else [contents]
    before, after = DecodedStreamObject(), DecodedStreamObject()
    before.set_data(matrix.encode("ascii"))
    after.set_data(b"\nQ\n")
    # pypdf has no public way to add an indirect object; every content stream must be one.
    page[NameObject("/Contents")] = ArrayObject(
        [writer._add_object(before), *streams, writer._add_object(after)]
    )


def _marks(
    parts: Sequence[Part], entries: Sequence[layout.Entry], page_plan: layout.PagePlan
) -> dict[int, str]:
    marks = {}
    for part, entry, first in zip(parts, entries, page_plan.first_pages, strict=True):
        if part.mark:
            for page in range(first, first + entry.pages):
                marks[page] = part.mark
    return marks


def _bookmarks(
    writer: PdfWriter, entries: Sequence[layout.Entry], page_plan: layout.PagePlan
) -> None:
    """Bookmarks week → subject → lesson, like the contents."""
    writer.add_outline_item("Mục lục", layout.CONTENTS_FIRST - 1)
    parents: dict[int, object] = {}
    for level, title, index in layout.outline(entries):
        page = page_plan.first_pages[index] - 1
        parent = parents.get(level - 1) if level else None
        if level == 2 and not entries[index].subject:
            parent = parents.get(0)
        parents[level] = writer.add_outline_item(title, page, parent=parent)
    if page_plan.closing_first is not None:
        writer.add_outline_item(layout.CLOSING_TITLE, page_plan.closing_first - 1)
