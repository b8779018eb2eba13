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
};

}  // namespace

std::span<const Migration> migrations() noexcept {
  return kMigrations;
}

}  // namespace haveri::store::sqlite
