-- The status cache's catch-up needs only payments changed after their creation: a payment at
-- version 1 is as it was inserted, and no node can hold an older copy of it. A partial index
-- leaves creates (the most frequent write) with one index fewer to insert into.
-- Upgrade every node together: a node from before this change still runs its catch-up
-- without `version > 1`, which this index cannot serve (a scan of payments every second).
drop index payments_updated_at;
create index payments_changed on payments (updated_at) where version > 1;
