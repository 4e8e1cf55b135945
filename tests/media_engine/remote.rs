//! Prompt formats (WAV, MP3, OGG, FLAC) and remote HTTP prompts from a local server.

use super::*;

#[test]
fn every_format_decodes_resamples_and_encodes() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio");
    // 44.1 kHz stereo made by sox when it is installed (CI installs it); the committed 8 kHz
    // fixtures otherwise.
    let have_sox = std::process::Command::new("sox")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let files: Vec<PathBuf> = if have_sox {
        ["wav", "mp3", "ogg", "flac"]
            .iter()
            .filter_map(|ext| {
                let p = dir.path().join(format!("sweep.{ext}"));
                let ok = std::process::Command::new("sox")
                    .args(["-n", "-r", "44100", "-c", "2"])
                    .arg(&p)
                    .args(["synth", "0.6", "sine", "300-1200", "vol", "0.5"])
                    .status()
                    .is_ok_and(|s| s.success());
                ok.then_some(p)
            })
            .collect()
    } else {
        ["beep.mp3", "beep.ogg", "beep.flac"]
            .iter()
            .map(|n| fixtures.join(n))
            .collect()
    };
    assert_eq!(files.len(), if have_sox { 4 } else { 3 }, "{files:?}");
    for f in &files {
        let pcm = phonetree::audio::decode_file(f, Duration::from_secs(60)).unwrap();
        let at8k = phonetree::audio::resample(&pcm.samples, pcm.rate, 8000).unwrap();
        for (codec, per_frame) in [(Codec::Pcmu, 160), (Codec::Pcma, 160), (Codec::Opus, 960)] {
            let frames = prompts::load(f, codec, Duration::from_secs(60)).unwrap();
            let expected = (pcm.samples.len() as f64 / f64::from(pcm.rate) * 50.0).ceil() as usize;
            assert!(
                frames.len().abs_diff(expected) <= 1,
                "{f:?} {codec:?}: {} frames, expected {expected}",
                frames.len()
            );
            if let Some(law) = match codec {
                Codec::Pcmu => Some(Law::Mu),
                Codec::Pcma => Some(Law::A),
                Codec::Opus => None,
            } {
                let mut back = Vec::new();
                for fr in &frames {
                    assert_eq!(fr.len(), per_frame);
                    law.decode(fr.payload(), &mut back);
                }
                let back: Vec<f32> = back.iter().map(|&s| f32::from(s) / 32768.0).collect();
                let (corr, _) = best_correlation(&back, &at8k, 4);
                eprintln!("{}: {codec:?} correlation {corr:.4}", f.display());
                assert!(corr > 0.95, "{f:?} {codec:?}: correlation {corr}");
            }
        }
    }
}

/// A one-shot HTTP server on 127.0.0.1 serving `body` in `chunk`-byte pieces `gap` apart
/// (`status` other than 200 sends no body; `stall` stops after the headers and half the body).
fn serve(body: Vec<u8>, content_type: &'static str, status: u16, stall: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).ok();
        let mut req = [0u8; 4096];
        let _ = std::io::Read::read(&mut s, &mut req);
        if status != 200 {
            let _ = write!(
                s,
                "HTTP/1.1 {status} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let limit = if stall { body.len() / 2 } else { body.len() };
        for piece in body[..limit].chunks(2000) {
            if s.write_all(piece).is_err() {
                return;
            }
            // Slower than real time would be a stall; this is a slow-ish link, bounded.
            std::thread::sleep(Duration::from_millis(5));
        }
        if stall {
            std::thread::sleep(Duration::from_secs(3));
        }
    });
    format!("http://{addr}/prompt")
}

#[tokio::test]
async fn remote_wav_and_mp3_stream_while_downloading() {
    let mut c = call(Codec::Pcmu, 0, Some(101), MediaConfig::default()).await;
    let source = signal(22050, 800, 0.4);
    let url = serve(wav_bytes(22050, &source), "audio/wav", 200, false);
    c.session.play(RequestId(1), Media::Url(url));
    let (packets, events) = c.until_finished(1).await;
    assert!(
        matches!(events[..], [MediaEvent::PlaybackFinished(RequestId(1))]),
        "{events:?}"
    );
    assert!(
        (39..=42).contains(&packets.len()),
        "{} packets",
        packets.len()
    );
    assert_continuous(&packets, 160);
    let heard = decode_g711(Law::Mu, &packets);
    let reference = phonetree::audio::resample(&source, 22050, 8000).unwrap();
    let (corr, lag) = best_correlation(&heard, &reference, 20);
    assert!(corr > 0.95, "correlation {corr} at lag {lag}");

    let mp3 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio/beep.mp3");
    let url = serve(std::fs::read(&mp3).unwrap(), "audio/mpeg", 200, false);
    c.session.play(RequestId(2), Media::Url(url));
    let (packets, _) = c.until_finished(2).await;
    let heard = decode_g711(Law::Mu, &packets);
    let pcm = phonetree::audio::decode_file(&mp3, Duration::from_secs(5)).unwrap();
    let (corr, _) = best_correlation(&heard, &pcm.samples, 20);
    assert!(corr > 0.9, "mp3 correlation {corr}");
}

#[tokio::test]
async fn remote_failures_are_playback_failed() {
    let cfg = MediaConfig {
        stream: phonetree::engine::media::StreamConfig {
            read_timeout: Duration::from_millis(300),
            response_timeout: Duration::from_secs(2),
            ..Default::default()
        },
        ..MediaConfig::default()
    };
    let mut c = call(Codec::Pcmu, 0, None, cfg).await;
    let not_found = serve(Vec::new(), "audio/wav", 404, false);
    c.session.play(RequestId(1), Media::Url(not_found));
    let (_, ev) = c.until_finished(1).await;
    assert!(
        matches!(&ev[..], [MediaEvent::PlaybackFailed { id: RequestId(1), reason }] if reason.to_string().contains("404")),
        "{ev:?}"
    );
    // Nothing listens on this port (a listener bound then dropped).
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/x.wav", l.local_addr().unwrap())
    };
    c.session.play(RequestId(2), Media::Url(refused));
    let (_, ev) = c.until_finished(2).await;
    assert!(
        matches!(
            &ev[..],
            [MediaEvent::PlaybackFailed {
                id: RequestId(2),
                ..
            }]
        ),
        "{ev:?}"
    );
    // A server that stalls mid-body: the part that came plays, then the read times out.
    let stall = serve(
        wav_bytes(8000, &signal(8000, 2000, 0.0)),
        "audio/wav",
        200,
        true,
    );
    c.session.play(RequestId(3), Media::Url(stall));
    let (packets, ev) = c.until_finished(3).await;
    assert!(
        matches!(
            &ev[..],
            [MediaEvent::PlaybackFailed {
                id: RequestId(3),
                ..
            }]
        ),
        "{ev:?}"
    );
    assert!(
        packets.len() >= 20,
        "the first half played: {}",
        packets.len()
    );
    // A missing local file fails too.
    c.session
        .play(RequestId(4), Media::File(c.dir.join("missing.wav")));
    let (_, ev) = c.until_finished(4).await;
    assert!(
        matches!(
            &ev[..],
            [MediaEvent::PlaybackFailed {
                id: RequestId(4),
                ..
            }]
        ),
        "{ev:?}"
    );
}

/// Serves a WAV at 1.25× real time (8 kHz 16-bit: 16 kB/s, sent as 400 bytes every 20 ms) and
/// returns when the last byte went out.
fn serve_paced(body: Vec<u8>) -> (String, std::sync::mpsc::Receiver<Instant>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let mut req = [0u8; 4096];
        let _ = std::io::Read::read(&mut s, &mut req);
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        for piece in body.chunks(400) {
            if s.write_all(piece).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = done_tx.send(Instant::now());
    });
    (format!("http://{addr}/slow.wav"), done_rx)
}

#[tokio::test]
async fn a_slow_download_plays_before_it_is_complete() {
    let mut c = call(Codec::Pcma, 8, None, MediaConfig::default()).await;
    let source = signal(8000, 1500, 0.7);
    let (url, done) = serve_paced(wav_bytes(8000, &source));
    c.session.play(RequestId(1), Media::Url(url));
    let (packets, events) = c.until_finished(1).await;
    assert!(
        matches!(events[..], [MediaEvent::PlaybackFinished(RequestId(1))]),
        "{events:?}"
    );
    let finished_sending = done.recv_timeout(WAIT).expect("server finished");
    let first = packets[0].at;
    eprintln!(
        "first packet {:?} before the download completed",
        finished_sending.saturating_duration_since(first)
    );
    assert!(
        first < finished_sending,
        "playback waited for the whole body"
    );
    // If the link fell behind (a loaded machine), underruns inserted silence frames: the
    // audio itself is all there, in order.
    let silence = Law::A.silence();
    let audio: Vec<Received> = packets
        .iter()
        .filter(|p| p.payload.iter().any(|&b| b != silence))
        .cloned()
        .collect();
    assert_eq!(audio.len(), 75, "{} packets in all", packets.len());
    let heard = decode_g711(Law::A, &audio);
    let (corr, _) = best_correlation(&heard, &source, 20);
    assert!(corr > 0.9, "correlation {corr}");
}
