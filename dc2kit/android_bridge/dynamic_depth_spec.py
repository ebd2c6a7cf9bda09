"""The names Dynamic Depth 1.0 defines, shared by its reader and its writer.

Namespaces are `http://ns.google.com/photos/dd/1.0/<name>/`; items are found by `Item:DataURI`
(Android's camera service writes the URIs below), and `DepthMap:Units` decides units and accuracy.
"""

from __future__ import annotations

from dc2kit.capture.record import Accuracy, DepthUnits

DD_NS = "http://ns.google.com/photos/dd/1.0/{}/"
NAMESPACES = {
    name: DD_NS.format(name.lower())
    for name in ("Device", "Container", "Item", "Camera", "DepthMap", "ImagingModel", "Profile")
}
DEVICE_NS = NAMESPACES["Device"]
DEPTH_URI = "android/depthmap"
CONFIDENCE_URI = "android/confidencemap"
ORIGINAL_URI = "android/original_image"
ITEM_SEMANTICS = ("Depth", "Segmentation")  # DepthMap:ItemSemantic values the spec defines
UNITS = {
    "Meters": (DepthUnits.METERS, Accuracy.ABSOLUTE),
    "Diopters": (DepthUnits.DIOPTERS, Accuracy.RELATIVE),
    "None": (DepthUnits.RELATIVE, Accuracy.RELATIVE),
}
