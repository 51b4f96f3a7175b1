-- The audit chain's head: its last stored record, or the last archived one if none is left.
CREATE VIEW audit_head AS
SELECT seq, hash FROM (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1)
UNION ALL
SELECT seq, hash FROM (SELECT last_seq AS seq, last_hash AS hash FROM audit_archives ORDER BY last_seq DESC LIMIT 1)
ORDER BY seq DESC LIMIT 1;
