//! The seam between the SMPP protocol side and the gateway.
//!
//! Everything here is SMPP-neutral where it can be: the protocol side turns
//! a submit_sm into a [`SubmitRequest`] (text already decoded from its
//! data_coding, a sar_* TLV already turned into a concatenation header,
//! times already absolute), and turns an [`Outbound`] back into a
//! deliver_sm. The backend never sees a PDU.

use std::future::Future;
use std::net::IpAddr;

use crate::state::MessageState;

/// How an account wants its message ids written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdFormat {
    /// The API id in decimal, no leading zeros (the default).
    #[default]
    Decimal,
    /// The same number in upper-case hex, no leading zeros.
    Hex,
}

impl IdFormat {
    /// The id as this account sees it (in submit_sm_resp, receipts, TLVs).
    pub fn format(self, id: u64) -> String {
        match self {
            IdFormat::Decimal => id.to_string(),
            IdFormat::Hex => format!("{id:X}"),
        }
    }

    /// An id as a client gives it back (query_sm, cancel_sm); `None` when it
    /// is not one this account could have been given.
    pub fn parse(self, s: &str) -> Option<u64> {
        let leading_zero = s.len() > 1 && s.starts_with('0');
        let ok = !s.is_empty()
            && !leading_zero
            && match self {
                IdFormat::Decimal => s.bytes().all(|b| b.is_ascii_digit()),
                IdFormat::Hex => s
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
            };
        if !ok {
            return None;
        }
        let radix = match self {
            IdFormat::Decimal => 10,
            IdFormat::Hex => 16,
        };
        u64::from_str_radix(s, radix).ok()
    }
}

/// A bound account, as the backend authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub system_id: String,
    pub id_format: IdFormat,
    /// Incoming SMS are delivered to this account's receiver binds.
    pub receive_mo: bool,
}

/// Why a bind is refused (the protocol side picks the command_status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindRefusal {
    /// ESME_RINVSYSID.
    UnknownSystemId,
    /// ESME_RINVPASWD.
    BadPassword,
    /// ESME_RBINDFAIL: the peer address is not in the account's allowed_ips.
    AddressNotAllowed,
}

/// An SMPP address as given (TON/NPI kept, to answer in kind).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub ton: u8,
    pub npi: u8,
    pub addr: String,
}

/// What one submit_sm carries, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// data_coding 0, 1, 3 or 8, decoded to text. `ucs2`: send as UCS2
    /// (data_coding 8) even when the text fits the GSM 7-bit alphabet.
    Text { text: String, ucs2: bool },
    /// data_coding 2 or 4: sent as 8-bit data, byte for byte.
    Binary { data: Vec<u8> },
}

/// A submit_sm, ready for the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitRequest {
    pub source: Address,
    pub dest: Address,
    pub payload: Payload,
    /// The client's own user data header (esm_class UDHI, or one built from
    /// the sar_* TLVs), without its length octet's framing changed: the
    /// message is then exactly one part carrying this header as given.
    pub udh: Option<Vec<u8>>,
    /// registered_delivery as given (bits 0-1 receipt, bit 4 intermediate).
    pub registered_delivery: u8,
    /// Absolute unix second after which the message expires.
    pub expires_at: Option<i64>,
    /// Absolute unix second before which it is not sent.
    pub not_before: Option<i64>,
    /// Class 0 (flash), from data_coding.
    pub flash: bool,
}

/// Why a submit is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitRefusal {
    /// ESME_RINVDSTADR: the destination cannot be routed or is malformed.
    BadDestination(String),
    /// ESME_RINVMSGLEN / ESME_RSUBMITFAIL: the content cannot be sent
    /// (too long, not encodable, a header that leaves no room...).
    BadContent(String),
    /// ESME_RTHROTTLED: over the account's `throughput` (parts/second).
    Throttled,
    /// ESME_RMSGQFUL: the queue refuses more work.
    QueueFull,
    /// ESME_RSYSERR: the store is not accepting work (nothing was stored).
    Unavailable(String),
}

/// What query_sm answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryAnswer {
    pub state: MessageState,
    /// Unix second the message became final, if it is.
    pub final_date: Option<i64>,
    /// The GSM error (TP-ST or +CMS code), 0 when none.
    pub error_code: u16,
}

/// Why a query or a cancel fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupRefusal {
    /// No message of this account has that id (ESME_RQUERYFAIL /
    /// ESME_RCANCELFAIL / ESME_RINVMSGID as fits).
    NotFound,
    /// cancel_sm: a part was already handed to a modem (ESME_RCANCELFAIL).
    TooLate,
    /// The store failed (ESME_RSYSERR).
    Unavailable(String),
}

/// A receipt for one message, with everything the receipt text and TLVs say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptItem {
    pub message_id: u64,
    /// The original submit's source and destination (the protocol side
    /// swaps them in the deliver_sm, as clients expect).
    pub submit_source: Address,
    pub submit_dest: Address,
    /// The aggregated state (final, or ENROUTE/ACCEPTED for an intermediate
    /// notification).
    pub state: MessageState,
    pub intermediate: bool,
    /// Parts submitted and parts delivered.
    pub sub: u32,
    pub dlvrd: u32,
    /// Unix seconds.
    pub submit_date: i64,
    pub done_date: i64,
    /// TP-ST byte or +CMS ERROR code of the deciding failure, 0 when none.
    pub err: u16,
    /// network_error_code TLV: (network type: 1 ANSI-136, 2 IS-95, 3 GSM,
    /// ..., error code), when a network error decided it.
    pub network_error: Option<(u8, u16)>,
    /// The first 20 characters of the text (empty for binary).
    pub text_head: String,
}

/// An incoming SMS for an account with receive_mo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoItem {
    pub from: Address,
    /// The receiving modem's own number when known, else its name.
    pub to: Address,
    pub payload: Payload,
    pub udh: Option<Vec<u8>>,
    pub received_at: i64,
}

/// One row of an account's durable outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundKind {
    Receipt(ReceiptItem),
    Mo(MoItem),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// Increasing per account: the delivery order.
    pub id: i64,
    pub kind: OutboundKind,
    /// Failed deliveries so far.
    pub attempts: u32,
}

/// What the gateway offers the SMPP server. Every method that changes
/// something returns only after the change is committed.
pub trait SmppBackend: Send + Sync + 'static {
    /// Check a bind's credentials and origin.
    fn authenticate(
        &self,
        system_id: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<Account, BindRefusal>;

    /// Queue a message; its id once it is on disk.
    fn submit(
        &self,
        account: &Account,
        req: SubmitRequest,
    ) -> impl Future<Output = Result<u64, SubmitRefusal>> + Send;

    /// The state of one of this account's messages.
    fn query(
        &self,
        account: &Account,
        id: u64,
    ) -> impl Future<Output = Result<QueryAnswer, LookupRefusal>> + Send;

    /// Cancel one of this account's messages before any part went out.
    fn cancel(
        &self,
        account: &Account,
        id: u64,
    ) -> impl Future<Output = Result<(), LookupRefusal>> + Send;

    /// Outbox rows of this account with id > `after`, oldest first, at most
    /// `limit`.
    fn outbound(
        &self,
        account: &str,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Outbound>, String>> + Send;

    /// The client answered deliver_sm for row `id` with status 0: remove it.
    fn delivered(&self, account: &str, id: i64) -> impl Future<Output = Result<(), String>> + Send;

    /// [`delivered`](Self::delivered) for several rows of `account`: a
    /// backend that can should remove them in one store operation.
    fn delivered_all(
        &self,
        account: &str,
        ids: Vec<i64>,
    ) -> impl Future<Output = Result<(), String>> + Send {
        let account = account.to_string();
        async move {
            for id in ids {
                self.delivered(&account, id).await?;
            }
            Ok(())
        }
    }

    /// The deliver_sm for row `id` failed (error status or no answer).
    fn failed(&self, account: &str, id: i64) -> impl Future<Output = Result<(), String>> + Send;

    /// Bumped whenever a row is added to `account`'s outbox.
    fn outbox_changed(&self, account: &str) -> tokio::sync::watch::Receiver<u64>;
}

#[cfg(test)]
mod tests {
    use super::IdFormat;

    #[test]
    fn ids_are_written_and_read_back_in_both_formats() {
        assert_eq!(IdFormat::Decimal.format(4_294_967_295), "4294967295");
        assert_eq!(IdFormat::Hex.format(4_294_967_295), "FFFFFFFF");
        assert_eq!(IdFormat::Hex.format(10), "A");
        for id in [1u64, 9, 10, 255, 65_536, 4_294_967_295] {
            for f in [IdFormat::Decimal, IdFormat::Hex] {
                assert_eq!(f.parse(&f.format(id)), Some(id));
            }
        }
    }

    #[test]
    fn ids_a_client_could_not_have_been_given_are_refused() {
        for bad in ["", "012", "1a", "-1", " 1", "99999999999999999999999"] {
            assert_eq!(IdFormat::Decimal.parse(bad), None, "{bad:?}");
        }
        for bad in ["", "0A", "ff", "G", "1 "] {
            assert_eq!(IdFormat::Hex.parse(bad), None, "{bad:?}");
        }
    }
}
