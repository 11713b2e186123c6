//! NATS nkeys, as far as a client needs them: reading a user seed (`SU…`, from a `.creds` file
//! or a seed file), its public key (`U…`), and signing the server's nonce with Ed25519.
//!
//! An encoded key is base32 (RFC 4648, no padding) of `prefix bytes ‖ raw key ‖ CRC-16`, the
//! CRC being CRC-16/XMODEM of the bytes before it, little-endian. A seed's first two bytes
//! carry `S` (18 << 3) and the key type (user: 20 << 3) over 10 bits; a public key has one
//! prefix byte, the type.

use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};

const PREFIX_SEED: u8 = 18 << 3;
const PREFIX_USER: u8 = 20 << 3;
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A user's key pair from its seed.
pub struct UserKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The public key only: the seed is a secret.
        write!(f, "UserKey({})", self.public_key())
    }
}

/// What a credentials file holds.
pub struct Credentials {
    /// The user JWT (`.creds` files), sent as `jwt`.
    pub jwt: Option<String>,
    /// The user key.
    pub key: UserKey,
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

fn encode(prefix: &[u8], key: &[u8]) -> String {
    let mut raw = [prefix, key].concat();
    let crc = crc16(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    base32_encode(&raw)
}

impl UserKey {
    /// Parses an encoded user seed (`SU…`).
    pub fn from_seed(seed: &str) -> Result<Self, String> {
        let raw = base32_decode(seed.trim()).ok_or("the nkey seed is not base32")?;
        if raw.len() != 36 {
            return Err(format!("the nkey seed decodes to {} bytes, not 36", raw.len()));
        }
        let (body, crc) = raw.split_at(34);
        if crc16(body).to_le_bytes() != crc {
            return Err("the nkey seed's checksum does not match (a typo?)".into());
        }
        let (b0, b1) = (body[0], body[1]);
        if b0 & 0xF8 != PREFIX_SEED {
            return Err("this is not an nkey seed (seeds start with S)".into());
        }
        let kind = ((b0 & 0x07) << 5) | (b1 >> 3);
        if kind != PREFIX_USER {
            return Err("this nkey seed is not a user's (user seeds start with SU)".into());
        }
        let pair = Ed25519KeyPair::from_seed_unchecked(&body[2..34]).map_err(|e| format!("bad nkey seed: {e}"))?;
        Ok(Self { pair })
    }

    /// Encodes a raw 32-byte Ed25519 seed as a user seed (`SU…`).
    pub fn encode_seed(raw: &[u8; 32]) -> String {
        let b0 = PREFIX_SEED | (PREFIX_USER >> 5);
        let b1 = (PREFIX_USER & 31) << 3;
        encode(&[b0, b1], raw)
    }

    /// The public key (`U…`), as the server's configuration names the user.
    pub fn public_key(&self) -> String {
        encode(&[PREFIX_USER], self.pair.public_key().as_ref())
    }

    /// The server's nonce signed, base64url without padding (CONNECT's `sig`).
    pub fn sign(&self, nonce: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.pair.sign(nonce.as_bytes()).as_ref())
    }
}

/// Writes a fresh user seed to `path` (a new owner-only file); returns its public key.
pub fn write_new_seed(path: &std::path::Path) -> Result<String, String> {
    let seed = UserKey::encode_seed(&rand::random::<[u8; 32]>());
    let public = UserKey::from_seed(&seed)?.public_key();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut f, format!("{seed}\n").as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(public)
}

/// The text between `-----BEGIN <what>-----` and the next `------END`.
fn block<'a>(text: &'a str, what: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {what}-----");
    let start = text.find(&begin)? + begin.len();
    let end = text[start..].find("------END").map_or(text.len(), |e| start + e);
    Some(text[start..end].trim())
}

impl Credentials {
    /// Reads a `.creds` file (JWT + seed blocks) or a file with a bare seed.
    pub fn parse(text: &str) -> Result<Self, String> {
        let jwt = block(text, "NATS USER JWT").map(str::to_owned);
        let seed = block(text, "USER NKEY SEED")
            .map(str::to_owned)
            .or_else(|| text.lines().map(str::trim).find(|l| l.starts_with("SU")).map(str::to_owned))
            .ok_or("no user nkey seed (SU…) in the credentials file")?;
        Ok(Self { jwt, key: UserKey::from_seed(&seed)? })
    }

    /// Reads credentials from a file.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("credentials {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("credentials {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_round_trip_and_typos_are_caught() {
        let raw = [7u8; 32];
        let seed = UserKey::encode_seed(&raw);
        assert!(seed.starts_with("SU"), "{seed}");
        assert_eq!(seed.len(), 58);
        let key = UserKey::from_seed(&seed).unwrap();
        let public = key.public_key();
        assert!(public.starts_with('U') && public.len() == 56, "{public}");
        // One changed character fails the checksum.
        let mut typo = seed.clone().into_bytes();
        typo[20] = if typo[20] == b'A' { b'B' } else { b'A' };
        assert!(UserKey::from_seed(std::str::from_utf8(&typo).unwrap()).unwrap_err().contains("checksum"));
        assert!(UserKey::from_seed(&public).is_err(), "a public key is not a seed");
        // The signature verifies with the public key.
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key.sign("nonce-123")).unwrap();
        let public_raw = &base32_decode(&public).unwrap()[1..33];
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_raw)
            .verify(b"nonce-123", &sig)
            .unwrap();
    }

    #[test]
    fn creds_files_give_the_jwt_and_the_seed() {
        let seed = UserKey::encode_seed(&[9u8; 32]);
        let creds = format!(
            "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.e30.sig\n------END NATS USER JWT------\n\n************************* IMPORTANT *************************\n\n-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        );
        let c = Credentials::parse(&creds).unwrap();
        assert_eq!(c.jwt.as_deref(), Some("eyJ0eXAiOiJKV1QifQ.e30.sig"));
        assert_eq!(c.key.public_key(), UserKey::from_seed(&seed).unwrap().public_key());
        let bare = Credentials::parse(&format!("{seed}\n")).unwrap();
        assert!(bare.jwt.is_none());
        assert!(Credentials::parse("nothing here").is_err());
    }
}
