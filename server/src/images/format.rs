//! What an attached image is, decided from its bytes, never from its name or
//! its declared type: PNG, JPEG or WebP, decodable, within the size limits,
//! and stored without its metadata (EXIF with GPS positions and camera
//! serials, XMP, text chunks, comments) — a screenshot must not carry where
//! it was taken to a model provider. Stripping works on the container
//! (chunks and segments), so the pixels are kept exactly as sent; anything
//! after the image's end marker (a polyglot's payload) is dropped too.

use std::io::Cursor;

use minicode::{MAX_IMAGE_BYTES, MAX_IMAGE_SIDE};

/// Largest decoded image, in pixels (a 6000 × 4000 photo). Bounds the memory
/// a decode may take: a small file can claim huge dimensions.
pub const MAX_PIXELS: u64 = 24_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
    Webp,
}

impl Kind {
    pub fn media_type(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Webp => "image/webp",
        }
    }

    pub fn from_media_type(media_type: &str) -> Option<Kind> {
        match media_type {
            "image/png" => Some(Kind::Png),
            "image/jpeg" => Some(Kind::Jpeg),
            "image/webp" => Some(Kind::Webp),
            _ => None,
        }
    }

    /// The format the bytes are, by their signature.
    pub fn sniff(bytes: &[u8]) -> Option<Kind> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Kind::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Kind::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Kind::Webp)
        } else {
            None
        }
    }

    fn format(self) -> image::ImageFormat {
        match self {
            Kind::Png => image::ImageFormat::Png,
            Kind::Jpeg => image::ImageFormat::Jpeg,
            Kind::Webp => image::ImageFormat::WebP,
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("this file is not a PNG, JPEG or WebP image")]
    NotAnImage,
    #[error("the image is {size} bytes; the limit is {limit} bytes", limit = MAX_IMAGE_BYTES)]
    TooLarge { size: usize },
    #[error(
        "the image is {width} × {height} pixels; the limit is {side} pixels a side and {max} million pixels",
        side = MAX_IMAGE_SIDE,
        max = MAX_PIXELS / 1_000_000
    )]
    TooManyPixels { width: u32, height: u32 },
    #[error("the image could not be read: {0}")]
    Broken(String),
}

/// An image that passed every check, its metadata removed.
#[derive(Debug)]
pub struct Checked {
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// Checks an uploaded image and strips its metadata. Decodes it whole, so an
/// image that a model provider could not read is refused now, not when the
/// message is sent. CPU-bound: call it off the async runtime.
pub fn check(bytes: &[u8]) -> Result<Checked, ImageError> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ImageError::TooLarge { size: bytes.len() });
    }
    let kind = Kind::sniff(bytes).ok_or(ImageError::NotAnImage)?;
    let stripped = match kind {
        Kind::Png => strip_png(bytes)?,
        Kind::Jpeg => strip_jpeg(bytes)?,
        Kind::Webp => strip_webp(bytes)?,
    };
    let image = decode(&stripped, kind)?;
    Ok(Checked {
        kind,
        width: image.width(),
        height: image.height(),
        bytes: stripped,
    })
}

/// Decodes within the limits: the dimensions are read (and refused) before
/// any pixel memory is taken.
fn decode(bytes: &[u8], kind: Kind) -> Result<image::DynamicImage, ImageError> {
    let broken = |e: image::ImageError| ImageError::Broken(e.to_string());
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), kind.format());
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 + 64 * 1024 * 1024);
    reader.limits(limits.clone());
    let (width, height) = reader.into_dimensions().map_err(|e| match e {
        image::ImageError::Limits(_) => ImageError::TooManyPixels {
            width: 0,
            height: 0,
        },
        other => broken(other),
    })?;
    if width > MAX_IMAGE_SIDE
        || height > MAX_IMAGE_SIDE
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(ImageError::TooManyPixels { width, height });
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.limits(limits);
    reader.decode().map_err(broken)
}

/// The image's most common colours, most common first, as `#rrggbb`.
/// Nearly transparent pixels do not count. Colours are grouped in buckets of
/// 16 levels per channel and each bucket gives its average, so a solid image
/// gives exactly its colour.
pub fn dominant_colours(bytes: &[u8], kind: Kind) -> Result<Vec<String>, ImageError> {
    let image = decode(bytes, kind)?;
    // A thumbnail keeps the proportions of colours and bounds the work.
    let small = if image.width() > 96 || image.height() > 96 {
        image.thumbnail(96, 96).to_rgba8()
    } else {
        image.to_rgba8()
    };
    let mut buckets: std::collections::HashMap<u16, (u64, [u64; 3])> = Default::default();
    for pixel in small.pixels() {
        let [r, g, b, a] = pixel.0;
        if a < 128 {
            continue;
        }
        let key = (u16::from(r >> 4) << 8) | (u16::from(g >> 4) << 4) | u16::from(b >> 4);
        let entry = buckets.entry(key).or_default();
        entry.0 += 1;
        entry.1[0] += u64::from(r);
        entry.1[1] += u64::from(g);
        entry.1[2] += u64::from(b);
    }
    let mut ranked: Vec<(u64, u16, [u64; 3])> = buckets
        .into_iter()
        .map(|(key, (count, sum))| (count, key, sum))
        .collect();
    // Ties broken by the bucket, so the answer never depends on hashing.
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(ranked
        .into_iter()
        .take(8)
        .map(|(count, _, sum)| {
            let avg = |s: u64| (s + count / 2) / count;
            format!("#{:02x}{:02x}{:02x}", avg(sum[0]), avg(sum[1]), avg(sum[2]))
        })
        .collect())
}

/// The colour to use as an accent: the most common one that is a colour
/// (not a grey, not near white or black), else the most common one.
pub fn accent(colours: &[String]) -> Option<String> {
    let rgb = |c: &str| -> Option<[i32; 3]> {
        let hex = c.strip_prefix('#')?;
        let v = u32::from_str_radix(hex, 16).ok()?;
        Some([
            (v >> 16) as i32 & 0xff,
            (v >> 8) as i32 & 0xff,
            v as i32 & 0xff,
        ])
    };
    colours
        .iter()
        .find(|c| {
            rgb(c).is_some_and(|[r, g, b]| {
                let (max, min) = (r.max(g).max(b), r.min(g).min(b));
                max - min >= 48 && max >= 48 && min <= 225
            })
        })
        .or_else(|| colours.first())
        .cloned()
}

/// PNG chunks that decide how the pixels look; everything else (text,
/// EXIF, time, private chunks, animation) is dropped.
const PNG_KEEP: [&[u8; 4]; 11] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"pHYs",
];

fn strip_png(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    let truncated = || ImageError::Broken("the PNG is cut short".into());
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..8]);
    let mut at = 8;
    loop {
        let header = bytes.get(at..at + 8).ok_or_else(truncated)?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind: [u8; 4] = [header[4], header[5], header[6], header[7]];
        let end = at
            .checked_add(12)
            .and_then(|n| n.checked_add(len))
            .filter(|&n| n <= bytes.len())
            .ok_or_else(truncated)?;
        if PNG_KEEP.iter().any(|k| **k == kind) {
            out.extend_from_slice(&bytes[at..end]);
        }
        at = end;
        if &kind == b"IEND" {
            return Ok(out);
        }
    }
}

fn strip_jpeg(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    let truncated = || ImageError::Broken("the JPEG is cut short".into());
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..2]);
    let mut at = 2;
    loop {
        if bytes.get(at) != Some(&0xFF) {
            return Err(ImageError::Broken("the JPEG has a broken segment".into()));
        }
        // Fill bytes before a marker.
        while bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let marker = *bytes.get(at + 1).ok_or_else(truncated)?;
        match marker {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Ok(out);
            }
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&[0xFF, marker]);
                at += 2;
                continue;
            }
            _ => {}
        }
        let len = bytes
            .get(at + 2..at + 4)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
            .ok_or_else(truncated)?;
        if len < 2 {
            return Err(ImageError::Broken("the JPEG has a broken segment".into()));
        }
        let end = at + 2 + len;
        let segment = bytes.get(at..end).ok_or_else(truncated)?;
        let payload = &segment[4..];
        let keep = match marker {
            // Adobe's segment says how to read the colours; an ICC profile
            // says what they mean. Neither says anything about the user.
            0xEE => true,
            0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
            // EXIF, XMP, IPTC, comments and every other application segment.
            0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(segment);
        }
        at = end;
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is not a
            // stuffed byte (FF 00) or a restart (FF D0–D7).
            let mut scan = at;
            loop {
                let rest = bytes.get(scan..).ok_or_else(truncated)?;
                let Some(ff) = memchr::memchr(0xFF, rest) else {
                    return Err(truncated());
                };
                let next = *bytes.get(scan + ff + 1).ok_or_else(truncated)?;
                if next == 0x00 || (0xD0..=0xD7).contains(&next) || next == 0xFF {
                    scan += ff + 1;
                    continue;
                }
                scan += ff;
                break;
            }
            out.extend_from_slice(&bytes[at..scan]);
            at = scan;
        }
    }
}

fn strip_webp(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    let truncated = || ImageError::Broken("the WebP is cut short".into());
    let declared = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let end = declared
        .checked_add(8)
        .filter(|&n| n <= bytes.len())
        .ok_or_else(truncated)?;
    let mut body = Vec::with_capacity(end);
    body.extend_from_slice(b"WEBP");
    let mut at = 12;
    while at < end {
        let header = bytes.get(at..at + 8).ok_or_else(truncated)?;
        let kind: [u8; 4] = [header[0], header[1], header[2], header[3]];
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let padded = len + (len & 1);
        let chunk_end = at
            .checked_add(8 + padded)
            .filter(|&n| n <= end)
            .ok_or_else(truncated)?;
        match &kind {
            b"EXIF" | b"XMP " => {}
            b"VP8X" => {
                let mut chunk = bytes[at..chunk_end].to_vec();
                // The flags announce EXIF (bit 3) and XMP (bit 2) chunks
                // that are no longer there.
                if let Some(flags) = chunk.get_mut(8) {
                    *flags &= !0b0000_1100;
                }
                body.extend_from_slice(&chunk);
            }
            _ => body.extend_from_slice(&bytes[at..chunk_end]),
        }
        at = chunk_end;
    }
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A solid-colour image encoded by the `image` crate.
    pub(crate) fn solid(kind: Kind, width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb(rgb));
        let mut out = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(image)
            .write_to(&mut out, kind.format())
            .expect("encodes");
        out.into_inner()
    }

    /// A PNG chunk with its CRC.
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in kind.iter().chain(data) {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        out.extend_from_slice(&(!crc).to_be_bytes());
        out
    }

    /// A PNG with a GPS position in a text chunk and an eXIf chunk after
    /// IHDR, and a payload after IEND.
    pub(crate) fn png_with_metadata(rgb: [u8; 3]) -> Vec<u8> {
        let plain = solid(Kind::Png, 8, 8, rgb);
        let mut out = plain[..33].to_vec(); // signature + IHDR
        out.extend(chunk(b"tEXt", b"GPS\0lat=48.8584,lon=2.2945"));
        out.extend(chunk(b"eXIf", b"MM\0*SECRET-CAMERA-SERIAL"));
        out.extend_from_slice(&plain[33..]);
        out.extend_from_slice(b"<script>alert(1)</script>");
        out
    }

    #[test]
    fn png_metadata_and_trailing_bytes_are_removed_and_the_pixels_kept() {
        let dirty = png_with_metadata([217, 72, 43]);
        let checked = check(&dirty).expect("a valid PNG");
        let text = String::from_utf8_lossy(&checked.bytes);
        assert!(!text.contains("GPS") && !text.contains("SECRET") && !text.contains("script"));
        assert_eq!((checked.width, checked.height), (8, 8));
        assert_eq!(checked.bytes, solid(Kind::Png, 8, 8, [217, 72, 43]));
    }

    #[test]
    fn jpeg_exif_and_comments_are_removed() {
        let plain = solid(Kind::Jpeg, 16, 16, [30, 120, 200]);
        // SOI, then an APP1 EXIF segment and a comment, then the rest.
        let exif = b"Exif\0\0GPS 48.8584N SECRET-SERIAL";
        let mut dirty = vec![0xFF, 0xD8, 0xFF, 0xE1];
        dirty.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        dirty.extend_from_slice(exif);
        dirty.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x09]);
        dirty.extend_from_slice(b"comment");
        dirty.extend_from_slice(&plain[2..]);
        let checked = check(&dirty).expect("a valid JPEG");
        let text = String::from_utf8_lossy(&checked.bytes);
        assert!(!text.contains("SECRET") && !text.contains("comment"));
        assert_eq!(checked.kind, Kind::Jpeg);
        // Only what was added went: the encoder's own segments stay.
        assert_eq!(checked.bytes, plain);
    }

    #[test]
    fn webp_exif_chunks_and_their_flags_are_removed() {
        // A lossless WebP, wrapped in VP8X with an EXIF chunk.
        let simple = solid(Kind::Webp, 4, 4, [10, 200, 90]);
        let mut body = b"WEBP".to_vec();
        let mut vp8x = b"VP8X".to_vec();
        vp8x.extend_from_slice(&10u32.to_le_bytes());
        vp8x.extend_from_slice(&[0b0000_1000, 0, 0, 0, 3, 0, 0, 3, 0, 0]);
        body.extend(vp8x);
        body.extend_from_slice(&simple[12..]);
        let exif = b"SECRET-GPS";
        body.extend_from_slice(b"EXIF");
        body.extend_from_slice(&(exif.len() as u32).to_le_bytes());
        body.extend_from_slice(exif);
        let mut dirty = b"RIFF".to_vec();
        dirty.extend_from_slice(&(body.len() as u32).to_le_bytes());
        dirty.extend(body);
        let checked = check(&dirty).expect("a valid WebP");
        assert!(!String::from_utf8_lossy(&checked.bytes).contains("SECRET"));
        assert_eq!(checked.bytes[20] & 0b1100, 0, "EXIF/XMP flags cleared");
        assert_eq!(
            u32::from_le_bytes(checked.bytes[4..8].try_into().unwrap()) as usize,
            checked.bytes.len() - 8
        );
        assert_eq!((checked.width, checked.height), (4, 4));
    }

    #[test]
    fn what_is_not_an_image_or_too_big_is_refused_clearly() {
        assert_eq!(check(b"GIF89a....").unwrap_err(), ImageError::NotAnImage);
        assert_eq!(check(b"hello").unwrap_err(), ImageError::NotAnImage);
        let png = solid(Kind::Png, 8, 8, [1, 2, 3]);
        assert!(matches!(
            check(&png[..png.len() - 20]).unwrap_err(),
            ImageError::Broken(_)
        ));
        let mut big = png.clone();
        big.resize(MAX_IMAGE_BYTES + 1, 0);
        assert!(matches!(
            check(&big).unwrap_err(),
            ImageError::TooLarge { .. }
        ));
        // A tiny file that claims 20,000 × 20,000 pixels is refused before
        // any memory is taken for them.
        let mut bomb = png.clone();
        bomb[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        assert!(matches!(
            check(&bomb).unwrap_err(),
            ImageError::TooManyPixels { .. } | ImageError::Broken(_)
        ));
    }

    #[test]
    fn the_dominant_colour_is_the_most_common_real_colour() {
        let solid_png = solid(Kind::Png, 200, 120, [217, 72, 43]);
        let colours = dominant_colours(&solid_png, Kind::Png).unwrap();
        assert_eq!(colours, vec!["#d9482b".to_string()]);
        assert_eq!(accent(&colours).as_deref(), Some("#d9482b"));
        // A mock-up: mostly white page, a blue header. The accent is the
        // blue, not the white.
        let mut mock = image::RgbImage::from_pixel(100, 100, image::Rgb([255, 255, 255]));
        for y in 0..20 {
            for x in 0..100 {
                mock.put_pixel(x, y, image::Rgb([37, 99, 235]));
            }
        }
        let mut bytes = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(mock)
            .write_to(&mut bytes, image::ImageFormat::Png)
            .unwrap();
        let colours = dominant_colours(bytes.get_ref(), Kind::Png).unwrap();
        assert_eq!(colours[0], "#ffffff");
        assert_eq!(accent(&colours).as_deref(), Some("#2563eb"));
        let jpeg = solid(Kind::Jpeg, 64, 64, [20, 160, 80]);
        let accent_jpeg = accent(&dominant_colours(&jpeg, Kind::Jpeg).unwrap()).unwrap();
        assert!(accent_jpeg.starts_with('#') && accent_jpeg.len() == 7);
    }
}
