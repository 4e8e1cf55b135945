-- Issue 12: `outbound.rate` for the whole cluster. One token bucket row shared by every node;
-- a claim refills it from `last_ms` and takes a token in the same transaction as the claim.
CREATE TABLE outbound_rate (
    id      BIGINT PRIMARY KEY,
    tokens  DOUBLE PRECISION NOT NULL,
    last_ms BIGINT NOT NULL
);
INSERT INTO outbound_rate (id, tokens, last_ms) VALUES (1, 0, 0);
