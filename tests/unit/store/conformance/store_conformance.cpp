#include "conformance/store_conformance.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <haveri/core/events.hpp>
#include <haveri/core/group_commit.hpp>
#include <haveri/core/incident.hpp>

// Readable failure messages: GoogleTest would print these as bytes otherwise.
namespace haveri::core {

std::string_view code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument:
      return "invalid_argument";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::conflict:
      return "conflict";
    case ErrorCode::refused:
      return "refused";
    case ErrorCode::storage:
      return "storage";
    case ErrorCode::unavailable:
      return "unavailable";
  }
  return "unknown";
}

void PrintTo(ErrorCode code, std::ostream* out) {
  *out << code_name(code);
}

void PrintTo(const Incident& incident, std::ostream* out) {
  *out << incident_to_json(incident).dump();
}

void PrintTo(const Event& event, std::ostream* out) {
  *out << event_to_json(event).dump();
}

void PrintTo(const FollowUpListing& listing, std::ostream* out) {
  *out << listing.organization << " INC-" << listing.incident << " \"" << listing.incident_title
       << "\" " << follow_up_json(listing.follow_up).dump();
}

void PrintTo(const SearchHit& hit, std::ostream* out) {
  *out << "INC-" << hit.incident << " (" << hit.organization << ", \"" << hit.title << "\", "
       << to_string(hit.status) << ", " << to_string(hit.severity) << ") " << hit.field << ": "
       << hit.snippet;
}

void PrintTo(const Member& member, std::ostream* out) {
  *out << member.id << " (" << member.name << ", " << member.role << ")";
}

}  // namespace haveri::core

namespace haveri::store::conformance {

namespace fs = std::filesystem;

using core::AppendOutcome;
using core::AppendRequest;
using core::code_name;
using core::ErrorCode;
using core::Event;
using core::EventStore;
using core::FollowUpChanged;
using core::FollowUpListing;
using core::FollowUpStatus;
using core::GroupCommitOptions;
using core::GroupCommitWriter;
using core::Incident;
using core::IncidentId;
using core::Result;
using core::SearchHit;
using core::Sequence;
using core::Severity;
using core::Status;
using core::VoidResult;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

namespace {

// How long a test waits for the writer thread before it gives up (it never should).
constexpr auto kPatience = std::chrono::seconds(120);

std::string describe(const core::Error& error) {
  return std::string(code_name(error.code)) + ": " + error.message;
}

// Unwraps a Result; an error fails the test through the exception GoogleTest reports.
template <class T>
T must(Result<T> result, std::string_view what = "store call") {
  if (!result) {
    throw std::runtime_error(std::string(what) + " failed: " + describe(result.error()));
  }
  return std::move(result).value();
}

void must_ok(const VoidResult& result, std::string_view what) {
  if (!result) {
    throw std::runtime_error(std::string(what) + " failed: " + describe(result.error()));
  }
}

// ---------------------------------------------------------------------------------
// Events and requests

core::TimePoint at_minute(int minute) {
  return core::TimePoint{std::chrono::milliseconds{1'790'000'000'000} +
                         std::chrono::minutes{minute}};
}

const core::Actor kAna{"U01ANA", "Ana Operator", "ana"};
const core::Actor kBen{"U02BEN", "Ben Maintenance", "ben"};
const core::Actor kCarol{"U03CAROL", "Carol Quality", "carol"};
const core::Actor kTyped{"@dave", "@dave"};  // a mention typed as text: no member known
const core::ChannelRef kGeneral{"local", "general", "general"};
const core::ChannelRef kAnnouncements{"local", "announcements", "announcements"};

Event event_of(core::EventPayload payload, int minute = 1, const core::Actor& actor = kAna) {
  return Event{0, 0, at_minute(minute), actor, std::move(payload)};
}

Event declared(const std::string& title, const std::string& organization = "acme",
               Severity severity = Severity::sev2, int minute = 0) {
  core::Declared payload{title, severity, kGeneral};
  payload.organization = organization;
  return event_of(std::move(payload), minute);
}

Event message(const std::string& text, int minute = 1, const core::Actor& actor = kAna) {
  return event_of(core::MessagePosted{text, kGeneral, "m-" + std::to_string(minute)}, minute,
                  actor);
}

Event status_change(Status from, Status to, int minute = 2) {
  return event_of(core::StatusChanged{from, to}, minute, kBen);
}

Event channel_linked(const std::string& channel_id, int minute = 1,
                     const std::string& instance = "local") {
  return event_of(core::ChannelLinked{core::ChannelRef{instance, channel_id, "inc-" + channel_id}},
                  minute, core::Actor::system());
}

Event note(const std::string& text, int minute = 3) {
  return event_of(core::Annotation{text, std::nullopt}, minute, kBen);
}

Event action(const std::string& text, int minute = 4) {
  return event_of(core::ActionTaken{text}, minute, kBen);
}

Event summary(const std::string& what_happened, const std::string& root_cause,
              const std::string& resolution, int minute = 5) {
  core::Summary written;
  written.what_happened = what_happened;
  written.root_cause = root_cause;
  written.resolution = resolution;
  written.impact.duration_minutes = 45;
  return event_of(core::SummaryRecorded{written}, minute, kBen);
}

Event title_change(const std::string& from, const std::string& to, int minute = 6) {
  return event_of(core::TitleChanged{from, to}, minute, kBen);
}

Event follow_up(FollowUpChanged change, int minute = 7, const core::Actor& actor = kAna) {
  return event_of(std::move(change), minute, actor);
}

FollowUpChanged follow_up_created(std::int64_t number, const std::string& description,
                                  std::optional<core::Actor> assignee,
                                  std::optional<core::TimePoint> due = std::nullopt) {
  FollowUpChanged change;
  change.change = FollowUpChanged::Change::created;
  change.number = number;
  change.description = description;
  change.assignee = std::move(assignee);
  change.due = due;
  return change;
}

FollowUpChanged follow_up_assigned(std::int64_t number, std::optional<core::Actor> assignee) {
  FollowUpChanged change;
  change.change = FollowUpChanged::Change::assigned;
  change.number = number;
  change.assignee = std::move(assignee);
  return change;
}

FollowUpChanged follow_up_redated(std::int64_t number, std::optional<core::TimePoint> due) {
  FollowUpChanged change;
  change.change = FollowUpChanged::Change::redated;
  change.number = number;
  change.due = due;
  return change;
}

FollowUpChanged follow_up_status(std::int64_t number, FollowUpStatus status) {
  FollowUpChanged change;
  change.change = FollowUpChanged::Change::status;
  change.number = number;
  change.status = status;
  return change;
}

FollowUpChanged follow_up_reminded(std::int64_t number, const std::string& reminder) {
  FollowUpChanged change;
  change.change = FollowUpChanged::Change::reminded;
  change.number = number;
  change.reminder = reminder;
  return change;
}

AppendRequest declare(const std::string& title, const std::string& organization = "acme",
                      std::string key = {}) {
  AppendRequest request;
  request.events = {declared(title, organization)};
  request.idempotency_key = std::move(key);
  return request;
}

AppendRequest append_to(IncidentId id, Sequence expected, std::vector<Event> events,
                        std::string key = {}) {
  AppendRequest request;
  request.incident = id;
  request.expected_last_sequence = expected;
  request.events = std::move(events);
  request.idempotency_key = std::move(key);
  return request;
}

// A post_message operation for the incident's own channel (or `general` without one).
core::OutboxEntry outbox_entry(const std::string& operation_key,
                               std::optional<IncidentId> incident = std::nullopt,
                               const std::string& organization = "acme") {
  core::OutboxEntry entry;
  entry.organization = organization;
  entry.instance = "local";
  entry.lane = incident ? "incident:" + std::to_string(*incident) : "local/general";
  entry.operation_key = operation_key;
  entry.operation = R"({"type":"post_message","channel":{"id":"general","name":"general"},)"
                    R"("message":{"title":")" +
                    operation_key + R"("}})";
  entry.incident = incident;
  entry.not_before = at_minute(0);
  entry.created_at = at_minute(0);
  return entry;
}

std::vector<Sequence> sequences(const std::vector<Event>& events) {
  std::vector<Sequence> out;
  out.reserve(events.size());
  for (const auto& event : events) {
    out.push_back(event.sequence);
  }
  return out;
}

std::vector<Sequence> one_to(std::size_t n) {
  std::vector<Sequence> out;
  for (std::size_t i = 1; i <= n; ++i) {
    out.push_back(static_cast<Sequence>(i));
  }
  return out;
}

std::vector<IncidentId> ids_of(const std::vector<Incident>& incidents) {
  std::vector<IncidentId> out;
  out.reserve(incidents.size());
  for (const auto& incident : incidents) {
    out.push_back(incident.id);
  }
  return out;
}

std::vector<IncidentId> ids_of(const std::vector<SearchHit>& hits) {
  std::vector<IncidentId> out;
  out.reserve(hits.size());
  for (const auto& hit : hits) {
    out.push_back(hit.incident);
  }
  return out;
}

std::vector<std::string> operation_keys(const std::vector<core::OutboxEntry>& entries) {
  std::vector<std::string> out;
  out.reserve(entries.size());
  for (const auto& entry : entries) {
    out.push_back(entry.operation_key);
  }
  return out;
}

// The texts of the message events of a timeline, in order.
std::vector<std::string> message_texts(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) {
    if (const auto* posted = std::get_if<core::MessagePosted>(&event.payload)) {
      out.push_back(posted->text);
    }
  }
  return out;
}

std::vector<core::Member> sorted_by_id(std::vector<core::Member> members) {
  std::sort(members.begin(), members.end(),
            [](const core::Member& a, const core::Member& b) { return a.id < b.id; });
  return members;
}

std::string lower_case(std::string text) {
  for (char& c : text) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return text;
}

bool contains(const std::vector<IncidentId>& ids, IncidentId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// ---------------------------------------------------------------------------------
// What the projections must say, derived from the events with core's fold

// follow_ups(organization, assignee, include_done) as the fold of each incident says.
std::vector<FollowUpListing> folded_follow_ups(EventStore& store, std::vector<IncidentId> ids,
                                               std::string_view organization,
                                               std::optional<std::string_view> assignee,
                                               bool include_done) {
  std::sort(ids.begin(), ids.end());
  std::vector<FollowUpListing> out;
  for (IncidentId id : ids) {
    const Incident incident = core::fold(must(store.events(id), "events()"));
    if (incident.organization != organization) {
      continue;
    }
    for (const auto& item : incident.follow_ups) {
      if (!include_done && item.status == FollowUpStatus::done) {
        continue;
      }
      if (assignee && !(item.assignee && !item.assignee->member.empty() &&
                        item.assignee->member == *assignee)) {
        continue;
      }
      out.push_back(FollowUpListing{std::string(organization), id, incident.title, item});
    }
  }
  return out;
}

// Checks every projection the store offers against the fold of each incident's
// events: the incident, the incident list of each organization (newest first), the
// channel index and the follow-ups (all, open, and per assignee).
void expect_projections_equal_the_fold(EventStore& store, const std::vector<IncidentId>& ids) {
  std::map<std::string, std::vector<IncidentId>> by_organization;
  std::set<std::string> assignees;
  for (IncidentId id : ids) {
    SCOPED_TRACE("INC-" + std::to_string(id));
    const auto events = must(store.events(id), "events()");
    EXPECT_EQ(sequences(events), one_to(events.size()));
    const Incident folded = core::fold(events);
    EXPECT_EQ(must(store.incident(id), "incident()"), std::optional<Incident>{folded});
    by_organization[folded.organization].push_back(id);
    if (folded.channel) {
      EXPECT_EQ(must(store.incident_by_channel(folded.organization, folded.channel->instance,
                                               folded.channel->id)),
                std::optional<IncidentId>{id});
      EXPECT_EQ(must(store.incident_by_channel(folded.organization + "-elsewhere",
                                               folded.channel->instance, folded.channel->id)),
                std::nullopt);
    }
    for (const auto& item : folded.follow_ups) {
      if (item.assignee && !item.assignee->member.empty()) {
        assignees.insert(item.assignee->member);
      }
    }
  }
  for (auto& [organization, organization_ids] : by_organization) {
    SCOPED_TRACE("organization \"" + organization + "\"");
    std::vector<IncidentId> newest_first = organization_ids;
    std::sort(newest_first.rbegin(), newest_first.rend());
    if (!organization.empty()) {  // "" lists every organization
      EXPECT_EQ(ids_of(must(store.incidents(organization), "incidents()")), newest_first);
    }
    for (bool include_done : {false, true}) {
      EXPECT_EQ(must(store.follow_ups(organization, std::nullopt, include_done)),
                folded_follow_ups(store, ids, organization, std::nullopt, include_done))
          << "include_done " << include_done;
      for (const auto& assignee : assignees) {
        EXPECT_EQ(must(store.follow_ups(organization, assignee, include_done)),
                  folded_follow_ups(store, ids, organization, assignee, include_done))
            << "assignee " << assignee << ", include_done " << include_done;
      }
    }
  }
  std::vector<IncidentId> all = ids;
  std::sort(all.rbegin(), all.rend());
  EXPECT_EQ(ids_of(must(store.incidents(""), "incidents(\"\")")), all);
}

// Compares two projection_rows() results row for row, reporting the first rows that
// differ rather than two walls of text.
void expect_same_rows(const std::vector<std::string>& live,
                      const std::vector<std::string>& rebuilt) {
  EXPECT_EQ(live.size(), rebuilt.size()) << "projection rows live vs rebuilt";
  int reported = 0;
  for (std::size_t i = 0; i < std::max(live.size(), rebuilt.size()) && reported < 5; ++i) {
    const std::string a = i < live.size() ? live[i] : std::string("(none)");
    const std::string b = i < rebuilt.size() ? rebuilt[i] : std::string("(none)");
    if (a != b) {
      ADD_FAILURE() << "projection row " << i << " differs\n  live:    " << a
                    << "\n  rebuilt: " << b;
      ++reported;
    }
  }
}

void expect_rebuild_keeps_every_row(EventStore& store) {
  const auto live = must(store.projection_rows(), "projection_rows()");
  must_ok(store.rebuild_projections(), "rebuild_projections()");
  const auto rebuilt = must(store.projection_rows(), "projection_rows() after a rebuild");
  expect_same_rows(live, rebuilt);
  must_ok(store.rebuild_projections(), "a second rebuild_projections()");
  expect_same_rows(live, must(store.projection_rows(), "projection_rows() after two rebuilds"));
}

// The first word of `text` of at least four letters, lower-cased; empty if none.
std::string searchable_word(const std::string& text) {
  std::string word;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ' ';
    if (std::isalpha(static_cast<unsigned char>(c)) != 0) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      continue;
    }
    // A word glued to digits or other symbols ("M3", "t-5") is not a plain token.
    const bool plain = c == ' ' || c == ',' || c == '.' || c == ':' || c == ';' || c == '\n';
    if (word.size() >= 4 && plain) {
      return word;
    }
    word.clear();
    if (!plain) {
      while (i < text.size() && text[i] != ' ') {
        ++i;
      }
    }
  }
  return {};
}

// How the timeline records an edit or a deletion of a captured chat message: an
// annotation that refers to the message (docs/events.md, annotation).
constexpr std::string_view kMessageEdited = "message edited: ";
constexpr std::string_view kMessageDeleted = "message deleted";

// The texts search must find an incident by: its title, its messages (and their
// edits) unless deleted on the platform since, its notes, actions and summaries.
std::vector<std::string> searchable_texts(const Incident& incident,
                                          const std::vector<Event>& events) {
  std::set<Sequence> deleted;
  for (const auto& event : events) {
    const auto* annotation = std::get_if<core::Annotation>(&event.payload);
    if (annotation != nullptr && annotation->refers_to_sequence &&
        annotation->text == kMessageDeleted) {
      deleted.insert(*annotation->refers_to_sequence);
    }
  }
  std::vector<std::string> out{incident.title};
  for (const auto& event : events) {
    if (const auto* posted = std::get_if<core::MessagePosted>(&event.payload)) {
      if (!deleted.contains(event.sequence)) {
        out.push_back(posted->text);
      }
    } else if (const auto* annotation = std::get_if<core::Annotation>(&event.payload)) {
      const std::string& text = annotation->text;
      if (!annotation->refers_to_sequence) {
        out.push_back(text);
      } else if (text.starts_with(kMessageEdited)) {
        if (!deleted.contains(*annotation->refers_to_sequence)) {
          out.push_back(text.substr(kMessageEdited.size()));
        }
      } else if (text != kMessageDeleted) {
        out.push_back(text);  // a note on an earlier event
      }
    } else if (const auto* taken = std::get_if<core::ActionTaken>(&event.payload)) {
      out.push_back(taken->text);
    } else if (const auto* recorded = std::get_if<core::SummaryRecorded>(&event.payload)) {
      out.push_back(recorded->summary.what_happened);
      out.push_back(recorded->summary.root_cause);
      out.push_back(recorded->summary.resolution);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------
// A long randomised history

const std::vector<std::string> kWords{
    "conveyor", "gearbox",  "sensor",  "motor",   "belt",     "pallet",  "hydraulic",
    "pressure", "valve",    "coolant", "spindle", "robot",    "welder",  "oven",
    "thermal",  "cutout",   "fault",   "alarm",   "operator", "shift",   "bearing",
    "encoder",  "actuator", "nozzle",  "hopper",  "chiller",  "furnace", "torque"};

class RandomHistory {
 public:
  explicit RandomHistory(std::uint32_t seed) : random_(seed) {}

  // Makes `appends` append attempts on `store`: new incidents in three
  // organizations, every kind of event, repeated keys and stale sequences. Checks
  // each outcome as it goes.
  void write(EventStore& store, int appends) {
    for (int i = 0; i < appends; ++i) {
      const auto roll = pick(100);
      if (ids_.empty() || roll < 10) {
        declare_one(store);
      } else if (roll < 14) {
        stale_append(store);
      } else if (roll < 18 && !keys_.empty()) {
        repeated_key(store);
      } else {
        append_some(store);
      }
    }
  }

  const std::vector<IncidentId>& ids() const { return ids_; }
  std::size_t follow_up_count() const {
    std::size_t count = 0;
    for (const auto& [id, state] : states_) {
      count += state.follow_ups.size();
    }
    return count;
  }
  int conflicts() const { return conflicts_; }
  int duplicates() const { return duplicates_; }
  int appended() const { return appended_; }

 private:
  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(random_() % n); }

  std::string words(std::size_t n) {
    std::string text;
    for (std::size_t i = 0; i < n; ++i) {
      text += (i == 0 ? "" : " ") + kWords[pick(kWords.size())];
    }
    return text;
  }

  std::string next_key() {
    keys_.push_back("random:" + std::to_string(keys_.size() + 1));
    return keys_.back();
  }

  void declare_one(EventStore& store) {
    static const std::vector<std::string> kOrganizations{"acme", "globex", "initech"};
    core::Declared payload{words(3), static_cast<Severity>(pick(3)), kGeneral};
    payload.organization = kOrganizations[pick(kOrganizations.size())];
    payload.area = pick(2) == 0 ? "line-" + std::to_string(pick(5)) : "";
    AppendRequest request;
    request.events = {event_of(payload, ++minute_, kAna)};
    if (pick(2) == 0) {
      request.events.push_back(message(words(5), ++minute_));
    }
    if (pick(2) == 0) {
      request.idempotency_key = next_key();
    }
    const auto outcome = must(store.append(request), "random declare");
    EXPECT_FALSE(outcome.duplicate);
    EXPECT_TRUE(ids_.empty() || outcome.incident > ids_.back()) << "ids must increase";
    EXPECT_EQ(sequences(outcome.committed), one_to(request.events.size()));
    ids_.push_back(outcome.incident);
    states_[outcome.incident] = outcome.state;
    ++appended_;
  }

  void stale_append(EventStore& store) {
    const IncidentId id = ids_[pick(ids_.size())];
    const Incident& state = states_[id];
    auto result =
        store.append(append_to(id, state.last_sequence - 1 - static_cast<Sequence>(pick(2)),
                               {message(words(4), ++minute_)}, "stale:" + std::to_string(minute_)));
    ASSERT_FALSE(result.ok()) << "a stale sequence must not append to INC-" << id;
    EXPECT_EQ(result.error().code, ErrorCode::conflict) << describe(result.error());
    ++conflicts_;
  }

  void repeated_key(EventStore& store) {
    const IncidentId id = ids_[pick(ids_.size())];
    const Incident& state = states_[id];
    const std::string key = keys_[pick(keys_.size())];
    const auto outcome =
        must(store.append(append_to(id, state.last_sequence, {message(words(3), ++minute_)}, key)),
             "append with a repeated key");
    EXPECT_TRUE(outcome.duplicate) << key;
    EXPECT_THAT(outcome.committed, IsEmpty());
    ++duplicates_;
  }

  void append_some(EventStore& store) {
    const IncidentId id = ids_[pick(ids_.size())];
    Incident local = states_[id];
    const Sequence expected = local.last_sequence;
    std::vector<Event> events;
    const std::size_t count = 1 + pick(3);
    for (std::size_t i = 0; i < count; ++i) {
      Event event = next_event(local);
      event.incident = id;
      event.sequence = local.last_sequence + 1;
      local = core::apply(std::move(local), event);
      events.push_back(std::move(event));
    }
    AppendRequest request = append_to(id, expected, events);
    if (pick(2) == 0) {
      request.idempotency_key = next_key();
    }
    if (pick(4) == 0) {
      request.outbox = {outbox_entry("random-" + std::to_string(minute_), id, local.organization)};
    }
    const auto outcome = must(store.append(request), "random append");
    EXPECT_FALSE(outcome.duplicate);
    EXPECT_EQ(outcome.state, local);
    EXPECT_EQ(outcome.committed, events);
    states_[id] = outcome.state;
    ++appended_;
  }

  // One event that makes sense for the incident as it stands.
  Event next_event(const Incident& state) {
    const int minute = ++minute_;
    switch (pick(19)) {
      case 0:
      case 1:
      case 2:
        return message(words(3 + pick(8)), minute, pick(2) == 0 ? kAna : kBen);
      case 3: {
        const auto allowed = core::allowed_transitions(state.status);
        std::vector<Status> choices;
        for (Status to : allowed) {
          if (to != Status::closed) {
            choices.push_back(to);
          }
        }
        if (choices.empty()) {
          return note(words(4), minute);
        }
        return status_change(state.status, choices[pick(choices.size())], minute);
      }
      case 4:
        if (state.status == Status::resolved) {
          return event_of(core::Closed{Status::resolved}, minute, kBen);
        }
        return action(words(4), minute);
      case 5: {
        const auto to = static_cast<Severity>((static_cast<int>(state.severity) + 1 + pick(2)) % 3);
        return event_of(core::SeverityChanged{state.severity, to}, minute, kBen);
      }
      case 6:
        return title_change(state.title, words(3), minute);
      case 7:
        return channel_linked("C-" + std::to_string(state.id) + "-" + std::to_string(minute),
                              minute);
      case 8:
        return follow_up(
            follow_up_created(
                static_cast<std::int64_t>(state.follow_ups.size()) + 1, words(5), random_assignee(),
                pick(2) == 0 ? std::optional{at_minute(minute + 1440)} : std::nullopt),
            minute);
      case 9: {
        if (state.follow_ups.empty()) {
          return follow_up(follow_up_created(1, words(4), random_assignee()), minute);
        }
        const auto number = static_cast<std::int64_t>(1 + pick(state.follow_ups.size()));
        switch (pick(4)) {
          case 0:
            return follow_up(follow_up_assigned(number, random_assignee()), minute);
          case 1:
            return follow_up(
                follow_up_redated(number, at_minute(minute + 60 * static_cast<int>(pick(100)))),
                minute);
          case 2:
            return follow_up(follow_up_status(number, static_cast<FollowUpStatus>(pick(3))),
                             minute);
          default:
            return follow_up(follow_up_reminded(number, pick(2) == 0 ? "before" : "overdue"),
                             minute, core::Actor::system());
        }
      }
      case 10:
        return summary(words(6), words(4), words(4), minute);
      case 11: {
        core::Annotation annotation{words(5), std::nullopt};
        if (pick(3) == 0) {
          annotation.refers_to_sequence =
              1 + static_cast<Sequence>(pick(static_cast<std::size_t>(state.last_sequence)));
        }
        return event_of(annotation, minute, kBen);
      }
      case 12:
        return action(words(5), minute);
      case 13:
        switch (pick(3)) {
          case 0:
            return event_of(core::Acknowledged{}, minute, pick(2) == 0 ? kBen : kCarol);
          case 1:
            return event_of(core::LeadAssigned{pick(2) == 0 ? kBen : kCarol}, minute);
          default:
            return event_of(core::CommsLeadAssigned{kAna}, minute);
        }
      case 14:
        if (pick(2) == 0) {
          return event_of(core::Escalated{"policy-" + std::to_string(pick(3)),
                                          static_cast<std::int64_t>(1 + pick(3)),
                                          {kBen, kCarol},
                                          "maintenance",
                                          pick(2) == 0},
                          minute, core::Actor::system());
        }
        return event_of(core::BotGuidance{"triage", words(6)}, minute, core::Actor::system());
      case 15:
        if (pick(2) == 0) {
          return event_of(core::AttachmentAdded{"F" + std::to_string(minute), "photo.jpg",
                                                static_cast<std::int64_t>(pick(100000)),
                                                "https://files.example/F" + std::to_string(minute),
                                                "image/jpeg", "m-" + std::to_string(minute)},
                          minute);
        }
        return event_of(core::TriageResponse{{{"area", "line-" + std::to_string(pick(5))},
                                              {"impact", words(3)}}},
                        minute);
      case 16:
        switch (pick(3)) {
          case 0:
            return event_of(
                core::GlobalCardPosted{kAnnouncements, "card-" + std::to_string(minute)}, minute,
                core::Actor::system());
          case 1:
            return event_of(core::Nudged{static_cast<std::int64_t>(30 + pick(60))}, minute,
                            core::Actor::system());
          default:
            return event_of(core::SlaBreached{pick(2) == 0 ? "acknowledge" : "resolve",
                                              static_cast<std::int64_t>(15 + pick(60))},
                            minute, core::Actor::system());
        }
      default:
        return message(words(2 + pick(4)), minute, kCarol);
    }
  }

  std::optional<core::Actor> random_assignee() {
    switch (pick(4)) {
      case 0:
        return kBen;
      case 1:
        return kCarol;
      case 2:
        return kTyped;
      default:
        return std::nullopt;
    }
  }

  std::mt19937 random_;
  int minute_ = 0;
  std::vector<IncidentId> ids_;
  std::map<IncidentId, Incident> states_;
  std::vector<std::string> keys_;
  int conflicts_ = 0;
  int duplicates_ = 0;
  int appended_ = 0;
};

// ---------------------------------------------------------------------------------
// Group commit helpers

// Runs every completion inline, on the thread that settles it.
const core::Executor kInline = [](std::function<void()> work) { work(); };

// Holds the writer inside a job of its own until released, so that the jobs queued
// meanwhile all wait for the next batch: batching made deterministic.
class WriterHold {
 public:
  WriterHold() : state_(std::make_shared<State>()) {}
  ~WriterHold() { release(); }  // never leave the writer stuck when a test fails
  WriterHold(const WriterHold&) = delete;
  WriterHold& operator=(const WriterHold&) = delete;

  GroupCommitWriter::Job job() {
    GroupCommitWriter::Job held;
    held.run = [state = state_](EventStore&) {
      std::unique_lock lock(state->mutex);
      state->held = true;
      state->changed.notify_all();
      state->changed.wait_for(lock, kPatience, [&] { return state->released; });
      return true;
    };
    return held;
  }

  // Returns once the writer runs the holding job (false if it never did).
  bool wait_until_held() {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_for(lock, kPatience, [&] { return state_->held; });
  }

  void release() {
    {
      std::lock_guard lock(state_->mutex);
      state_->released = true;
    }
    state_->changed.notify_all();
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    bool held = false;
    bool released = false;
  };
  std::shared_ptr<State> state_;
};

// What the completion of one append through the writer received, and how often.
struct AppendCompletion {
  std::promise<Result<AppendOutcome>> promise;
  std::future<Result<AppendOutcome>> future = promise.get_future();
  std::atomic<int> calls{0};

  std::function<void(Result<AppendOutcome>)> callback() {
    return [this](Result<AppendOutcome> result) {
      if (calls.fetch_add(1) == 0) {
        promise.set_value(std::move(result));
      }
    };
  }

  // The result, waiting for it at most kPatience.
  Result<AppendOutcome> get() {
    if (future.wait_for(kPatience) != std::future_status::ready) {
      throw std::runtime_error("the writer never completed an append");
    }
    return future.get();
  }
};

// A stand-in for the daemon's io_context: runs what is posted to it, in order, on a
// thread of its own, and counts the posts.
class ExecutorThread {
 public:
  ExecutorThread() : thread_([this] { run(); }) {}
  ~ExecutorThread() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  ExecutorThread(const ExecutorThread&) = delete;
  ExecutorThread& operator=(const ExecutorThread&) = delete;

  core::Executor executor() {
    return [this](std::function<void()> work) {
      {
        std::lock_guard lock(mutex_);
        ++posts_;
        queue_.push_back(std::move(work));
      }
      wake_.notify_one();
    };
  }

  std::thread::id id() const { return thread_.get_id(); }
  int posts() const {
    std::lock_guard lock(mutex_);
    return posts_;
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> work;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
          return;
        }
        work = std::move(queue_.front());
        queue_.pop_front();
      }
      work();
    }
  }

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  int posts_ = 0;
  std::thread thread_;  // last: started once the rest is ready
};

// A job that records how it was settled.
struct SettledJob {
  std::promise<VoidResult> promise;
  std::future<VoidResult> future = promise.get_future();
  std::atomic<int> calls{0};

  std::function<void(const VoidResult&)> callback() {
    return [this](const VoidResult& durable) {
      if (calls.fetch_add(1) == 0) {
        promise.set_value(durable);
      }
    };
  }

  VoidResult get() {
    if (future.wait_for(kPatience) != std::future_status::ready) {
      throw std::runtime_error("the writer never settled a job");
    }
    return future.get();
  }
};

// Forwards every call to the store under test, except that commit_batch fails while
// `fail_commits` is set, as a full disk would make it: the writer must then roll the
// batch back, through the real store.
class CommitFailingStore final : public EventStore {
 public:
  explicit CommitFailingStore(EventStore& real) : real_(real) {}

  std::atomic<bool> fail_commits{true};

  Result<AppendOutcome> append(const AppendRequest& request) override {
    return real_.append(request);
  }
  Result<std::vector<Event>> events(IncidentId incident) override { return real_.events(incident); }
  Result<std::optional<Incident>> incident(IncidentId incident) override {
    return real_.incident(incident);
  }
  Result<std::vector<Incident>> incidents_with_timed_work() override {
    return real_.incidents_with_timed_work();
  }
  Result<std::vector<Incident>> incidents(std::string_view organization) override {
    return real_.incidents(organization);
  }
  Result<bool> has_receipt(std::string_view key) override { return real_.has_receipt(key); }
  Result<std::optional<IncidentId>> incident_by_channel(std::string_view organization,
                                                        std::string_view instance,
                                                        std::string_view channel_id) override {
    return real_.incident_by_channel(organization, instance, channel_id);
  }
  Result<std::vector<FollowUpListing>> follow_ups(std::string_view organization,
                                                  std::optional<std::string_view> assignee,
                                                  bool include_done) override {
    return real_.follow_ups(organization, assignee, include_done);
  }
  Result<std::optional<core::Member>> member_by_identity(std::string_view organization,
                                                         std::string_view platform,
                                                         std::string_view user_id) override {
    return real_.member_by_identity(organization, platform, user_id);
  }
  Result<bool> record_member(std::string_view organization, const core::Member& member,
                             core::TimePoint first_seen) override {
    return real_.record_member(organization, member, first_seen);
  }
  Result<std::vector<core::Member>> members(std::string_view organization) override {
    return real_.members(organization);
  }
  Result<std::vector<SearchHit>> search(std::string_view organization, std::string_view query,
                                        std::size_t limit) override {
    return real_.search(organization, query, limit);
  }
  VoidResult rebuild_projections() override { return real_.rebuild_projections(); }
  Result<std::vector<std::string>> projection_rows() override { return real_.projection_rows(); }
  VoidResult begin_batch() override { return real_.begin_batch(); }
  VoidResult commit_batch() override {
    if (fail_commits) {
      return core::make_error(ErrorCode::storage, "disk full (simulated by the test)");
    }
    return real_.commit_batch();
  }
  void rollback_batch() noexcept override { real_.rollback_batch(); }
  VoidResult begin_job() override { return real_.begin_job(); }
  VoidResult end_job(bool keep) override { return real_.end_job(keep); }
  Result<std::vector<core::OutboxEntry>> pending_outbox() override {
    return real_.pending_outbox();
  }
  VoidResult outbox_done(std::int64_t id) override { return real_.outbox_done(id); }
  VoidResult outbox_retry(std::int64_t id, int attempts, core::TimePoint not_before,
                          std::string_view last_error) override {
    return real_.outbox_retry(id, attempts, not_before, last_error);
  }
  VoidResult outbox_failed(std::int64_t id, int attempts, std::string_view error,
                           core::TimePoint at) override {
    return real_.outbox_failed(id, attempts, error, at);
  }
  VoidResult outbox_remove(std::span<const std::int64_t> ids) override {
    return real_.outbox_remove(ids);
  }
  Result<std::vector<core::OutboxFailure>> outbox_failures(std::size_t limit) override {
    return real_.outbox_failures(limit);
  }

 private:
  EventStore& real_;
};

// `threads` threads each declare an incident of their own through one writer, then
// append `appends_each` messages to it without waiting in between (each expecting
// the sequence its previous append will have left). Proves every append completes
// exactly once, and that all of them are stored with gapless sequences.
void append_from_many_threads(EventStore& store, int threads, int appends_each) {
  const auto per_thread = static_cast<std::size_t>(appends_each) + 1;
  std::vector<std::unique_ptr<AppendCompletion>> completions;
  for (std::size_t i = 0; i < static_cast<std::size_t>(threads) * per_thread; ++i) {
    completions.push_back(std::make_unique<AppendCompletion>());
  }
  std::vector<IncidentId> ids(static_cast<std::size_t>(threads), 0);
  std::vector<std::string> problems(static_cast<std::size_t>(threads));
  {
    GroupCommitWriter writer(store);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const auto slot = static_cast<std::size_t>(t);
        auto* own = &completions[slot * per_thread];
        try {
          writer.append(declare("Line " + std::to_string(t) + " stopped", "acme",
                                "thread:" + std::to_string(t) + ":declare"),
                        kInline, own[0]->callback());
          const auto declared_outcome = must(own[0]->get(), "declare through the writer");
          ids[slot] = declared_outcome.incident;
          for (int i = 1; i <= appends_each; ++i) {
            writer.append(
                append_to(
                    declared_outcome.incident, i,
                    {message("thread " + std::to_string(t) + " update " + std::to_string(i), i)},
                    "thread:" + std::to_string(t) + ":" + std::to_string(i)),
                kInline, own[i]->callback());
          }
          for (int i = 1; i <= appends_each; ++i) {
            const auto outcome = must(own[i]->get(), "append through the writer");
            if (outcome.committed.size() != 1 || outcome.committed[0].sequence != i + 1) {
              problems[slot] = "append " + std::to_string(i) + " got the wrong sequence";
            }
          }
        } catch (const std::exception& e) {
          problems[slot] = e.what();
        }
      });
    }
    for (auto& worker : workers) {
      worker.join();
    }
    writer.stop();
    const auto stats = writer.stats();
    EXPECT_EQ(stats.jobs, static_cast<std::uint64_t>(threads) * per_thread);
    EXPECT_EQ(stats.failed_batches, 0U);
    EXPECT_GE(stats.batches, 1U);
    EXPECT_EQ(stats.queued, 0U);
  }
  for (std::size_t t = 0; t < problems.size(); ++t) {
    EXPECT_EQ(problems[t], "") << "thread " << t;
  }
  for (std::size_t i = 0; i < completions.size(); ++i) {
    EXPECT_EQ(completions[i]->calls.load(), 1) << "append " << i << " completed that often";
  }
  std::vector<IncidentId> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end())
      << "two threads got the same incident";
  EXPECT_EQ(must(store.incidents("acme")).size(), static_cast<std::size_t>(threads));
  for (std::size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] == 0) {
      continue;
    }
    SCOPED_TRACE("thread " + std::to_string(t));
    const auto events = must(store.events(ids[t]));
    EXPECT_EQ(sequences(events), one_to(per_thread));
    EXPECT_EQ(must(store.incident(ids[t]))->last_sequence, static_cast<Sequence>(per_thread));
    for (int i = 1; i <= appends_each; ++i) {
      EXPECT_TRUE(must(store.has_receipt("thread:" + std::to_string(t) + ":" + std::to_string(i))));
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------
// The fixture

void StoreConformance::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->name());
  for (char& c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0) {
      c = '-';
    }
  }
  std::random_device random;
  dir_ = fs::temp_directory_path() /
         ("haveri-conformance-" + name + "-" + std::to_string(random()) + std::to_string(random()));
  fs::create_directories(dir_);
}

void StoreConformance::TearDown() {
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::unique_ptr<EventStore> StoreConformance::open_store() {
  return must(GetParam().open(dir_), GetParam().name + ": opening a store in " + dir_.string());
}

std::unique_ptr<EventStore> StoreConformance::reopen_store() {
  const auto& reopen = GetParam().reopen ? GetParam().reopen : GetParam().open;
  return must(reopen(dir_), GetParam().name + ": reopening the store in " + dir_.string());
}

std::unique_ptr<EventStore> StoreConformance::open_reader() {
  if (!GetParam().open_reader) {
    throw std::logic_error(GetParam().name + " has no second instance: skip the test");
  }
  return must(GetParam().open_reader(dir_),
              GetParam().name + ": opening a second instance in " + dir_.string());
}

// =================================================================================
// ORDERING

TEST_P(StoreConformance, SequencesAreGaplessPerIncidentAndEventsComeBackInOrder) {
  auto store = open_store();
  AppendRequest first = declare("Line 3 down");
  first.events.push_back(message("belt stopped", 1));
  const auto a = must(store->append(first));
  const auto b = must(store->append(declare("Oven 2 too hot")));
  const auto c = must(store->append(declare("Press 4 jammed", "globex")));
  std::map<IncidentId, std::vector<Event>> expected{
      {a.incident, a.committed}, {b.incident, b.committed}, {c.incident, c.committed}};
  EXPECT_THAT(sequences(a.committed), ElementsAre(1, 2));
  EXPECT_THAT(sequences(b.committed), ElementsAre(1));

  // Interleaved appends of one to three events to the three incidents.
  const std::vector<IncidentId> order{a.incident, b.incident, a.incident, c.incident,
                                      c.incident, a.incident, b.incident, a.incident};
  int minute = 10;
  for (std::size_t round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < order.size(); ++i) {
      const IncidentId id = order[i];
      auto& timeline = expected[id];
      std::vector<Event> events;
      for (std::size_t n = 0; n <= (i + round) % 3; ++n) {
        events.push_back(message("update " + std::to_string(minute), minute));
        ++minute;
      }
      const auto outcome =
          must(store->append(append_to(id, static_cast<Sequence>(timeline.size()), events)));
      ASSERT_EQ(outcome.committed.size(), events.size());
      for (std::size_t n = 0; n < events.size(); ++n) {
        EXPECT_EQ(outcome.committed[n].incident, id);
        EXPECT_EQ(outcome.committed[n].sequence, static_cast<Sequence>(timeline.size() + n + 1));
        EXPECT_EQ(outcome.committed[n].payload, events[n].payload);
        EXPECT_EQ(outcome.committed[n].at, events[n].at);
        EXPECT_EQ(outcome.committed[n].actor, events[n].actor);
      }
      timeline.insert(timeline.end(), outcome.committed.begin(), outcome.committed.end());
      EXPECT_EQ(outcome.state.last_sequence, static_cast<Sequence>(timeline.size()));
    }
  }

  for (const auto& [id, timeline] : expected) {
    SCOPED_TRACE("INC-" + std::to_string(id));
    const auto stored = must(store->events(id));
    EXPECT_EQ(sequences(stored), one_to(timeline.size()));
    EXPECT_EQ(stored, timeline);
  }
  store.reset();
  store = reopen_store();
  for (const auto& [id, timeline] : expected) {
    EXPECT_EQ(must(store->events(id)), timeline) << "after reopening, INC-" << id;
  }
}

TEST_P(StoreConformance, IncidentIdsIncreaseAndTheListIsNewestFirst) {
  auto store = open_store();
  std::vector<IncidentId> ids;
  for (const char* title : {"first", "second", "third", "fourth", "fifth"}) {
    ids.push_back(must(store->append(declare(title))).incident);
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_GT(ids[i], 0);
    if (i > 0) {
      EXPECT_GT(ids[i], ids[i - 1]) << "ids must increase in declaration order";
    }
  }
  // Activity on an old incident does not move it up: the list is by declaration.
  must(store->append(append_to(ids[0], 1, {message("old incident, new activity", 30)})));
  must(store->append(
      append_to(ids[2], 1, {status_change(Status::declared, Status::investigating, 31)})));

  const std::vector<IncidentId> newest_first(ids.rbegin(), ids.rend());
  const auto listed = must(store->incidents(""));
  EXPECT_EQ(ids_of(listed), newest_first);
  EXPECT_EQ(ids_of(must(store->incidents("acme"))), newest_first);
  ASSERT_EQ(listed.size(), 5U);
  EXPECT_EQ(listed[0].title, "fifth");
  EXPECT_EQ(listed[4].last_sequence, 2);

  // Ids keep increasing after a restart.
  store.reset();
  store = reopen_store();
  EXPECT_GT(must(store->append(declare("sixth"))).incident, ids.back());
}

TEST_P(StoreConformance, UnknownIncidentIsNotFoundAndNothingIsCreated) {
  auto store = open_store();
  const IncidentId existing = must(store->append(declare("Line 3 down"))).incident;
  const IncidentId unknown = existing + 41;

  auto appended = store->append(append_to(unknown, 0, {message("hello?")}, "key-unknown"));
  auto events = store->events(unknown);

  EXPECT_FALSE(appended.ok()) << "appending to INC-" << unknown << " that was never declared";
  ASSERT_FALSE(events.ok());
  EXPECT_EQ(events.error().code, ErrorCode::not_found) << describe(events.error());
  EXPECT_EQ(must(store->incident(unknown)), std::nullopt);
  EXPECT_EQ(ids_of(must(store->incidents(""))), std::vector<IncidentId>{existing});
  EXPECT_FALSE(must(store->has_receipt("key-unknown")));
}

// =================================================================================
// IDEMPOTENCY

TEST_P(StoreConformance, RepeatedKeyIsADuplicateThatStoresNothing) {
  auto store = open_store();
  AppendRequest first = declare("Line 3 down", "acme", "slack:T1:evt-1");
  first.outbox = {outbox_entry("create-channel")};
  const auto declared_outcome = must(store->append(first));
  const IncidentId id = declared_outcome.incident;
  AppendRequest second = append_to(id, 1, {message("on it")}, "slack:T1:evt-2");
  second.outbox = {outbox_entry("reply-on-it", id)};
  const auto appended = must(store->append(second));
  const auto rows_before = must(store->projection_rows());
  const auto outbox_before = must(store->pending_outbox());

  bool derived = false;
  AppendRequest again = first;
  again.outbox_of = [&](const Incident&, const std::vector<Event>&) {
    derived = true;
    return std::vector<core::OutboxEntry>{outbox_entry("derived")};
  };
  const auto again_declare = must(store->append(again));
  // A platform retry carries the sequence it was decided on, now stale: still a duplicate.
  const auto again_append = must(store->append(second));

  EXPECT_FALSE(declared_outcome.duplicate);
  EXPECT_FALSE(appended.duplicate);
  EXPECT_TRUE(again_declare.duplicate);
  EXPECT_EQ(again_declare.incident, id);
  EXPECT_THAT(again_declare.committed, IsEmpty());
  EXPECT_THAT(again_declare.outbox, IsEmpty());
  EXPECT_EQ(again_declare.state, appended.state);
  EXPECT_TRUE(again_append.duplicate);
  EXPECT_EQ(again_append.incident, id);
  EXPECT_THAT(again_append.committed, IsEmpty());
  EXPECT_THAT(again_append.outbox, IsEmpty());
  EXPECT_FALSE(derived) << "outbox_of must not run for a duplicate";
  EXPECT_EQ(ids_of(must(store->incidents(""))), std::vector<IncidentId>{id});
  EXPECT_EQ(must(store->events(id)).size(), 2U);
  EXPECT_EQ(must(store->pending_outbox()), outbox_before);
  EXPECT_EQ(must(store->projection_rows()), rows_before);
  EXPECT_TRUE(must(store->has_receipt("slack:T1:evt-1")));
  EXPECT_TRUE(must(store->has_receipt("slack:T1:evt-2")));
  EXPECT_FALSE(must(store->has_receipt("slack:T1:evt-3")));
}

TEST_P(StoreConformance, KeysAreRememberedAcrossRestarts) {
  IncidentId id = 0;
  std::vector<core::OutboxEntry> outbox_before;
  {
    auto store = open_store();
    AppendRequest first = declare("Line 3 down", "acme", "local:m-1");
    first.outbox = {outbox_entry("announce")};
    id = must(store->append(first)).incident;
    must(store->append(append_to(id, 1, {message("hi")}, "local:m-2")));
    outbox_before = must(store->pending_outbox());
  }
  auto store = reopen_store();

  EXPECT_TRUE(must(store->has_receipt("local:m-1")));
  EXPECT_TRUE(must(store->has_receipt("local:m-2")));
  AppendRequest retried = declare("Line 3 down", "acme", "local:m-1");
  retried.outbox = {outbox_entry("announce")};
  const auto again = must(store->append(retried));
  const auto again_append = must(store->append(append_to(id, 1, {message("hi")}, "local:m-2")));

  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.incident, id);
  EXPECT_EQ(again.state.last_sequence, 2);
  EXPECT_TRUE(again_append.duplicate);
  EXPECT_EQ(ids_of(must(store->incidents(""))), std::vector<IncidentId>{id});
  EXPECT_EQ(must(store->events(id)).size(), 2U);
  EXPECT_EQ(must(store->pending_outbox()), outbox_before);
}

TEST_P(StoreConformance, ReplyOnlyKeyStoresItsOutboxOnce) {
  auto store = open_store();
  // A refused command: no incident, no events, only the reply and the receipt.
  AppendRequest reply;
  reply.outbox = {outbox_entry("reply:unknown-command")};
  reply.idempotency_key = "slack:T1:cmd-9";

  const auto recorded = must(store->append(reply));
  const auto repeated = must(store->append(reply));

  EXPECT_FALSE(recorded.duplicate);
  EXPECT_THAT(recorded.committed, IsEmpty());
  ASSERT_EQ(recorded.outbox.size(), 1U);
  EXPECT_GT(recorded.outbox[0].id, 0);
  EXPECT_EQ(recorded.outbox[0].operation_key, "reply:unknown-command");
  EXPECT_TRUE(repeated.duplicate);
  EXPECT_THAT(repeated.outbox, IsEmpty());
  EXPECT_EQ(must(store->pending_outbox()), recorded.outbox);
  EXPECT_TRUE(must(store->has_receipt("slack:T1:cmd-9")));
  EXPECT_THAT(must(store->incidents("")), IsEmpty());

  store.reset();
  store = reopen_store();
  const auto after_restart = must(store->append(reply));
  EXPECT_TRUE(after_restart.duplicate);
  EXPECT_THAT(after_restart.outbox, IsEmpty());
  EXPECT_EQ(must(store->pending_outbox()), recorded.outbox);
  EXPECT_THAT(must(store->incidents("")), IsEmpty());
}

TEST_P(StoreConformance, DifferentKeysForTheSameContentAreBothStored) {
  auto store = open_store();
  const auto one = must(store->append(declare("Line 3 down", "acme", "local:m-1")));
  const auto two = must(store->append(declare("Line 3 down", "acme", "local:m-2")));
  const auto three = must(store->append(declare("Line 3 down")));  // no key at all
  const auto four = must(store->append(declare("Line 3 down")));
  must(store->append(append_to(one.incident, 1, {message("same words", 5)}, "local:m-3")));
  must(store->append(append_to(one.incident, 2, {message("same words", 5)}, "local:m-4")));
  must(store->append(append_to(one.incident, 3, {message("same words", 5)})));

  EXPECT_FALSE(two.duplicate);
  EXPECT_FALSE(four.duplicate);
  EXPECT_EQ(
      std::set<IncidentId>({one.incident, two.incident, three.incident, four.incident}).size(), 4U);
  EXPECT_EQ(must(store->incidents("")).size(), 4U);
  EXPECT_THAT(message_texts(must(store->events(one.incident))),
              ElementsAre("same words", "same words", "same words"));
}

// =================================================================================
// CONCURRENCY CONFLICTS

TEST_P(StoreConformance, StaleExpectedSequenceIsAConflictAndAppendsNothing) {
  auto store = open_store();
  const IncidentId id = must(store->append(declare("Line 3 down"))).incident;
  must(store->append(append_to(id, 1, {message("first")})));
  const auto rows_before = must(store->projection_rows());

  AppendRequest stale = append_to(id, 1, {message("late"), note("late note")}, "key-late");
  stale.outbox = {outbox_entry("reply-late", id)};
  stale.outbox_of = [](const Incident&, const std::vector<Event>&) {
    return std::vector<core::OutboxEntry>{outbox_entry("card-late")};
  };
  auto behind = store->append(stale);
  AppendRequest ahead_request = stale;
  ahead_request.expected_last_sequence = 7;
  auto ahead = store->append(ahead_request);
  AppendRequest as_new = stale;
  as_new.expected_last_sequence = 0;
  auto zero = store->append(as_new);

  for (const auto* result : {&behind, &ahead, &zero}) {
    ASSERT_FALSE(result->ok());
    EXPECT_EQ(result->error().code, ErrorCode::conflict) << describe(result->error());
  }
  EXPECT_EQ(must(store->events(id)).size(), 2U);
  EXPECT_EQ(must(store->incident(id))->last_sequence, 2);
  EXPECT_THAT(must(store->pending_outbox()), IsEmpty());
  EXPECT_FALSE(must(store->has_receipt("key-late"))) << "a refused append must not keep its key";
  EXPECT_EQ(must(store->projection_rows()), rows_before);

  // The caller reloads and decides again: the same key now lands.
  const auto retried = must(store->append(append_to(id, 2, {message("late")}, "key-late")));
  EXPECT_FALSE(retried.duplicate);
  EXPECT_THAT(sequences(retried.committed), ElementsAre(3));
}

TEST_P(StoreConformance, ConflictInsideABatchAfterAnEarlierJobAdvancedTheIncident) {
  auto store = open_store();
  const IncidentId id = must(store->append(declare("Line 3 down"))).incident;

  must_ok(store->begin_batch(), "begin_batch");
  must_ok(store->begin_job(), "begin_job 1");
  const auto first = must(store->append(append_to(id, 1, {message("first writer")})));
  must_ok(store->end_job(true), "end_job 1");
  must_ok(store->begin_job(), "begin_job 2");
  AppendRequest stale = append_to(id, 1, {message("second writer")}, "key-second");
  stale.outbox = {outbox_entry("reply-second", id)};
  auto second = store->append(stale);
  must_ok(store->end_job(false), "end_job 2");
  must_ok(store->begin_job(), "begin_job 3");
  const auto third = must(store->append(append_to(id, 2, {message("third writer")})));
  must_ok(store->end_job(true), "end_job 3");
  must_ok(store->commit_batch(), "commit_batch");

  EXPECT_THAT(sequences(first.committed), ElementsAre(2));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::conflict) << describe(second.error());
  EXPECT_THAT(sequences(third.committed), ElementsAre(3));
  const auto events = must(store->events(id));
  EXPECT_EQ(sequences(events), one_to(3));
  EXPECT_THAT(message_texts(events), ElementsAre("first writer", "third writer"));
  EXPECT_FALSE(must(store->has_receipt("key-second")));
  EXPECT_THAT(must(store->pending_outbox()), IsEmpty());
}

// =================================================================================
// PROJECTIONS

TEST_P(StoreConformance, ProjectionEqualsTheFoldOfEveryKindOfEvent) {
  auto store = open_store();
  core::Declared declared_payload{"Line 3 down", Severity::sev1, kGeneral};
  declared_payload.organization = "acme";
  declared_payload.area = "line-3";
  declared_payload.assets = {"conveyor-3", "motor-m3"};
  declared_payload.announcements = kAnnouncements;
  core::EscalationStep page_shift;
  page_shift.step = 1;
  page_shift.due = at_minute(0);
  page_shift.round_start = at_minute(0);
  page_shift.teams = {"maintenance"};
  core::EscalationStep page_lead = page_shift;
  page_lead.step = 2;
  page_lead.due = at_minute(15);
  page_lead.teams.clear();
  page_lead.members = {"ben"};
  page_lead.team_channels = {"maintenance"};
  page_lead.if_unacknowledged = false;
  AppendRequest first;
  first.events = {
      event_of(declared_payload, 0),
      event_of(core::EscalationStarted{"line-3-sev1", "declared", {page_shift, page_lead}}, 0),
      channel_linked("C-INC-1", 1), message("belt stopped at the transfer point", 2)};
  const auto declared_outcome = must(store->append(first));
  const IncidentId id = declared_outcome.incident;
  EXPECT_EQ(declared_outcome.state, core::fold(declared_outcome.committed));

  core::Summary written{"the belt stopped", "thermal cut-out on M3", "replaced the cut-out", {}};
  written.impact = core::Impact{45, 1, 120, {{"scrap", "12 kg"}}};
  const std::vector<std::vector<Event>> appends{
      {event_of(core::Acknowledged{}, 3, kBen), event_of(core::LeadAssigned{kBen}, 3),
       event_of(core::CommsLeadAssigned{kCarol}, 4)},
      {status_change(Status::declared, Status::investigating, 5),
       event_of(core::SeverityChanged{Severity::sev1, Severity::sev2}, 6, kBen),
       event_of(core::Annotation{"thermal cut-out tripped", 3}, 7, kBen), note("motor hot", 8)},
      {action("reset the cut-out", 9),
       event_of(core::Escalated{"line-3-sev1",
                                1,
                                {kBen, kCarol},
                                "maintenance",
                                false,
                                0,
                                2,
                                at_minute(0),
                                "local",
                                {kGeneral},
                                {"nobody else"}},
                10, core::Actor::system()),
       event_of(core::AttachmentAdded{"F1", "photo.jpg", 2048, "https://files.example/F1",
                                      "image/jpeg", "m-11"},
                11),
       event_of(core::BotGuidance{"triage", "check the e-stop first"}, 12, core::Actor::system())},
      {event_of(core::TriageResponse{{{"area", "line-4"}, {"impact", "line stopped"}}}, 13),
       event_of(core::GlobalCardPosted{kAnnouncements, "card-1"}, 14, core::Actor::system()),
       event_of(core::Nudged{30}, 15, core::Actor::system()),
       event_of(core::SlaBreached{"acknowledge", 15}, 16, core::Actor::system())},
      {follow_up(follow_up_created(1, "replace the M3 cut-out", kBen, at_minute(1440)), 17),
       follow_up(follow_up_created(2, "review the inspection interval", std::nullopt), 18),
       follow_up(follow_up_assigned(2, kCarol), 19),
       follow_up(follow_up_redated(1, at_minute(2880)), 20),
       follow_up(follow_up_status(1, FollowUpStatus::in_progress), 21),
       follow_up(follow_up_reminded(2, "before"), 22, core::Actor::system())},
      {title_change("Line 3 down", "Line 3 conveyor stopped", 23),
       status_change(Status::investigating, Status::mitigated, 24),
       status_change(Status::mitigated, Status::resolved, 25),
       event_of(core::EscalationStopped{"line-3-sev1", "resolved", true, 1}, 25),
       event_of(core::SummaryRecorded{written}, 26, kBen)},
      {event_of(core::Closed{Status::resolved}, 27, kBen)},
  };
  Sequence last = declared_outcome.state.last_sequence;
  for (const auto& events : appends) {
    const auto outcome = must(store->append(append_to(id, last, events)));
    last = outcome.state.last_sequence;
    EXPECT_EQ(outcome.state, core::fold(must(store->events(id))));
  }

  const auto events = must(store->events(id));
  std::set<core::EventType> types;
  for (const auto& event : events) {
    types.insert(event.type());
  }
  EXPECT_EQ(types.size(), std::variant_size_v<core::EventPayload>) << "every event type is used";
  const Incident folded = core::fold(events);
  EXPECT_EQ(must(store->incident(id)), std::optional<Incident>{folded});
  EXPECT_EQ(must(store->incidents("acme")), std::vector<Incident>{folded});
  EXPECT_EQ(folded.status, Status::closed);
  EXPECT_EQ(folded.title, "Line 3 conveyor stopped");
  expect_projections_equal_the_fold(*store, {id});

  store.reset();
  store = reopen_store();
  EXPECT_EQ(must(store->incident(id)), std::optional<Incident>{folded});
}

TEST_P(StoreConformance, FollowUpsAgreeWithTheFold) {
  auto store = open_store();
  const IncidentId one = must(store->append(declare("Line 3 down"))).incident;
  const IncidentId two = must(store->append(declare("Oven 2 too hot"))).incident;
  const IncidentId three = must(store->append(declare("Nothing to follow up"))).incident;
  must(store->append(append_to(
      one, 1,
      {follow_up(follow_up_created(1, "replace the thermal cut-out", kBen, at_minute(1440)), 10),
       follow_up(follow_up_created(2, "review the belt inspection interval", std::nullopt), 11),
       follow_up(follow_up_created(3, "order a spare motor", kTyped), 12)})));
  must(store->append(append_to(
      two, 1, {follow_up(follow_up_created(1, "calibrate the thermocouple", kCarol), 13)})));
  must(store->append(
      append_to(one, 4,
                {follow_up(follow_up_assigned(2, kCarol), 20),
                 follow_up(follow_up_redated(1, at_minute(2880)), 21),
                 follow_up(follow_up_status(1, FollowUpStatus::in_progress), 22),
                 follow_up(follow_up_status(3, FollowUpStatus::done), 23),
                 follow_up(follow_up_reminded(1, "due"), 24, core::Actor::system())})));
  must(store->append(append_to(two, 2,
                               {follow_up(follow_up_assigned(1, kBen), 30),
                                title_change("Oven 2 too hot", "Oven 2 overheating", 31)})));

  const std::vector<IncidentId> ids{one, two, three};
  const auto all = must(store->follow_ups("acme", std::nullopt, true));
  EXPECT_EQ(all, folded_follow_ups(*store, ids, "acme", std::nullopt, true));
  ASSERT_EQ(all.size(), 4U);
  EXPECT_EQ(all[0].incident, one);
  EXPECT_EQ(all[0].follow_up.number, 1);
  EXPECT_EQ(all[0].follow_up.status, FollowUpStatus::in_progress);
  EXPECT_EQ(all[0].follow_up.last_reminder, "due");
  EXPECT_EQ(all[3].incident, two);
  EXPECT_EQ(all[3].incident_title, "Oven 2 overheating");
  EXPECT_EQ(must(store->follow_ups("acme", std::nullopt, false)).size(), 3U);
  EXPECT_EQ(must(store->follow_ups("acme", "ben", true)).size(), 2U);
  EXPECT_EQ(must(store->follow_ups("acme", "carol", true)).size(), 1U);
  EXPECT_THAT(must(store->follow_ups("acme", "dave", true)), IsEmpty());
  EXPECT_THAT(must(store->follow_ups("acme", "", true)), IsEmpty());
  expect_projections_equal_the_fold(*store, ids);
}

TEST_P(StoreConformance, TimedWorkSkipsClosedIncidentsWithNothingLeftToFollowUp) {
  auto store = open_store();
  const auto close = [&](IncidentId id, Sequence after) {
    must(store->append(append_to(id, after,
                                 {status_change(Status::declared, Status::resolved, 10),
                                  event_of(core::Closed{Status::resolved}, 11, kBen)})));
  };
  const IncidentId open = must(store->append(declare("Line 3 down"))).incident;
  const IncidentId closed = must(store->append(declare("Oven 2 too hot"))).incident;
  const IncidentId owed = must(store->append(declare("Press 4 leaking", "globex"))).incident;
  close(closed, 1);
  must(store->append(
      append_to(owed, 1, {follow_up(follow_up_created(1, "replace the seal", kBen), 5)})));
  close(owed, 2);
  std::vector<IncidentId> ids;
  for (const Incident& incident : must(store->incidents_with_timed_work())) {
    ids.push_back(incident.id);
    EXPECT_EQ(incident, core::fold(must(store->events(incident.id))));
  }
  EXPECT_THAT(ids, ::testing::ElementsAre(owed, open));  // every organization, newest first
  must(store->append(
      append_to(owed, 4, {follow_up(follow_up_status(1, FollowUpStatus::done), 20)})));
  ids.clear();
  for (const Incident& incident : must(store->incidents_with_timed_work())) {
    ids.push_back(incident.id);
  }
  EXPECT_THAT(ids, ::testing::ElementsAre(open));
}

TEST_P(StoreConformance, ChannelLookupAgreesWithTheFold) {
  auto store = open_store();
  const IncidentId one = must(store->append(declare("Line 3 down"))).incident;
  const IncidentId two = must(store->append(declare("Oven 2 too hot"))).incident;

  EXPECT_EQ(must(store->incident_by_channel("acme", "local", "C-FIRST")), std::nullopt);
  must(store->append(append_to(two, 1, {channel_linked("C-FIRST", 2)})));
  EXPECT_EQ(must(store->incident_by_channel("acme", "local", "C-FIRST")),
            std::optional<IncidentId>{two});
  EXPECT_EQ(must(store->incident_by_channel("acme", "slack-main", "C-FIRST")), std::nullopt);
  EXPECT_EQ(must(store->incident_by_channel("acme", "local", "C-OTHER")), std::nullopt);
  EXPECT_EQ(must(store->incident_by_channel("acme", "local", "C-FIRS")), std::nullopt);

  // The channel was replaced: the fold says the incident's channel is the new one.
  must(store->append(append_to(two, 2, {channel_linked("C-SECOND", 3)})));
  must(store->append(append_to(one, 1, {channel_linked("C-ONE", 4, "slack-main")})));
  EXPECT_EQ(must(store->incident_by_channel("acme", "local", "C-SECOND")),
            std::optional<IncidentId>{two});
  EXPECT_EQ(must(store->incident_by_channel("acme", "local", "C-FIRST")), std::nullopt);
  EXPECT_EQ(must(store->incident_by_channel("acme", "slack-main", "C-ONE")),
            std::optional<IncidentId>{one});
  EXPECT_EQ(must(store->incident_by_channel("acme", "local", "C-ONE")), std::nullopt);
  expect_projections_equal_the_fold(*store, {one, two});
}

TEST_P(StoreConformance, QueriesAreScopedByOrganization) {
  auto store = open_store();
  AppendRequest acme_request = declare("Line 3 down", "acme");
  acme_request.events.push_back(channel_linked("C-SHARED-NAME", 1, "slack-acme"));
  acme_request.events.push_back(follow_up(follow_up_created(1, "replace the belt", kBen), 2));
  const IncidentId acme = must(store->append(acme_request)).incident;
  AppendRequest globex_request = declare("Press 4 jammed", "globex");
  globex_request.events.push_back(channel_linked("C-GLOBEX", 1, "slack-globex"));
  globex_request.events.push_back(follow_up(follow_up_created(1, "grease the press", kBen), 2));
  const IncidentId globex = must(store->append(globex_request)).incident;
  const IncidentId acme_two = must(store->append(declare("Oven 2 too hot", "acme"))).incident;
  const core::Member ana{"slack:U01ANA", "Ana", "responder", {{"slack", "U01ANA"}}};
  core::Member ana_at_globex = ana;
  ana_at_globex.name = "Ana at Globex";
  EXPECT_TRUE(must(store->record_member("acme", ana, at_minute(1))));
  EXPECT_TRUE(must(store->record_member("globex", ana_at_globex, at_minute(2))));

  EXPECT_EQ(ids_of(must(store->incidents("acme"))), (std::vector<IncidentId>{acme_two, acme}));
  EXPECT_EQ(ids_of(must(store->incidents("globex"))), std::vector<IncidentId>{globex});
  EXPECT_THAT(must(store->incidents("initech")), IsEmpty());
  EXPECT_EQ(must(store->incidents("")).size(), 3U);
  for (const auto& incident : must(store->incidents("acme"))) {
    EXPECT_EQ(incident.organization, "acme");
  }

  EXPECT_EQ(must(store->incident_by_channel("globex", "slack-globex", "C-GLOBEX")),
            std::optional<IncidentId>{globex});
  EXPECT_EQ(must(store->incident_by_channel("acme", "slack-globex", "C-GLOBEX")), std::nullopt);
  EXPECT_EQ(must(store->incident_by_channel("", "slack-globex", "C-GLOBEX")), std::nullopt);
  EXPECT_EQ(must(store->incident_by_channel("acme", "slack-acme", "C-SHARED-NAME")),
            std::optional<IncidentId>{acme});

  const auto acme_follow_ups = must(store->follow_ups("acme", "ben", true));
  ASSERT_EQ(acme_follow_ups.size(), 1U);
  EXPECT_EQ(acme_follow_ups[0].incident, acme);
  EXPECT_EQ(acme_follow_ups[0].organization, "acme");
  const auto globex_follow_ups = must(store->follow_ups("globex", std::nullopt, true));
  ASSERT_EQ(globex_follow_ups.size(), 1U);
  EXPECT_EQ(globex_follow_ups[0].incident, globex);
  EXPECT_EQ(globex_follow_ups[0].follow_up.description, "grease the press");
  EXPECT_THAT(must(store->follow_ups("initech", std::nullopt, true)), IsEmpty());

  EXPECT_EQ(must(store->member_by_identity("acme", "slack", "U01ANA")),
            std::optional<core::Member>{ana});
  EXPECT_EQ(must(store->member_by_identity("globex", "slack", "U01ANA")),
            std::optional<core::Member>{ana_at_globex});
  EXPECT_EQ(must(store->member_by_identity("initech", "slack", "U01ANA")), std::nullopt);
  EXPECT_EQ(must(store->members("acme")), std::vector<core::Member>{ana});
  EXPECT_EQ(must(store->members("globex")), std::vector<core::Member>{ana_at_globex});
  EXPECT_THAT(must(store->members("initech")), IsEmpty());

  // An organization id that looks like SQL is only a name that nobody has.
  const std::string hostile = "acme' OR '1'='1";
  EXPECT_THAT(must(store->incidents(hostile)), IsEmpty());
  EXPECT_THAT(must(store->follow_ups(hostile, std::nullopt, true)), IsEmpty());
  EXPECT_THAT(must(store->members(hostile)), IsEmpty());
  EXPECT_EQ(must(store->member_by_identity(hostile, "slack", "U01ANA")), std::nullopt);
  EXPECT_EQ(must(store->incident_by_channel(hostile, "slack-globex", "C-GLOBEX")), std::nullopt);
  expect_projections_equal_the_fold(*store, {acme, globex, acme_two});
}

TEST_P(StoreConformance, MembersAreRecordedOnceAndSurviveARestart) {
  auto store = open_store();
  const core::Member ana{
      "slack:U01ANA", "Ana", "responder", {{"slack", "U01ANA"}, {"teams", "29:ana"}}};
  const core::Member zed{"local:zed", "Zed", "operator", {{"local", "zed"}}};
  core::Member renamed = ana;
  renamed.name = "Ana Renamed";

  EXPECT_TRUE(must(store->record_member("acme", ana, at_minute(1))));
  EXPECT_TRUE(must(store->record_member("acme", zed, at_minute(2))));
  EXPECT_FALSE(must(store->record_member("acme", renamed, at_minute(3))));

  EXPECT_EQ(must(store->member_by_identity("acme", "teams", "29:ana")),
            std::optional<core::Member>{ana});
  EXPECT_EQ(must(store->member_by_identity("acme", "teams", "U01ANA")), std::nullopt);
  EXPECT_EQ(sorted_by_id(must(store->members("acme"))), (std::vector<core::Member>{zed, ana}));
  store.reset();
  store = reopen_store();
  EXPECT_EQ(sorted_by_id(must(store->members("acme"))), (std::vector<core::Member>{zed, ana}));
  EXPECT_EQ(must(store->member_by_identity("acme", "local", "zed")),
            std::optional<core::Member>{zed});
}

TEST_P(StoreConformance, LongRandomisedHistoryRebuildsToTheSameProjectionRows) {
  constexpr std::uint32_t kSeed = 20261124;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  auto store = open_store();
  RandomHistory history(kSeed);
  for (int round = 0; round < 4; ++round) {
    history.write(*store, 100);
    ASSERT_FALSE(HasFatalFailure());
    expect_projections_equal_the_fold(*store, history.ids());
  }
  EXPECT_GE(history.appended(), 300);
  EXPECT_GT(history.conflicts(), 0);
  EXPECT_GT(history.duplicates(), 0);
  EXPECT_GE(history.ids().size(), 20U);
  EXPECT_GT(history.follow_up_count(), 10U);

  const auto live = must(store->projection_rows());
  EXPECT_GE(live.size(), history.ids().size() + history.follow_up_count())
      << "a row per incident and per follow-up at least";
  std::vector<std::vector<SearchHit>> searched;
  for (const auto& word : kWords) {
    searched.push_back(must(store->search("acme", word, 100)));
  }

  expect_rebuild_keeps_every_row(*store);
  expect_projections_equal_the_fold(*store, history.ids());
  for (std::size_t i = 0; i < kWords.size(); ++i) {
    EXPECT_EQ(must(store->search("acme", kWords[i], 100)), searched[i])
        << "search for " << kWords[i] << " after the rebuild";
  }

  store.reset();
  store = reopen_store();
  expect_same_rows(live, must(store->projection_rows()));
}

TEST_P(StoreConformance, ProjectionRowsFollowTheData) {
  auto store = open_store();
  const auto empty = must(store->projection_rows());
  AppendRequest request = declare("Line 3 down");
  request.events.push_back(follow_up(follow_up_created(1, "replace the belt", kBen), 1));
  must(store->append(request));
  const auto one = must(store->projection_rows());
  must(store->append(declare("Oven 2 too hot", "globex")));
  const auto two = must(store->projection_rows());

  EXPECT_GE(one.size(), empty.size() + 2) << "the incident and its follow-up";
  EXPECT_GT(two.size(), one.size());
  EXPECT_EQ(must(store->projection_rows()), two) << "a stable order";
  expect_rebuild_keeps_every_row(*store);
}

// =================================================================================
// SEARCH

TEST_P(StoreConformance, SearchFindsWordsFromTitlesMessagesNotesActionsAndSummaries) {
  auto store = open_store();
  AppendRequest request = declare("Conveyor halted on line three");
  request.events.push_back(message("the gearbox smells burnt", 1));
  request.events.push_back(note("thermocouple reading looks wrong", 2));
  request.events.push_back(action("lubricated the drive chain", 3));
  request.events.push_back(summary("bearing seized during the night shift",
                                   "misalignment after maintenance", "realigned the shaft", 4));
  const IncidentId id = must(store->append(request)).incident;
  const IncidentId other = must(store->append(declare("Oven door sensor"))).incident;

  const std::vector<std::pair<std::string, std::string>> expectations{
      {"conveyor", "title"},    {"gearbox", "message"}, {"thermocouple", "note"},
      {"lubricated", "action"}, {"bearing", "summary"}, {"misalignment", "summary"},
      {"realigned", "summary"}};
  for (const auto& [word, field] : expectations) {
    SCOPED_TRACE("searching for " + word);
    const auto hits = must(store->search("acme", word, 10));
    ASSERT_EQ(hits.size(), 1U);
    EXPECT_EQ(hits[0].incident, id);
    EXPECT_EQ(hits[0].field, field);
    EXPECT_THAT(lower_case(hits[0].snippet), HasSubstr("**" + word + "**"));
  }
  EXPECT_EQ(ids_of(must(store->search("acme", "sensor", 10))), std::vector<IncidentId>{other});
  EXPECT_THAT(must(store->search("acme", "teleporter", 10)), IsEmpty());

  // A new title is found as the title.
  must(
      store->append(append_to(other, 1, {title_change("Oven door sensor", "Furnace door latch")})));
  const auto latch = must(store->search("acme", "latch", 10));
  ASSERT_EQ(latch.size(), 1U);
  EXPECT_EQ(latch[0].incident, other);
  EXPECT_EQ(latch[0].field, "title");
  EXPECT_EQ(latch[0].title, "Furnace door latch");
}

TEST_P(StoreConformance, SearchGivesOneHitPerIncidentBestFirst) {
  auto store = open_store();
  // Declared in an order that is neither the best-first order nor its reverse.
  AppendRequest middling = declare("Line two");
  middling.events.push_back(message("gearbox noise then gearbox smell near the press", 1));
  const IncidentId middle = must(store->append(middling)).incident;
  AppendRequest strongest = declare("Gearbox failure");
  strongest.events.push_back(message("gearbox gearbox gearbox", 1));
  strongest.events.push_back(note("the gearbox again", 2));
  strongest.events.push_back(action("opened the gearbox", 3));
  const IncidentId best = must(store->append(strongest)).incident;
  AppendRequest faint = declare("Line five");
  faint.events.push_back(
      message("checked belts rollers sensors motors cables panels lights fans guards doors "
              "switches relays fuses and finally the gearbox as well",
              1));
  const IncidentId weak = must(store->append(faint)).incident;
  must(store->append(declare("Unrelated oven fault")));

  const auto hits = must(store->search("acme", "gearbox", 10));
  EXPECT_EQ(ids_of(hits), (std::vector<IncidentId>{best, middle, weak}));
  for (const auto& hit : hits) {
    EXPECT_THAT(hit.snippet, HasSubstr("**gearbox**")) << "INC-" << hit.incident;
  }
  EXPECT_EQ(ids_of(must(store->search("acme", "gearbox", 2))),
            (std::vector<IncidentId>{best, middle}));
  EXPECT_EQ(ids_of(must(store->search("acme", "gearbox", 1))), std::vector<IncidentId>{best});
  EXPECT_THAT(must(store->search("acme", "gearbox", 0)), IsEmpty());
}

TEST_P(StoreConformance, SearchHitDescribesTheIncident) {
  auto store = open_store();
  AppendRequest request = declare("Hopper overflow on line one");
  request.events.push_back(channel_linked("C-HOPPER", 1));
  request.events.push_back(status_change(Status::declared, Status::investigating, 2));
  request.events.push_back(event_of(core::SeverityChanged{Severity::sev2, Severity::sev1}, 3));
  const auto outcome = must(store->append(request));

  const auto hits = must(store->search("acme", "hopper", 10));

  ASSERT_EQ(hits.size(), 1U);
  EXPECT_EQ(hits[0].incident, outcome.incident);
  EXPECT_EQ(hits[0].organization, "acme");
  EXPECT_EQ(hits[0].title, "Hopper overflow on line one");
  EXPECT_EQ(hits[0].status, Status::investigating);
  EXPECT_EQ(hits[0].severity, Severity::sev1);
  EXPECT_EQ(hits[0].channel, outcome.state.channel);
  EXPECT_EQ(hits[0].field, "title");
  EXPECT_THAT(hits[0].snippet, HasSubstr("**Hopper**"));
}

TEST_P(StoreConformance, SearchFindsEditedMessagesAndForgetsDeletedOnes) {
  auto store = open_store();
  AppendRequest request = declare("Line 3 down");
  request.events.push_back(message("conveyor stopped at station four", 1));
  request.events.push_back(message("the password is hunter2, oops", 2));
  const auto outcome = must(store->append(request));
  const IncidentId id = outcome.incident;
  ASSERT_EQ(must(store->search("acme", "hunter2", 10)).size(), 1U);

  // The platform reported an edit of message 2 and a deletion of message 3.
  must(store->append(append_to(
      id, 3,
      {event_of(
           core::Annotation{std::string(kMessageEdited) + "conveyor stopped at station seven", 2},
           4),
       event_of(core::Annotation{std::string(kMessageDeleted), 3}, 5)})));

  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "live" : "after rebuild_projections()");
    const auto seven = must(store->search("acme", "seven", 10));
    ASSERT_EQ(seven.size(), 1U);
    EXPECT_EQ(seven[0].incident, id);
    EXPECT_EQ(seven[0].field, "message");
    EXPECT_THAT(seven[0].snippet, HasSubstr("**seven**"));
    EXPECT_THAT(seven[0].snippet, Not(HasSubstr("message edited")));
    EXPECT_THAT(must(store->search("acme", "hunter2", 10)), IsEmpty());
    EXPECT_THAT(must(store->search("acme", "password", 10)), IsEmpty());
    must_ok(store->rebuild_projections(), "rebuild_projections()");
  }
  // The timeline itself keeps everything.
  EXPECT_THAT(message_texts(must(store->events(id))),
              ElementsAre("conveyor stopped at station four", "the password is hunter2, oops"));
}

TEST_P(StoreConformance, SearchSupportsPhrasesPrefixesAndOperators) {
  auto store = open_store();
  AppendRequest slipped = declare("Line one");
  slipped.events.push_back(message("the belt slipped off the pulley", 1));
  const IncidentId one = must(store->append(slipped)).incident;
  AppendRequest reversed = declare("Line two");
  reversed.events.push_back(message("it slipped and the belt tore", 1));
  const IncidentId two = must(store->append(reversed)).incident;
  AppendRequest gear = declare("Line three");
  gear.events.push_back(message("gearbox oil low", 1));
  const IncidentId three = must(store->append(gear)).incident;

  EXPECT_EQ(ids_of(must(store->search("acme", "\"belt slipped\"", 10))),
            std::vector<IncidentId>{one});
  EXPECT_THAT(ids_of(must(store->search("acme", "belt slipped", 10))),
              UnorderedElementsAreArray({one, two}));
  EXPECT_EQ(ids_of(must(store->search("acme", "gear*", 10))), std::vector<IncidentId>{three});
  EXPECT_THAT(ids_of(must(store->search("acme", "pulley OR gearbox", 10))),
              UnorderedElementsAreArray({one, three}));
  EXPECT_EQ(ids_of(must(store->search("acme", "belt NOT pulley", 10))),
            std::vector<IncidentId>{two});
  EXPECT_EQ(ids_of(must(store->search("acme", "belt AND tore", 10))), std::vector<IncidentId>{two});
}

TEST_P(StoreConformance, SearchIsScopedByOrganizationEvenForHostileQueries) {
  auto store = open_store();
  AppendRequest acme_request = declare("Furnace door sensor", "acme");
  acme_request.events.push_back(message("secret alloy mix exposed", 1));
  const IncidentId acme = must(store->append(acme_request)).incident;
  AppendRequest globex_request = declare("Globex press secret", "globex");
  globex_request.events.push_back(message("secret tooling drawings of globex acme", 1));
  const IncidentId globex = must(store->append(globex_request)).incident;

  EXPECT_EQ(ids_of(must(store->search("acme", "secret", 10))), std::vector<IncidentId>{acme});
  EXPECT_EQ(ids_of(must(store->search("globex", "secret", 10))), std::vector<IncidentId>{globex});
  EXPECT_THAT(must(store->search("initech", "secret", 10)), IsEmpty());
  EXPECT_THAT(must(store->search("acme", "globex", 10)), IsEmpty());
  EXPECT_THAT(must(store->search("acme' OR '1'='1", "secret", 10)), IsEmpty());

  const std::vector<std::string> hostile{
      "secret OR globex",
      "secret OR organization:globex",
      "organization: globex",
      "{organization title}: globex",
      "secret\" OR \"globex",
      "secret') OR 1=1 --",
      "'; DROP TABLE incidents; --",
      "NEAR(secret globex, 10)",
      "* OR secret",
      "secret*",
      "\"\" OR secret",
      "globex* OR gl* OR g*",
  };
  for (const auto& query : hostile) {
    SCOPED_TRACE("query: " + query);
    auto result = store->search("acme", query, 100);
    if (!result) {
      EXPECT_EQ(result.error().code, ErrorCode::invalid_argument) << describe(result.error());
      continue;
    }
    for (const auto& hit : *result) {
      EXPECT_EQ(hit.incident, acme);
      EXPECT_EQ(hit.organization, "acme");
    }
  }
  EXPECT_EQ(must(store->incidents("")).size(), 2U);
  EXPECT_EQ(ids_of(must(store->search("acme", "secret", 10))), std::vector<IncidentId>{acme});
}

TEST_P(StoreConformance, MalformedSearchIsInvalidArgumentNeverStorage) {
  auto store = open_store();
  AppendRequest request = declare("Furnace door sensor");
  request.events.push_back(message("door latch broken", 1));
  must(store->append(request));

  for (const char* query : {"\"unterminated phrase", "(furnace", "furnace)", "furnace AND", "OR",
                            "NOT furnace AND", "furnace NEAR(", "furnace OR OR latch"}) {
    SCOPED_TRACE(std::string("query: ") + query);
    auto result = store->search("acme", query, 10);
    ASSERT_FALSE(result.ok()) << "a malformed query must be refused";
    EXPECT_EQ(result.error().code, ErrorCode::invalid_argument) << describe(result.error());
    EXPECT_FALSE(result.error().message.empty());
  }
  // The store is fine afterwards.
  EXPECT_EQ(must(store->search("acme", "latch", 10)).size(), 1U);
}

// =================================================================================
// BATCHES

TEST_P(StoreConformance, ReadsInsideABatchSeeItsWrites) {
  auto store = open_store();
  must_ok(store->begin_batch(), "begin_batch");
  must_ok(store->begin_job(), "begin_job");
  AppendRequest request = declare("Boiler pressure high", "acme", "local:m-batch-1");
  request.outbox = {outbox_entry("announce-boiler")};
  const auto declared_outcome = must(store->append(request));
  const IncidentId id = declared_outcome.incident;

  EXPECT_EQ(must(store->incident(id)), std::optional<Incident>{declared_outcome.state});
  EXPECT_EQ(must(store->events(id)), declared_outcome.committed);
  EXPECT_EQ(ids_of(must(store->incidents("acme"))), std::vector<IncidentId>{id});
  EXPECT_TRUE(must(store->has_receipt("local:m-batch-1")));
  EXPECT_EQ(operation_keys(must(store->pending_outbox())),
            std::vector<std::string>{"announce-boiler"});
  must_ok(store->end_job(true), "end_job");

  must_ok(store->begin_job(), "begin_job");
  const auto more = must(store->append(
      append_to(id, 1,
                {channel_linked("C-BOILER", 1), message("manometer reads twelve bar", 2),
                 follow_up(follow_up_created(1, "replace the relief valve", kBen), 3)})));
  EXPECT_EQ(must(store->incident_by_channel("acme", "local", "C-BOILER")),
            std::optional<IncidentId>{id});
  EXPECT_EQ(ids_of(must(store->search("acme", "manometer", 10))), std::vector<IncidentId>{id});
  EXPECT_EQ(must(store->follow_ups("acme", "ben", false)).size(), 1U);
  EXPECT_TRUE(must(store->record_member(
      "acme", core::Member{"local:ben", "Ben", "responder", {{"local", "ben"}}}, at_minute(3))));
  EXPECT_EQ(must(store->members("acme")).size(), 1U);
  must_ok(store->end_job(true), "end_job");
  must_ok(store->commit_batch(), "commit_batch");

  EXPECT_EQ(must(store->incident(id)), std::optional<Incident>{more.state});
  store.reset();
  store = reopen_store();
  EXPECT_EQ(must(store->incident(id)), std::optional<Incident>{more.state});
  EXPECT_TRUE(must(store->has_receipt("local:m-batch-1")));
  EXPECT_EQ(ids_of(must(store->search("acme", "manometer", 10))), std::vector<IncidentId>{id});
  EXPECT_EQ(must(store->members("acme")).size(), 1U);
}

TEST_P(StoreConformance, AnotherInstanceSeesNothingBeforeCommit) {
  if (!GetParam().open_reader) {
    GTEST_SKIP() << GetParam().name << " offers no second instance";
  }
  auto store = open_store();
  const IncidentId existing = must(store->append(declare("Line 3 down"))).incident;
  auto reader = open_reader();
  ASSERT_EQ(must(reader->events(existing)).size(), 1U);

  must_ok(store->begin_batch(), "begin_batch");
  must_ok(store->begin_job(), "begin_job");
  must(store->append(append_to(existing, 1, {message("hidden until commit", 1)})));
  AppendRequest request = declare("Oven 2 too hot", "acme", "local:m-hidden");
  request.outbox = {outbox_entry("announce-oven")};
  const IncidentId fresh = must(store->append(request)).incident;
  must(store->record_member(
      "acme", core::Member{"local:zed", "Zed", "operator", {{"local", "zed"}}}, at_minute(1)));
  must_ok(store->end_job(true), "end_job");

  EXPECT_EQ(must(reader->events(existing)).size(), 1U);
  EXPECT_EQ(must(reader->incident(existing))->last_sequence, 1);
  EXPECT_EQ(must(reader->incident(fresh)), std::nullopt);
  EXPECT_EQ(ids_of(must(reader->incidents(""))), std::vector<IncidentId>{existing});
  EXPECT_FALSE(must(reader->has_receipt("local:m-hidden")));
  EXPECT_THAT(must(reader->pending_outbox()), IsEmpty());
  EXPECT_THAT(must(reader->members("acme")), IsEmpty());
  EXPECT_THAT(must(reader->search("acme", "hidden", 10)), IsEmpty());

  must_ok(store->commit_batch(), "commit_batch");

  EXPECT_EQ(must(reader->events(existing)).size(), 2U);
  EXPECT_EQ(ids_of(must(reader->incidents(""))), (std::vector<IncidentId>{fresh, existing}));
  EXPECT_TRUE(must(reader->has_receipt("local:m-hidden")));
  EXPECT_EQ(operation_keys(must(reader->pending_outbox())),
            std::vector<std::string>{"announce-oven"});
  EXPECT_EQ(must(reader->members("acme")).size(), 1U);
  EXPECT_EQ(ids_of(must(reader->search("acme", "hidden", 10))), std::vector<IncidentId>{existing});
}

TEST_P(StoreConformance, EndJobFalseUndoesThatJobOnly) {
  auto store = open_store();
  const IncidentId id = must(store->append(declare("Line 3 down"))).incident;

  must_ok(store->begin_batch(), "begin_batch");
  must_ok(store->begin_job(), "begin_job 1");
  must(store->append(append_to(id, 1, {message("kept", 1)}, "key-kept")));
  must_ok(store->end_job(true), "end_job 1");

  must_ok(store->begin_job(), "begin_job 2");
  AppendRequest undone_declare = declare("Undone incident", "acme", "key-undone");
  undone_declare.outbox = {outbox_entry("reply-undone")};
  const IncidentId undone = must(store->append(undone_declare)).incident;
  must(store->append(append_to(id, 2, {message("undone words", 2)})));
  must(store->record_member(
      "acme", core::Member{"local:zed", "Zed", "operator", {{"local", "zed"}}}, at_minute(2)));
  must_ok(store->end_job(false), "end_job 2");

  must_ok(store->begin_job(), "begin_job 3");
  // The undone job's event is gone, so the incident is back at sequence 2.
  const auto third =
      must(store->append(append_to(id, 2, {message("kept too", 3)}, "key-kept-too")));
  EXPECT_EQ(must(store->incident(undone)), std::nullopt);
  must_ok(store->end_job(true), "end_job 3");
  must_ok(store->commit_batch(), "commit_batch");

  EXPECT_THAT(sequences(third.committed), ElementsAre(3));
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "after commit" : "after reopening");
    const auto events = must(store->events(id));
    EXPECT_EQ(sequences(events), one_to(3));
    EXPECT_THAT(message_texts(events), ElementsAre("kept", "kept too"));
    EXPECT_EQ(ids_of(must(store->incidents(""))), std::vector<IncidentId>{id});
    EXPECT_TRUE(must(store->has_receipt("key-kept")));
    EXPECT_TRUE(must(store->has_receipt("key-kept-too")));
    EXPECT_FALSE(must(store->has_receipt("key-undone")));
    EXPECT_THAT(must(store->pending_outbox()), IsEmpty());
    EXPECT_THAT(must(store->members("acme")), IsEmpty());
    EXPECT_THAT(must(store->search("acme", "undone", 10)), IsEmpty());
    expect_projections_equal_the_fold(*store, {id});
    store.reset();
    store = reopen_store();
  }
}

TEST_P(StoreConformance, RollbackBatchUndoesEverything) {
  auto store = open_store();
  AppendRequest first = declare("Line 3 down");
  first.outbox = {outbox_entry("announce-line-3")};
  const auto declared_outcome = must(store->append(first));
  const IncidentId id = declared_outcome.incident;
  const auto pending_before = must(store->pending_outbox());
  const auto rows_before = must(store->projection_rows());
  ASSERT_EQ(pending_before.size(), 1U);

  must_ok(store->begin_batch(), "begin_batch");
  must_ok(store->begin_job(), "begin_job 1");
  must(store->append(append_to(id, 1, {message("rolled back", 1)}, "key-rolled-1")));
  must_ok(store->end_job(true), "end_job 1");
  must_ok(store->begin_job(), "begin_job 2");
  must(store->append(declare("Rolled back incident", "acme", "key-rolled-2")));
  must(store->record_member(
      "acme", core::Member{"local:zed", "Zed", "operator", {{"local", "zed"}}}, at_minute(2)));
  must_ok(store->outbox_done(pending_before[0].id), "outbox_done");
  must_ok(store->end_job(true), "end_job 2");
  store->rollback_batch();

  EXPECT_EQ(must(store->events(id)).size(), 1U);
  EXPECT_EQ(ids_of(must(store->incidents(""))), std::vector<IncidentId>{id});
  EXPECT_FALSE(must(store->has_receipt("key-rolled-1")));
  EXPECT_FALSE(must(store->has_receipt("key-rolled-2")));
  EXPECT_THAT(must(store->members("acme")), IsEmpty());
  EXPECT_EQ(must(store->pending_outbox()), pending_before);
  EXPECT_THAT(must(store->search("acme", "rolled", 10)), IsEmpty());
  EXPECT_EQ(must(store->projection_rows()), rows_before);

  // The store carries on: outside a batch and in the next one.
  EXPECT_THAT(sequences(must(store->append(append_to(id, 1, {message("after", 3)}))).committed),
              ElementsAre(2));
  must_ok(store->begin_batch(), "begin_batch again");
  must_ok(store->begin_job(), "begin_job again");
  must(store->append(append_to(id, 2, {message("next batch", 4)})));
  must_ok(store->end_job(true), "end_job again");
  must_ok(store->commit_batch(), "commit_batch");
  EXPECT_THAT(message_texts(must(store->events(id))), ElementsAre("after", "next batch"));
}

TEST_P(StoreConformance, UncommittedBatchIsLostWhenTheStoreCloses) {
  IncidentId id = 0;
  {
    auto store = open_store();
    id = must(store->append(declare("Line 3 down"))).incident;
    must_ok(store->begin_batch(), "begin_batch");
    must_ok(store->begin_job(), "begin_job");
    must(store->append(append_to(id, 1, {message("never committed", 1)}, "key-lost")));
    must(store->append(declare("Never committed either")));
    must_ok(store->end_job(true), "end_job");
  }  // closed without commit_batch, as a crash would

  auto store = reopen_store();
  EXPECT_EQ(must(store->events(id)).size(), 1U);
  EXPECT_EQ(ids_of(must(store->incidents(""))), std::vector<IncidentId>{id});
  EXPECT_FALSE(must(store->has_receipt("key-lost")));
  EXPECT_THAT(sequences(must(store->append(append_to(id, 1, {message("again", 2)}))).committed),
              ElementsAre(2));
}

// =================================================================================
// GROUP COMMIT WRITER

TEST_P(StoreConformance, WriterTakesConcurrentAppendsFromEightThreads) {
  auto store = open_store();
  append_from_many_threads(*store, 8, 12);
}

TEST_P(StoreConformance, WriterTakesConcurrentAppendsFromSixtyFourThreads) {
  auto store = open_store();
  append_from_many_threads(*store, 64, 5);
}

TEST_P(StoreConformance, WriterCommitsEverythingQueuedMeanwhileInOneBatch) {
  auto store = open_store();
  constexpr int kQueued = 20;
  std::vector<std::unique_ptr<AppendCompletion>> completions;
  {
    GroupCommitWriter writer(*store);
    WriterHold hold;
    must_ok(writer.submit(hold.job()), "submit the hold");
    ASSERT_TRUE(hold.wait_until_held());
    for (int i = 0; i < kQueued; ++i) {
      completions.push_back(std::make_unique<AppendCompletion>());
      writer.append(declare("Queued " + std::to_string(i), "acme", "queued:" + std::to_string(i)),
                    kInline, completions.back()->callback());
    }
    EXPECT_EQ(writer.stats().queued, static_cast<std::size_t>(kQueued));
    for (const auto& completion : completions) {
      EXPECT_EQ(completion->calls.load(), 0) << "nothing completes before it is durable";
    }
    hold.release();
    for (const auto& completion : completions) {
      EXPECT_TRUE(completion->get().ok());
    }
    writer.stop();
    const auto stats = writer.stats();
    EXPECT_EQ(stats.batches, 2U) << "the hold, then everything queued meanwhile";
    EXPECT_EQ(stats.largest_batch, static_cast<std::size_t>(kQueued));
    EXPECT_EQ(stats.jobs, static_cast<std::uint64_t>(kQueued) + 1);
    EXPECT_EQ(stats.failed_batches, 0U);
  }
  for (const auto& completion : completions) {
    EXPECT_EQ(completion->calls.load(), 1);
  }
  EXPECT_EQ(must(store->incidents("")).size(), static_cast<std::size_t>(kQueued));
}

TEST_P(StoreConformance, WriterSplitsTheQueueAtMaxBatch) {
  auto store = open_store();
  GroupCommitOptions options;
  options.max_batch = 8;
  std::vector<std::unique_ptr<AppendCompletion>> completions;
  {
    GroupCommitWriter writer(*store, options);
    WriterHold hold;
    must_ok(writer.submit(hold.job()), "submit the hold");
    ASSERT_TRUE(hold.wait_until_held());
    for (int i = 0; i < 20; ++i) {
      completions.push_back(std::make_unique<AppendCompletion>());
      writer.append(declare("Queued " + std::to_string(i)), kInline,
                    completions.back()->callback());
    }
    hold.release();
    writer.stop();
    const auto stats = writer.stats();
    EXPECT_EQ(stats.batches, 4U) << "the hold, then 8 + 8 + 4";
    EXPECT_EQ(stats.largest_batch, 8U);
  }
  for (const auto& completion : completions) {
    EXPECT_TRUE(completion->get().ok());
    EXPECT_EQ(completion->calls.load(), 1);
  }
  EXPECT_EQ(must(store->incidents("")).size(), 20U);
}

TEST_P(StoreConformance, WriterUndoesAFailedJobAloneAndSettlesIt) {
  auto store = open_store();
  AppendCompletion kept_first;
  AppendCompletion kept_last;
  AppendCompletion conflicting;
  SettledJob thrower;
  SettledJob refuser;
  IncidentId existing = must(store->append(declare("Existing"))).incident;
  {
    GroupCommitWriter writer(*store);
    WriterHold hold;
    must_ok(writer.submit(hold.job()), "submit the hold");
    ASSERT_TRUE(hold.wait_until_held());

    writer.append(declare("Kept first", "acme", "key-kept-first"), kInline, kept_first.callback());
    GroupCommitWriter::Job throwing;
    throwing.run = [](EventStore& inside) -> bool {
      must(inside.append(declare("Thrown away", "acme", "key-thrown")), "append before throwing");
      throw std::runtime_error("the job broke after writing");
    };
    throwing.settled = thrower.callback();
    must_ok(writer.submit(std::move(throwing)), "submit the throwing job");
    GroupCommitWriter::Job refusing;
    refusing.run = [existing](EventStore& inside) {
      must(inside.append(append_to(existing, 1, {message("refused words", 1)}, "key-refused")),
           "append before refusing");
      return false;
    };
    refusing.settled = refuser.callback();
    must_ok(writer.submit(std::move(refusing)), "submit the refusing job");
    // Its expected sequence is right only if the refused job's write was undone.
    writer.append(append_to(existing, 1, {message("kept words", 2)}, "key-kept-append"), kInline,
                  kept_last.callback());
    writer.append(append_to(existing, 1, {message("stale words", 3)}, "key-stale"), kInline,
                  conflicting.callback());
    hold.release();
    writer.stop();
    EXPECT_EQ(writer.stats().batches, 2U);
    EXPECT_EQ(writer.stats().largest_batch, 5U) << "all five jobs shared one transaction";
  }

  EXPECT_TRUE(kept_first.get().ok());
  const auto last = kept_last.get();
  ASSERT_TRUE(last.ok()) << describe(last.error());
  EXPECT_THAT(sequences(last->committed), ElementsAre(2));
  const auto thrown = thrower.get();
  EXPECT_FALSE(thrown.ok()) << "a job that threw is settled with an error";
  EXPECT_TRUE(refuser.get().ok()) << "a job that returned false is settled with success";
  const auto stale = conflicting.get();
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::conflict) << describe(stale.error());
  EXPECT_EQ(thrower.calls.load(), 1);
  EXPECT_EQ(refuser.calls.load(), 1);
  EXPECT_EQ(conflicting.calls.load(), 1);

  std::vector<std::string> titles;
  for (const auto& incident : must(store->incidents(""))) {
    titles.push_back(incident.title);
  }
  EXPECT_THAT(titles, ElementsAre("Kept first", "Existing"));
  EXPECT_THAT(message_texts(must(store->events(existing))), ElementsAre("kept words"));
  EXPECT_TRUE(must(store->has_receipt("key-kept-first")));
  EXPECT_TRUE(must(store->has_receipt("key-kept-append")));
  EXPECT_FALSE(must(store->has_receipt("key-thrown")));
  EXPECT_FALSE(must(store->has_receipt("key-refused")));
  EXPECT_FALSE(must(store->has_receipt("key-stale")));
  EXPECT_THAT(must(store->search("acme", "thrown OR refused OR stale", 10)), IsEmpty());
}

TEST_P(StoreConformance, WriterRefusesAtOnceWhenTheQueueIsFull) {
  auto store = open_store();
  GroupCommitOptions options;
  options.max_queued = 3;
  std::vector<std::unique_ptr<AppendCompletion>> queued;
  AppendCompletion refused;
  std::atomic<int> dropped_runs{0};
  {
    GroupCommitWriter writer(*store, options);
    WriterHold hold;
    must_ok(writer.submit(hold.job()), "submit the hold");
    ASSERT_TRUE(hold.wait_until_held());
    for (int i = 0; i < 3; ++i) {
      queued.push_back(std::make_unique<AppendCompletion>());
      writer.append(declare("Queued " + std::to_string(i)), kInline, queued.back()->callback());
    }
    GroupCommitWriter::Job dropped;
    dropped.run = [&dropped_runs](EventStore&) {
      ++dropped_runs;
      return true;
    };
    dropped.settled = [&dropped_runs](const VoidResult&) { ++dropped_runs; };
    const auto submitted = writer.submit(std::move(dropped));
    ASSERT_FALSE(submitted.ok());
    EXPECT_EQ(submitted.error().code, ErrorCode::unavailable) << describe(submitted.error());
    // append() answers at once, while the writer is still held: no waiting for room.
    writer.append(declare("One too many", "acme", "key-too-many"), kInline, refused.callback());
    ASSERT_EQ(refused.calls.load(), 1);
    const auto answer = refused.get();
    ASSERT_FALSE(answer.ok());
    EXPECT_EQ(answer.error().code, ErrorCode::unavailable) << describe(answer.error());
    hold.release();
    writer.stop();
  }
  for (const auto& completion : queued) {
    EXPECT_TRUE(completion->get().ok());
  }
  EXPECT_EQ(dropped_runs.load(), 0) << "a refused job is neither run nor settled";
  EXPECT_EQ(must(store->incidents("")).size(), 3U);
  EXPECT_FALSE(must(store->has_receipt("key-too-many")));
}

TEST_P(StoreConformance, WriterStopRunsQueuedJobsThenRefusesNewOnes) {
  auto store = open_store();
  constexpr int kQueued = 5;
  std::vector<std::unique_ptr<AppendCompletion>> completions;
  std::atomic<int> probes_run{0};
  int probes_accepted = 0;
  ExecutorThread io;
  AppendCompletion after_stop;
  {
    GroupCommitOptions options;
    options.max_queued = 100000;
    GroupCommitWriter writer(*store, options);
    WriterHold hold;
    must_ok(writer.submit(hold.job()), "submit the hold");
    ASSERT_TRUE(hold.wait_until_held());
    for (int i = 0; i < kQueued; ++i) {
      completions.push_back(std::make_unique<AppendCompletion>());
      writer.append(declare("Queued " + std::to_string(i), "acme", "stop:" + std::to_string(i)),
                    kInline, completions.back()->callback());
    }
    std::thread stopper([&writer] { writer.stop(); });
    // stop() has begun once submissions are refused; the writer is still held, so
    // the queued jobs have not run yet.
    for (;;) {
      GroupCommitWriter::Job probe;
      probe.run = [&probes_run](EventStore&) {
        ++probes_run;
        return true;
      };
      if (!writer.submit(std::move(probe)).ok()) {
        break;
      }
      ++probes_accepted;
      std::this_thread::yield();
    }
    for (const auto& completion : completions) {
      EXPECT_EQ(completion->calls.load(), 0);
    }
    hold.release();
    stopper.join();

    const auto refused = writer.submit(GroupCommitWriter::Job{});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, ErrorCode::unavailable);
    writer.append(declare("After stop", "acme", "key-after-stop"), io.executor(),
                  after_stop.callback());
    writer.stop();  // idempotent
  }
  for (const auto& completion : completions) {
    EXPECT_TRUE(completion->get().ok());
    EXPECT_EQ(completion->calls.load(), 1);
  }
  EXPECT_EQ(probes_run.load(), probes_accepted);
  const auto late = after_stop.get();
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, ErrorCode::unavailable) << describe(late.error());
  EXPECT_EQ(io.posts(), 1) << "the refusal is delivered through the executor too";
  EXPECT_EQ(must(store->incidents("")).size(), static_cast<std::size_t>(kQueued));
  EXPECT_FALSE(must(store->has_receipt("key-after-stop")));
}

TEST_P(StoreConformance, WriterCompletesOnTheExecutorItIsGiven) {
  auto store = open_store();
  constexpr int kAppends = 10;
  ExecutorThread io;
  std::vector<std::unique_ptr<AppendCompletion>> completions;
  std::vector<std::thread::id> completed_on(kAppends);
  std::thread::id writer_thread;
  {
    GroupCommitWriter writer(*store);
    GroupCommitWriter::Job where;
    where.run = [&writer_thread](EventStore&) {
      writer_thread = std::this_thread::get_id();
      return true;
    };
    must_ok(writer.submit(std::move(where)), "submit");
    for (int i = 0; i < kAppends; ++i) {
      completions.push_back(std::make_unique<AppendCompletion>());
      auto inner = completions.back()->callback();
      writer.append(declare("Executor " + std::to_string(i)), io.executor(),
                    [&completed_on, i, inner](Result<AppendOutcome> result) {
                      completed_on[static_cast<std::size_t>(i)] = std::this_thread::get_id();
                      inner(std::move(result));
                    });
    }
    for (const auto& completion : completions) {
      EXPECT_TRUE(completion->get().ok());
    }
    writer.stop();
  }
  EXPECT_EQ(io.posts(), kAppends) << "every completion goes through the executor";
  EXPECT_NE(writer_thread, std::thread::id{});
  EXPECT_NE(io.id(), writer_thread);
  for (int i = 0; i < kAppends; ++i) {
    EXPECT_EQ(completed_on[static_cast<std::size_t>(i)], io.id()) << "append " << i;
    EXPECT_EQ(completions[static_cast<std::size_t>(i)]->calls.load(), 1);
  }
}

TEST_P(StoreConformance, WriterBatchThatCannotCommitKeepsNothing) {
  auto store = open_store();
  const IncidentId existing = must(store->append(declare("Existing"))).incident;
  const auto rows_before = must(store->projection_rows());
  CommitFailingStore failing(*store);
  std::vector<std::unique_ptr<AppendCompletion>> completions;
  {
    GroupCommitWriter writer(failing);
    WriterHold hold;
    must_ok(writer.submit(hold.job()), "submit the hold");
    ASSERT_TRUE(hold.wait_until_held());
    for (int i = 0; i < 3; ++i) {
      completions.push_back(std::make_unique<AppendCompletion>());
      AppendRequest request =
          declare("Lost " + std::to_string(i), "acme", "key-lost-" + std::to_string(i));
      request.outbox = {outbox_entry("announce-lost-" + std::to_string(i))};
      writer.append(std::move(request), kInline, completions.back()->callback());
    }
    completions.push_back(std::make_unique<AppendCompletion>());
    writer.append(append_to(existing, 1, {message("lost words", 1)}), kInline,
                  completions.back()->callback());
    hold.release();
    writer.stop();
    EXPECT_EQ(writer.stats().batches, 0U);
    EXPECT_EQ(writer.stats().failed_batches, 2U);
  }
  for (const auto& completion : completions) {
    const auto result = completion->get();
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, ErrorCode::storage) << describe(result.error());
    EXPECT_EQ(completion->calls.load(), 1);
  }
  EXPECT_EQ(ids_of(must(store->incidents(""))), std::vector<IncidentId>{existing});
  EXPECT_EQ(must(store->events(existing)).size(), 1U);
  EXPECT_FALSE(must(store->has_receipt("key-lost-0")));
  EXPECT_THAT(must(store->pending_outbox()), IsEmpty());
  EXPECT_EQ(must(store->projection_rows()), rows_before);

  // Once the disk has room again, the same store commits through a new writer.
  failing.fail_commits = false;
  AppendCompletion recovered;
  {
    GroupCommitWriter writer(failing);
    writer.append(declare("Lost 0", "acme", "key-lost-0"), kInline, recovered.callback());
    writer.stop();
  }
  EXPECT_TRUE(recovered.get().ok());
  EXPECT_TRUE(must(store->has_receipt("key-lost-0")));
}

TEST_P(StoreConformance, WriterReportsAConflictBetweenJobsOfOneBatch) {
  auto store = open_store();
  const IncidentId id = must(store->append(declare("Line 3 down"))).incident;
  AppendCompletion first;
  AppendCompletion second;
  {
    GroupCommitWriter writer(*store);
    WriterHold hold;
    must_ok(writer.submit(hold.job()), "submit the hold");
    ASSERT_TRUE(hold.wait_until_held());
    // Two people decided on the same state; the first one queued wins.
    writer.append(
        append_to(id, 1, {status_change(Status::declared, Status::investigating, 1)}, "key-first"),
        kInline, first.callback());
    writer.append(
        append_to(id, 1, {status_change(Status::declared, Status::mitigated, 1)}, "key-second"),
        kInline, second.callback());
    hold.release();
    writer.stop();
    EXPECT_EQ(writer.stats().largest_batch, 2U);
  }
  const auto won = first.get();
  ASSERT_TRUE(won.ok()) << describe(won.error());
  EXPECT_THAT(sequences(won->committed), ElementsAre(2));
  const auto lost = second.get();
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, ErrorCode::conflict) << describe(lost.error());
  EXPECT_EQ(must(store->incident(id))->status, Status::investigating);
  EXPECT_EQ(must(store->events(id)).size(), 2U);
  EXPECT_FALSE(must(store->has_receipt("key-second")));
}

// =================================================================================
// OUTBOX

TEST_P(StoreConformance, OutboxEntriesAreCommittedWithTheirAppend) {
  auto store = open_store();
  AppendRequest request = declare("Line 3 down", "acme", "local:m-1");
  request.outbox = {outbox_entry("create-channel"), outbox_entry("announce")};
  Incident seen_state;
  std::vector<Event> seen_events;
  request.outbox_of = [&](const Incident& after, const std::vector<Event>& committed) {
    seen_state = after;
    seen_events = committed;
    return std::vector<core::OutboxEntry>{outbox_entry(
        "card:" + std::to_string(after.id) + "@" + std::to_string(committed.back().sequence),
        after.id)};
  };
  const auto outcome = must(store->append(request));

  EXPECT_EQ(seen_state, outcome.state);
  EXPECT_EQ(seen_events, outcome.committed);
  ASSERT_EQ(outcome.outbox.size(), 3U);
  EXPECT_EQ(operation_keys(outcome.outbox),
            (std::vector<std::string>{"create-channel", "announce",
                                      "card:" + std::to_string(outcome.incident) + "@1"}));
  EXPECT_GT(outcome.outbox[0].id, 0);
  EXPECT_LT(outcome.outbox[0].id, outcome.outbox[1].id);
  EXPECT_LT(outcome.outbox[1].id, outcome.outbox[2].id);
  core::OutboxEntry expected_first = outbox_entry("create-channel");
  expected_first.id = outcome.outbox[0].id;
  EXPECT_EQ(outcome.outbox[0], expected_first);
  EXPECT_EQ(must(store->pending_outbox()), outcome.outbox);

  // A throwing outbox_of undoes the whole append.
  AppendRequest broken = append_to(outcome.incident, 1, {message("hello", 1)}, "local:m-2");
  broken.outbox = {outbox_entry("reply")};
  broken.outbox_of = [](const Incident&,
                        const std::vector<Event>&) -> std::vector<core::OutboxEntry> {
    throw std::runtime_error("card template missing");
  };
  auto failed = store->append(broken);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(must(store->events(outcome.incident)).size(), 1U);
  EXPECT_FALSE(must(store->has_receipt("local:m-2")));
  EXPECT_EQ(must(store->pending_outbox()), outcome.outbox);

  store.reset();
  store = reopen_store();
  EXPECT_EQ(must(store->pending_outbox()), outcome.outbox);
}

TEST_P(StoreConformance, OutboxEntriesAreRetriedDoneFailedAndRemoved) {
  auto store = open_store();
  AppendRequest request = declare("Line 3 down");
  request.outbox = {outbox_entry("one"), outbox_entry("two"), outbox_entry("three"),
                    outbox_entry("four")};
  const auto queued = must(store->append(request)).outbox;
  ASSERT_EQ(queued.size(), 4U);

  must_ok(store->outbox_retry(queued[0].id, 2, at_minute(30), "HTTP 429"), "outbox_retry");
  must_ok(store->outbox_done(queued[1].id), "outbox_done");
  must_ok(store->outbox_failed(queued[2].id, 5, "channel_not_found", at_minute(40)),
          "outbox_failed");
  const std::vector<std::int64_t> superseded{queued[3].id};
  must_ok(store->outbox_remove(superseded), "outbox_remove");

  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "live" : "after reopening");
    const auto pending = must(store->pending_outbox());
    ASSERT_EQ(pending.size(), 1U);
    EXPECT_EQ(pending[0].id, queued[0].id);
    EXPECT_EQ(pending[0].attempts, 2);
    EXPECT_EQ(pending[0].not_before, at_minute(30));
    EXPECT_EQ(pending[0].last_error, "HTTP 429");
    const auto failures = must(store->outbox_failures(10));
    ASSERT_EQ(failures.size(), 1U);
    EXPECT_EQ(failures[0].entry.operation_key, "three");
    EXPECT_EQ(failures[0].entry.attempts, 5);
    EXPECT_EQ(failures[0].entry.last_error, "channel_not_found");
    EXPECT_EQ(failures[0].failed_at, at_minute(40));
    store.reset();
    store = reopen_store();
  }
}

// =================================================================================
// MIGRATIONS

TEST_P(StoreConformance, OldVersionFixturesCoverEveryEarlierSchemaVersion) {
  const StoreUnderTest& under_test = GetParam();
  ASSERT_GE(under_test.latest_version, 1);
  std::vector<int> expected;
  for (int version = 1; version < under_test.latest_version; ++version) {
    expected.push_back(version);
  }
  ASSERT_TRUE(static_cast<bool>(under_test.old_versions));
  EXPECT_EQ(under_test.old_versions(), expected)
      << under_test.name << " must offer a database of every earlier schema version (1 to "
      << under_test.latest_version - 1 << "): add the missing fixture";
}

TEST_P(StoreConformance, EmptyDirectoryIsMigratedToTheLatestSchema) {
  ASSERT_TRUE(fs::is_empty(dir()));
  auto store = open_store();
  EXPECT_THAT(must(store->incidents("")), IsEmpty());
  EXPECT_THAT(must(store->follow_ups("acme", std::nullopt, true)), IsEmpty());
  EXPECT_THAT(must(store->members("acme")), IsEmpty());
  EXPECT_THAT(must(store->pending_outbox()), IsEmpty());
  EXPECT_THAT(must(store->outbox_failures(10)), IsEmpty());
  EXPECT_THAT(must(store->search("acme", "anything", 10)), IsEmpty());
  EXPECT_FALSE(must(store->has_receipt("local:m-1")));
  expect_rebuild_keeps_every_row(*store);

  AppendRequest request = declare("Line 3 down", "acme", "local:m-1");
  request.events.push_back(message("first words", 1));
  const auto outcome = must(store->append(request));
  store.reset();
  store = reopen_store();  // an up-to-date database opens as it is
  EXPECT_EQ(must(store->events(outcome.incident)), outcome.committed);
  EXPECT_TRUE(must(store->has_receipt("local:m-1")));
  EXPECT_EQ(ids_of(must(store->search("acme", "first", 10))),
            std::vector<IncidentId>{outcome.incident});
  expect_rebuild_keeps_every_row(*store);
}

// Every old version, opened by the store under test: nothing lost, projections as a
// rebuild makes them, old text searchable, appends continue, keys remembered.
TEST_P(StoreConformance, EveryOldVersionMigratesWithNothingLost) {
  const StoreUnderTest& under_test = GetParam();
  const auto versions = under_test.old_versions ? under_test.old_versions() : std::vector<int>{};
  if (versions.empty()) {
    GTEST_SKIP() << under_test.name << " has no earlier schema version";
  }
  for (int version : versions) {
    SCOPED_TRACE("from schema version " + std::to_string(version));
    const fs::path version_dir = dir() / ("v" + std::to_string(version));
    fs::create_directories(version_dir);
    auto migrated = must(under_test.open_from_version(version_dir, version),
                         "opening the version " + std::to_string(version) + " database");
    auto& store = migrated.store;
    const auto& before = migrated.before;
    ASSERT_GT(before.incidents, 0U) << "the old database holds incidents to migrate";
    EXPECT_FALSE(before.idempotency_keys.empty())
        << "the old database holds receipts, to prove they are remembered";

    // Everything readable, and equal to the fold.
    const auto listed = must(store->incidents(""), "incidents(\"\")");
    EXPECT_EQ(listed.size(), before.incidents);
    const std::vector<IncidentId> ids = ids_of(listed);
    std::size_t events_seen = 0;
    std::map<IncidentId, Incident> states;
    std::map<IncidentId, std::vector<Event>> timelines;
    for (IncidentId id : ids) {
      auto events = must(store->events(id), "events() of a migrated incident");
      events_seen += events.size();
      states[id] = core::fold(events);
      timelines[id] = std::move(events);
    }
    EXPECT_EQ(events_seen, before.events);
    std::vector<std::int64_t> pending_ids;
    for (const auto& entry : must(store->pending_outbox(), "pending_outbox()")) {
      pending_ids.push_back(entry.id);
    }
    EXPECT_EQ(pending_ids, before.pending_outbox);
    EXPECT_EQ(must(store->outbox_failures(1000), "outbox_failures()").size(), before.failed_outbox);
    for (const auto& [organization, count] : before.members) {
      EXPECT_EQ(must(store->members(organization), "members()").size(), count)
          << "members of \"" << organization << "\"";
    }
    expect_projections_equal_the_fold(*store, ids);
    expect_rebuild_keeps_every_row(*store);

    // Old text is searchable in its organization.
    for (IncidentId id : ids) {
      const Incident& state = states[id];
      for (const auto& text : searchable_texts(state, timelines[id])) {
        const std::string word = searchable_word(text);
        if (word.empty()) {
          continue;
        }
        const auto hits = must(store->search(state.organization, "\"" + word + "\"", 1000),
                               "searching a migrated database");
        EXPECT_TRUE(contains(ids_of(hits), id))
            << "INC-" << id << " not found by \"" << word << "\" from: " << text;
      }
    }

    // Keys are remembered; a retry of an old request stores nothing.
    for (const auto& key : before.idempotency_keys) {
      EXPECT_TRUE(must(store->has_receipt(key))) << key;
      const auto retried = must(store->append(declare("Retried after the upgrade", "", key)));
      EXPECT_TRUE(retried.duplicate) << key;
    }
    EXPECT_EQ(must(store->incidents("")).size(), before.incidents);

    // Appends continue every timeline and the id sequence.
    for (IncidentId id : ids) {
      const Sequence last = states[id].last_sequence;
      const auto more = must(store->append(append_to(id, last, {message("after the upgrade", 9000)},
                                                     "upgrade:" + std::to_string(id))),
                             "appending to a migrated incident");
      EXPECT_THAT(sequences(more.committed), ElementsAre(last + 1)) << "INC-" << id;
      EXPECT_EQ(more.state, core::fold(must(store->events(id))));
    }
    const auto newest = must(store->append(declare("Declared after the upgrade")));
    EXPECT_GT(newest.incident, *std::max_element(ids.begin(), ids.end()));

    // And all of it survives a restart.
    store.reset();
    const auto& reopen = under_test.reopen ? under_test.reopen : under_test.open;
    auto reopened = must(reopen(version_dir), "reopening the migrated database");
    EXPECT_EQ(must(reopened->incidents("")).size(), before.incidents + 1);
    for (IncidentId id : ids) {
      EXPECT_EQ(must(reopened->events(id)).size(), timelines[id].size() + 1) << "INC-" << id;
      EXPECT_TRUE(must(reopened->has_receipt("upgrade:" + std::to_string(id))));
    }
    for (const auto& key : before.idempotency_keys) {
      EXPECT_TRUE(must(reopened->has_receipt(key))) << key;
    }
    expect_projections_equal_the_fold(*reopened, ids_of(must(reopened->incidents(""))));
    expect_rebuild_keeps_every_row(*reopened);
  }
}

}  // namespace haveri::store::conformance
