//! WeChat's `.dat` image files: the image XORed with one byte, found from the magic bytes of
//! PNG, JPEG or GIF (`wcf-protocol.md` §4.5).

/// Image formats a `.dat` file can be decoded to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// `89 50 …`
    Png,
    /// `FF D8 …`
    Jpeg,
    /// `47 49 …`
    Gif,
}

impl ImageFormat {
    /// File extension with the dot, as WeChatFerry writes it.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => ".png",
            Self::Jpeg => ".jpg",
            Self::Gif => ".gif",
        }
    }

    /// MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
        }
    }

    fn magic(self) -> [u8; 2] {
        match self {
            Self::Png => [0x89, 0x50],
            Self::Jpeg => [0xFF, 0xD8],
            Self::Gif => [0x47, 0x49],
        }
    }

    /// Detects the format from the first bytes of a plain image.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        [Self::Png, Self::Jpeg, Self::Gif].into_iter().find(|f| bytes.starts_with(&f.magic()))
    }
}

/// Finds the XOR key of a `.dat` file: `(key, format)`, or `None` when no known magic fits.
pub fn find_key(dat: &[u8]) -> Option<(u8, ImageFormat)> {
    let (&b0, &b1) = (dat.first()?, dat.get(1)?);
    [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif].into_iter().find_map(|f| {
        let [m0, m1] = f.magic();
        let key = b0 ^ m0;
        (b1 ^ key == m1).then_some((key, f))
    })
}

/// Decodes a `.dat` file into the image bytes and their format.
pub fn decode(dat: &[u8]) -> Option<(Vec<u8>, ImageFormat)> {
    let (key, format) = find_key(dat)?;
    Some((xor(dat, key), format))
}

/// XORs every byte with `key` (encoding and decoding are the same operation).
pub fn xor(bytes: &[u8], key: u8) -> Vec<u8> {
    bytes.iter().map(|b| b ^ key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_each_format() {
        for (plain, format) in [
            (vec![0x89, 0x50, 0x4E, 0x47, 1, 2, 3], ImageFormat::Png),
            (vec![0xFF, 0xD8, 0xFF, 0xE0, 9], ImageFormat::Jpeg),
            (b"GIF89a..".to_vec(), ImageFormat::Gif),
        ] {
            let dat = xor(&plain, 0x3C);
            assert_eq!(decode(&dat), Some((plain.clone(), format)));
            assert_eq!(ImageFormat::sniff(&plain), Some(format));
        }
    }

    #[test]
    fn unknown_or_short_input_fails() {
        assert_eq!(decode(&[0x00, 0x00, 0x00]), None);
        assert_eq!(decode(&[0x12]), None);
        assert_eq!(decode(&[]), None);
    }

    proptest! {
        #[test]
        fn any_key_round_trips(key in any::<u8>(), rest in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut png = vec![0x89, 0x50, 0x4E, 0x47];
            png.extend(rest);
            let (back, f) = decode(&xor(&png, key)).unwrap();
            prop_assert_eq!(f, ImageFormat::Png);
            prop_assert_eq!(back, png);
        }
    }
}
