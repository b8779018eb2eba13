#include "migrations.hpp"

#include <array>

namespace haveri::store::sqlite {
namespace {

constexpr std::array kMigrations{
    Migration{
        1,
        "events, incident projection, inbound receipts",
        R"sql(
CREATE TABLE events (
  incident_id INTEGER NOT NULL,
  sequence    INTEGER NOT NULL,
  type        TEXT    NOT NULL,
  at_ms       INTEGER NOT NULL,
  actor_id    TEXT    NOT NULL,
  actor_name  TEXT    NOT NULL,
  payload     TEXT    NOT NULL,  -- JSON, payload_to_json()
  PRIMARY KEY (incident_id, sequence)
) WITHOUT ROWID;

CREATE TABLE incidents (
  id               INTEGER PRIMARY KEY,
  title            TEXT    NOT NULL,
  status           TEXT    NOT NULL,
  severity         TEXT    NOT NULL,
  declared_at_ms   INTEGER NOT NULL,
  updated_at_ms    INTEGER NOT NULL,
  last_sequence    INTEGER NOT NULL,
  channel_instance TEXT,
  channel_id       TEXT,
  state            TEXT    NOT NULL  -- JSON, incident_to_json()
);

CREATE UNIQUE INDEX incidents_by_channel
  ON incidents (channel_instance, channel_id) WHERE channel_id IS NOT NULL;

CREATE TABLE inbound_receipts (
  idempotency_key TEXT PRIMARY KEY,
  incident_id     INTEGER,
  received_at_ms  INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    },
    Migration{
        2,
        "organizations, chat members, follow-up projection, outbox",
        R"sql(
-- Member::id of the actor, when known (the id and name columns were there already).
ALTER TABLE events ADD COLUMN actor_member TEXT NOT NULL DEFAULT '';

-- Organization::id from the declared event; '' for incidents declared before it
-- existed. The channel index stays global: a channel belongs to one installation,
-- which belongs to one organization.
ALTER TABLE incidents ADD COLUMN organization TEXT NOT NULL DEFAULT '';
CREATE INDEX incidents_by_organization ON incidents (organization, id);

-- Members first seen in chat; directory members live in the directory file.
CREATE TABLE members (
  organization  TEXT    NOT NULL,
  id            TEXT    NOT NULL,
  name          TEXT    NOT NULL,
  role          TEXT    NOT NULL,
  identities    TEXT    NOT NULL,  -- JSON object: platform -> user id
  first_seen_ms INTEGER NOT NULL,
  PRIMARY KEY (organization, id)
) WITHOUT ROWID;

-- One row per identity of a member, for member_by_identity(); an identity belongs to
-- one member of an organization.
CREATE TABLE member_identities (
  organization TEXT NOT NULL,
  platform     TEXT NOT NULL,
  user_id      TEXT NOT NULL,
  member_id    TEXT NOT NULL,
  PRIMARY KEY (organization, platform, user_id),
  FOREIGN KEY (organization, member_id) REFERENCES members (organization, id)
) WITHOUT ROWID;

-- Follow-ups of every incident, replaced in the append transaction from the folded
-- state; `state` is the whole follow-up, the other columns are for filtering.
CREATE TABLE follow_ups (
  organization    TEXT    NOT NULL,
  incident_id     INTEGER NOT NULL,
  number          INTEGER NOT NULL,
  description     TEXT    NOT NULL,
  assignee_member TEXT,              -- Member::id of the assignee; NULL if none or not known
  assignee        TEXT,              -- JSON, actor_to_json(); NULL if unassigned
  due_ms          INTEGER,
  status          TEXT    NOT NULL,  -- OPEN, IN_PROGRESS, DONE
  updated_ms      INTEGER NOT NULL,
  state           TEXT    NOT NULL,  -- JSON, follow_up_json()
  PRIMARY KEY (incident_id, number)
) WITHOUT ROWID;
CREATE INDEX follow_ups_by_organization ON follow_ups (organization, incident_id, number);
CREATE INDEX follow_ups_by_assignee ON follow_ups (organization, assignee_member);

-- Outbound operations, committed with the append that caused them. AUTOINCREMENT:
-- an id is never reused, even after the newest entries were deleted.
CREATE TABLE outbox (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  organization  TEXT    NOT NULL,
  instance      TEXT    NOT NULL,
  lane          TEXT    NOT NULL,
  coalesce_key  TEXT    NOT NULL,
  operation_key TEXT    NOT NULL,
  operation     TEXT    NOT NULL,  -- JSON text, docs/plugin-abi.md
  incident_id   INTEGER,
  attempts      INTEGER NOT NULL,
  not_before_ms INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  last_error    TEXT    NOT NULL,
  state         TEXT    NOT NULL CHECK (state IN ('pending', 'failed')),
  failed_at_ms  INTEGER
);
CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending';
CREATE INDEX outbox_failed ON outbox (failed_at_ms, id) WHERE state = 'failed';
)sql",
        // Version 1 snapshots lack the organization, follow-ups and the times the
        // metrics and nudges are computed from.
        true,
    },
    Migration{
        3,
        "full-text search index",
        R"sql(
-- The texts people wrote, one row per text: titles (declared, title_change), chat
-- messages (message, and the new text of an edit, recorded as an annotation that
-- refers to the message), notes (annotation), actions (action_taken) and summaries
-- (summary: every free-text field in one row). Rewritten with the projections.
--
-- External content: this table holds each text once, with what search needs to scope
-- and show a hit (organization, incident, field) in ordinary indexed columns, and
-- search_index below indexes its `text` column. A message deleted on the platform is
-- taken out of the index by (incident_id, sequence), which an FTS5 table could only
-- find by scanning every row. The rows are written by the store in the append
-- transaction (no triggers: a rebuild clears both tables at once).
CREATE TABLE search_documents (
  id           INTEGER PRIMARY KEY,
  organization TEXT    NOT NULL,
  incident_id  INTEGER NOT NULL,
  sequence     INTEGER NOT NULL,  -- the event the text is from; for an edit, the message's
  field        TEXT    NOT NULL
               CHECK (field IN ('title', 'message', 'note', 'action', 'summary')),
  text         TEXT    NOT NULL
);
CREATE INDEX search_documents_by_event ON search_documents (incident_id, sequence);

-- unicode61 with remove_diacritics 2: words of every script, case and accents folded
-- (Kühlhaus is found by kuhlhaus, café by cafe).
CREATE VIRTUAL TABLE search_index USING fts5(
  text,
  content = 'search_documents',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);

-- Every indexed word occurrence, for projection_rows(): proves the index itself
-- equals a rebuild's.
CREATE VIRTUAL TABLE search_terms USING fts5vocab(search_index, instance);
)sql",
        // Fills the index from the events already stored.
        true,
    },
};

}  // namespace

std::span<const Migration> migrations() noexcept {
  return kMigrations;
}

}  // namespace haveri::store::sqlite
