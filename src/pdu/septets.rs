//! Septet packing (3GPP TS 23.038 §6.1.2.1): 7-bit values laid end to end,
//! least significant bit first, after `fill` zero bits that align the text to
//! a septet boundary when a user data header precedes it.
//!
//! Plain shifts through a 32-bit accumulator; no allocation per septet (the
//! benchmark `benches/pdu.rs` compares this with `bitvec`).

/// Octets needed for `septets` septets after `fill` fill bits.
#[inline]
pub const fn packed_len(septets: usize, fill: u8) -> usize {
    (fill as usize + 7 * septets).div_ceil(8)
}

/// Fill bits after a user data header of `udh_octets` octets (UDHL included)
/// so that the text starts on a septet boundary.
#[inline]
pub const fn fill_bits(udh_octets: usize) -> u8 {
    ((7 - (udh_octets * 8) % 7) % 7) as u8
}

/// Septets taken by a user data header of `udh_octets` octets, fill bits included.
#[inline]
pub const fn header_septets(udh_octets: usize) -> usize {
    (udh_octets * 8).div_ceil(7)
}

/// Writes septets into octets appended to a `Vec`.
pub struct Packer<'a> {
    out: &'a mut Vec<u8>,
    acc: u32,
    bits: u32,
}

impl<'a> Packer<'a> {
    /// Starts packing at the end of `out`, after `fill` zero bits (0..=6).
    #[inline]
    pub fn new(out: &'a mut Vec<u8>, fill: u8) -> Self {
        Packer {
            out,
            acc: 0,
            bits: u32::from(fill % 8),
        }
    }

    /// Appends one septet (the high bit is ignored).
    #[inline]
    pub fn push(&mut self, septet: u8) {
        self.acc |= u32::from(septet & 0x7F) << self.bits;
        self.bits += 7;
        if self.bits >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.bits -= 8;
        }
    }

    /// Flushes the last partial octet (its unused high bits are zero).
    #[inline]
    pub fn finish(self) {
        if self.bits > 0 {
            self.out.push(self.acc as u8);
        }
    }
}

/// Packs `septets` after `fill` fill bits, appending to `out`. Eight septets
/// fill seven octets, written at once from a 64-bit accumulator.
pub fn pack(septets: &[u8], fill: u8, out: &mut Vec<u8>) {
    out.reserve(packed_len(septets.len(), fill));
    let mut acc: u64 = 0;
    let mut bits = u32::from(fill % 8);
    for &s in septets {
        acc |= u64::from(s & 0x7F) << bits;
        bits += 7;
        if bits >= 56 {
            out.extend_from_slice(&acc.to_le_bytes()[..7]);
            acc >>= 56;
            bits -= 56;
        }
    }
    while bits >= 8 {
        out.push(acc as u8);
        acc >>= 8;
        bits -= 8;
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

/// Reads `count` septets from packed octets after `fill` fill bits. Missing
/// octets read as zero bits: callers check the length first.
#[derive(Debug, Clone)]
pub struct Unpacker<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    bits: u32,
    remaining: usize,
}

impl<'a> Unpacker<'a> {
    /// An iterator over `count` septets of `data`, skipping `fill` leading bits.
    #[inline]
    pub fn new(data: &'a [u8], fill: u8, count: usize) -> Self {
        let fill = u32::from(fill % 8);
        let (acc, pos, bits) = match (fill, data.first()) {
            (0, _) | (_, None) => (0, 0, 0),
            (f, Some(&b)) => (u32::from(b) >> f, 1, 8 - f),
        };
        Unpacker {
            data,
            pos,
            acc,
            bits,
            remaining: count,
        }
    }
}

impl Iterator for Unpacker<'_> {
    type Item = u8;

    #[inline]
    fn next(&mut self) -> Option<u8> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if self.bits < 7 {
            let b = self.data.get(self.pos).copied().unwrap_or(0);
            self.acc |= u32::from(b) << self.bits;
            self.pos += 1;
            self.bits += 8;
        }
        let s = (self.acc & 0x7F) as u8;
        self.acc >>= 7;
        self.bits -= 7;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Unpacker<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_packs_as_in_the_spec_examples() {
        // "hellohello" is the classic example: E8329BFD4697D9EC37.
        let mut out = Vec::new();
        pack(b"hellohello", 0, &mut out);
        assert_eq!(out, [0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]);
        let back: Vec<u8> = Unpacker::new(&out, 0, 10).collect();
        assert_eq!(back, b"hellohello");
    }

    #[test]
    fn fill_bits_after_a_concatenation_header() {
        // A 6-octet UDH (UDHL 05) needs 1 fill bit: 7 septets in all.
        assert_eq!(fill_bits(6), 1);
        assert_eq!(header_septets(6), 7);
        assert_eq!(fill_bits(7), 0);
        assert_eq!(header_septets(7), 8);
        let mut out = Vec::new();
        pack(b"ab", 1, &mut out);
        // 'a' = 0x61 shifted left by one bit.
        assert_eq!(out[0], 0xC2);
        let back: Vec<u8> = Unpacker::new(&out, 1, 2).collect();
        assert_eq!(back, b"ab");
    }

    #[test]
    fn every_length_and_fill_round_trips() {
        let src: Vec<u8> = (0..200u32).map(|i| (i * 37 % 128) as u8).collect();
        for fill in 0..7u8 {
            for n in 0..=src.len() {
                let mut out = Vec::new();
                pack(&src[..n], fill, &mut out);
                assert_eq!(out.len(), packed_len(n, fill));
                let back: Vec<u8> = Unpacker::new(&out, fill, n).collect();
                assert_eq!(back, &src[..n], "fill {fill} n {n}");
            }
        }
    }
}
