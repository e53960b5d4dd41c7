-- The status cache's catch-up reads payments changed since a moment.
create index payments_updated_at on payments (updated_at);
