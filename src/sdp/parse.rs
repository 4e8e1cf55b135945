//! SDP text → [`SessionDescription`]. Strict where the call depends on it (`v o c t m`, `rtpmap`,
//! `ptime`), tolerant elsewhere: unknown line types and attributes are kept verbatim, LF or CRLF
//! line ends and blank lines are accepted. Never panics on any input.

use std::fmt;

use super::{Address, Direction, MediaDescription, Origin, RtpMap, SessionDescription};

/// Why a body is not SDP we can use, with the 1-based line it was found on (0: whole body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpError {
    pub line: usize,
    pub kind: SdpErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpErrorKind {
    /// The body is empty.
    Empty,
    /// The first line is not `v=0`.
    BadVersion,
    /// A line is not `<letter>=<value>`.
    MalformedLine,
    /// No `o=` line before the first `m=`.
    MissingOrigin,
    BadOrigin,
    /// `c=` is not `IN IP4|IP6 <address>`.
    BadConnection,
    BadTiming,
    /// `m=` is not `<media> <port>[/<n>] <proto> <fmt>...`.
    BadMedia,
    BadRtpmap,
    BadFmtp,
    /// `a=ptime` / `a=maxptime` is not a number of milliseconds.
    BadPtime,
}

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            SdpErrorKind::Empty => "empty SDP body",
            SdpErrorKind::BadVersion => "SDP must start with v=0",
            SdpErrorKind::MalformedLine => "line is not <type>=<value>",
            SdpErrorKind::MissingOrigin => "missing o= line",
            SdpErrorKind::BadOrigin => "malformed o= line",
            SdpErrorKind::BadConnection => "malformed c= line",
            SdpErrorKind::BadTiming => "malformed t= line",
            SdpErrorKind::BadMedia => "malformed m= line",
            SdpErrorKind::BadRtpmap => "malformed a=rtpmap",
            SdpErrorKind::BadFmtp => "malformed a=fmtp",
            SdpErrorKind::BadPtime => "malformed a=ptime or a=maxptime",
        };
        if self.line == 0 {
            f.write_str(what)
        } else {
            write!(f, "SDP line {}: {what}", self.line)
        }
    }
}

impl std::error::Error for SdpError {}

/// Parses an SDP body.
pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let err = |line, kind| SdpError { line, kind };

    match lines.next() {
        None => return Err(err(0, SdpErrorKind::Empty)),
        Some((_, l)) if l.trim_end() == "v=0" => {}
        Some((n, _)) => return Err(err(n, SdpErrorKind::BadVersion)),
    }

    let mut origin = None;
    let mut session_name = String::new();
    let mut connection = None;
    let mut timing = (0, 0);
    let mut direction = None;
    let mut extra = Vec::new();
    let mut media: Vec<MediaDescription> = Vec::new();

    for (n, line) in lines {
        let (kind, value) = match line.as_bytes() {
            [k, b'=', ..] if k.is_ascii_alphabetic() => (*k as char, &line[2..]),
            _ => return Err(err(n, SdpErrorKind::MalformedLine)),
        };
        if kind == 'm' {
            if origin.is_none() {
                return Err(err(n, SdpErrorKind::MissingOrigin));
            }
            media.push(parse_media(value).ok_or(err(n, SdpErrorKind::BadMedia))?);
            continue;
        }
        if let Some(m) = media.last_mut() {
            match kind {
                'c' => {
                    m.connection =
                        Some(parse_address(value).ok_or(err(n, SdpErrorKind::BadConnection))?)
                }
                'a' => match media_attribute(m, value) {
                    Ok(()) => {}
                    // A malformed attribute on a stream we will decline anyway (video...) is
                    // kept verbatim rather than failing the whole call.
                    Err(_) if !m.media.eq_ignore_ascii_case("audio") => {
                        m.extra.push(('a', value.to_string()))
                    }
                    Err(k) => return Err(err(n, k)),
                },
                _ => {
                    // Keep non-attribute lines (b=, i=, k=) ahead of attributes, as written.
                    let at = m.extra.iter().position(|(t, _)| *t == 'a');
                    m.extra
                        .insert(at.unwrap_or(m.extra.len()), (kind, value.to_string()));
                }
            }
            continue;
        }
        match kind {
            'o' => origin = Some(parse_origin(value).ok_or(err(n, SdpErrorKind::BadOrigin))?),
            's' => session_name = value.to_string(),
            'c' => {
                connection = Some(parse_address(value).ok_or(err(n, SdpErrorKind::BadConnection))?)
            }
            't' => timing = parse_timing(value).ok_or(err(n, SdpErrorKind::BadTiming))?,
            'a' => match Direction::from_attribute(value.trim()) {
                Some(d) => direction = Some(d),
                None => extra.push(('a', value.to_string())),
            },
            _ => extra.push((kind, value.to_string())),
        }
    }
    // Canonical order (the order `Display` writes), so a description survives a round trip.
    extra.sort_by_key(|(t, _)| match t {
        'i' | 'u' | 'e' | 'p' => 0,
        'b' => 1,
        _ => 2,
    });
    for m in &mut media {
        m.extra.sort_by_key(|(t, _)| match t {
            'i' => 0,
            'a' => 2,
            _ => 1,
        });
    }
    Ok(SessionDescription {
        origin: origin.ok_or(err(0, SdpErrorKind::MissingOrigin))?,
        session_name,
        connection,
        timing,
        direction,
        extra,
        media,
    })
}

fn parse_origin(v: &str) -> Option<Origin> {
    let mut it = v.split_ascii_whitespace();
    let username = it.next()?.to_string();
    let session_id = it.next()?.to_string();
    let session_version = it.next()?.parse().ok()?;
    let rest: Vec<&str> = it.collect();
    Some(Origin {
        username,
        session_id,
        session_version,
        address: parse_address(&rest.join(" "))?,
    })
}

/// `IN IP4 <addr>[/ttl[/n]]`.
fn parse_address(v: &str) -> Option<Address> {
    let mut it = v.split_ascii_whitespace();
    if it.next()? != "IN" {
        return None;
    }
    let ip6 = match it.next()? {
        t if t.eq_ignore_ascii_case("IP4") => false,
        t if t.eq_ignore_ascii_case("IP6") => true,
        _ => return None,
    };
    let host = it.next()?.split('/').next()?.to_string();
    if host.is_empty() || it.next().is_some() {
        return None;
    }
    Some(Address { ip6, host })
}

fn parse_timing(v: &str) -> Option<(u64, u64)> {
    let mut it = v.split_ascii_whitespace();
    let t = (it.next()?.parse().ok()?, it.next()?.parse().ok()?);
    it.next().is_none().then_some(t)
}

fn parse_media(v: &str) -> Option<MediaDescription> {
    let mut it = v.split_ascii_whitespace();
    let media = it.next()?.to_string();
    let port_field = it.next()?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, n)) => (p.parse().ok()?, Some(n.parse().ok()?)),
        None => (port_field.parse().ok()?, None),
    };
    let proto = it.next()?.to_string();
    let formats: Vec<String> = it.map(str::to_string).collect();
    if formats.is_empty() {
        return None;
    }
    Some(MediaDescription {
        media,
        port,
        port_count,
        proto,
        formats,
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        maxptime: None,
        direction: None,
        extra: Vec::new(),
    })
}

fn media_attribute(m: &mut MediaDescription, v: &str) -> Result<(), SdpErrorKind> {
    let (name, value) = match v.split_once(':') {
        Some((n, val)) => (n, Some(val)),
        None => (v.trim(), None),
    };
    match (name, value) {
        ("rtpmap", Some(val)) => m
            .rtpmaps
            .push(parse_rtpmap(val).ok_or(SdpErrorKind::BadRtpmap)?),
        ("fmtp", Some(val)) => {
            let (fmt_, params) = val.trim().split_once(' ').ok_or(SdpErrorKind::BadFmtp)?;
            m.fmtps.push((fmt_.to_string(), params.trim().to_string()));
        }
        ("ptime", Some(val)) => m.ptime = Some(parse_ms(val).ok_or(SdpErrorKind::BadPtime)?),
        ("maxptime", Some(val)) => m.maxptime = Some(parse_ms(val).ok_or(SdpErrorKind::BadPtime)?),
        (d, None) if Direction::from_attribute(d).is_some() => {
            m.direction = Direction::from_attribute(d)
        }
        _ => m.extra.push(('a', v.to_string())),
    }
    Ok(())
}

/// `a=ptime:20` (some phones write `20.0`).
fn parse_ms(v: &str) -> Option<u32> {
    let v = v.trim();
    let whole = v.strip_suffix(".0").unwrap_or(v);
    whole.parse().ok().filter(|&ms| ms > 0)
}

fn parse_rtpmap(v: &str) -> Option<RtpMap> {
    let (pt, rest) = v.trim().split_once(' ')?;
    let payload_type: u8 = pt.parse().ok().filter(|&pt| pt < 128)?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?.trim().to_string();
    let clock_rate = parts.next()?.trim().parse().ok().filter(|&r| r > 0)?;
    let channels = match parts.next() {
        Some(c) => Some(c.trim().parse().ok()?),
        None => None,
    };
    if encoding.is_empty() || parts.next().is_some() {
        return None;
    }
    Some(RtpMap {
        payload_type,
        encoding,
        clock_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PJSUA: &str = include_str!("testdata/pjsua.sdp");
    const LINPHONE: &str = include_str!("testdata/linphone.sdp");

    #[test]
    fn parses_pjsua_with_media_level_connection() {
        let s = parse(PJSUA).unwrap();
        assert_eq!(s.origin.username, "-");
        assert_eq!(s.origin.session_version, 3_898_254_780);
        assert_eq!(s.session_name, "pjmedia");
        assert!(s.connection.is_none());
        let m = &s.media[0];
        assert_eq!(m.media, "audio");
        assert_eq!(m.port, 4000);
        assert_eq!(m.proto, "RTP/AVP");
        assert_eq!(m.connection.as_ref().unwrap().host, "10.0.0.5");
        assert_eq!(m.payload_types().count(), 11);
        assert_eq!(m.rtpmap(121).unwrap().to_string(), "telephone-event/8000");
        assert_eq!(m.fmtp(121), Some("0-16"));
        assert_eq!(m.direction, Some(Direction::SendRecv));
        assert!(m
            .extra
            .contains(&('a', "rtcp:4001 IN IP4 10.0.0.5".to_string())));
        assert!(m.extra.contains(&('b', "TIAS:64000".to_string())));
        assert!(s.extra.contains(&('a', "X-nat:0".to_string())));
    }

    #[test]
    fn parses_linphone_with_static_types_video_and_ice_attributes() {
        let s = parse(LINPHONE).unwrap();
        assert_eq!(s.media.len(), 2);
        let audio = &s.media[0];
        assert_eq!(audio.rtpmap(96).unwrap().to_string(), "opus/48000/2");
        assert_eq!(audio.rtpmap(0).unwrap().to_string(), "PCMU/8000"); // no rtpmap line
        assert_eq!(audio.rtpmap(18).unwrap().to_string(), "G729/8000");
        assert_eq!(audio.fmtp(18), Some("annexb=yes"));
        assert_eq!(audio.rtpmap(101).unwrap().clock_rate, 48000);
        assert_eq!(s.media[1].media, "video");
        assert_eq!(s.media[1].port, 9078);
    }

    #[test]
    fn display_round_trips() {
        for text in [PJSUA, LINPHONE] {
            let s = parse(text).unwrap();
            let again = parse(&s.to_string()).unwrap();
            assert_eq!(again, s);
        }
    }

    #[test]
    fn accepts_lf_line_ends_blank_lines_and_port_counts() {
        let s = parse(
            "v=0\no=- 1 1 IN IP6 ::1\ns=-\n\nc=IN IP4 224.2.1.1/127/3\nt=0 0\nm=audio 5004/2 RTP/AVP 0\na=ptime:20.0\n",
        )
        .unwrap();
        assert!(s.origin.address.ip6);
        assert_eq!(s.connection.unwrap().host, "224.2.1.1");
        assert_eq!(s.media[0].port_count, Some(2));
        assert_eq!(s.media[0].ptime, Some(20));
    }

    #[test]
    fn a_malformed_attribute_on_a_video_line_is_kept_not_fatal() {
        let text = LINPHONE.replace("a=rtpmap:97 H264/90000", "a=rtpmap:97 H264");
        let s = parse(&text).unwrap();
        assert!(s.media[1]
            .extra
            .contains(&('a', "rtpmap:97 H264".to_string())));
        let broken_audio = LINPHONE.replace("a=rtpmap:96 opus/48000/2", "a=rtpmap:96 opus");
        assert_eq!(
            parse(&broken_audio).unwrap_err().kind,
            SdpErrorKind::BadRtpmap
        );
    }

    #[test]
    fn session_level_direction_is_read() {
        let s = parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\na=sendonly\r\nm=audio 1 RTP/AVP 0\r\n")
            .unwrap();
        assert_eq!(s.direction, Some(Direction::SendOnly));
        assert_eq!(s.media[0].direction, None);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            ("", 0, SdpErrorKind::Empty),
            ("v=1\r\n", 1, SdpErrorKind::BadVersion),
            ("v=0\r\nhello\r\n", 2, SdpErrorKind::MalformedLine),
            (
                "v=0\r\nm=audio 1 RTP/AVP 0\r\n",
                2,
                SdpErrorKind::MissingOrigin,
            ),
            ("v=0\r\ns=-\r\n", 0, SdpErrorKind::MissingOrigin),
            ("v=0\r\no=- 1 x IN IP4 a\r\n", 2, SdpErrorKind::BadOrigin),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IPX a\r\n",
                3,
                SdpErrorKind::BadConnection,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\nt=0\r\n",
                3,
                SdpErrorKind::BadTiming,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio x RTP/AVP 0\r\n",
                3,
                SdpErrorKind::BadMedia,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 70000 RTP/AVP 0\r\n",
                3,
                SdpErrorKind::BadMedia,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP\r\n",
                3,
                SdpErrorKind::BadMedia,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 96\r\na=rtpmap:96 opus\r\n",
                4,
                SdpErrorKind::BadRtpmap,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 96\r\na=rtpmap:200 x/8000\r\n",
                4,
                SdpErrorKind::BadRtpmap,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 96\r\na=fmtp:96\r\n",
                4,
                SdpErrorKind::BadFmtp,
            ),
            (
                "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 0\r\na=ptime:fast\r\n",
                4,
                SdpErrorKind::BadPtime,
            ),
        ];
        for (text, line, kind) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!((e.line, &e.kind), (line, &kind), "{text:?}");
        }
        let e = parse("v=0\r\nhello\r\n").unwrap_err();
        assert_eq!(e.to_string(), "SDP line 2: line is not <type>=<value>");
    }

    proptest! {
        #[test]
        fn never_panics(text in "(v=0\r\n)?([a-z]=[ -~]{0,30}\r?\n){0,12}") {
            let _ = parse(&text);
        }

        #[test]
        fn an_inserted_line_anywhere_round_trips(at in 1usize..30, line in "[a-z]=[ -~]{0,24}") {
            let mut lines: Vec<&str> = LINPHONE.split("\r\n").collect();
            lines.insert(at.min(lines.len()), &line);
            let text = lines.join("\r\n");
            if let Ok(s) = parse(&text) {
                prop_assert_eq!(parse(&s.to_string()).ok(), Some(s));
            }
        }

        #[test]
        fn never_panics_on_mutated_real_sdp(cut in 0usize..900, junk in "[ -~\u{e9}]{0,8}") {
            let mut text: String = LINPHONE.chars().take(cut).collect();
            text.push_str(&junk);
            text.extend(LINPHONE.chars().skip(cut + 3));
            if let Ok(s) = parse(&text) {
                // Whatever parsed writes back into something that parses the same.
                prop_assert_eq!(parse(&s.to_string()).ok(), Some(s));
            }
        }
    }
}
