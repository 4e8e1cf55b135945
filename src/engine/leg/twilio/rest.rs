//! TwiML and Twilio's REST API: what the leg answers the voice webhook with, and how it
//! transfers or hangs up a call it only sees as a media stream.
//!
//! - [`connect_twiml`]: `<Connect><Stream url="wss://…/twilio/stream">` with the call's numbers
//!   (and the webhook's query parameters) as `<Parameter>`s.
//! - [`Rest`]: `POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json` with `Twiml=<Dial>`
//!   (transfer) or `Status=completed` (hang up), HTTP basic auth with the account SID and the
//!   auth token. The base URL is configurable (`twilio.api_base`) so tests use a stand-in.
//!
//! Error texts never contain the token; SIDs taken from the stream are checked to be plain
//! tokens before they go into a URL path.

use std::time::Duration;

use crate::config::twilio::AuthToken;

/// How long one REST call may take.
pub const REST_TIMEOUT: Duration = Duration::from_secs(10);

/// Most `<Parameter>`s put on the stream (Twilio's own limits are lower still).
pub const MAX_PARAMS: usize = 16;

/// The answer to the voice webhook: connect the call to our stream.
pub fn connect_twiml(stream_url: &str, params: &[(String, String)]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Connect><Stream url=\"",
    );
    out.push_str(&xml_escape(stream_url));
    out.push_str("\">");
    for (k, v) in params.iter().take(MAX_PARAMS) {
        out.push_str("<Parameter name=\"");
        out.push_str(&xml_escape(k));
        out.push_str("\" value=\"");
        out.push_str(&xml_escape(v));
        out.push_str("\"/>");
    }
    out.push_str("</Stream></Connect></Response>\n");
    out
}

/// The TwiML that moves the call to `target` (`tel:`/bare number → `<Number>`, `sip:` → `<Sip>`).
pub fn dial_twiml(target: &str) -> String {
    let t = target.trim().trim_start_matches('<').trim_end_matches('>');
    let lower = t.get(..5).unwrap_or(t).to_ascii_lowercase();
    let noun = if lower.starts_with("sip:") || lower.starts_with("sips:") {
        format!("<Sip>{}</Sip>", xml_escape(t))
    } else {
        let number = t.strip_prefix("tel:").unwrap_or(t);
        let number = number.split(';').next().unwrap_or(number);
        format!("<Number>{}</Number>", xml_escape(number))
    };
    format!("<Response><Dial>{noun}</Dial></Response>")
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A SID safe in a URL path (`CA…`, `AC…`: letters and digits).
pub fn is_sid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Twilio's REST API for one account.
#[derive(Debug, Clone)]
pub struct Rest {
    pub http: reqwest::Client,
    /// `https://api.twilio.com` (no trailing `/`).
    pub base: String,
    /// The configured account; else the one the stream named.
    pub account_sid: Option<String>,
    pub token: AuthToken,
}

impl Rest {
    /// Redirects the call to `<Dial>target</Dial>` (a blind transfer).
    pub async fn transfer(
        &self,
        stream_account: &str,
        call_sid: &str,
        target: &str,
    ) -> Result<(), String> {
        let twiml = dial_twiml(target);
        self.update(stream_account, call_sid, &[("Twiml", twiml.as_str())])
            .await
    }

    /// Ends the call.
    pub async fn hangup(&self, stream_account: &str, call_sid: &str) -> Result<(), String> {
        self.update(stream_account, call_sid, &[("Status", "completed")])
            .await
    }

    async fn update(
        &self,
        stream_account: &str,
        call_sid: &str,
        form: &[(&str, &str)],
    ) -> Result<(), String> {
        let account = self.account_sid.as_deref().unwrap_or(stream_account);
        if !is_sid(account) || !is_sid(call_sid) {
            return Err("twilio: no usable account or call SID".into());
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{account}/Calls/{call_sid}.json",
            self.base
        );
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self
            .http
            .post(url)
            .basic_auth(account, Some(self.token.expose()))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .timeout(REST_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("twilio: request failed: {}", e.without_url()))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let message: String = message.chars().take(200).collect();
        Err(format!("twilio: {} {message}", status.as_u16())
            .trim_end()
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_twiml_carries_the_stream_url_and_escaped_parameters() {
        let twiml = connect_twiml(
            "wss://ivr.example.com/twilio/stream",
            &[
                ("from".into(), "+15550001".into()),
                ("to".into(), "\"<&>".into()),
            ],
        );
        assert!(twiml.contains("<Connect><Stream url=\"wss://ivr.example.com/twilio/stream\">"));
        assert!(twiml.contains("<Parameter name=\"from\" value=\"+15550001\"/>"));
        assert!(twiml.contains("value=\"&quot;&lt;&amp;&gt;\""), "{twiml}");
    }

    #[test]
    fn dial_twiml_picks_number_or_sip() {
        assert_eq!(
            dial_twiml("tel:+15550001"),
            "<Response><Dial><Number>+15550001</Number></Dial></Response>"
        );
        assert_eq!(
            dial_twiml("sip:100@pbx.example.com"),
            "<Response><Dial><Sip>sip:100@pbx.example.com</Sip></Dial></Response>"
        );
        assert!(dial_twiml("<sip:a@b>").contains("<Sip>sip:a@b</Sip>"));
    }

    #[test]
    fn only_plain_sids_go_into_a_path() {
        assert!(is_sid("CA0123456789abcdef"));
        assert!(!is_sid("../x"));
        assert!(!is_sid(""));
    }
}
