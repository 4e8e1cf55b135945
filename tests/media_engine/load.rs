//! An indicative load figure, run by hand (ignored by default).

use super::*;

/// CPU time of this process (user + system), from /proc.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

/// Indicative load figure (not a benchmark: debug build, one machine, run by hand):
/// `cargo test --test media_engine many_sessions -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load measurement, run by hand"]
async fn many_sessions_cpu_per_call_second() {
    const CALLS: usize = 300;
    const SECONDS: u32 = 3;
    let dir = tempfile::tempdir().unwrap();
    let wav = write_wav(
        dir.path(),
        "load.wav",
        8000,
        &signal(8000, SECONDS * 1000, 0.0),
    );
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sink.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let remote = sink.local_addr().unwrap();
    let counter = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut n = 0u64;
        while sink.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        n
    });
    let cache = Arc::new(PromptCache::new(PromptCacheConfig::default()));
    let mut sessions = Vec::new();
    for _ in 0..CALLS {
        sessions.push(pcmu_session(remote, &cache).await);
    }
    // Warm the cache so the measurement is playback only.
    cache.get(&wav, Codec::Pcmu).await.unwrap();
    let cpu0 = cpu_time().unwrap();
    let t0 = Instant::now();
    for (i, (s, _)) in sessions.iter().enumerate() {
        s.play(RequestId(i as u64), Media::File(wav.clone()));
    }
    for (_, ev) in sessions.iter_mut() {
        let e = tokio::time::timeout(Duration::from_secs(30), ev.recv())
            .await
            .unwrap();
        assert!(matches!(e, Some(MediaEvent::PlaybackFinished(_))), "{e:?}");
    }
    let wall = t0.elapsed();
    let cpu = cpu_time().unwrap() - cpu0;
    drop(sessions);
    let packets = counter.join().unwrap();
    let call_seconds = CALLS as f64 * f64::from(SECONDS);
    eprintln!(
        "{CALLS} calls × {SECONDS} s: wall {wall:?}, cpu {cpu:?} ({:.4} % of a core per call), {packets} packets of {}",
        100.0 * cpu.as_secs_f64() / call_seconds,
        CALLS as u32 * SECONDS * 50,
    );
}
