//! The writer against a real SQLite file behind a backend that can be switched off (the
//! database "down") or made to refuse one record.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::db::calls::{CallRecord, Direction, TimelineEvent};
use crate::db::migrate::Migration;
use crate::db::sqlite::Sqlite;
use crate::db::{Backend, BoxFut, Db, DbError, Dialect, Row, Val};
use crate::register::{Item, Register};

struct Flaky {
    inner: Sqlite,
    down: AtomicBool,
    refuse: Mutex<HashSet<String>>,
}

impl Flaky {
    fn check(&self, stmts: &[Stmt]) -> Result<(), DbError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(DbError::Unavailable("switched off".into()));
        }
        let refuse = self.refuse.lock().unwrap();
        for s in stmts {
            if let Some(Val::Text(id)) = s.params.first() {
                if s.sql.starts_with("INSERT INTO calls") && refuse.contains(id) {
                    return Err(DbError::Query("refused".into()));
                }
            }
        }
        Ok(())
    }
}

impl Backend for Flaky {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
    fn execute(&self, sql: &'static str, params: Vec<Val>) -> BoxFut<'_, Result<u64, DbError>> {
        let r = self.check(&[Stmt::new(sql, params.clone())]);
        Box::pin(async move {
            r?;
            self.inner.execute(sql, params).await
        })
    }
    fn query(&self, sql: &'static str, params: Vec<Val>) -> BoxFut<'_, Result<Vec<Row>, DbError>> {
        let r = self.check(&[]);
        Box::pin(async move {
            r?;
            self.inner.query(sql, params).await
        })
    }
    fn transaction(&self, stmts: Vec<Stmt>) -> BoxFut<'_, Result<Vec<u64>, DbError>> {
        let r = self.check(&stmts);
        Box::pin(async move {
            r?;
            self.inner.transaction(stmts).await
        })
    }
    fn migrate(&self, migrations: &'static [Migration]) -> BoxFut<'_, Result<Vec<u32>, DbError>> {
        self.inner.migrate(migrations)
    }
}

struct Fixture {
    flaky: Arc<Flaky>,
    db: Db,
    slot: DbSlot,
    dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let inner = Sqlite::open(&dir.path().join("t.db")).await.unwrap();
    let flaky = Arc::new(Flaky {
        inner,
        down: AtomicBool::new(false),
        refuse: Mutex::new(HashSet::new()),
    });
    let db = Db::new(flaky.clone(), "n1");
    db.migrate().await.unwrap();
    Fixture {
        slot: DbSlot::ready(db.clone()),
        flaky,
        db,
        dir,
    }
}

fn call(id: &str, dtmf: &str) -> Item {
    let mut r = CallRecord::new(id.into(), "n1", Direction::Inbound, "a", "b", 1);
    r.dtmf = dtmf.into();
    Item::Call(Box::new(r))
}

fn event(call_id: &str, seq: u32) -> Item {
    Item::Event {
        call_id: call_id.into(),
        event: TimelineEvent {
            seq,
            at_ms: i64::from(seq),
            kind: "dtmf".into(),
            data: serde_json::json!({"event": "dtmf", "digit": "1"}),
        },
    }
}

const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn records_are_written_and_the_last_copy_of_a_row_wins() {
    let f = fixture().await;
    let reg = Register::writer_only(f.slot.clone(), 1000, None, "n1");
    reg.send(call("c1", ""));
    reg.send(event("c1", 0));
    reg.send(call("c1", "1"));
    reg.send(event("c1", 1));
    reg.send(call("c1", "12"));
    assert!(reg.flush(LONG).await);
    let r = f.db.get_call("c1").await.unwrap().unwrap();
    assert_eq!(r.dtmf, "12");
    assert_eq!(f.db.call_timeline("c1").await.unwrap().len(), 2);
    assert_eq!(reg.stats().written, 5);
    assert!(reg.stats().db_up);
}

#[tokio::test]
async fn records_wait_while_the_database_is_down_and_are_written_when_it_is_back() {
    let f = fixture().await;
    let reg = Register::writer_only(f.slot.clone(), 1000, None, "n1");
    f.flaky.down.store(true, Ordering::SeqCst);
    for i in 0..50 {
        reg.send(call(&format!("c{i}"), ""));
        reg.send(event(&format!("c{i}"), 0));
    }
    assert!(!reg.flush(SHORT).await, "nothing can be written");
    let s = reg.stats();
    assert!(!s.db_up);
    assert_eq!((s.written, s.dropped), (0, 0));
    assert_eq!(s.queued, 100);
    f.flaky.down.store(false, Ordering::SeqCst);
    assert!(reg.flush(LONG).await);
    assert_eq!(reg.stats().written, 100);
    let all =
        f.db.list_calls(&crate::db::calls::CallFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 50, "nothing lost");
}

#[tokio::test]
async fn past_the_spill_bound_records_are_dropped_and_counted() {
    let f = fixture().await;
    let reg = Register::writer_only(f.slot.clone(), 100, None, "n1");
    f.flaky.down.store(true, Ordering::SeqCst);
    for i in 0..150 {
        reg.send(event("c", i));
    }
    assert!(!reg.flush(SHORT).await);
    assert_eq!(reg.stats().dropped, 50);
    f.flaky.down.store(false, Ordering::SeqCst);
    assert!(reg.flush(LONG).await);
    assert_eq!(f.db.call_timeline("c").await.unwrap().len(), 100);
}

#[tokio::test]
async fn a_refused_record_is_dropped_alone() {
    let f = fixture().await;
    f.flaky.refuse.lock().unwrap().insert("bad".into());
    let reg = Register::writer_only(f.slot.clone(), 1000, None, "n1");
    reg.send(call("good1", ""));
    reg.send(call("bad", ""));
    reg.send(call("good2", ""));
    assert!(reg.flush(LONG).await);
    assert!(f.db.get_call("good1").await.unwrap().is_some());
    assert!(f.db.get_call("good2").await.unwrap().is_some());
    assert!(f.db.get_call("bad").await.unwrap().is_none());
    assert_eq!(reg.stats().dropped, 1);
}

#[tokio::test]
async fn records_wait_for_a_database_that_is_not_open_yet() {
    let f = fixture().await;
    let slot = DbSlot::default();
    let reg = Register::writer_only(slot.clone(), 1000, None, "n1");
    reg.send(call("c1", ""));
    assert!(!reg.flush(SHORT).await);
    slot.set(f.db.clone());
    assert!(reg.flush(LONG).await);
    assert!(f.db.get_call("c1").await.unwrap().is_some());
}

#[tokio::test]
async fn close_saves_what_the_down_database_did_not_take_and_the_next_start_writes_it() {
    let f = fixture().await;
    let spill = f.dir.path().join("data").join(crate::register::SPILL_FILE);
    let reg = Register::writer_only(f.slot.clone(), 1000, Some(spill.clone()), "n1");
    reg.send(call("early", ""));
    assert!(reg.flush(LONG).await);
    f.flaky.down.store(true, Ordering::SeqCst);
    reg.send(call("c1", "9"));
    reg.send(event("c1", 0));
    let report = reg.close(SHORT).await;
    assert_eq!(report.spilled, 2);
    assert!(spill.is_file());

    // Next start, database still down: the file is kept until its records are written.
    let reg2 = Register::writer_only(f.slot.clone(), 1000, Some(spill.clone()), "n1");
    assert!(!reg2.flush(SHORT).await);
    assert!(spill.is_file());
    f.flaky.down.store(false, Ordering::SeqCst);
    assert!(reg2.flush(LONG).await);
    assert_eq!(f.db.get_call("c1").await.unwrap().unwrap().dtmf, "9");
    assert_eq!(f.db.call_timeline("c1").await.unwrap().len(), 1);
    assert!(!spill.exists(), "written, so forgotten");
    // A clean close with an empty queue writes no file.
    assert_eq!(
        reg2.close(LONG).await,
        crate::register::CloseReport::default()
    );
    assert!(!spill.exists());
}

#[test]
fn a_spill_file_with_garbage_lines_keeps_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.jsonl");
    let good = serde_json::to_string(&call("c1", "")).unwrap();
    std::fs::write(&p, format!("{good}\nnot json\n\n{good}\n")).unwrap();
    assert_eq!(read_spill(&p).len(), 2);
    assert!(read_spill(&dir.path().join("missing")).is_empty());
}
