//! Delivery receipts in the usual SMPP text form:
//! `id:<id> sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm
//! stat:DELIVRD err:000 text:<first 20 chars>` (dates in UTC).

use std::fmt::Write as _;

use crate::state::MessageState;

/// How many characters of the message text a receipt carries.
pub const TEXT_CHARS: usize = 20;

/// What a receipt says, for a whole message or one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt<'a> {
    /// The message id (or `<message>.<part>` for one part).
    pub id: String,
    /// Short messages submitted (parts).
    pub submitted: u32,
    /// Short messages delivered.
    pub delivered: u32,
    /// Unix seconds.
    pub submit_date: i64,
    /// Unix seconds: when the state was reached.
    pub done_date: i64,
    pub state: MessageState,
    /// TP-ST byte of the deciding report, or the +CMS ERROR code (0 when none).
    pub err: u16,
    /// The message text (only the first 20 characters are shown).
    pub text: &'a str,
}

impl Receipt<'_> {
    /// The receipt line.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(120);
        let _ = write!(
            out,
            "id:{} sub:{:03} dlvrd:{:03} submit date:{} done date:{} stat:{} err:{:03} text:",
            self.id,
            self.submitted,
            self.delivered,
            smpp_date(self.submit_date),
            smpp_date(self.done_date),
            self.state.as_str(),
            self.err
        );
        out.extend(
            self.text
                .chars()
                .take(TEXT_CHARS)
                .map(|c| if c.is_control() { ' ' } else { c }),
        );
        out
    }
}

/// `YYMMDDhhmm` in UTC; out-of-range times print as zeros.
pub fn smpp_date(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:02}{:02}{:02}{:02}{:02}",
            t.year().rem_euclid(100),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => "0000000000".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_message_receipt() {
        // 2017-02-28 14:24:00 UTC, as in the seed's example line.
        let t = 1_488_291_840;
        let r = Receipt {
            id: "123".into(),
            submitted: 1,
            delivered: 1,
            submit_date: t,
            done_date: t + 65,
            state: MessageState::Delivered,
            err: 0,
            text: "Hello from smsgw, this is longer than twenty",
        };
        assert_eq!(
            r.render(),
            "id:123 sub:001 dlvrd:001 submit date:1702281424 done date:1702281425 \
             stat:DELIVRD err:000 text:Hello from smsgw, th"
        );
    }

    #[test]
    fn failed_part_receipt_keeps_the_code_and_cleans_the_text() {
        let r = Receipt {
            id: "7.2".into(),
            submitted: 1,
            delivered: 0,
            submit_date: 0,
            done_date: 86_400 * 365,
            state: MessageState::Expired,
            err: 0x46,
            text: "two\nlines ünïcödé",
        };
        assert_eq!(
            r.render(),
            "id:7.2 sub:001 dlvrd:000 submit date:7001010000 done date:7101010000 \
             stat:EXPIRED err:070 text:two lines ünïcödé"
        );
        assert_eq!(smpp_date(i64::MAX), "0000000000");
    }
}
