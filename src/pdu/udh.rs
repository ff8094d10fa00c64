//! The user data header (3GPP TS 23.040 §9.2.3.24): information elements
//! (IEI, length, data). Kept as the raw element octets (without the UDHL
//! octet); the elements smsgw acts on are read on demand.

use super::error::PduError;

/// Concatenated short message, 8-bit reference.
pub const IEI_CONCAT_8: u8 = 0x00;
/// Application port addressing, 8-bit ports.
pub const IEI_PORTS_8: u8 = 0x04;
/// Application port addressing, 16-bit ports.
pub const IEI_PORTS_16: u8 = 0x05;
/// Concatenated short message, 16-bit reference.
pub const IEI_CONCAT_16: u8 = 0x08;
/// National language single shift.
pub const IEI_NATIONAL_SINGLE: u8 = 0x24;
/// National language locking shift.
pub const IEI_NATIONAL_LOCKING: u8 = 0x25;

/// One information element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Element<'a> {
    pub iei: u8,
    pub data: &'a [u8],
}

/// Where a part sits in a concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concat {
    /// The reference shared by all parts (8- or 16-bit).
    pub reference: u16,
    /// Number of parts, 1..=255.
    pub total: u8,
    /// This part, 1..=total.
    pub seq: u8,
    /// True when carried in IEI 0x08 (16-bit reference).
    pub wide: bool,
}

/// Application port addressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ports {
    pub destination: u16,
    pub source: u16,
}

/// A user data header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Udh {
    raw: Vec<u8>,
}

impl Udh {
    /// An empty header (add elements with [`Udh::push`]).
    pub fn new() -> Udh {
        Udh::default()
    }

    /// A header holding one concatenation element (8-bit reference unless `wide`).
    pub fn concat(c: Concat) -> Udh {
        let mut u = Udh::new();
        if c.wide {
            let r = c.reference.to_be_bytes();
            u.push(IEI_CONCAT_16, &[r[0], r[1], c.total, c.seq]);
        } else {
            u.push(IEI_CONCAT_8, &[c.reference as u8, c.total, c.seq]);
        }
        u
    }

    /// Reads the elements that follow a UDHL octet; `offset` is where they
    /// start in the PDU (for error messages).
    pub fn parse(elements: &[u8], offset: usize) -> Result<Udh, PduError> {
        let mut i = 0;
        while i < elements.len() {
            if i + 2 > elements.len() {
                return Err(PduError::Truncated {
                    field: "UDH element",
                    offset: offset + i,
                    need: 2,
                    remain: elements.len() - i,
                });
            }
            let len = elements[i + 1] as usize;
            if i + 2 + len > elements.len() {
                return Err(PduError::Truncated {
                    field: "UDH element",
                    offset: offset + i,
                    need: 2 + len,
                    remain: elements.len() - i,
                });
            }
            i += 2 + len;
        }
        Ok(Udh {
            raw: elements.to_vec(),
        })
    }

    /// Appends an element (at most 255 data octets are kept).
    pub fn push(&mut self, iei: u8, data: &[u8]) {
        let data = &data[..data.len().min(255)];
        self.raw.push(iei);
        self.raw.push(data.len() as u8);
        self.raw.extend_from_slice(data);
    }

    /// The element octets (no UDHL).
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// True when the header has no element.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Octets the header takes in TP-UD, the UDHL octet included.
    pub fn wire_len(&self) -> usize {
        1 + self.raw.len()
    }

    /// Appends UDHL and the elements.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.raw.len() as u8);
        out.extend_from_slice(&self.raw);
    }

    /// The elements in order.
    pub fn elements(&self) -> Elements<'_> {
        Elements { rest: &self.raw }
    }

    /// The concatenation element, if a valid one is present (23.040: an
    /// element with a zero count or a sequence number out of range is ignored).
    pub fn concat_info(&self) -> Option<Concat> {
        self.elements().find_map(|e| {
            let c = match (e.iei, e.data) {
                (IEI_CONCAT_8, &[r, total, seq]) => Concat {
                    reference: u16::from(r),
                    total,
                    seq,
                    wide: false,
                },
                (IEI_CONCAT_16, &[hi, lo, total, seq]) => Concat {
                    reference: u16::from_be_bytes([hi, lo]),
                    total,
                    seq,
                    wide: true,
                },
                _ => return None,
            };
            (c.total > 0 && c.seq > 0 && c.seq <= c.total).then_some(c)
        })
    }

    /// Application port addressing, if present.
    pub fn ports(&self) -> Option<Ports> {
        self.elements().find_map(|e| match (e.iei, e.data) {
            (IEI_PORTS_8, &[d, s]) => Some(Ports {
                destination: u16::from(d),
                source: u16::from(s),
            }),
            (IEI_PORTS_16, &[d1, d2, s1, s2]) => Some(Ports {
                destination: u16::from_be_bytes([d1, d2]),
                source: u16::from_be_bytes([s1, s2]),
            }),
            _ => None,
        })
    }

    fn one_octet(&self, iei: u8) -> Option<u8> {
        self.elements().find_map(|e| match e.data {
            &[v] if e.iei == iei => Some(v),
            _ => None,
        })
    }

    /// National language identifier of the single shift table, if named.
    pub fn national_single_shift(&self) -> Option<u8> {
        self.one_octet(IEI_NATIONAL_SINGLE)
    }

    /// National language identifier of the locking shift table, if named.
    pub fn national_locking_shift(&self) -> Option<u8> {
        self.one_octet(IEI_NATIONAL_LOCKING)
    }
}

/// Iterator over the elements of a [`Udh`].
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Elements<'a> {
    type Item = Element<'a>;

    fn next(&mut self) -> Option<Element<'a>> {
        match self.rest {
            [iei, len, tail @ ..] if tail.len() >= *len as usize => {
                let (data, rest) = tail.split_at(*len as usize);
                self.rest = rest;
                Some(Element { iei: *iei, data })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_8_and_16_bit() {
        let u = Udh::parse(&[0x00, 0x03, 0x2A, 0x03, 0x02], 10).unwrap();
        assert_eq!(
            u.concat_info(),
            Some(Concat {
                reference: 0x2A,
                total: 3,
                seq: 2,
                wide: false
            })
        );
        assert_eq!(u.wire_len(), 6);
        let u = Udh::parse(&[0x08, 0x04, 0x12, 0x34, 0x02, 0x01], 10).unwrap();
        let c = u.concat_info().unwrap();
        assert_eq!((c.reference, c.total, c.seq, c.wide), (0x1234, 2, 1, true));
        assert_eq!(Udh::concat(c), u);
    }

    #[test]
    fn invalid_concat_is_ignored_and_others_kept() {
        let u = Udh::parse(&[0x00, 0x03, 0x01, 0x02, 0x03, 0x70, 0x01, 0xAA], 0).unwrap();
        assert_eq!(u.concat_info(), None, "seq 3 of 2");
        let e: Vec<_> = u.elements().collect();
        assert_eq!(
            e[1],
            Element {
                iei: 0x70,
                data: &[0xAA]
            }
        );
    }

    #[test]
    fn ports_and_national_shifts() {
        let u = Udh::parse(
            &[
                0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x24, 0x01, 0x01, 0x25, 0x01, 0x03,
            ],
            0,
        )
        .unwrap();
        assert_eq!(
            u.ports(),
            Some(Ports {
                destination: 2948,
                source: 9200
            })
        );
        assert_eq!(u.national_single_shift(), Some(1));
        assert_eq!(u.national_locking_shift(), Some(3));
    }

    #[test]
    fn truncated_element_names_its_offset() {
        assert_eq!(
            Udh::parse(&[0x00, 0x03, 0x01, 0x02], 7),
            Err(PduError::Truncated {
                field: "UDH element",
                offset: 7,
                need: 5,
                remain: 4
            })
        );
    }
}
