#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <haveri/core/directory.hpp>
#include <haveri/core/events.hpp>
#include <haveri/core/incident.hpp>
#include <haveri/core/outbox.hpp>
#include <haveri/core/result.hpp>

namespace haveri::core {

// Derives the outbound operations of a commit from the state after it and the
// events as stored (with their ids), so they are queued in the same transaction.
using OutboxOf = std::function<std::vector<OutboxEntry>(const Incident& after,
                                                        const std::vector<Event>& committed)>;

// Events to append to one incident's timeline in one transaction, with the outbox
// entries they cause and the idempotency receipt of the request that caused them.
struct AppendRequest {
  // nullopt with events: declare a new incident; the store assigns the next id.
  // nullopt without events: store only `outbox` entries and the receipt (a reply
  // to a refused command, which must not be sent twice either).
  std::optional<IncidentId> incident;
  // Optimistic concurrency: the caller's last_sequence for the incident (0 for new).
  // A mismatch fails with ErrorCode::conflict and appends nothing.
  Sequence expected_last_sequence = 0;
  // Each event's incident and sequence are assigned by the store.
  std::vector<Event> events;
  // Entries queued whatever the events (their ids are assigned by the store).
  std::vector<OutboxEntry> outbox;
  // Called inside the transaction once the events have ids; its entries are
  // queued too. May be empty.
  OutboxOf outbox_of;
  // The inbound request's idempotency key; empty for none. A key seen before
  // makes the append a no-op that reports `duplicate`.
  std::string idempotency_key;
};

struct AppendOutcome {
  IncidentId incident = 0;
  std::vector<Event> committed;  // as stored, with ids and sequences; empty if duplicate
  Incident state;                // the incident after the append
  bool duplicate = false;
  std::vector<OutboxEntry> outbox;  // entries queued, with their ids; empty if duplicate
};

// A follow-up as listed across incidents.
struct FollowUpListing {
  std::string organization;
  IncidentId incident = 0;
  std::string incident_title;
  FollowUp follow_up;
  bool operator==(const FollowUpListing&) const = default;
};

// One incident found by full-text search, with its best matching passage.
struct SearchHit {
  IncidentId incident = 0;
  std::string organization;
  std::string title;
  Status status = Status::declared;
  Severity severity = Severity::sev3;
  std::optional<ChannelRef> channel;  // the incident channel, once it exists
  // What matched: "title", "message", "note", "action", "summary" (docs/events.md).
  std::string field;
  // The passage around the match, matched terms between "**" (the message
  // model's bold), cut to about a dozen words with "…" where text was left out.
  std::string snippet;
  bool operator==(const SearchHit&) const = default;
};

// Outbox entries that could not be performed, for the API.
struct OutboxFailure {
  OutboxEntry entry;
  TimePoint failed_at{};
  bool operator==(const OutboxFailure&) const = default;
};

// The durable, append-only record of every incident.
//
// Contract for every implementation (tests/unit/store runs it):
//   - append is atomic: all events and their projection updates, or nothing;
//   - sequences are 1, 2, 3… per incident without gaps;
//   - projections (incident list, channel index) are updated in the append's
//     transaction and equal a fold of the events;
//   - an idempotency key is remembered durably, across restarts;
//   - outbox entries are committed with the append that caused them;
//   - every query about incidents, members and follow-ups is scoped by organization;
//   - inside a batch (begin_batch … commit_batch) every call joins one transaction,
//     reads see the batch's own writes, and nothing is durable before commit_batch;
//     a job (begin_job … end_job) is a savepoint: its writes are kept or undone together.
// The shared conformance suite (tests/unit/store/conformance) holds every
// implementation to this contract.
// Runs on: one caller at a time; not thread-safe. Writes go through one
// GroupCommitWriter (group_commit.hpp); readers use a store of their own.
class EventStore {
 public:
  virtual ~EventStore() = default;

  virtual Result<AppendOutcome> append(const AppendRequest& request) = 0;

  // Timeline of one incident in sequence order; not_found if it does not exist.
  virtual Result<std::vector<Event>> events(IncidentId incident) = 0;

  // Current state from the projection; nullopt if it does not exist.
  virtual Result<std::optional<Incident>> incident(IncidentId incident) = 0;

  // Every incident of an organization, newest first; an empty organization means
  // every organization (the operator's admin API only).
  virtual Result<std::vector<Incident>> incidents(std::string_view organization) = 0;

  // Every incident, of any organization, that time can still act on: not CLOSED, or
  // with a follow-up not DONE (nudges, SLA breaches, reminders). Newest first. The
  // periodic tick reads only these, so closed history does not slow it down.
  virtual Result<std::vector<Incident>> incidents_with_timed_work() = 0;

  // Whether an append with this idempotency key was already committed.
  virtual Result<bool> has_receipt(std::string_view idempotency_key) = 0;

  // The organization's incident whose channel this is, if any.
  virtual Result<std::optional<IncidentId>> incident_by_channel(std::string_view organization,
                                                                std::string_view instance,
                                                                std::string_view channel_id) = 0;

  // Follow-ups of an organization (projection kept in the append transaction),
  // by incident then number; only those assigned to `assignee_member` when given;
  // DONE ones only with `include_done`.
  virtual Result<std::vector<FollowUpListing>> follow_ups(
      std::string_view organization, std::optional<std::string_view> assignee_member,
      bool include_done) = 0;

  // Members first seen in chat (directory members live in the directory).
  virtual Result<std::optional<Member>> member_by_identity(std::string_view organization,
                                                           std::string_view platform,
                                                           std::string_view user_id) = 0;
  // Records a member unless one with that id exists; returns whether it was new.
  virtual Result<bool> record_member(std::string_view organization, const Member& member,
                                     TimePoint first_seen) = 0;
  virtual Result<std::vector<Member>> members(std::string_view organization) = 0;

  // Full-text search (titles, messages, notes, actions, summaries) over the
  // organization's incidents (every organization for an empty one: the admin API
  // only), best match first, one hit per incident, at most `limit` (an
  // implementation may cap it; SQLite at 50). An edited message is found by its
  // new text as a "message"; a deleted one is no longer found. `query` is FTS5 syntax (words,
  // "phrases", prefix*, AND/OR/NOT); a malformed one is ErrorCode::invalid_argument with a message
  // for the person who typed it, never ErrorCode::storage.
  virtual Result<std::vector<SearchHit>> search(std::string_view organization,
                                                std::string_view query, std::size_t limit) = 0;

  // Rewrites every projection (incident list, channel index, follow-ups, search
  // index) from the events, in one transaction. Idempotent.
  virtual VoidResult rebuild_projections() = 0;
  // Every row of every projection, one line of text per row, in a stable order:
  // rebuilt == live is proven by comparing this before and after a rebuild.
  virtual Result<std::vector<std::string>> projection_rows() = 0;

  // Group commit, for GroupCommitWriter. begin_batch opens the transaction that
  // every following call joins; commit_batch makes it durable (per the store's
  // synchronous setting) and rollback_batch undoes it. A job is a savepoint in the
  // batch: end_job(false) undoes its writes only. Calls outside a batch run in
  // transactions of their own, as before.
  virtual VoidResult begin_batch() = 0;
  virtual VoidResult commit_batch() = 0;
  virtual void rollback_batch() noexcept = 0;
  virtual VoidResult begin_job() = 0;
  virtual VoidResult end_job(bool keep) = 0;

  // Outbox: entries neither done nor failed, in id order (loaded at start).
  virtual Result<std::vector<OutboxEntry>> pending_outbox() = 0;
  // The entry was performed: it is removed.
  virtual VoidResult outbox_done(std::int64_t id) = 0;
  // The entry will be tried again: attempts, not_before and last_error are kept.
  virtual VoidResult outbox_retry(std::int64_t id, int attempts, TimePoint not_before,
                                  std::string_view last_error) = 0;
  // The entry was given up: kept as failed, for the API, never tried again.
  virtual VoidResult outbox_failed(std::int64_t id, int attempts, std::string_view error,
                                   TimePoint at) = 0;
  // Entries superseded by a newer one (coalesced card edits): removed.
  virtual VoidResult outbox_remove(std::span<const std::int64_t> ids) = 0;
  // The most recent failures, newest first, at most `limit`.
  virtual Result<std::vector<OutboxFailure>> outbox_failures(std::size_t limit) = 0;
};

}  // namespace haveri::core
