-- Saved searches: a user's named log searches. `params` is the search as the API stores it, text
-- the store does not interpret. A search belongs to its user and is deleted with it; a user's
-- search names are unique.

CREATE TABLE saved_searches (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    params     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    UNIQUE (user_id, name)
) STRICT;

CREATE INDEX saved_searches_user_id_idx ON saved_searches (user_id);
