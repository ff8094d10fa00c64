//! Reassembly of concatenated incoming SMS (SMS-DELIVERs whose header holds
//! a concatenation element, 3GPP TS 23.040 §9.2.3.24.1 with an 8-bit
//! reference, §9.2.3.24.8 with a 16-bit one). Pure: no IO, the clock is
//! passed in.
//!
//! Parts are grouped by sender, reference (and its width) and total. They
//! may come in any order; a part seen twice is ignored. A set that stays
//! incomplete longer than [`ReassemblyConfig::max_age_ms`] comes out as a
//! partial message rather than being dropped, and so does the oldest set
//! when [`ReassemblyConfig::max_sets`] are open: memory stays bounded (at
//! most `max_sets` sets of at most 255 parts of one TPDU's text each).
//! A part that comes again after its set completed starts a new set (which
//! later comes out as partial): completed sets are not remembered, since a
//! new message may reuse the reference.

use std::collections::HashMap;

use crate::pdu::deliver::Deliver;
use crate::pdu::udh::Concat;

/// Limits of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// How long an incomplete set waits for its missing parts.
    pub max_age_ms: i64,
    /// How many incomplete sets are kept at once.
    pub max_sets: usize,
}

impl Default for ReassemblyConfig {
    /// One day (an SMSC retries a busy recipient for hours), 1,024 sets.
    fn default() -> Self {
        ReassemblyConfig {
            max_age_ms: 24 * 3600 * 1000,
            max_sets: 1024,
        }
    }
}

/// One received part: its sender, its concatenation element, its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub sender: String,
    /// `None` for a message that is not concatenated.
    pub concat: Option<Concat>,
    pub text: String,
}

impl Part {
    /// The part carried by an SMS-DELIVER; `None` for 8-bit data (binary
    /// messages are not text and are not reassembled here).
    pub fn from_deliver(d: &Deliver) -> Option<Part> {
        Some(Part {
            sender: d.sender.to_string(),
            concat: d.user_data.concat(),
            text: d.user_data.as_text()?.to_string(),
        })
    }
}

/// A message put back together, completely or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub sender: String,
    /// The concatenation reference and whether it was 16-bit; `None` for a
    /// message that came in one piece.
    pub reference: Option<(u16, bool)>,
    /// Part texts by sequence number (index 0 is part 1); `None` for the
    /// parts that never came.
    pub parts: Vec<Option<String>>,
    /// When its first part arrived.
    pub first_ms: i64,
}

impl Message {
    /// True when every part is there.
    pub fn is_complete(&self) -> bool {
        self.parts.iter().all(Option::is_some)
    }

    /// The text of the parts that are there, in order.
    pub fn text(&self) -> String {
        self.parts.iter().flatten().map(String::as_str).collect()
    }

    /// The sequence numbers (1-based) of the parts that are missing.
    pub fn missing(&self) -> Vec<u8> {
        (1..=self.parts.len())
            .filter(|&i| self.parts[i - 1].is_none())
            .map(|i| i as u8)
            .collect()
    }
}

/// What [`Reassembler::push`] did with a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The part completed its message (now in the output).
    Completed,
    /// Kept, waiting for the other parts.
    Pending,
    /// Already had that part: ignored.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    sender: String,
    reference: u16,
    wide: bool,
    total: u8,
}

#[derive(Debug)]
struct Set {
    parts: Vec<Option<String>>,
    received: usize,
    first_ms: i64,
}

/// Puts concatenated SMS back together.
#[derive(Debug)]
pub struct Reassembler {
    cfg: ReassemblyConfig,
    sets: HashMap<Key, Set>,
}

impl Reassembler {
    pub fn new(cfg: ReassemblyConfig) -> Reassembler {
        Reassembler {
            cfg: ReassemblyConfig {
                max_sets: cfg.max_sets.max(1),
                ..cfg
            },
            sets: HashMap::new(),
        }
    }

    /// Incomplete sets held now.
    pub fn pending(&self) -> usize {
        self.sets.len()
    }

    /// Take one part at time `now_ms`. Complete messages, and partial ones
    /// that expired or were evicted to make room, are appended to `out`.
    pub fn push(&mut self, part: Part, now_ms: i64, out: &mut Vec<Message>) -> Pushed {
        self.expire(now_ms, out);
        // 23.040 §9.2.3.24.1: a total or sequence number of 0, or a sequence
        // number above the total, makes the element void: a message alone.
        let concat = part
            .concat
            .filter(|c| c.total > 1 && c.seq >= 1 && c.seq <= c.total);
        let Some(c) = concat else {
            out.push(Message {
                sender: part.sender,
                reference: part.concat.map(|c| (c.reference, c.wide)),
                parts: vec![Some(part.text)],
                first_ms: now_ms,
            });
            return Pushed::Completed;
        };
        let key = Key {
            sender: part.sender,
            reference: c.reference,
            wide: c.wide,
            total: c.total,
        };
        if !self.sets.contains_key(&key) && self.sets.len() >= self.cfg.max_sets {
            self.evict_oldest(out);
        }
        let set = self.sets.entry(key.clone()).or_insert_with(|| Set {
            parts: vec![None; usize::from(c.total)],
            received: 0,
            first_ms: now_ms,
        });
        let slot = &mut set.parts[usize::from(c.seq) - 1];
        if slot.is_some() {
            return Pushed::Duplicate;
        }
        *slot = Some(part.text);
        set.received += 1;
        if set.received < set.parts.len() {
            return Pushed::Pending;
        }
        if let Some(set) = self.sets.remove(&key) {
            out.push(message(key, set));
        }
        Pushed::Completed
    }

    /// Move the sets older than the configured age to `out`, as partial
    /// messages.
    pub fn expire(&mut self, now_ms: i64, out: &mut Vec<Message>) {
        let max_age = self.cfg.max_age_ms;
        let stale: Vec<Key> = self
            .sets
            .iter()
            .filter(|(_, s)| now_ms.saturating_sub(s.first_ms) >= max_age)
            .map(|(k, _)| k.clone())
            .collect();
        let mut expired: Vec<Message> = stale
            .into_iter()
            .filter_map(|k| self.sets.remove(&k).map(|s| message(k, s)))
            .collect();
        expired.sort_by_key(|m| m.first_ms);
        out.extend(expired);
    }

    /// When the oldest incomplete set expires (for the owner's timer).
    pub fn next_expiry(&self) -> Option<i64> {
        self.sets
            .values()
            .map(|s| s.first_ms.saturating_add(self.cfg.max_age_ms))
            .min()
    }

    fn evict_oldest(&mut self, out: &mut Vec<Message>) {
        let oldest = self
            .sets
            .iter()
            .min_by_key(|(_, s)| s.first_ms)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            if let Some(s) = self.sets.remove(&k) {
                out.push(message(k, s));
            }
        }
    }
}

fn message(key: Key, set: Set) -> Message {
    Message {
        sender: key.sender,
        reference: Some((key.reference, key.wide)),
        parts: set.parts,
        first_ms: set.first_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::split::{split, ConcatRef};
    use proptest::prelude::*;

    fn part(sender: &str, reference: u16, wide: bool, total: u8, seq: u8, text: &str) -> Part {
        Part {
            sender: sender.into(),
            concat: Some(Concat {
                reference,
                total,
                seq,
                wide,
            }),
            text: text.into(),
        }
    }

    fn cfg(max_age_ms: i64, max_sets: usize) -> ReassemblyConfig {
        ReassemblyConfig {
            max_age_ms,
            max_sets,
        }
    }

    #[test]
    fn parts_in_any_order_and_duplicates() {
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let mut out = Vec::new();
        let a = "+393401112233";
        assert_eq!(
            r.push(part(a, 7, false, 3, 3, "C"), 0, &mut out),
            Pushed::Pending
        );
        assert_eq!(
            r.push(part(a, 7, false, 3, 1, "A"), 1, &mut out),
            Pushed::Pending
        );
        assert_eq!(
            r.push(part(a, 7, false, 3, 1, "X"), 2, &mut out),
            Pushed::Duplicate
        );
        assert!(out.is_empty());
        assert_eq!(
            r.push(part(a, 7, false, 3, 2, "B"), 3, &mut out),
            Pushed::Completed
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].text(), "ABC");
        assert!(out[0].is_complete());
        assert_eq!(out[0].reference, Some((7, false)));
        assert_eq!(out[0].first_ms, 0);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn key_is_sender_reference_width_and_total() {
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let mut out = Vec::new();
        // Same reference: other sender, 16-bit instead of 8-bit, other total.
        r.push(part("+391", 9, false, 2, 1, "a1"), 0, &mut out);
        r.push(part("+392", 9, false, 2, 1, "b1"), 0, &mut out);
        r.push(part("+391", 9, true, 2, 1, "c1"), 0, &mut out);
        r.push(part("+391", 9, false, 3, 1, "d1"), 0, &mut out);
        assert_eq!(r.pending(), 4);
        r.push(part("+391", 9, true, 2, 2, "c2"), 0, &mut out);
        r.push(part("+392", 9, false, 2, 2, "b2"), 0, &mut out);
        r.push(part("+391", 9, false, 2, 2, "a2"), 0, &mut out);
        let texts: Vec<String> = out.iter().map(Message::text).collect();
        assert_eq!(texts, ["c1c2", "b1b2", "a1a2"]);
        assert_eq!(out[0].reference, Some((9, true)));
        assert_eq!(r.pending(), 1);
    }

    #[test]
    fn single_and_void_concatenation_pass_through() {
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let mut out = Vec::new();
        let single = Part {
            sender: "+391".into(),
            concat: None,
            text: "hi".into(),
        };
        assert_eq!(r.push(single, 0, &mut out), Pushed::Completed);
        // Sequence 0, sequence above total, total 1: the element is void.
        for (total, seq) in [(3, 0), (2, 3), (1, 1), (0, 0)] {
            r.push(part("+391", 1, false, total, seq, "x"), 0, &mut out);
        }
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(Message::is_complete));
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn incomplete_sets_expire_as_partial() {
        let mut r = Reassembler::new(cfg(1000, 16));
        let mut out = Vec::new();
        r.push(part("+391", 1, false, 3, 1, "one "), 0, &mut out);
        r.push(part("+391", 1, false, 3, 3, "three"), 10, &mut out);
        assert_eq!(r.next_expiry(), Some(1000));
        r.expire(999, &mut out);
        assert!(out.is_empty());
        r.expire(1000, &mut out);
        assert_eq!(out.len(), 1);
        assert!(!out[0].is_complete());
        assert_eq!(out[0].missing(), [2]);
        assert_eq!(out[0].text(), "one three");
        assert_eq!(r.pending(), 0);
        assert_eq!(r.next_expiry(), None);
        // A late part starts a new set rather than reviving the old one.
        assert_eq!(
            r.push(part("+391", 1, false, 3, 2, "two "), 2000, &mut out),
            Pushed::Pending
        );
    }

    #[test]
    fn memory_is_bounded_by_evicting_the_oldest_set() {
        let mut r = Reassembler::new(cfg(i64::MAX, 3));
        let mut out = Vec::new();
        for i in 0..10u16 {
            r.push(part("+391", i, false, 2, 1, "x"), i64::from(i), &mut out);
            assert!(r.pending() <= 3);
        }
        assert_eq!(r.pending(), 3);
        let evicted: Vec<u16> = out
            .iter()
            .filter_map(|m| m.reference)
            .map(|r| r.0)
            .collect();
        assert_eq!(evicted, [0, 1, 2, 3, 4, 5, 6]);
        assert!(out.iter().all(|m| m.missing() == [2]));
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            // GSM 7-bit, extension table included.
            proptest::string::string_regex("[A-Za-z0-9 .,!?@£$€{}\\[\\]~^|\\\\]{1,700}")
                .expect("regex"),
            // UCS2, emoji (surrogate pairs) included.
            proptest::collection::vec(
                prop_oneof![
                    Just('é'),
                    Just('Ж'),
                    Just('中'),
                    Just('😀'),
                    Just('🚀'),
                    Just('a')
                ],
                1..300
            )
            .prop_map(|v| v.into_iter().collect::<String>()),
        ]
    }

    proptest! {
        #[test]
        fn any_permutation_gives_the_text_back(
            text in text_strategy(),
            reference in any::<u16>(),
            seed in any::<u64>(),
        ) {
            let cref = ConcatRef::from_value(reference);
            let split = split(&text, false, cref).expect("splits");
            let total = split.parts.len() as u8;
            let wide = matches!(cref, ConcatRef::Sixteen(_));
            let mut parts: Vec<Part> = split
                .parts
                .iter()
                .enumerate()
                .map(|(i, t)| Part {
                    sender: "+393401112233".into(),
                    concat: (total > 1).then_some(Concat { reference, total, seq: i as u8 + 1, wide }),
                    text: (*t).to_string(),
                })
                .collect();
            // A deterministic shuffle from the seed, and one part repeated.
            let mut s = seed;
            for i in (1..parts.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                parts.swap(i, (s >> 33) as usize % (i + 1));
            }
            if total > 1 {
                // A copy of any part but the last, placed before the last:
                // the set is still open when it comes.
                let dup = parts[(seed as usize) % (parts.len() - 1)].clone();
                parts.insert((seed as usize / 7) % parts.len(), dup);
            }
            let mut r = Reassembler::new(ReassemblyConfig::default());
            let mut out = Vec::new();
            for p in parts {
                r.push(p, 0, &mut out);
            }
            prop_assert_eq!(out.len(), 1);
            prop_assert!(out[0].is_complete());
            prop_assert_eq!(out[0].text(), text);
            prop_assert_eq!(r.pending(), 0);
        }
    }
}
