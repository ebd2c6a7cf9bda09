"""Safe, bounded XMP parsing shared by the iPhone and Android readers.

Every XMP packet goes through defusedxml (no DTDs, no entity expansion, no external references)
after bounds on its size and on its markup (elements and attributes), which is what parsing time
grows with. Values are looked up by namespace URI, whether the packet writes them as
attributes of `rdf:Description` or as child elements: both spellings occur in real files.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from dc2kit.capture.errors import CaptureError
from dc2kit.capture.limits import MAX_XMP_BYTES, MAX_XMP_MARKUP

RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def parse_xmp(data: bytes, path: str | Path | None) -> Element:
    """Parse one XMP packet; any malformed, oversized or entity-bearing packet is a CaptureError."""
    if len(data) > MAX_XMP_BYTES:
        raise CaptureError(path, f"XMP packet of {len(data)} bytes exceeds {MAX_XMP_BYTES}")
    # Every element needs a '<' and every attribute a '=': counting both bounds the tree.
    markup = data.count(b"<") + data.count(b"=")
    if markup > MAX_XMP_MARKUP:
        raise CaptureError(
            path,
            f"XMP packet has {markup} '<' and '=' (elements and attributes), over {MAX_XMP_MARKUP}",
        )
    text = data.rstrip(b"\x00 \t\r\n")
    try:
        return SafeET.fromstring(text, forbid_dtd=True)
    except DefusedXmlException as error:
        raise CaptureError(path, f"XMP refused ({type(error).__name__})") from error
    except SafeET.ParseError as error:
        raise CaptureError(path, f"malformed XMP ({error})") from error


def namespace_values(root: Element, namespace: str) -> dict[str, str]:
    """All simple values in `namespace` anywhere in the packet, keyed by local name.

    Attributes (`ns:Name="v"`) and leaf elements (`<ns:Name>v</ns:Name>`) are both collected;
    the first occurrence wins.
    """
    prefix = "{" + namespace + "}"
    values: dict[str, str] = {}
    for element in root.iter():
        for key, value in element.attrib.items():
            if key.startswith(prefix):
                values.setdefault(key[len(prefix) :], value)
        if element.tag.startswith(prefix) and len(element) == 0 and element.text is not None:
            values.setdefault(element.tag[len(prefix) :], element.text.strip())
    return values
