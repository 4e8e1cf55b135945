//! Sessions on loopback: pacing, continuity, barge-in, DTMF in and out, symmetric RTP,
//! timeouts, re-INVITE, Opus.

use super::*;

#[tokio::test]
async fn pcmu_prompt_is_paced_and_sounds_like_its_source() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let source = signal(8000, 1000, 0.0);
    let wav = write_wav(&c.dir, "p.wav", 8000, &source);
    c.session.play(RequestId(1), Media::File(wav));
    let (packets, events) = c.until_finished(1).await;
    assert!(
        matches!(events[..], [MediaEvent::PlaybackFinished(RequestId(1))]),
        "{events:?}"
    );
    assert_eq!(packets.len(), 50);
    assert!(packets
        .iter()
        .all(|p| p.header.payload_type == PayloadType::PCMU));
    assert!(packets.iter().all(|p| p.payload.len() == 160));
    assert!(packets[0].header.marker);
    assert!(packets[1..].iter().all(|p| !p.header.marker));
    assert_continuous(&packets, 160);
    // The pacer never sends early: 50 packets span at least 49 × 20 ms (minus scheduling slop).
    let span = packets[49].at - packets[0].at;
    assert!(span >= Duration::from_millis(940), "sent in {span:?}");
    let heard = decode_g711(Law::Mu, &packets);
    let (corr, lag) = best_correlation(&heard, &source, 50);
    let gaps: Vec<Duration> = packets.windows(2).map(|w| w[1].at - w[0].at).collect();
    eprintln!(
        "pcmu: correlation {corr:.4} at lag {lag}; span {span:?}; max gap {:?}",
        gaps.iter().max()
    );
    assert!(corr > 0.97 && lag <= 2, "correlation {corr} at lag {lag}");
}

#[tokio::test]
async fn back_to_back_prompts_are_one_talkspurt_and_a_later_one_sets_the_marker() {
    let mut c = call(Codec::Pcma, 8, Some(101), MediaConfig::default()).await;
    let a = write_wav(&c.dir, "a.wav", 8000, &signal(8000, 200, 0.1));
    let b = write_wav(&c.dir, "b.wav", 16000, &signal(16000, 300, 0.2));
    c.session.play(RequestId(1), Media::File(a.clone()));
    c.session.play(RequestId(2), Media::File(b));
    let (mut first, ev1) = c.until_finished(1).await;
    let (second, ev2) = c.until_finished(2).await;
    assert!(matches!(
        ev1[..],
        [MediaEvent::PlaybackFinished(RequestId(1))]
    ));
    assert!(matches!(
        ev2[..],
        [MediaEvent::PlaybackFinished(RequestId(2))]
    ));
    assert_eq!((first.len(), second.len()), (10, 15));
    first.extend(second);
    assert_continuous(&first, 160);
    let markers: Vec<usize> = (0..first.len())
        .filter(|&i| first[i].header.marker)
        .collect();
    assert_eq!(markers, [0], "one talkspurt");
    let last = first.last().unwrap().header;
    // After a pause, a new talkspurt: marker, next sequence number, timestamp moved on by the
    // pause (at least one packet).
    let _ = c.packets_for(Duration::from_millis(100)).await;
    c.session.play(RequestId(3), Media::File(a));
    let (third, _) = c.until_finished(3).await;
    assert!(third[0].header.marker);
    assert_eq!(third[0].header.sequence, last.sequence.wrapping_add(1));
    let jump = third[0].header.timestamp.wrapping_sub(last.timestamp);
    assert!((800..8000).contains(&jump), "timestamp advanced by {jump}");
    assert_continuous(&third, 160);
}

#[tokio::test]
async fn barge_in_stops_the_prompt_within_one_frame() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let long = write_wav(&c.dir, "long.wav", 8000, &signal(8000, 5000, 0.3));
    c.session.play(RequestId(7), Media::File(long));
    let mut buf = [0u8; 2048];
    for _ in 0..5 {
        tokio::time::timeout(WAIT, c.phone.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
    }
    while c.phone.try_recv_from(&mut buf).is_ok() {}
    c.session.stop(RequestId(7));
    let after = c.packets_for(Duration::from_millis(300)).await;
    assert!(after.len() <= 1, "{} packets after stop", after.len());
    assert!(
        c.events_for(Duration::from_millis(50)).await.is_empty(),
        "no event after stop"
    );
}

#[tokio::test]
async fn rfc4733_digits_count_once_and_info_duplicates_are_merged() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let t0 = Instant::now();
    let mut seq = 1000u16;
    for (i, key) in ['5', '#'].into_iter().enumerate() {
        let ts = 8000 * (i as u32 + 1);
        for p in rfc4733::send_digit(d(key), t0, ts, 8000, Duration::from_millis(100), 10) {
            let h = RtpHeader {
                payload_type: PayloadType::new(101).unwrap(),
                marker: p.marker,
                sequence: seq,
                timestamp: p.timestamp,
                ssrc: 0x1234,
            };
            seq = seq.wrapping_add(1);
            c.send_to_session(&h.to_packet(&p.payload.to_bytes())).await;
        }
    }
    let mut digits = Vec::new();
    let mut other = Vec::new();
    while digits.len() < 2 {
        match c.event().await {
            MediaEvent::Dtmf { digit, method } => digits.push((digit.as_char(), method)),
            e => other.push(e),
        }
    }
    assert_eq!(
        digits,
        [('5', DtmfMethod::Rfc4733), ('#', DtmfMethod::Rfc4733)]
    );
    // The same '#' by INFO right after is the same press; a '7' by INFO is new.
    c.session.dtmf_from_info(d('#'));
    c.session.dtmf_from_info(d('7'));
    let rest: Vec<MediaEvent> = c.events_for(Duration::from_millis(300)).await;
    let dtmf: Vec<_> = rest
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf { digit, method } => Some((digit.as_char(), *method)),
            _ => None,
        })
        .collect();
    assert_eq!(dtmf, [('7', DtmfMethod::SipInfo)], "{rest:?}");
    // The phone sent from its own socket, which is also where we were sending: no switch.
    assert!(other
        .iter()
        .all(|e| !matches!(e, MediaEvent::RemoteAddr(_))));
}

#[tokio::test]
async fn inband_tones_in_pcma_are_detected() {
    let mut c = call(Codec::Pcma, 8, None, MediaConfig::default()).await;
    // '8': 852 Hz + 1336 Hz for 100 ms, then silence; each tone at -12 dBFS.
    let amp = 0.25f32;
    let mut pcm: Vec<i16> = (0..800)
        .map(|n| {
            let t = n as f32 / 8000.0;
            let x = amp
                * ((2.0 * std::f32::consts::PI * 852.0 * t).sin()
                    + (2.0 * std::f32::consts::PI * 1336.0 * t).sin());
            (x * 32767.0) as i16
        })
        .collect();
    pcm.extend(std::iter::repeat_n(0i16, 1600));
    for (i, frame) in pcm.chunks(160).enumerate() {
        let mut payload = Vec::new();
        Law::A.encode(frame, &mut payload);
        let h = RtpHeader {
            payload_type: PayloadType::PCMA,
            marker: i == 0,
            sequence: 40 + i as u16,
            timestamp: 160 * i as u32,
            ssrc: 77,
        };
        c.send_to_session(&h.to_packet(&payload)).await;
    }
    let e = c.event().await;
    assert!(
        matches!(e, MediaEvent::Dtmf { digit, method: DtmfMethod::InBand } if digit == d('8')),
        "{e:?}"
    );
    assert!(c.events_for(Duration::from_millis(200)).await.is_empty());
}

#[tokio::test]
async fn dtmf_out_is_rfc4733_with_three_end_packets() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    c.session.send_dtmf(d('9'));
    let packets = c.packets_for(Duration::from_millis(600)).await;
    assert!(packets.iter().all(|p| p.header.payload_type.get() == 101));
    let mut rx = DtmfReceiver::new();
    let presses: Vec<char> = packets
        .iter()
        .filter_map(|p| {
            rx.receive(p.header.ssrc, p.header.timestamp, &p.payload)
                .unwrap()
        })
        .map(|p| p.digit.as_char())
        .collect();
    assert_eq!(presses, ['9']);
    let ends = packets.iter().filter(|p| p.payload[1] & 0x80 != 0).count();
    assert_eq!(ends, 3);
    assert!(packets[0].header.marker);
    for w in packets.windows(2) {
        assert_eq!(w[1].header.sequence, w[0].header.sequence.wrapping_add(1));
    }
}

#[tokio::test]
async fn symmetric_rtp_follows_the_callers_source_address() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    // The phone advertised `c.phone` but sends from another port (a NAT).
    let natted = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let h = RtpHeader {
        payload_type: PayloadType::PCMU,
        marker: true,
        sequence: 1,
        timestamp: 0,
        ssrc: 99,
    };
    natted
        .send_to(&h.to_packet(&[0xFF; 160]), c.session.local_addr())
        .await
        .unwrap();
    let e = c.event().await;
    assert!(
        matches!(e, MediaEvent::RemoteAddr(a) if a == natted.local_addr().unwrap()),
        "{e:?}"
    );
    let wav = write_wav(&c.dir, "x.wav", 8000, &signal(8000, 100, 0.0));
    c.session.play(RequestId(1), Media::File(wav));
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(WAIT, natted.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, c.session.local_addr());
    assert_eq!(
        rtp::parse(&buf[..n]).unwrap().header.payload_type,
        PayloadType::PCMU
    );
    // A stranger with another SSRC cannot take the stream over.
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let h2 = RtpHeader { ssrc: 5, ..h };
    stranger
        .send_to(&h2.to_packet(&[0xFF; 160]), c.session.local_addr())
        .await
        .unwrap();
    let evs = c.events_for(Duration::from_millis(300)).await;
    assert!(
        evs.iter().all(|e| !matches!(e, MediaEvent::RemoteAddr(_))),
        "{evs:?}"
    );
}

#[tokio::test]
async fn silence_from_the_caller_is_an_rtp_timeout_but_not_on_hold() {
    let cfg = MediaConfig {
        rtp_timeout: Duration::from_millis(200),
        ..MediaConfig::default()
    };
    let mut c = call(Codec::Pcmu, 0, None, cfg.clone()).await;
    assert!(matches!(c.event().await, MediaEvent::RtpTimeout));
    let mut held = call(Codec::Pcmu, 0, None, cfg).await;
    held.session.set_hold(true);
    assert!(held.events_for(Duration::from_millis(500)).await.is_empty());
}

#[tokio::test]
async fn idle_silence_keeps_the_stream_going() {
    let cfg = MediaConfig {
        idle: IdleAudio::Silence,
        ..MediaConfig::default()
    };
    let mut c = call(Codec::Pcmu, 0, None, cfg).await;
    let packets = c.packets_for(Duration::from_millis(300)).await;
    assert!(packets.len() >= 5, "{}", packets.len());
    assert!(packets.iter().all(|p| p.payload == [0xFF; 160]));
    assert_continuous(&packets, 160);
}

#[tokio::test]
async fn opus_prompt_round_trips() {
    let mut c = call(Codec::Opus, 111, Some(101), MediaConfig::default()).await;
    let source = signal(16000, 1000, 0.05);
    let wav = write_wav(&c.dir, "o.wav", 16000, &source);
    c.session.play(RequestId(1), Media::File(wav));
    let (packets, _) = c.until_finished(1).await;
    assert_eq!(packets.len(), 50);
    assert!(packets.iter().all(|p| p.header.payload_type.get() == 111));
    assert_continuous(&packets, 960);
    let mut dec = opus2::Decoder::new(48000, opus2::Channels::Mono).unwrap();
    let mut heard = Vec::new();
    let mut buf = vec![0i16; 5760];
    for p in &packets {
        let n = dec.decode(&p.payload, &mut buf, false).unwrap();
        assert_eq!(n, 960);
        heard.extend(buf[..n].iter().map(|&s| f32::from(s) / 32768.0));
    }
    let reference = phonetree::audio::resample(&source, 16000, 48000).unwrap();
    let (corr, lag) = best_correlation(&heard, &reference, 1200);
    eprintln!("opus round trip: correlation {corr:.4} at lag {lag}");
    assert!(corr > 0.85, "correlation {corr} at lag {lag}");
}

#[tokio::test]
async fn garbage_and_rtcp_never_hurt_the_session() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    for bytes in [
        &b""[..],
        &[0x80, 201, 0, 1, 0, 0, 0, 1][..],
        &[0xff; 7][..],
        &[0x80; 40][..],
    ] {
        c.send_to_session(bytes).await;
    }
    let wav = write_wav(&c.dir, "g.wav", 8000, &signal(8000, 100, 0.0));
    c.session.play(RequestId(1), Media::File(wav));
    let (packets, _) = c.until_finished(1).await;
    assert_eq!(packets.len(), 5);
}

#[tokio::test]
async fn a_reinvite_moves_the_stream_and_changes_codec_mid_prompt() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let wav = write_wav(&c.dir, "r.wav", 8000, &signal(8000, 1000, 0.2));
    c.session.play(RequestId(1), Media::File(wav));
    let mut buf = [0u8; 2048];
    let mut before = Vec::new();
    for _ in 0..10 {
        let (n, _) = tokio::time::timeout(WAIT, c.phone.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        before.push(parse(&buf[..n], Instant::now()));
    }
    let moved = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let to = moved.local_addr().unwrap();
    c.session
        .update_remote(to, negotiated(Codec::Pcma, 8, Some(101), to));
    let mut after = Vec::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        tokio::select! {
            r = moved.recv_from(&mut buf) => {
                let (n, _) = r.unwrap();
                after.push(parse(&buf[..n], Instant::now()));
            }
            e = c.events.recv() => {
                let e = e.unwrap();
                let done = matches!(e, MediaEvent::PlaybackFinished(_));
                events.push(e);
                if done { break; }
            }
            () = tokio::time::sleep_until(deadline) => panic!("no finish: {events:?}"),
        }
    }
    while let Ok((n, _)) = moved.try_recv_from(&mut buf) {
        after.push(parse(&buf[..n], Instant::now()));
    }
    let late = c.packets_for(Duration::from_millis(50)).await;
    assert!(after
        .iter()
        .all(|p| p.header.payload_type == PayloadType::PCMA));
    // The prompt resumed where it was: 50 frames in all, give or take the ones in flight
    // while the codec switched.
    let total = before.len() + late.len() + after.len();
    assert!((48..=52).contains(&total), "{total} frames");
    assert!(after[0].header.marker, "the new codec starts a talkspurt");
    assert_continuous(&after, 160);
}

#[tokio::test]
async fn ports_from_the_allocator_come_back_when_the_session_ends() {
    use phonetree::engine::media::RtpPortAllocator;
    let alloc = RtpPortAllocator::new([127, 0, 0, 1].into(), 46000..=46100).unwrap();
    let socket = alloc.allocate().unwrap();
    let port = socket.socket.local_addr().unwrap().port();
    assert_eq!(port % 2, 0);
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let remote = phone.local_addr().unwrap();
    let cache = Arc::new(PromptCache::new(PromptCacheConfig::default()));
    let (session, _events) = MediaSession::start(
        MediaConfig::default(),
        socket,
        remote,
        negotiated(Codec::Pcmu, 0, None, remote),
        cache,
    )
    .await
    .expect("media session starts");
    assert_eq!(session.local_addr().port(), port);
    assert_eq!(alloc.leased(), 1);
    drop(session);
    let deadline = Instant::now() + WAIT;
    while alloc.leased() != 0 {
        assert!(Instant::now() < deadline, "lease not released");
        tokio::task::yield_now().await;
    }
}

/// Sends 120 ms of key '3' then silence as Opus; returns the events of the next 500 ms.
async fn opus_tone_events(te: Option<u8>, inband: InbandDtmf) -> Vec<MediaEvent> {
    let cfg = MediaConfig {
        inband_dtmf: inband,
        ..MediaConfig::default()
    };
    let mut c = call(Codec::Opus, 111, te, cfg).await;
    let mut pcm: Vec<f32> = (0..5760)
        .map(|n| {
            let t = n as f32 / 48000.0;
            0.25 * ((2.0 * std::f32::consts::PI * 697.0 * t).sin()
                + (2.0 * std::f32::consts::PI * 1477.0 * t).sin())
        })
        .collect();
    pcm.extend(std::iter::repeat_n(0.0, 9600));
    let frames =
        phonetree::engine::media::codec::FrameEncoder::encode_all(Codec::Opus, &pcm).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let h = RtpHeader {
            payload_type: PayloadType::new(111).unwrap(),
            marker: i == 0,
            sequence: 500 + i as u16,
            timestamp: 960 * i as u32,
            ssrc: 8,
        };
        c.send_to_session(&h.to_packet(f.payload())).await;
    }
    c.events_for(Duration::from_millis(500)).await
}

#[tokio::test]
async fn inband_tones_in_opus_are_detected_when_wanted() {
    let is_three = |ev: &[MediaEvent]| matches!(ev, [MediaEvent::Dtmf { digit, method: DtmfMethod::InBand }] if *digit == d('3'));
    // No telephone-event: in-band is the only way keys can come.
    let ev = opus_tone_events(None, InbandDtmf::Auto).await;
    assert!(is_three(&ev), "{ev:?}");
    let ev = opus_tone_events(Some(101), InbandDtmf::Always).await;
    assert!(is_three(&ev), "{ev:?}");
    // With telephone-event negotiated, Auto does not spend CPU decoding Opus.
    let ev = opus_tone_events(Some(101), InbandDtmf::Auto).await;
    assert!(ev.is_empty(), "{ev:?}");
}

#[tokio::test]
async fn a_key_press_gets_the_response_prompt_at_once() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let menu = write_wav(&c.dir, "menu.wav", 8000, &signal(8000, 3000, 0.1));
    let answer = write_wav(&c.dir, "answer.wav", 8000, &signal(8000, 500, 0.6));
    c.session.play(RequestId(1), Media::File(answer.clone()));
    let (_, _) = c.until_finished(1).await; // warms the cache, as a flow's prompts are
    c.session.play(RequestId(2), Media::File(menu));
    let mut buf = [0u8; 2048];
    for _ in 0..10 {
        tokio::time::timeout(WAIT, c.phone.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
    }
    let last_menu = {
        let mut last = None;
        while let Ok((n, _)) = c.phone.try_recv_from(&mut buf) {
            last = Some(rtp::parse(&buf[..n]).unwrap().header);
        }
        last
    };
    // The caller presses 1: the first RFC 4733 packet.
    let press = RtpHeader {
        payload_type: PayloadType::new(101).unwrap(),
        marker: true,
        sequence: 1,
        timestamp: 0,
        ssrc: 3,
    };
    let sent = Instant::now();
    c.send_to_session(&press.to_packet(&[1, 10, 0, 160])).await;
    let e = c.event().await;
    assert!(matches!(e, MediaEvent::Dtmf { .. }), "{e:?}");
    // What the call machine does on a key during a prompt: stop it, play the answer.
    c.session.stop(RequestId(2));
    c.session.play(RequestId(3), Media::File(answer));
    let (packets, _) = c.until_finished(3).await;
    let first = packets
        .iter()
        .position(|p| p.header.marker)
        .expect("the answer starts a talkspurt");
    let latency = packets[first].at - sent;
    eprintln!("key press → first packet of the answer: {latency:?}");
    assert!(first <= 2, "{first} menu frames after the key");
    assert_eq!(packets.len() - first, 25);
    if let Some(last) = last_menu {
        // Sequence numbers run on without a gap.
        let expected = last.sequence.wrapping_add(1 + first as u16);
        assert_eq!(packets[first].header.sequence, expected);
    }
    assert!(latency < Duration::from_millis(200), "{latency:?}");
}

/// Many calls share a few media threads (one per core at most), and every call still gets its
/// whole prompt, numbered continuously, with its own SSRC.
#[tokio::test]
async fn many_sessions_share_the_media_threads() {
    const CALLS: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let wav = write_wav(dir.path(), "short.wav", 8000, &signal(8000, 200, 0.3));
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let remote = sink.local_addr().unwrap();
    let cache = Arc::new(PromptCache::new(PromptCacheConfig::default()));
    let mut calls = Vec::new();
    for i in 0..CALLS {
        let (s, ev) = pcmu_session(remote, &cache).await;
        s.play(RequestId(i as u64), Media::File(wav.clone()));
        calls.push((s, ev));
    }
    let mut per_ssrc: std::collections::HashMap<u32, Vec<Received>> = Default::default();
    let mut finished = 0;
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + WAIT;
    while finished < CALLS || per_ssrc.values().map(Vec::len).sum::<usize>() < CALLS * 10 {
        assert!(Instant::now() < deadline, "{finished} of {CALLS} finished");
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(50), sink.recv_from(&mut buf)).await
        {
            let p = parse(&buf[..n], Instant::now());
            per_ssrc.entry(p.header.ssrc).or_default().push(p);
            while let Ok((n, _)) = sink.try_recv_from(&mut buf) {
                let p = parse(&buf[..n], Instant::now());
                per_ssrc.entry(p.header.ssrc).or_default().push(p);
            }
        }
        for (_, ev) in calls.iter_mut() {
            while let Ok(e) = ev.try_recv() {
                assert!(matches!(e, MediaEvent::PlaybackFinished(_)), "{e:?}");
                finished += 1;
            }
        }
    }
    assert_eq!(per_ssrc.len(), CALLS, "one stream per call");
    for packets in per_ssrc.values() {
        assert_eq!(packets.len(), 10, "200 ms of prompt = 10 packets");
        assert!(packets[0].header.marker);
        assert_continuous(packets, 160);
    }
    let media_threads = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("media-"))
        .count();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        (1..=cores.min(16)).contains(&media_threads),
        "{media_threads} media threads for {CALLS} calls on {cores} cores"
    );
}
