-- alerts.owed_to: the email recipients still owed this alert, a JSON array of addresses, once
-- an attempt was taken by some of them or refused for good by some (store.owe_recipients).
-- Its retries send the same message to these alone, so no one gets it twice; `replay` keeps
-- it. NULL: no such attempt yet, every recipient of the destination is owed it.
ALTER TABLE alerts ADD COLUMN owed_to TEXT;
