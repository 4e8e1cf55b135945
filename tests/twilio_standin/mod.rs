//! A local stand-in for the Twilio Messages API (`POST /2010-04-01/Accounts/{Sid}/Messages.json`),
//! written to Twilio's documented behaviour: HTTP Basic `AccountSid:AuthToken` (401, code
//! 20003, otherwise), form fields `To` (E.164, 21211 / 21604), `From` or `MessagingServiceSid`
//! (21603), `Body` (21602, at most 1600 characters: 21617); `201` with the Message resource
//! (`sid` "SM…", `status` "queued", `num_segments`…). A plain std thread on 127.0.0.1:0, one
//! request per connection, bounded reads; stopped on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub body: String,
}

pub struct TwilioStandIn {
    pub addr: SocketAddr,
    pub messages: Arc<Mutex<Vec<Message>>>,
    /// Every request, accepted or not: (status, path).
    pub requests: Arc<Mutex<Vec<(u16, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TwilioStandIn {
    pub fn start(account_sid: &str, auth_token: &str) -> TwilioStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, r, s) = (messages.clone(), requests.clone(), stop.clone());
        let sid = account_sid.to_string();
        let auth = format!(
            "Basic {}",
            base64(format!("{account_sid}:{auth_token}").as_bytes())
        );
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        n += 1;
                        let _ = serve(stream, &sid, &auth, n, &m, &r);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TwilioStandIn {
            addr,
            messages,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn sent(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }
}

impl Drop for TwilioStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    sid: &str,
    auth: &str,
    n: u64,
    messages: &Mutex<Vec<Message>>,
    requests: &Mutex<Vec<(u16, String)>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || headers.len() > 100 {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let len: usize = header("content-length").parse().unwrap_or(0).min(64 * 1024);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let form = parse_form(&String::from_utf8_lossy(&body));
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let expected_path = format!("/2010-04-01/Accounts/{sid}/Messages.json");
    let error = |status: u16, code: u32, message: &str| {
        (
            status,
            format!(
                "{{\"code\":{code},\"message\":\"{message}\",\"more_info\":\"https://www.twilio.com/docs/errors/{code}\",\"status\":{status}}}"
            ),
        )
    };
    let (status, json) = if method != "POST" || path != expected_path {
        error(404, 20404, "The requested resource was not found")
    } else if header("authorization") != auth {
        error(401, 20003, "Authenticate")
    } else if field("To").is_none() {
        error(400, 21604, "A 'To' phone number is required.")
    } else if field("From").is_none() && field("MessagingServiceSid").is_none() {
        error(400, 21603, "A 'From' phone number is required.")
    } else if field("Body").is_none_or(|b| b.is_empty()) && field("MediaUrl").is_none() {
        error(400, 21602, "Message body is required.")
    } else if !is_e164(&field("To").unwrap_or_default()) {
        error(400, 21211, "The 'To' number is not a valid phone number.")
    } else if field("Body").unwrap_or_default().chars().count() > 1600 {
        error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        )
    } else {
        let msg = Message {
            sid: format!("SM{:032x}", n),
            to: field("To").unwrap_or_default(),
            from: field("From").unwrap_or_default(),
            body: field("Body").unwrap_or_default(),
        };
        let segments = msg.body.chars().count().div_ceil(153).max(1);
        let json = serde_json::json!({
            "account_sid": sid, "api_version": "2010-04-01", "body": msg.body,
            "date_created": "Sun, 30 Nov 2025 08:00:00 +0000", "date_sent": null,
            "date_updated": "Sun, 30 Nov 2025 08:00:00 +0000", "direction": "outbound-api",
            "error_code": null, "error_message": null, "from": msg.from,
            "messaging_service_sid": null, "num_media": "0", "num_segments": segments.to_string(),
            "price": null, "price_unit": "USD", "sid": msg.sid, "status": "queued",
            "subresource_uris": {"media": format!("/2010-04-01/Accounts/{sid}/Messages/{}/Media.json", msg.sid)},
            "to": msg.to, "uri": format!("/2010-04-01/Accounts/{sid}/Messages/{}.json", msg.sid)
        });
        messages.lock().unwrap().push(msg);
        (201, json.to_string())
    };
    requests.lock().unwrap().push((status, path));
    let mut w = stream;
    write!(
        w,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    )?;
    w.flush()
}

fn is_e164(s: &str) -> bool {
    let Some(d) = s.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&d.len()) && !d.starts_with('0') && d.bytes().all(|b| b.is_ascii_digit())
}

fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
