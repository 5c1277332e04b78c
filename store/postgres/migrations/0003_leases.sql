-- Leases: which process may do a job that only one may do at a time (the
-- outbox sender). A lease is coordination between live processes, not a
-- fact, so it is the one row kept in place: taken when free or run out,
-- renewed by its holder. until_ns is the holder's clock, Unix nanoseconds.
CREATE TABLE leases (
	name     bytea PRIMARY KEY,
	holder   bytea NOT NULL,
	until_ns bigint NOT NULL
);
