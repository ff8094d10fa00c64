//! The one place a queued message's options become SMS-SUBMIT options:
//! the daemon's submit path (counting parts), its workers (encoding what
//! they claimed) and `smsgw send` all encode through here, so the same
//! message is encoded the same way whoever sends it, first time or resend.

use crate::pdu::address::Address;
use crate::pdu::split::{
    encode_single, encode_submit, ConcatRef, EncodedPart, SingleBody, SubmitOptions,
};
use crate::pdu::validity::Validity;
use crate::pdu::PduError;
use crate::store::MessageOptions;

/// The SMS-SUBMIT options of a message queued with `opts`. Only a relative
/// TP-VP is sent: the store keeps the validity in that form, so a resend
/// after a restart is encoded like the first attempt.
pub fn submit_options(opts: &MessageOptions) -> SubmitOptions {
    SubmitOptions {
        status_report: opts.report,
        validity: opts.vp_relative.map_or(Validity::None, Validity::Relative),
        force_ucs2: opts.ucs2,
        flash: opts.flash,
        concat_ref: ConcatRef::from_value(opts.concat_ref),
        ..SubmitOptions::default()
    }
}

/// Encode `text` to `to` (a normalised number) as the parts of a message
/// queued with `opts`. A message with 8-bit data or a header of the
/// client's own (SMPP) is exactly one part, its header kept as given.
pub fn encode_message(
    to: &Address,
    text: &str,
    opts: &MessageOptions,
) -> Result<Vec<EncodedPart>, PduError> {
    let so = submit_options(opts);
    match (&opts.data, &opts.udh) {
        (None, None) => encode_submit(to, text, &so),
        (data, udh) => {
            let body = match data {
                Some(d) => SingleBody::Binary(d),
                None => SingleBody::Text(text),
            };
            Ok(vec![encode_single(to, udh.as_deref(), body, &so)?])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_carry_over() {
        let opts = MessageOptions {
            report: false,
            vp_relative: Some(167),
            ucs2: true,
            flash: true,
            concat_ref: 300,
            ..MessageOptions::default()
        };
        let s = submit_options(&opts);
        assert!(!s.status_report && s.force_ucs2 && s.flash);
        assert_eq!(s.validity, Validity::Relative(167));
        assert_eq!(s.concat_ref, ConcatRef::Sixteen(300));
        let d = submit_options(&MessageOptions::default());
        assert!(d.status_report);
        assert_eq!(d.validity, Validity::None);
        assert_eq!(d.smsc, None);
    }
}
