-- The audit chain's head: its last stored record, or the last archived one if none is left.
CREATE VIEW audit_head AS
SELECT seq, hash FROM (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS l
UNION ALL
SELECT seq, hash FROM (SELECT last_seq AS seq, last_hash AS hash FROM audit_archives ORDER BY last_seq DESC LIMIT 1) AS a
ORDER BY seq DESC LIMIT 1;

-- Takes the lock that keeps every replica's appends in one chain (held until the transaction
-- ends), then reads the head, in one round trip. A VOLATILE function's statements each take
-- a fresh snapshot, so the head is read after the lock was granted and includes the previous
-- holder's records. `waited` tells that another replica held the lock.
CREATE FUNCTION portti_lock_chain_head(lock_key BIGINT, OUT seq BIGINT, OUT hash TEXT, OUT waited BOOLEAN)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    waited := NOT pg_try_advisory_xact_lock(lock_key);
    IF waited THEN
        PERFORM pg_advisory_xact_lock(lock_key);
    END IF;
    SELECT h.seq, h.hash INTO seq, hash FROM audit_head AS h;
END
$$;
