"""Bounds every reader enforces before decoding, so a hostile file cannot exhaust memory."""

MAX_IMAGE_PIXELS = 100_000_000  # a 12 MP photo is 12e6; 108 MP sensors exist
MAX_DEPTH_PIXELS = 16_000_000
MAX_FILE_BYTES = 512 * 1024 * 1024
