-- alerts.grouped_in: the note of the digest or fold message (or part of one) that carries this
-- alert, recorded for all its alerts at once before its first post (store.group_alerts). A
-- resend of that message (its post timed out: the receiver may have it) rebuilds it from these
-- alerts alone, so its id names one content; an alert committed late into the period waits
-- for it and goes after. NULL: never offered in one (or replayed since).
ALTER TABLE alerts ADD COLUMN grouped_in TEXT;
