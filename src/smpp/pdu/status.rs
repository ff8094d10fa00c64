//! SMPP 3.4 command_status values (§5.1.3) with their names.

macro_rules! statuses {
    ($($name:ident = $value:expr, $text:expr;)*) => {
        $(#[doc = $text] pub const $name: u32 = $value;)*

        /// The ESME_* name of a command_status, `None` for values 3.4 does
        /// not define.
        pub const fn name(status: u32) -> Option<&'static str> {
            match status {
                $($value => Some(stringify!($name)),)*
                _ => None,
            }
        }

        /// What a command_status means, in words.
        pub const fn describe(status: u32) -> &'static str {
            match status {
                $($value => $text,)*
                _ => "reserved or vendor-specific status",
            }
        }
    };
}

statuses! {
    ESME_ROK = 0x00, "no error";
    ESME_RINVMSGLEN = 0x01, "message length is invalid";
    ESME_RINVCMDLEN = 0x02, "command length is invalid";
    ESME_RINVCMDID = 0x03, "invalid command id";
    ESME_RINVBNDSTS = 0x04, "incorrect bind status for the given command";
    ESME_RALYBND = 0x05, "ESME already in bound state";
    ESME_RINVPRTFLG = 0x06, "invalid priority flag";
    ESME_RINVREGDLVFLG = 0x07, "invalid registered delivery flag";
    ESME_RSYSERR = 0x08, "system error";
    ESME_RINVSRCADR = 0x0A, "invalid source address";
    ESME_RINVDSTADR = 0x0B, "invalid destination address";
    ESME_RINVMSGID = 0x0C, "message id is invalid";
    ESME_RBINDFAIL = 0x0D, "bind failed";
    ESME_RINVPASWD = 0x0E, "invalid password";
    ESME_RINVSYSID = 0x0F, "invalid system id";
    ESME_RCANCELFAIL = 0x11, "cancel_sm failed";
    ESME_RREPLACEFAIL = 0x13, "replace_sm failed";
    ESME_RMSGQFUL = 0x14, "message queue full";
    ESME_RINVSERTYP = 0x15, "invalid service type";
    ESME_RINVNUMDESTS = 0x33, "invalid number of destinations";
    ESME_RINVDLNAME = 0x34, "invalid distribution list name";
    ESME_RINVDESTFLAG = 0x40, "invalid destination flag";
    ESME_RINVSUBREP = 0x42, "invalid submit with replace request";
    ESME_RINVESMCLASS = 0x43, "invalid esm_class field data";
    ESME_RCNTSUBDL = 0x44, "cannot submit to distribution list";
    ESME_RSUBMITFAIL = 0x45, "submit_sm or submit_multi failed";
    ESME_RINVSRCTON = 0x48, "invalid source address TON";
    ESME_RINVSRCNPI = 0x49, "invalid source address NPI";
    ESME_RINVDSTTON = 0x50, "invalid destination address TON";
    ESME_RINVDSTNPI = 0x51, "invalid destination address NPI";
    ESME_RINVSYSTYP = 0x53, "invalid system_type field";
    ESME_RINVREPFLAG = 0x54, "invalid replace_if_present flag";
    ESME_RINVNUMMSGS = 0x55, "invalid number of messages";
    ESME_RTHROTTLED = 0x58, "throttling error (ESME has exceeded allowed message limits)";
    ESME_RINVSCHED = 0x61, "invalid scheduled delivery time";
    ESME_RINVEXPIRY = 0x62, "invalid message validity period (expiry time)";
    ESME_RINVDFTMSGID = 0x63, "predefined message invalid or not found";
    ESME_RX_T_APPN = 0x64, "ESME receiver temporary app error code";
    ESME_RX_P_APPN = 0x65, "ESME receiver permanent app error code";
    ESME_RX_R_APPN = 0x66, "ESME receiver reject message error code";
    ESME_RQUERYFAIL = 0x67, "query_sm request failed";
    ESME_RINVOPTPARSTREAM = 0xC0, "error in the optional part of the PDU body";
    ESME_ROPTPARNOTALLWD = 0xC1, "optional parameter not allowed";
    ESME_RINVPARLEN = 0xC2, "invalid parameter length";
    ESME_RMISSINGOPTPARAM = 0xC3, "expected optional parameter missing";
    ESME_RINVOPTPARAMVAL = 0xC4, "invalid optional parameter value";
    ESME_RDELIVERYFAILURE = 0xFE, "delivery failure (used for data_sm_resp)";
    ESME_RUNKNOWNERR = 0xFF, "unknown error";
}

/// `ESME_RTHROTTLED (0x58)`-style label for logs and errors.
pub fn label(status: u32) -> String {
    match name(status) {
        Some(n) => format!("{n} (0x{status:02X})"),
        None => format!("0x{status:08X}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_agree_with_the_spec_table() {
        assert_eq!(name(0x58), Some("ESME_RTHROTTLED"));
        assert_eq!(name(ESME_RINVBNDSTS), Some("ESME_RINVBNDSTS"));
        assert_eq!(ESME_RALYBND, 5);
        assert_eq!(ESME_RINVSYSID, 0x0F);
        assert_eq!(ESME_RQUERYFAIL, 0x67);
        assert_eq!(name(0x09), None);
        assert_eq!(label(0x14), "ESME_RMSGQFUL (0x14)");
        assert_eq!(label(0x400), "0x00000400");
        assert_eq!(describe(ESME_RINVPASWD), "invalid password");
    }
}
