-- Refund Manager test fixture: the recommender tables (the refund pipeline's DDL), the
-- decisions table (reference DDL), eight recommendations, two earlier decisions and a few
-- order timelines. Expected numbers, worked out by hand, are in tests/app.rs.
CREATE SCHEMA IF NOT EXISTS recommender;
CREATE TABLE IF NOT EXISTS recommender.pg_recommendations (
  order_id TEXT PRIMARY KEY,
  ts TIMESTAMPTZ NOT NULL,
  order_ts TIMESTAMPTZ,
  agent_response TEXT NOT NULL,
  refund_class TEXT NOT NULL,
  refund_usd NUMERIC(10,2) NOT NULL,
  order_revenue NUMERIC(12,2)
);
CREATE TABLE IF NOT EXISTS recommender.order_events (
  event_id TEXT, event_type TEXT NOT NULL, ts TIMESTAMPTZ NOT NULL, gk_id TEXT, location TEXT,
  order_id TEXT NOT NULL, sequence BIGINT NOT NULL, body JSONB,
  PRIMARY KEY (order_id, event_type, sequence)
);
CREATE SCHEMA IF NOT EXISTS refunds;
CREATE TABLE IF NOT EXISTS refunds.refund_decisions (
    id BIGSERIAL PRIMARY KEY,
    order_id TEXT NOT NULL,
    decided_ts TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    amount_usd NUMERIC(10,2) NOT NULL CHECK (amount_usd >= 0),
    refund_class TEXT NOT NULL CHECK (refund_class IN ('none','partial','full')),
    reason TEXT NOT NULL,
    decided_by TEXT,
    source_suggestion JSONB
);
CREATE INDEX IF NOT EXISTS idx_refund_decisions_order_id ON refunds.refund_decisions(order_id);

-- Newest delivery first: o-1001 … o-1007, then o-2001 (no delivery time).
INSERT INTO recommender.pg_recommendations VALUES
 ('o-1001', '2024-01-15 13:00:00+00', '2024-01-15 12:50:00+00',
  '{"refund_class":"partial","refund_usd":4.5,"reason":"Delivered 52 min after order, above p75 of 40 min","delivery_minutes":52.0,"p75":40.0,"p99":70.0}',
  'partial', 4.50, 32.10),
 ('o-1002', '2024-01-15 13:00:00+00', '2024-01-15 12:40:00+00',
  '{"refund_class":"full","refund_usd":27.8,"reason":"Delivered 95 min after order, above p99 of 70 min","delivery_minutes":95.0,"p75":40.0,"p99":70.0}',
  'full', 27.80, 27.80),
 ('o-1003', '2024-01-15 13:00:00+00', '2024-01-15 12:30:00+00',
  '{"refund_class":"none","refund_usd":0.0,"reason":"On time","delivery_minutes":31.0,"p75":40.0,"p99":70.0}',
  'none', 0.00, 18.00),
 ('o-1004', '2024-01-15 13:00:00+00', '2024-01-15 12:20:00+00',
  '{"refund_class":"partial","refund_usd":3.2,"reason":"Delivered 45 min after order, above p75 of 40 min","delivery_minutes":45.0,"p75":40.0,"p99":70.0}',
  'partial', 3.20, NULL),
 ('o-1005', '2024-01-15 13:00:00+00', '2024-01-15 12:10:00+00',
  'the agent timed out', 'error', 0.00, 12.00),
 ('o-1006', '2024-01-15 13:00:00+00', '2024-01-15 12:00:00+00',
  '{"refund_class":"full","refund_usd":15.0,"reason":"Delivered 80 min after order, above p99 of 70 min","delivery_minutes":80.0,"p75":40.0,"p99":70.0}',
  'full', 15.00, 15.00),
 ('o-1007', '2024-01-15 13:00:00+00', '2024-01-15 11:50:00+00',
  '{"refund_class":"none","refund_usd":0.0,"reason":"On time","delivery_minutes":28.0,"p75":40.0,"p99":70.0}',
  'none', 0.00, 22.40),
 ('o-2001', '2024-01-15 13:05:00+00', NULL,
  '{"refund_class":"partial","refund_usd":6.0,"reason":"Delivered 48 min after order, above p75 of 40 min","delivery_minutes":48.0,"p75":40.0,"p99":70.0}',
  'partial', 6.00, 40.00);

-- o-1004 decided once; o-1006 decided twice (the later, full, decision is in force).
INSERT INTO refunds.refund_decisions (order_id, decided_ts, amount_usd, refund_class, reason, decided_by) VALUES
 ('o-1004', '2024-01-15 14:00:00+00', 3.20, 'partial', 'Agreed, late delivery', 'ana@caspers.example'),
 ('o-1006', '2024-01-15 14:05:00+00', 0.00, 'none', 'First look: fine', NULL),
 ('o-1006', '2024-01-15 14:10:00+00', 15.00, 'full', 'Second look: very late', 'bo@caspers.example');

-- o-1001's timeline, pings included (the API leaves them out); gk_ready's body is stored as
-- a JSON string holding the document, as the bronze encoding has it.
INSERT INTO recommender.order_events VALUES
 ('e1', 'order_created',    '2024-01-15 11:58:00+00', 'gk-1', 'sanfrancisco', 'o-1001', 0,
  '{"customer_lat":37.79,"customer_lon":-122.39,"customer_addr":"160 Spear St","items":[{"id":1,"name":"Burrito","price":12.5,"qty":2}]}'),
 ('e2', 'gk_started',       '2024-01-15 12:02:00+00', 'gk-1', 'sanfrancisco', 'o-1001', 1, '{}'),
 ('e3', 'gk_finished',      '2024-01-15 12:15:00+00', 'gk-1', 'sanfrancisco', 'o-1001', 2, '{}'),
 ('e4', 'gk_ready',         '2024-01-15 12:16:00+00', 'gk-1', 'sanfrancisco', 'o-1001', 3, to_jsonb('{"shelf":"A3"}'::text)),
 ('e5', 'driver_arrived',   '2024-01-15 12:20:00+00', 'gk-1', 'sanfrancisco', 'o-1001', 4, '{}'),
 ('e6', 'driver_picked_up', '2024-01-15 12:22:00+00', 'gk-1', 'sanfrancisco', 'o-1001', 5, '{"eta_mins":20}'),
 ('e7', 'driver_ping',      '2024-01-15 12:30:00+00', 'gk-1', 'sanfrancisco', 'o-1001', 6, '{"progress_pct":40}'),
 ('e8', 'driver_ping',      '2024-01-15 12:40:00+00', 'gk-1', 'sanfrancisco', 'o-1001', 7, '{"progress_pct":80}'),
 ('e9', 'delivered',        '2024-01-15 12:50:00+00', 'gk-1', 'sanfrancisco', 'o-1001', 8, '{"delivery_lat":37.79,"delivery_lon":-122.39}'),
 -- An order the recommender has not seen (yet): its timeline is still served.
 ('e10', 'order_created',   '2024-01-15 12:59:00+00', 'gk-2', 'sanfrancisco', 'o-3001', 0, NULL);
