"""Images as their pixels mean: every Pillow mode decodes to its 8-bit twin (within one grey level), EXIF
orientation is applied, and a decompression bomb is refused in one line naming the size and the limit."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from nnlab.data.paths import DataFormatError
from nnlab.data.pixels import MAX_PIXELS_ENV, ImageTooLargeError, image_pixel_limit, open_image

RNG = np.random.RandomState(22)
GREY = RNG.randint(0, 256, size=(9, 7)).astype(np.uint8)          # (H, W) 8-bit grey twin
COLOUR = RNG.randint(0, 256, size=(9, 7, 3)).astype(np.uint8)     # (H, W, 3) 8-bit RGB twin


def _decoded(path, mode: str) -> np.ndarray:
    return np.asarray(open_image(path, mode)).astype(np.int64)


def _close(got: np.ndarray, want: np.ndarray, levels: int = 1) -> None:
    assert got.shape == want.shape
    assert np.abs(got - want.astype(np.int64)).max() <= levels


def _png16_rgb(arr16: np.ndarray, path) -> None:
    """A 48-bit (16 bits per channel) RGB PNG written by hand: Pillow cannot write one."""
    h, w, _ = arr16.shape
    raw = b"".join(b"\x00" + arr16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("mode,fmt", [("I;16", "png"), ("I;16B", "tiff"), ("I;16", "tiff")])
def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path, mode, fmt):
    path = tmp_path / f"g.{fmt}"
    a16 = GREY.astype(np.uint16) * 257
    dtype = ">u2" if mode.endswith("B") else "<u2"  # (Pillow's convert() to I;16B clips: build it from bytes)
    Image.frombytes(mode, a16.shape[::-1], a16.astype(dtype).tobytes()).save(path)
    assert Image.open(path).mode == mode
    np.testing.assert_array_equal(_decoded(path, "L"), GREY)  # v * 257 -> v exactly
    _close(_decoded(path, "RGB"), np.repeat(GREY[..., None], 3, axis=2))


def test_sixteen_bit_grey_full_range_rounds_within_one_level(tmp_path):
    a16 = RNG.randint(0, 65536, size=(9, 7)).astype(np.uint16)
    Image.fromarray(a16).save(tmp_path / "g.png")
    _close(_decoded(tmp_path / "g.png", "L"), a16 / 257.0)


def test_sixteen_bit_rgb_png(tmp_path):
    _png16_rgb(COLOUR.astype(np.uint16) * 257, tmp_path / "c.png")
    _close(_decoded(tmp_path / "c.png", "RGB"), COLOUR)
    _close(_decoded(tmp_path / "c.png", "L"), np.asarray(Image.fromarray(COLOUR).convert("L")))


def test_thirty_two_bit_int_tiff(tmp_path):
    Image.fromarray(GREY.astype(np.int32) * 257, "I").save(tmp_path / "i.tiff")
    assert Image.open(tmp_path / "i.tiff").mode == "I"
    np.testing.assert_array_equal(_decoded(tmp_path / "i.tiff", "L"), GREY)


def test_thirty_two_bit_int_outside_sixteen_bits_is_stretched(tmp_path):
    a = GREY.astype(np.int64) * 1_000_000 - 5
    Image.fromarray(a.astype(np.int32), "I").save(tmp_path / "i.tiff")
    lo, hi = a.min(), a.max()
    _close(_decoded(tmp_path / "i.tiff", "L"), (a - lo) * 255.0 / (hi - lo))


@pytest.mark.parametrize("scale", [1 / 255, 1.0])
def test_float_tiff_fractions_or_levels(tmp_path, scale):
    Image.fromarray((GREY * scale).astype(np.float32), "F").save(tmp_path / "f.tiff")
    assert Image.open(tmp_path / "f.tiff").mode == "F"
    _close(_decoded(tmp_path / "f.tiff", "L"), GREY)


def test_float_with_nan_is_refused(tmp_path):
    a = (GREY / 255).astype(np.float32)
    a[2, 3] = np.nan
    Image.fromarray(a, "F").save(tmp_path / "f.tiff")
    with pytest.raises(DataFormatError, match=r"f\.tiff.*1 NaN or infinite"):
        open_image(tmp_path / "f.tiff", "L")


def test_one_bit(tmp_path):
    bits = GREY > 127
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").mode == "1"
    np.testing.assert_array_equal(_decoded(tmp_path / "b.png", "L"), bits * 255)


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_eight_bit_grey_and_rgb_unchanged(tmp_path, fmt):
    Image.fromarray(GREY).save(tmp_path / f"g.{fmt}")
    Image.fromarray(COLOUR).save(tmp_path / f"c.{fmt}")
    np.testing.assert_array_equal(_decoded(tmp_path / f"g.{fmt}", "L"), GREY)
    np.testing.assert_array_equal(_decoded(tmp_path / f"c.{fmt}", "RGB"), COLOUR)


def test_palette_without_and_with_transparency(tmp_path):
    img = Image.fromarray(COLOUR).quantize(64)
    img.save(tmp_path / "p.png")
    twin = np.asarray(img.convert("RGB"))
    np.testing.assert_array_equal(_decoded(tmp_path / "p.png", "RGB"), twin)
    index = np.asarray(img)
    img.info["transparency"] = int(index[0, 0])
    img.save(tmp_path / "pt.png", transparency=int(index[0, 0]))
    assert "transparency" in Image.open(tmp_path / "pt.png").info
    want = twin.copy()
    want[index == index[0, 0]] = 0  # the transparent entry composited over black
    np.testing.assert_array_equal(_decoded(tmp_path / "pt.png", "RGB"), want)


def test_alpha_is_composited_over_black(tmp_path):
    alpha = RNG.randint(0, 256, size=GREY.shape).astype(np.uint8)
    Image.fromarray(np.dstack([COLOUR, alpha]), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.dstack([GREY, alpha]), "LA").save(tmp_path / "la.png")
    _close(_decoded(tmp_path / "rgba.png", "RGB"), COLOUR * (alpha[..., None] / 255.0))
    _close(_decoded(tmp_path / "la.png", "L"), GREY * (alpha / 255.0))
    opaque = np.full_like(alpha, 255)  # fully opaque: exactly the twin
    Image.fromarray(np.dstack([COLOUR, opaque]), "RGBA").save(tmp_path / "o.png")
    np.testing.assert_array_equal(_decoded(tmp_path / "o.png", "RGB"), COLOUR)


def test_cmyk_jpeg_and_tiff(tmp_path):
    cmyk = Image.fromarray(COLOUR).convert("CMYK")
    cmyk.save(tmp_path / "k.tiff")
    _close(_decoded(tmp_path / "k.tiff", "RGB"), COLOUR)
    big = Image.fromarray(np.kron(COLOUR, np.ones((8, 8, 1), dtype=np.uint8))).convert("CMYK")
    big.save(tmp_path / "k.jpg", quality=100)
    got = np.asarray(open_image(tmp_path / "k.jpg", "RGB")).astype(np.int64)
    assert got.shape == (72, 56, 3)
    assert np.abs(got[4::8, 4::8] - COLOUR).mean() < 6  # JPEG is lossy: the block centres, on average


def test_exif_orientation_is_applied(tmp_path):
    stored = np.rot90(COLOUR, 1)  # what a camera writes; orientation 6 = "rotate 90 clockwise to display"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(stored)).save(tmp_path / "o.png", exif=exif)
    np.testing.assert_array_equal(_decoded(tmp_path / "o.png", "RGB"), COLOUR)


def test_decompression_bomb_refused_in_one_line(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((300, 400), dtype=np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(ImageTooLargeError) as info:
        open_image(tmp_path / "big.png", "L", max_pixels=100_000)
    text = str(info.value)
    assert "\n" not in text and "400x300 = 120,000 pixels" in text and "100,000" in text
    assert f"{MAX_PIXELS_ENV}=120000" in text
    monkeypatch.setenv(MAX_PIXELS_ENV, "100000")
    assert image_pixel_limit() == 100_000
    with pytest.raises(ImageTooLargeError):
        open_image(tmp_path / "big.png", "L")
    monkeypatch.setenv(MAX_PIXELS_ENV, "120000")  # raised: decoded
    assert np.asarray(open_image(tmp_path / "big.png", "L")).shape == (300, 400)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match=MAX_PIXELS_ENV):
        image_pixel_limit()


def test_above_pillows_own_error_threshold_no_warning(tmp_path, recwarn):
    """Pillow itself raises above 2 x MAX_IMAGE_PIXELS and warns above it; both become our one message."""
    Image.fromarray(np.zeros((20, 30), dtype=np.uint8)).save(tmp_path / "b.png")
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 100  # 600 pixels > 2 x 100: Pillow's DecompressionBombError territory
    try:
        with pytest.raises(ImageTooLargeError, match="30x20 = 600 pixels is above the limit of 100 pixels"):
            open_image(tmp_path / "b.png", "L")
        assert np.asarray(open_image(tmp_path / "b.png", "L", max_pixels=600)).shape == (20, 30)
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    assert not [w for w in recwarn if "DecompressionBomb" in type(w.message).__name__]


def test_not_an_image_and_folder(tmp_path):
    (tmp_path / "t.png").write_text("hello")
    with pytest.raises(DataFormatError, match=r"cannot decode .*t\.png"):
        open_image(tmp_path / "t.png")
    with pytest.raises(DataFormatError, match="is a folder"):
        open_image(tmp_path)
    with pytest.raises(ValueError, match="open_image: mode"):
        open_image(tmp_path / "t.png", "CMYK")
