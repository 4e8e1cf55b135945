//! Dialog state of a call (RFC 3261 §12): identifiers, route set, remote target, CSeqs, and
//! building in-dialog requests.
//!
//! Owns: creating the dialog from an INVITE we answer (UAS) or from the 2xx to an INVITE we
//! sent (UAC, [`Dialog::from_answer`]), matching in-dialog messages (Call-ID + tags),
//! the remote CSeq ordering check, and in-dialog requests (Route set from Record-Route,
//! Request-URI = remote target, CSeq incremented). In-dialog requests go to where the INVITE
//! came from (the proxy, or the NATed phone's public address) rather than resolving the Contact:
//! that is what reaches phones behind NAT, and with a record-routing proxy it is the proxy.
//!
//! Does not own the call's life cycle (see `call`) nor transactions.

use std::fmt::Write as _;

use rsipstack::sip::Method;

use super::build::{self, OutMessage};
use super::message::{Core, Inbound, NameAddr};
use super::transaction::Peer;
use super::tu::Ctx;

/// One dialog (either side: fields are named from our point of view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    /// The caller's From tag (`None` for an RFC 2543 peer).
    pub remote_tag: Option<String>,
    /// Our URI (the INVITE's To).
    pub local_uri: String,
    /// The caller's From, as received (with its tag).
    pub remote: NameAddr,
    /// Where requests go: the caller's Contact URI (falls back to its From URI).
    pub remote_target: String,
    /// Record-Route of the INVITE, in order (a UAS uses it as is, RFC 3261 §12.1.1).
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    /// Where the dialog's requests are sent.
    pub peer: Peer,
}

/// Which header of an INVITE gives the dialog it would create a remote target we could not
/// send a request to (`None`: usable): its Contact, or its From when it has no Contact. Checked
/// before the call is accepted, so a dialog never holds a request URI our own parser refuses
/// (fuzzing: a BYE went out with `sip:sipp@-Record-Route: 2/…` as its request line). From and
/// To are only echoed, and a user part may hold `;` (`sip:0088;x=y@pbx`): they are not held to
/// request-URI rules here.
pub fn unusable_uri(invite: &Inbound) -> Option<&'static str> {
    use super::message::is_request_uri;
    match invite.header("Contact") {
        Some(c) => match NameAddr::parse(c, "Contact") {
            Ok(c) if is_request_uri(&c.uri) => None,
            _ => Some("Contact"),
        },
        None => (!is_request_uri(&invite.core.from.uri)).then_some("From"),
    }
}

impl Dialog {
    /// The dialog an INVITE creates when we answer it with `local_tag`.
    pub fn from_invite(invite: &Inbound, local_tag: String, peer: Peer, first_cseq: u32) -> Dialog {
        let core = &invite.core;
        let remote_target = invite
            .header("Contact")
            .and_then(|c| NameAddr::parse(c, "Contact").ok())
            .map(|c| c.uri)
            .unwrap_or_else(|| core.from.uri.clone());
        Dialog {
            call_id: core.call_id.clone(),
            local_tag,
            remote_tag: core.from.tag.clone(),
            local_uri: core.to.uri.clone(),
            remote: core.from.clone(),
            remote_target,
            route_set: invite.header_list("Record-Route"),
            local_cseq: first_cseq,
            remote_cseq: core.cseq.seq,
            peer,
        }
    }

    /// The dialog a 2xx to our INVITE creates (RFC 3261 §12.1.2): remote tag and URI from its
    /// To, remote target from its Contact, route set = its Record-Route reversed, our CSeq
    /// continuing from the INVITE's. In-dialog requests go where the INVITE went when a proxy
    /// record-routed (it is the first hop of the route set) or the Contact is no IP literal;
    /// otherwise straight to the Contact (a proxy that did not record-route stays out of the
    /// dialog).
    pub fn from_answer(
        answer: &Inbound,
        local_uri: &str,
        local_tag: String,
        invite_cseq: u32,
        invite_peer: Peer,
    ) -> Dialog {
        let core = &answer.core;
        let contact = answer
            .header("Contact")
            .and_then(|c| NameAddr::parse(c, "Contact").ok())
            .map(|c| c.uri);
        let mut route_set = answer.header_list("Record-Route");
        route_set.reverse();
        let direct = contact
            .as_deref()
            .filter(|_| route_set.is_empty())
            .and_then(super::message::uri_socket_addr);
        let peer = match direct {
            Some(dest) => Peer {
                dest,
                transport: invite_peer.transport,
            },
            None => invite_peer,
        };
        Dialog {
            call_id: core.call_id.clone(),
            local_tag,
            remote_tag: core.to.tag.clone(),
            local_uri: local_uri.to_string(),
            remote: core.to.clone(),
            remote_target: contact.unwrap_or_else(|| core.to.uri.clone()),
            route_set,
            local_cseq: invite_cseq,
            remote_cseq: 0,
            peer,
        }
    }

    /// Whether a request belongs to this dialog (Call-ID, To tag = ours, From tag = theirs).
    pub fn matches(&self, core: &Core) -> bool {
        core.call_id == self.call_id
            && core.to.tag.as_deref() == Some(self.local_tag.as_str())
            && core.from.tag == self.remote_tag
    }

    /// RFC 3261 §12.2.2: a request with a lower CSeq than the last one is out of order (500).
    /// Updates the remote CSeq when in order.
    pub fn accept_remote_cseq(&mut self, seq: u32) -> bool {
        if seq < self.remote_cseq {
            return false;
        }
        self.remote_cseq = seq;
        true
    }

    /// Our To header value with tag, as sent in responses and From of our requests.
    pub fn local_name_addr(&self) -> String {
        format!("<{}>;tag={}", self.local_uri, self.local_tag)
    }

    /// A new in-dialog request (CSeq incremented); returns it and its branch.
    pub fn request(&mut self, method: Method, ctx: &mut Ctx<'_>) -> (OutMessage, String) {
        self.local_cseq += 1;
        let branch = ctx.ids.branch();
        let mut to = format!("<{}>", self.remote.uri);
        if let Some(tag) = &self.remote_tag {
            let _ = write!(to, ";tag={tag}");
        }
        let mut msg = build::request(
            method,
            &self.remote_target,
            &ctx.sent_by_on(self.peer.transport),
            self.peer.transport,
            &branch,
            &self.local_name_addr(),
            &to,
            &self.call_id,
            self.local_cseq,
        );
        for route in &self.route_set {
            msg = msg.header("Route", route.clone());
        }
        (msg.header("Contact", self.contact(ctx)), branch)
    }

    /// The ACK for the 2xx to our INVITE with CSeq `invite_cseq` (RFC 3261 §13.2.2.4): its own
    /// branch, the route set and remote target, the INVITE's CSeq number. Not a transaction.
    pub fn ack(&self, invite_cseq: u32, ctx: &mut Ctx<'_>) -> OutMessage {
        let branch = ctx.ids.branch();
        let mut to = format!("<{}>", self.remote.uri);
        if let Some(tag) = &self.remote_tag {
            let _ = write!(to, ";tag={tag}");
        }
        let mut msg = build::request(
            Method::Ack,
            &self.remote_target,
            &ctx.sent_by_on(self.peer.transport),
            self.peer.transport,
            &branch,
            &self.local_name_addr(),
            &to,
            &self.call_id,
            invite_cseq,
        );
        for route in &self.route_set {
            msg = msg.header("Route", route.clone());
        }
        msg
    }

    /// Our Contact for this dialog.
    pub fn contact(&self, ctx: &Ctx<'_>) -> String {
        contact_for(&self.local_uri, self.peer.transport, ctx)
    }
}

/// `<sip:user@ip:port;transport=tcp>` using the user part of `uri` and our address (the TLS port
/// and `;transport=tls` over TLS).
pub fn contact_for(uri: &str, transport: super::Transport, ctx: &Ctx<'_>) -> String {
    let user = super::message::uri_user(uri).filter(|u| !u.is_empty());
    let sent_by = ctx.sent_by_on(transport);
    let mut c = match user {
        Some(u) if !u.starts_with('+') || u.len() > 1 => format!("<sip:{u}@{sent_by}"),
        _ => format!("<sip:{sent_by}"),
    };
    c.push_str(transport.uri_param());
    c.push('>');
    c
}
