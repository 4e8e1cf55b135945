//! `log.sip_trace`: every SIP message sent and received, logged whole (start line, headers and
//! body) with its direction, peer and transport, at info under the target `phonetree::sip_trace`.
//! Off by default; a process-wide switch ([`set_enabled`]) that `server::serve` sets from the
//! configuration, as a log level is.
//!
//! Credentials never reach the log: the values of `Authorization` and `Proxy-Authorization` are
//! replaced by their scheme and username (`Digest username="1001", ***`), and a password in a
//! URI's user part (`sip:1001:secret@pbx`) by `***`, and the key of an SDP `a=crypto` line
//! (SRTP) by `inline:***`. The masking works on the text and never
//! fails: a message that is not UTF-8 is logged lossily, one that is not SIP as it is.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sip::Transport;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the trace on or off for the whole process.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Received,
    Sent,
}

/// Logs one message when the trace is on.
pub fn log(dir: Direction, peer: SocketAddr, transport: Transport, bytes: &[u8]) {
    if !enabled() {
        return;
    }
    let text = masked(&String::from_utf8_lossy(bytes));
    let (dir, arrow) = match dir {
        Direction::Received => ("received", "<<"),
        Direction::Sent => ("sent", ">>"),
    };
    tracing::info!(
        target: "phonetree::sip_trace",
        dir,
        %peer,
        transport = ?transport,
        "{arrow} {} bytes\n{}",
        bytes.len(),
        text.trim_end()
    );
}

/// The message with credentials masked, lines joined with `\n`.
pub fn masked(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_headers = true;
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if i > 0 {
            out.push('\n');
        }
        if line.is_empty() {
            in_headers = false;
        }
        if !in_headers {
            // The body: an SDP `a=crypto` line carries an SRTP master key.
            out.push_str(&crate::sdp::crypto::redact_line(line));
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if is_credential(name) => {
                out.push_str(name);
                out.push_str(": ");
                out.push_str(&mask_credentials(value.trim()));
            }
            _ => out.push_str(&mask_uri_passwords(line)),
        }
    }
    out
}

fn is_credential(name: &str) -> bool {
    let n = name.trim();
    n.eq_ignore_ascii_case("Authorization") || n.eq_ignore_ascii_case("Proxy-Authorization")
}

/// `Digest username="1001", realm=.., response=".."` → `Digest username="1001", ***`.
fn mask_credentials(value: &str) -> String {
    let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
    let user = params.split(',').map(str::trim).find(|p| {
        p.split_once('=')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("username"))
    });
    match user {
        Some(u) => format!("{scheme} {u}, ***"),
        None => format!("{scheme} ***"),
    }
}

/// `sip:1001:secret@pbx` → `sip:1001:***@pbx`, anywhere in a header line.
fn mask_uri_passwords(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = find_scheme(rest) {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let scheme_len = if tail[..4].eq_ignore_ascii_case("sips") {
            5
        } else {
            4
        };
        out.push_str(&tail[..scheme_len]);
        let uri = &tail[scheme_len..];
        let end = uri
            .find(|c: char| c.is_whitespace() || matches!(c, '>' | ';' | ',' | '"'))
            .unwrap_or(uri.len());
        let (userinfo_host, after) = uri.split_at(end);
        match userinfo_host.split_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split(':').next().unwrap_or("");
                out.push_str(user);
                out.push_str(":***@");
                out.push_str(host);
            }
            _ => out.push_str(userinfo_host),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The byte index of the next `sip:` or `sips:` (any case).
fn find_scheme(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let a = lower.find("sip:");
    let b = lower.find("sips:");
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = "REGISTER sip:pbx.example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK1\r\n\
        From: <sip:1001:hunter2@pbx.example.com>;tag=a\r\n\
        To: <sip:1001@pbx.example.com>\r\n\
        authorization: Digest username=\"1001\", realm=\"pbx\", nonce=\"abc\", uri=\"sip:pbx.example.com\", response=\"0123456789abcdef\", qop=auth, nc=00000001, cnonce=\"x\"\r\n\
        Proxy-Authorization: Digest username=\"1001\", response=\"fedcba\"\r\n\
        WWW-Authenticate: Digest realm=\"pbx\", nonce=\"n1\"\r\n\
        Content-Length: 11\r\n\
        \r\n\
        v=0\r\nx=Authorization: keep";

    #[test]
    fn credentials_are_masked_and_the_rest_is_kept() {
        let m = masked(REGISTER);
        assert!(!m.contains("hunter2"), "{m}");
        assert!(!m.contains("0123456789abcdef"), "{m}");
        assert!(!m.contains("fedcba"), "{m}");
        assert!(
            m.contains("authorization: Digest username=\"1001\", ***"),
            "{m}"
        );
        assert!(
            m.contains("Proxy-Authorization: Digest username=\"1001\", ***"),
            "{m}"
        );
        assert!(
            m.contains("From: <sip:1001:***@pbx.example.com>;tag=a"),
            "{m}"
        );
        assert!(m.contains("To: <sip:1001@pbx.example.com>"), "{m}");
        // A challenge carries no secret; the body is not headers.
        assert!(
            m.contains("WWW-Authenticate: Digest realm=\"pbx\", nonce=\"n1\""),
            "{m}"
        );
        assert!(m.ends_with("x=Authorization: keep"), "{m}");
        assert!(!m.contains('\r'));
    }

    #[test]
    fn srtp_keys_in_sdp_bodies_are_masked() {
        let invite = "INVITE sip:5000@us SIP/2.0\r\nContent-Type: application/sdp\r\n\r\n\
            v=0\r\nm=audio 4000 RTP/SAVP 0\r\n\
            a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31\r\n\
            a=rtpmap:0 PCMU/8000\r\n";
        let m = masked(invite);
        assert!(!m.contains("AAECAwQFBgcI"), "{m}");
        assert!(
            m.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:***\na=rtpmap:0 PCMU/8000"),
            "{m}"
        );
    }

    #[test]
    fn anything_at_all_is_masked_without_a_panic() {
        for s in [
            "",
            "\r\n",
            "sip:",
            "SIPS:@",
            "Authorization:",
            "a: sip:x:y",
            "é sip:é:ü@ß",
        ] {
            let m = masked(s);
            assert!(!m.contains("x:y@"), "{m}");
        }
        assert_eq!(mask_uri_passwords("a sip:x:y@h b"), "a sip:x:***@h b");
    }
}
