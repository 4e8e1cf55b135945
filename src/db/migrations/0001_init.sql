-- phonetree schema v1. Runs unchanged on SQLite and PostgreSQL: BIGINT integers (times are
-- Unix milliseconds, booleans 0/1), TEXT (JSON as text), ids made by the application.
-- Every row a node writes carries its node_id (issue 12: several nodes share PostgreSQL).

-- The call register: one row per call, inbound or outbound.
CREATE TABLE calls (
    id            TEXT PRIMARY KEY,
    node_id       TEXT NOT NULL,
    direction     TEXT NOT NULL,
    from_uri      TEXT NOT NULL,
    to_uri        TEXT NOT NULL,
    account       TEXT,
    flow          TEXT,
    flow_version  TEXT,
    sip_call_id   TEXT,
    created_ms    BIGINT NOT NULL,
    ringing_ms    BIGINT,
    answered_ms   BIGINT,
    ended_ms      BIGINT,
    duration_ms   BIGINT,
    end_reason    TEXT,
    sip_status    BIGINT,
    codec         TEXT,
    dtmf          TEXT NOT NULL DEFAULT '',
    themes        TEXT NOT NULL DEFAULT '[]',
    nodes         TEXT NOT NULL DEFAULT '[]',
    vars          TEXT NOT NULL DEFAULT '{}',
    job_id        TEXT,
    attempt       BIGINT
);
CREATE INDEX calls_created ON calls (created_ms);
CREATE INDEX calls_job ON calls (job_id);

-- A call's timeline: the events `simulate` prints, plus node entries and SIP milestones.
CREATE TABLE call_events (
    call_id  TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    at_ms    BIGINT NOT NULL,
    kind     TEXT NOT NULL,
    data     TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);

-- Outbound jobs: one per requested call (or escalation chain), claimed by a node under a lease.
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    node_id         TEXT NOT NULL,
    state           TEXT NOT NULL,
    request         TEXT NOT NULL,
    run_at_ms       BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until_ms  BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    max_attempts    BIGINT NOT NULL DEFAULT 1,
    outcome         TEXT,
    acknowledged_ms BIGINT,
    heard_ms        BIGINT,
    idempotency_key TEXT UNIQUE,
    schedule_id     TEXT,
    alert_id        TEXT,
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_at_ms);
CREATE INDEX jobs_lease ON jobs (state, lease_until_ms);

-- Each dial of a job.
CREATE TABLE job_attempts (
    job_id      TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    node_id     TEXT NOT NULL,
    call_id     TEXT,
    contact     TEXT NOT NULL,
    started_ms  BIGINT NOT NULL,
    ended_ms    BIGINT,
    outcome     TEXT,
    sip_status  BIGINT,
    detail      TEXT,
    PRIMARY KEY (job_id, attempt)
);

-- Recurring schedules that create jobs.
CREATE TABLE schedules (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    cron         TEXT NOT NULL,
    tz           TEXT NOT NULL,
    request      TEXT NOT NULL,
    enabled      BIGINT NOT NULL DEFAULT 1,
    next_run_ms  BIGINT,
    last_run_ms  BIGINT,
    created_ms   BIGINT NOT NULL
);

-- Dashboard users (argon2id PHC strings).
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL,
    disabled       BIGINT NOT NULL DEFAULT 0,
    created_ms     BIGINT NOT NULL,
    last_login_ms  BIGINT
);

-- API tokens: only the SHA-256 of the token is stored.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    token_hash    TEXT NOT NULL UNIQUE,
    created_ms    BIGINT NOT NULL,
    last_used_ms  BIGINT
);

-- Login sessions: only the SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_ms);

-- Alertmanager (and other) notifications received, deduplicated by dedupe_key.
CREATE TABLE alert_notifications (
    id           TEXT PRIMARY KEY,
    node_id      TEXT NOT NULL,
    received_ms  BIGINT NOT NULL,
    source       TEXT NOT NULL,
    group_key    TEXT,
    status       TEXT NOT NULL,
    dedupe_key   TEXT UNIQUE,
    payload      TEXT NOT NULL,
    actions      TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX alerts_received ON alert_notifications (received_ms);

-- One row per node, refreshed while it runs.
CREATE TABLE node_heartbeats (
    node_id       TEXT PRIMARY KEY,
    started_ms    BIGINT NOT NULL,
    seen_ms       BIGINT NOT NULL,
    version       TEXT NOT NULL,
    active_calls  BIGINT NOT NULL DEFAULT 0,
    info          TEXT NOT NULL DEFAULT '{}'
);
