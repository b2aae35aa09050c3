"""ELAN annotation files (``.eaf``, EAF 3.0): time-aligned tiers of segments.

:func:`write_eaf` writes a valid EAF 3.0 document (``HEADER`` with optional media descriptor,
``TIME_ORDER`` of millisecond slots, one ``TIER`` of ``ALIGNABLE_ANNOTATION`` s per tier (``segments`` for one
tier, or ``tiers`` = ``{tier id: segments}`` for several, e.g. signing and gloss), the linguistic type and
the four standard constraints ELAN writes), atomically. :func:`read_eaf_tier` reads a tier back as
``(start_seconds, end_seconds, value)`` triples.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from signstgcn.atomic import atomic_open
from signstgcn.errors import DataError

DEFAULT_TIER = "SIGNING"
LINGUISTIC_TYPE = "default-lt"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_SCHEMA = "http://www.mpi.nl/tools/elan/EAFv3.0.xsd"
_MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".avi": "video/x-msvideo",
         ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".webm": "video/webm", ".mkv": "video/x-matroska",
         ".wav": "audio/x-wav"}
_CONSTRAINTS = (
    ("Time_Subdivision", "Time subdivision of parent annotation's time interval, no time gaps allowed within "
                         "this interval"),
    ("Symbolic_Subdivision", "Symbolic subdivision of a parent annotation. Annotations refering to the same "
                             "parent are ordered"),
    ("Symbolic_Association", "1-1 association with a parent annotation"),
    ("Included_In", "Time alignment within the parent annotation's time interval, gaps are allowed"),
)


Segments = Sequence[tuple[float, float, str]]


def _tiers(segments: Segments, tier: str, tiers: Mapping[str, Segments] | None) -> dict[str, Segments]:
    if tiers is not None and segments:
        raise ValueError("pass segments (one tier) or tiers (several), not both")
    chosen = dict(tiers) if tiers is not None else {tier: segments}
    for name in chosen:
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"tier: expected a non-empty id without spaces, got {name!r}")
    return chosen


def eaf_tree(
    segments: Segments = (),
    *,
    tier: str = DEFAULT_TIER,
    tiers: Mapping[str, Segments] | None = None,
    media: str | Path | None = None,
    author: str = "signstgcn",
    properties: Mapping[str, str] | None = None,
) -> ET.ElementTree:
    """EAF 3.0 document with one tier ``tier`` holding ``segments`` = ``(start_s, end_s, value)`` (or one tier per
    entry of ``tiers``), each in time order; ``properties`` become ``HEADER/PROPERTY`` elements (e.g. the model's
    name and version)."""
    chosen = _tiers(segments, tier, tiers)
    ET.register_namespace("xsi", _XSI)
    root = ET.Element("ANNOTATION_DOCUMENT", {
        "AUTHOR": author,
        "DATE": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "FORMAT": "3.0",
        "VERSION": "3.0",
        f"{{{_XSI}}}noNamespaceSchemaLocation": _SCHEMA,
    })
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    if media is not None:
        media = Path(media)
        ET.SubElement(header, "MEDIA_DESCRIPTOR", {
            "MEDIA_URL": media.resolve().as_uri(),
            "MIME_TYPE": _MIME.get(media.suffix.lower(), "video/*"),
            "RELATIVE_MEDIA_URL": f"./{media.name}",
        })
    ordered = {name: sorted(segs, key=lambda seg: (seg[0], seg[1])) for name, segs in chosen.items()}
    for name, value in (properties or {}).items():
        ET.SubElement(header, "PROPERTY", {"NAME": str(name)}).text = str(value)
    prop = ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"})
    prop.text = str(sum(len(segs) for segs in ordered.values()))
    time_order = ET.SubElement(root, "TIME_ORDER")
    k = 0  # annotation number over all tiers (ids and time slots are document-wide)
    for name, segs in ordered.items():
        tier_el = ET.SubElement(root, "TIER", {"LINGUISTIC_TYPE_REF": LINGUISTIC_TYPE, "TIER_ID": name})
        for n, (start, end, value) in enumerate(segs):
            t0, t1 = round(float(start) * 1000), round(float(end) * 1000)
            if t0 < 0 or t1 <= t0:
                raise ValueError(f"tier {name} segment {n}: expected 0 <= start < end (seconds), got ({start}, {end})")
            ET.SubElement(time_order, "TIME_SLOT", {"TIME_SLOT_ID": f"ts{2 * k + 1}", "TIME_VALUE": str(t0)})
            ET.SubElement(time_order, "TIME_SLOT", {"TIME_SLOT_ID": f"ts{2 * k + 2}", "TIME_VALUE": str(t1)})
            ann = ET.SubElement(ET.SubElement(tier_el, "ANNOTATION"), "ALIGNABLE_ANNOTATION", {
                "ANNOTATION_ID": f"a{k + 1}", "TIME_SLOT_REF1": f"ts{2 * k + 1}", "TIME_SLOT_REF2": f"ts{2 * k + 2}",
            })
            ET.SubElement(ann, "ANNOTATION_VALUE").text = str(value)
            k += 1
    ET.SubElement(root, "LINGUISTIC_TYPE", {
        "GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": LINGUISTIC_TYPE, "TIME_ALIGNABLE": "true",
    })
    for stereotype, description in _CONSTRAINTS:
        ET.SubElement(root, "CONSTRAINT", {"DESCRIPTION": description, "STEREOTYPE": stereotype})
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_eaf(
    path: str | Path,
    segments: Segments = (),
    *,
    tier: str = DEFAULT_TIER,
    tiers: Mapping[str, Segments] | None = None,
    media: str | Path | None = None,
    author: str = "signstgcn",
    properties: Mapping[str, str] | None = None,
) -> Path:
    """Write :func:`eaf_tree` to ``path`` atomically (UTF-8, XML declaration); returns the path."""
    path = Path(path)
    tree = eaf_tree(segments, tier=tier, tiers=tiers, media=media, author=author, properties=properties)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        tree.write(f, encoding="UTF-8", xml_declaration=True)
    return path


def read_eaf_tier(path: str | Path, tier: str = DEFAULT_TIER) -> list[tuple[float, float, str]]:
    """``(start_s, end_s, value)`` of the alignable annotations of ``tier`` in an ``.eaf`` file."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise DataError(f"{path}: not a readable EAF (XML) file ({err})") from None
    slots = {ts.get("TIME_SLOT_ID"): ts.get("TIME_VALUE") for ts in root.iter("TIME_SLOT")}
    for tier_el in root.iter("TIER"):
        if tier_el.get("TIER_ID") != tier:
            continue
        out = []
        for ann in tier_el.iter("ALIGNABLE_ANNOTATION"):
            t0, t1 = slots.get(ann.get("TIME_SLOT_REF1")), slots.get(ann.get("TIME_SLOT_REF2"))
            if t0 is None or t1 is None:
                raise DataError(f"{path}: annotation {ann.get('ANNOTATION_ID')} refers to a missing or "
                                "unaligned time slot")
            out.append((int(t0) / 1000.0, int(t1) / 1000.0, ann.findtext("ANNOTATION_VALUE", default="")))
        return out
    tiers = [t.get("TIER_ID") for t in root.iter("TIER")]
    raise DataError(f"{path}: no tier {tier!r} (tiers: {', '.join(map(str, tiers)) or 'none'})")
