//! Send one message on one modem: encode, store, AT+CMGS each part, record
//! the TP-MR (which registers the part with the router) or the refusal.

use super::encode::encode_message;
use super::policy::{self, Decision, RetryPolicy};
use crate::modem::Modem;
use crate::pdu::address::Address;
use crate::pdu::validity::Validity;
use crate::pdu::PduError;
use crate::router::{ModemId, PartId};
use crate::store::{
    unix_now, EnqueueRequest, MessageId, MessageOptions, Store, StoreError, DEFAULT_VALIDITY_SECS,
};

/// What to send.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub to: String,
    pub text: String,
    /// Ask for a status report on every part (TP-SRR).
    pub report: bool,
    /// Sent as TP-VP when relative (the form the store keeps, so that a
    /// resend is encoded the same); an absolute or enhanced period only
    /// sets how long the part is expected to live.
    pub validity: Validity,
    pub force_ucs2: bool,
    pub flash: bool,
    /// Concatenation reference for multipart messages.
    pub concat_ref: u16,
}

impl OutboundMessage {
    /// The validity period in seconds, for expiry of parts with no report
    /// ([`DEFAULT_VALIDITY_SECS`] when the SMSC's default applies).
    pub fn validity_secs(&self, now: i64) -> i64 {
        self.validity
            .lifetime_secs(now)
            .unwrap_or(DEFAULT_VALIDITY_SECS)
    }
}

/// What became of one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome {
    /// Accepted by the network with this TP-MR.
    Sent { mr: u8, collision_with: Vec<PartId> },
    /// Refused for good (+CMS ERROR, REJECTD).
    Rejected { code: Option<u16>, reason: String },
    /// Written but unanswered: may or may not be sent (UNKNOWN, not resent).
    OutcomeUnknown { reason: String },
    /// Not sent because an earlier part failed or the modem went away; it
    /// stays queued in the store.
    NotSent { reason: String },
}

/// A sent (or partly sent) message.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub id: MessageId,
    pub parts: Vec<(PartId, PartOutcome)>,
}

impl SentMessage {
    /// True when every part got a TP-MR.
    pub fn all_sent(&self) -> bool {
        self.parts
            .iter()
            .all(|(_, o)| matches!(o, PartOutcome::Sent { .. }))
    }
}

/// Why nothing could be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("bad recipient {to:?}: {source}")]
    BadRecipient { to: String, source: PduError },
    #[error("cannot encode the text: {0}")]
    Encode(PduError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Send `msg` on `modem` (known to the store as `modem_id`), recording it
/// all in `store`. Parts go out in order; what each answer means is decided
/// by [`policy::decide`] under [`RetryPolicy::interactive`]: a refusal
/// worth retrying is tried again on this modem after a pause, one that is
/// not (or out of attempts) rejects the part (and so the message), and the
/// remaining parts are not sent.
pub async fn send_message(
    store: &mut Store,
    modem: &Modem,
    modem_id: ModemId,
    msg: &OutboundMessage,
) -> Result<SentMessage, SendError> {
    let to = Address::parse_number(&msg.to).map_err(|source| SendError::BadRecipient {
        to: msg.to.clone(),
        source,
    })?;
    let now = unix_now();
    let validity = msg.validity_secs(now);
    let opts = MessageOptions {
        report: msg.report,
        validity_secs: validity,
        vp_relative: match msg.validity {
            Validity::Relative(v) => Some(v),
            _ => None,
        },
        ucs2: msg.force_ucs2,
        flash: msg.flash,
        modem: None,
        concat_ref: msg.concat_ref,
        ..MessageOptions::default()
    };
    let encoded = encode_message(&to, &msg.text, &opts).map_err(SendError::Encode)?;
    let to_text = to.to_string();
    let req = EnqueueRequest {
        to: &to_text,
        text: &msg.text,
        parts: encoded.len() as u8,
        opts: &opts,
    };
    // Claimed by this modem: a daemon on the same database leaves it alone.
    let created = store.enqueue_claimed(&req, modem.name(), now)?;
    let mut results = Vec::with_capacity(encoded.len());
    let mut stop: Option<String> = None;
    for (part, enc) in created.parts.iter().zip(&encoded) {
        if let Some(reason) = &stop {
            results.push((
                *part,
                PartOutcome::NotSent {
                    reason: reason.clone(),
                },
            ));
            continue;
        }
        let outcome = send_part(
            store,
            modem,
            modem_id,
            *part,
            enc.tpdu_len,
            &enc.hex(),
            validity,
        )
        .await?;
        match &outcome {
            PartOutcome::Sent { .. } => {}
            PartOutcome::Rejected { reason, .. } => {
                stop = Some(format!("an earlier part was rejected ({reason})"))
            }
            PartOutcome::OutcomeUnknown { reason } | PartOutcome::NotSent { reason } => {
                stop = Some(reason.clone())
            }
        }
        results.push((*part, outcome));
    }
    Ok(SentMessage {
        id: created.id,
        parts: results,
    })
}

async fn send_part(
    store: &mut Store,
    modem: &Modem,
    modem_id: ModemId,
    part: PartId,
    tpdu_len: usize,
    hex: &str,
    validity: i64,
) -> Result<PartOutcome, SendError> {
    let policy = RetryPolicy::interactive();
    let mut retries = 0;
    loop {
        // Committed before AT+CMGS: a crash from here on leaves the part
        // UNKNOWN at the next start, never sent twice.
        store.mark_sending(part, modem_id, unix_now())?;
        let result = modem.send_pdu(tpdu_len, hex).await;
        let now = unix_now();
        match policy::decide(&result, retries, &policy) {
            Decision::Sent { mr } => {
                let sent = store.mark_sent(part, modem_id, mr, now, validity)?;
                let collision_with = sent.collision.map(|c| c.pending).unwrap_or_default();
                return Ok(PartOutcome::Sent { mr, collision_with });
            }
            Decision::Unknown { reason } => {
                store.mark_outcome_unknown(part, &reason, now)?;
                return Ok(PartOutcome::OutcomeUnknown { reason });
            }
            Decision::Retry {
                code,
                reason,
                retries: next,
                after,
            } => {
                let due = policy::due_at(now, after);
                store.mark_retry(part, code, &reason, next, due, now)?;
                tracing::info!(
                    part = part.0,
                    attempt = next + 1,
                    "refused ({reason}); retrying in {after:?}"
                );
                tokio::time::sleep(after).await;
                retries = next;
            }
            Decision::Reject { code, reason } => {
                store.mark_rejected(part, code.unwrap_or(0), &reason, now)?;
                return Ok(PartOutcome::Rejected { code, reason });
            }
            Decision::NotSent { reason, after, .. } => {
                // Nothing reached the network (no prompt, port gone before
                // the PDU was written): the part stays queued.
                let due = policy::due_at(now, after);
                store.mark_retry(part, None, &reason, retries, due, now)?;
                return Ok(PartOutcome::NotSent { reason });
            }
        }
    }
}
