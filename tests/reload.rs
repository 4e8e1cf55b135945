//! Live reload against the real file system: the notify watcher, debouncing, and the registry's
//! swap rules. Every wait is bounded (`recv_timeout`), nothing sleeps.

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use phonetree::flow::load::LoadOptions;
use phonetree::registry::watch::Watcher;
use phonetree::registry::{Registry, RegistryEvent};

const WAIT: Duration = Duration::from_secs(20);

fn flow(text: &str) -> String {
    format!(
        "routes: [\"5000\"]\nstart: hi\nnodes:\n  hi: {{ say: \"{text}\", next: bye }}\n  bye: {{ hangup: {{}} }}\n"
    )
}

/// Waits for a batch of events that satisfies `pred` (earlier batches may be partial saves).
fn wait_for(
    rx: &mpsc::Receiver<Vec<RegistryEvent>>,
    pred: impl Fn(&[RegistryEvent]) -> bool,
) -> Vec<RegistryEvent> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let batch = rx
            .recv_timeout(left)
            .expect("the watcher reported nothing in time");
        // Regression: notify reports the reload's own reads of the flow files; counting them
        // made every reload trigger the next one, which shows up as batches with no change.
        assert!(
            !batch.is_empty(),
            "a reload was triggered without any change"
        );
        if pred(&batch) {
            return batch;
        }
    }
}

fn write(path: &Path, text: &str) {
    // Write then rename, as editors do, so the watcher never sees a half-written file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn edits_go_live_broken_saves_do_not_and_removal_drops_routes() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    let file = flows.join("hello.yaml");
    write(&file, &flow("one"));

    let (registry, events) = Registry::open(&flows, LoadOptions::default());
    assert!(
        matches!(&events[..], [RegistryEvent::Loaded { .. }]),
        "{events:?}"
    );
    let registry = Arc::new(registry);
    let v1 = registry.route("5000").expect("flow routed");

    let (tx, rx) = mpsc::channel();
    let _watcher =
        Watcher::start(registry.clone(), &[], Duration::from_millis(100), Some(tx)).unwrap();

    // A valid edit replaces the version; the old Arc (a running call) is unchanged.
    write(&file, &flow("two"));
    wait_for(&rx, |b| {
        b.iter().any(|e| matches!(e, RegistryEvent::Loaded { .. }))
    });
    let v2 = registry.route("5000").unwrap();
    assert_ne!(v1.hash, v2.hash);
    assert_eq!(v1.name, "hello");

    // A broken save changes nothing but the diagnostics.
    write(&file, "start: [not a node\n");
    wait_for(&rx, |b| {
        b.iter().any(|e| {
            matches!(
                e,
                RegistryEvent::Rejected {
                    kept_previous: true,
                    ..
                }
            )
        })
    });
    assert_eq!(registry.route("5000").unwrap().hash, v2.hash);
    let snap = registry.snapshot();
    assert!(!snap.flows[0].diagnostics.is_empty());

    // Removing the file removes its routes.
    std::fs::remove_file(&file).unwrap();
    wait_for(&rx, |b| {
        b.iter().any(|e| matches!(e, RegistryEvent::Removed { .. }))
    });
    assert!(registry.route("5000").is_none());
}
